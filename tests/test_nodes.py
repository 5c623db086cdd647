"""Node pools and mirrors (docs/nodes.md): spec checks, version rules on both sides of each boundary,
rendered node files and their schemas, and mirror-aware explain/coverage."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from genpolicy.coverage import COVERED, UNCOVERED, coverage
from genpolicy.errors import SpecError
from genpolicy.explain import explain_spec
from genpolicy.nodes.render import hosts_files, node_files
from genpolicy.nodes.schema import hosts_findings, node_findings
from genpolicy.nodes.versions import cpc_api_version, token_stage, verification_stage
from genpolicy.specfile import Resolved, parse_spec
from genpolicy.workloads import read_workloads

BASE = """\
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
registries:
  - name: hub
    server: docker.io
    credentials:
      externalSecret: {store: {name: vault}, remoteKey: hub}
  - name: harbor
    server: harbor.example.com
    credentials:
      externalSecret: {store: {name: vault}, remoteKey: harbor}
mirrors:
  - name: cache
    kind: harbor-proxy-cache
    endpoint: https://harbor.example.com
    path: hub-proxy
    serves: [docker.io]
    credentials: [hub]
clusters:
  - name: prod
    kubernetesVersion: "{version}"
    nodePools:
      - name: general
        mirrors: [cache]
{pool}
namespaceGroups:
  - name: apps
    namespaces: [shop]
    registries: [hub, harbor]
"""


def spec(version: str = "1.34", pool: str = "", replace: dict[str, str] | None = None) -> str:
    text = BASE.replace("{version}", version).replace("{pool}", pool)
    for old, new in (replace or {}).items():
        assert old in text
        text = text.replace(old, new)
    return text


def load(text: str) -> Resolved:
    return parse_spec(text, "spec.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load(text)
    return [str(p) for p in info.value.problems]


TOKEN = """\
        credentialProviders:
          - kind: ecr
            serviceAccountToken:
              audience: sts.amazonaws.com
{extra}"""
VERIFY = """\
        pullVerification:
          policy: AlwaysVerify
"""


def token(extra: str = "", gates: str = "") -> str:
    return TOKEN.replace("{extra}", extra) + gates


def gate(name: str, value: str = "true") -> str:
    return f"        featureGates:\n          {name}: {value}\n"


CACHE = "              cacheType: Token\n"


def test_base_spec_renders_hosts_toml() -> None:
    resolved = load(spec())
    files = node_files(resolved.spec, resolved.spec.clusters[0], "prod")
    assert [f.path for f in files] == ["prod/nodes/general/certs.d/docker.io/hosts.toml"]
    assert files[0].text is not None
    parsed = tomllib.loads(files[0].text)
    assert parsed == {"server": "https://registry-1.docker.io", "host": {
        "https://harbor.example.com/v2/hub-proxy": {"capabilities": ["pull", "resolve"], "override_path": True}}}


# --- version rules, each on both sides of its boundary ----------------------------------------

def test_credential_provider_config_versions() -> None:
    assert cpc_api_version((1, 23)) is None
    assert cpc_api_version((1, 24)) == cpc_api_version((1, 25)) == "kubelet.config.k8s.io/v1beta1"
    assert cpc_api_version((1, 26)) == "kubelet.config.k8s.io/v1"
    old = load(spec("1.25", "        credentialProviders:\n          - kind: gar\n"))
    new = load(spec("1.26", "        credentialProviders:\n          - kind: gar\n"))
    docs = [node_files(r.spec, r.spec.clusters[0], "p")[0].objects[0] for r in (old, new)]
    assert [d["apiVersion"] for d in docs] == ["kubelet.config.k8s.io/v1beta1", "kubelet.config.k8s.io/v1"]
    assert [d["providers"][0]["apiVersion"] for d in docs] == [
        "credentialprovider.kubelet.k8s.io/v1beta1", "credentialprovider.kubelet.k8s.io/v1"]


def test_service_account_tokens_refused_before_1_33() -> None:
    assert not token_stage((1, 32)).exists and token_stage((1, 33)).stage == "alpha"
    assert problems(spec("1.32", token(gates=gate("KubeletServiceAccountTokenForCredentialProviders")))) == [
        "spec.yaml:27:13: clusters[0].nodePools[0].credentialProviders[0].serviceAccountToken: KEP-4412 "
        "service-account tokens need a newer kubelet than Kubernetes 1.32 "
        "(gate KubeletServiceAccountTokenForCredentialProviders)",
        "spec.yaml:30:61: clusters[0].nodePools[0].featureGates.KubeletServiceAccountTokenForCredentialProviders: "
        "the Kubernetes 1.32 kubelet has no gate KubeletServiceAccountTokenForCredentialProviders"]


def test_service_account_tokens_alpha_needs_the_gate_and_no_cache_type() -> None:
    assert problems(spec("1.33", token())) == [
        "spec.yaml:27:13: clusters[0].nodePools[0].credentialProviders[0].serviceAccountToken: KEP-4412 "
        "service-account tokens are alpha and off on Kubernetes 1.33: set `featureGates: "
        "{KubeletServiceAccountTokenForCredentialProviders: true}`"]
    assert problems(spec("1.33", token(CACHE, gate("KubeletServiceAccountTokenForCredentialProviders")))) == [
        "spec.yaml:29:26: clusters[0].nodePools[0].credentialProviders[0].serviceAccountToken.cacheType: the "
        "Kubernetes 1.33 kubelet (KEP-4412 alpha) has no `cacheType`: it arrived in 1.34"]
    resolved = load(spec("1.33", token(gates=gate("KubeletServiceAccountTokenForCredentialProviders"))))
    files = node_files(resolved.spec, resolved.spec.clusters[0], "prod")
    assert "cacheType" not in files[0].objects[0]["providers"][0]["tokenAttributes"]
    assert files[1].objects[0]["featureGates"] == {"KubeletServiceAccountTokenForCredentialProviders": True}


def test_service_account_tokens_beta_requires_cache_type() -> None:
    assert token_stage((1, 34)).default_on and not token_stage((1, 33)).default_on
    assert problems(spec("1.34", token())) == [
        "spec.yaml:27:13: clusters[0].nodePools[0].credentialProviders[0].serviceAccountToken: Kubernetes 1.34 "
        "requires `cacheType` (Token or ServiceAccount)"]
    resolved = load(spec("1.34", token(CACHE)))
    attributes = node_files(resolved.spec, resolved.spec.clusters[0], "p")[0].objects[0]["providers"][0]
    assert attributes["tokenAttributes"] == {"serviceAccountTokenAudience": "sts.amazonaws.com", "cacheType": "Token",
                                             "requireServiceAccount": True}
    off = problems(spec("1.34", token(CACHE, gate("KubeletServiceAccountTokenForCredentialProviders", "false"))))
    assert off == ["spec.yaml:27:13: clusters[0].nodePools[0].credentialProviders[0].serviceAccountToken: KEP-4412 "
                   "service-account tokens are beta and off on Kubernetes 1.34: remove "
                   "`KubeletServiceAccountTokenForCredentialProviders: false`"]


def test_pull_verification_versions() -> None:
    assert not verification_stage((1, 32)).exists
    assert verification_stage((1, 34)).stage == "alpha" and verification_stage((1, 35)).default_on
    assert problems(spec("1.32", VERIFY)) == [
        "spec.yaml:25:9: clusters[0].nodePools[0].pullVerification: KEP-2535 pull-credential verification settings "
        "need a newer kubelet than Kubernetes 1.32 (gate KubeletEnsureSecretPulledImages)"]
    assert problems(spec("1.34", VERIFY)) == [
        "spec.yaml:25:9: clusters[0].nodePools[0].pullVerification: KEP-2535 pull-credential verification settings "
        "are alpha and off on Kubernetes 1.34: set `featureGates: {KubeletEnsureSecretPulledImages: true}`"]
    load(spec("1.33", VERIFY + gate("KubeletEnsureSecretPulledImages")))
    resolved = load(spec("1.35", VERIFY))
    kubelet = node_files(resolved.spec, resolved.spec.clusters[0], "p")[0].objects[0]
    assert kubelet == {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                       "imagePullCredentialsVerificationPolicy": "AlwaysVerify"}


# --- other checks -----------------------------------------------------------------------------

def test_mirror_credential_keyed_on_the_mirror_host_is_refused() -> None:
    found = problems(spec(replace={"credentials: [hub]": "credentials: [harbor]"}))
    assert found == [
        "spec.yaml:18:19: mirrors[0].credentials[0]: registry 'harbor' is keyed on harbor.example.com, but the kubelet "
        "looks credentials up by the image's own registry (docker.io) and containerd sends those to the mirror: key "
        "the mirror's credential on the upstream registry it serves"]


def test_mirror_and_pool_references() -> None:
    text = spec(pool="        credentialProviders:\n          - kind: custom\n", replace={
        "mirrors: [cache]": "mirrors: [cahce]", "    path: hub-proxy\n    serves: [docker.io]": "    serves: [https://docker.io]"})
    found = problems(text)
    assert "spec.yaml:13:5: mirrors[0]: a harbor-proxy-cache mirror needs `path` (its proxy-cache project): " \
           "containerd addresses it as https://harbor.example.com/v2/<path>" in found
    assert any("mirrors[0].serves[0]: must be a bare registry host" in p for p in found)
    assert any("nodePools[0].mirrors[0]: unknown mirror 'cahce'" in p for p in found)
    assert any("credentialProviders[0]: a custom provider needs `name`" in p for p in found)


def test_token_attribute_rules_from_the_kubelet_types() -> None:
    extra = CACHE + "              requireServiceAccount: false\n" \
                    "              requiredServiceAccountAnnotationKeys: [a.io/x]\n" \
                    "              optionalServiceAccountAnnotationKeys: [a.io/x]\n"
    found = problems(spec("1.34", token(extra)))
    assert [p.split(": ", 2)[1:] for p in found] == [
        ["clusters[0].nodePools[0].credentialProviders[0].serviceAccountToken.requireServiceAccount",
         "must be true when requiredServiceAccountAnnotationKeys is set"],
        ["clusters[0].nodePools[0].credentialProviders[0].serviceAccountToken.optionalServiceAccountAnnotationKeys",
         "must not repeat a required annotation key"]]


def test_allowlist_rules() -> None:
    text = spec("1.35", "        pullVerification:\n          policy: AlwaysVerify\n"
                        "          allowlist: [registry.k8s.io/pause:3.10, pause]\n")
    assert [p.split(": ", 2)[1:] for p in problems(text)] == [
        ["clusters[0].nodePools[0].pullVerification.allowlist",
         "applies only with policy NeverVerifyAllowlistedImages"],
        ["clusters[0].nodePools[0].pullVerification.allowlist[0]", "must be an image name without tag or digest"],
        ["clusters[0].nodePools[0].pullVerification.allowlist[1]",
         "must be a full image name (registry host and path); the only wildcard is a `/*` suffix"]]


def test_unknown_keys_are_errors() -> None:
    found = problems(spec(pool="        credentialProvider: []\n"))
    assert found[0].startswith("spec.yaml:25:9: clusters[0].nodePools[0].credentialProvider: unknown key "
                               "'credentialProvider'; did you mean 'credentialProviders'?")


# --- schemas ----------------------------------------------------------------------------------

def test_schemas_refuse_unknown_and_missing_fields() -> None:
    good = {"apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig", "providers": [
        {"name": "p", "matchImages": ["x.io"], "defaultCacheDuration": "1m",
         "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
         "tokenAttributes": {"serviceAccountTokenAudience": "a", "cacheType": "Token", "requireServiceAccount": True}}]}
    assert node_findings(good) == []
    assert node_findings(good, alpha_tokens=True) == [
        (".providers[0].tokenAttributes", "Additional properties are not allowed ('cacheType' was unexpected)")]
    bad = {**good, "providers": [{**good["providers"][0], "matchImage": ["x"]}]}
    del bad["providers"][0]["matchImages"]
    assert len(node_findings(bad) or []) == 2
    assert node_findings({"apiVersion": "v1", "kind": "Secret"}) is None
    assert hosts_findings({"server": "https://x.io", "host": {"https://m.io": {"capabilites": ["pull"]}}}) != []
    assert hosts_findings({"host": {"m.io": {}}}) != []  # a host key needs its scheme


def test_hosts_toml_orders_mirrors_as_the_pool_lists_them() -> None:
    resolved = load(spec())
    spegel = resolved.spec.mirrors[0].model_copy(update={"name": "p2p", "kind": "spegel", "path": None,
                                                         "endpoint": "http://127.0.0.1:30020", "credentials": []})
    files = hosts_files([spegel, resolved.spec.mirrors[0]])
    hosts = list(tomllib.loads(files["docker.io"])["host"])
    assert hosts == ["http://127.0.0.1:30020", "https://harbor.example.com/v2/hub-proxy"]
    assert list(tomllib.loads(hosts_files([resolved.spec.mirrors[0], spegel])["docker.io"])["host"]) == hosts[::-1]


# --- the example ------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def test_example_node_files_are_committed_and_not_in_kustomizations() -> None:
    out = ROOT / "out" / "platform"
    node = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if "/nodes/" in p.as_posix() and p.is_file())
    assert "prod/nodes/general/credential-provider-config.yaml" in node
    assert "edge/nodes/edge/kubelet-config.yaml" in node
    for kustomization in out.rglob("kustomization.yaml"):
        assert "nodes" not in (yaml.safe_load(kustomization.read_text()) or {}).get("resources", [])


# --- mirror-aware explain and coverage --------------------------------------------------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: web, image: nginx:1.27}
"""


def _coverage(text: str, tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "web.yaml").write_text(DEPLOYMENT)
    report = coverage(load(text), read_workloads([tmp_path / "web.yaml"]))
    return [(i.status, i.reason) for c in report.clusters for i in c.images]


def test_mirror_gets_its_credential_when_keyed_on_the_upstream(tmp_path: Path) -> None:
    result = explain_spec(load(spec()), "nginx", "shop", None, None)
    assert [a.key for a in result.attempts] == ["docker.io"]
    assert ("node pool general: containerd tries mirror cache (https://harbor.example.com/v2/hub-proxy) for docker.io "
            "and sends it the credentials the kubelet found for docker.io (docker.io); docker.io is the mirror's "
            "credential (registry hub)") in result.notes
    assert _coverage(spec(), tmp_path) == [(COVERED, "")]


def test_docker_hub_secret_is_not_the_mirrors_credential(tmp_path: Path) -> None:
    """The classic failure: the only docker.io credential is Docker Hub's, the mirror wants its own."""
    text = spec(replace={"    credentials: [hub]\n": "    credentials: [robot]\n",
                         "registries:\n  - name: hub\n": "registries:\n  - name: robot\n"
                         "    server: docker.io/robot-only\n    credentials:\n"
                         "      externalSecret: {store: {name: vault}, remoteKey: robot}\n"
                         "  - name: hub\n"})
    result = explain_spec(load(text), "nginx", "shop", None, None)
    assert any("none is the mirror's credential (robot): the mirror rejects the pull" in n for n in result.notes)
    [(status, reason)] = _coverage(text, tmp_path)
    assert status == UNCOVERED and "none is the mirror's credential (robot)" in reason
    # without the mirror on the pool, the same spec covers the image
    assert _coverage(text.replace("        mirrors: [cache]\n", ""), tmp_path) == [(COVERED, "")]


def test_anonymous_mirror_and_ecr_pull_through_cache(tmp_path: Path) -> None:
    anonymous = spec(replace={"    credentials: [hub]\n": ""})
    assert _coverage(anonymous, tmp_path) == [(COVERED, "")]
    ecr = anonymous.replace("kind: harbor-proxy-cache", "kind: ecr-pull-through-cache")
    [(status, reason)] = _coverage(ecr, tmp_path)
    assert status == UNCOVERED and "an ECR pull-through cache needs an ECR token" in reason
    with_provider = ecr.replace("        mirrors: [cache]\n", "        mirrors: [cache]\n        credentialProviders:\n"
                                "          - {kind: ecr, matchImages: [docker.io]}\n")
    assert _coverage(with_provider, tmp_path) == [(COVERED, "")]


def test_node_pool_providers_are_credential_paths_with_their_own_match_rules() -> None:
    keys = "              requiredServiceAccountAnnotationKeys: [eks.amazonaws.com/role-arn]\n"
    text = spec("1.34", token(CACHE + keys))
    resolved = load(text)
    ecr = explain_spec(resolved, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1", "shop", "builder", None)
    assert [(a.key, a.source) for a in ecr.attempts] == [
        ("*.dkr.ecr.*.amazonaws.com", "node pool general: credential provider ecr-credential-provider (ecr)")]
    assert any("carries the annotations eks.amazonaws.com/role-arn" in n and "'builder'" in n for n in ecr.notes)
    # a `*` matches one DNS label: a two-label region part is not the provider's
    other = explain_spec(resolved, "123456789012.dkr.ecr.eu.west.amazonaws.com/app:1", "shop", None, None)
    assert other.attempts == []


def test_validate_command_checks_node_files(tmp_path: Path) -> None:
    out = ROOT / "out" / "platform" / "prod" / "nodes"
    assert run_cli("validate", out, "--kubernetes-version", "1.34").code == 0
    broken = tmp_path / "cpc.yaml"
    text = (out / "general" / "credential-provider-config.yaml").read_text()
    broken.write_text(text.replace("defaultCacheDuration:", "defaultCacheDurations:"))
    run = run_cli("validate", broken, "--kubernetes-version", "1.34")
    assert run.code == 1 and "defaultCacheDuration" in run.output
    # the 1.33 kubelet has no cacheType: the same committed file is refused there
    assert run_cli("validate", out / "general", "--kubernetes-version", "1.33").code == 1


def test_providers_of_several_pools_are_alternatives() -> None:
    text = spec(pool="        credentialProviders: [{kind: acr}]\n      - name: other\n"
                     "        credentialProviders: [{kind: acr}]\n")
    result = explain_spec(load(text), "corp.azurecr.io/app:1", "shop", None, None)
    assert [a.source for a in result.attempts] == [
        "node pool general: credential provider acr-credential-provider (acr)",
        "node pool other: credential provider acr-credential-provider (acr)"]
    assert "node pool general, node pool other: a Pod runs on one pool and gets only that pool's provider " \
           "credentials" in result.notes


def test_invalid_node_file_fails_the_render_and_writes_nothing(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from genpolicy.errors import OutputValidationError
    from genpolicy.nodes import render as node_render
    from genpolicy.pipeline import RenderOptions, render

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(spec().replace("kind: PullSecretSpec\n", "kind: PullSecretSpec\noutputDir: out\n"))
    monkeypatch.setattr(node_render, "DOCKER_HUB_ENDPOINT", "ftp://registry-1.docker.io")  # breaks the schema
    with pytest.raises(OutputValidationError) as info:
        render(RenderOptions(spec_file, environ={}))
    assert [(p.file, p.path) for p in info.value.problems] == [
        ("prod/nodes/general/certs.d/docker.io/hosts.toml", ".server")]
    assert not (tmp_path / "out").exists()
    monkeypatch.undo()
    first = render(RenderOptions(spec_file, environ={}))  # same spec, same bytes
    again = render(RenderOptions(spec_file, environ={}))
    assert {p: f.content() for p, f in first.bundle.files.items()} == {p: f.content() for p, f in
                                                                      again.bundle.files.items()}


def test_allowlist_is_a_set() -> None:
    text = spec("1.35", "        pullVerification:\n          policy: NeverVerifyAllowlistedImages\n"
                        "          allowlist: [registry.k8s.io/pause, registry.k8s.io/pause]\n")
    assert [p.split(": ", 2)[1:] for p in problems(text)] == [
        ["clusters[0].nodePools[0].pullVerification.allowlist", "lists an image twice (the kubelet's list is a set)"]]
    kubelet = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
               "preloadedImagesVerificationAllowlist": ["a.io/x", "a.io/x"]}
    assert node_findings(kubelet) != [] and node_findings({**kubelet, "preloadedImagesVerificationAllowlist": []}) == []


def test_validate_command_checks_hosts_toml(tmp_path: Path) -> None:
    committed = ROOT / "out" / "platform" / "prod" / "nodes" / "general" / "certs.d" / "docker.io" / "hosts.toml"
    folder = tmp_path / "certs.d" / "docker.io"
    folder.mkdir(parents=True)
    (folder / "hosts.toml").write_text(committed.read_text().replace("override_path", "overide_path"))
    run = run_cli("validate", tmp_path, "--kubernetes-version", "1.34")
    assert run.code == 1 and "'overide_path' was unexpected" in run.output and "containerd hosts.toml" in run.output
    (folder / "hosts.toml").write_text("server = \n")
    run = run_cli("validate", tmp_path, "--kubernetes-version", "1.34")
    assert run.code == 1 and "cannot parse" in run.output
    (folder / "hosts.toml").write_text(committed.read_text())
    assert run_cli("validate", tmp_path, "--kubernetes-version", "1.34").code == 0


def test_a_registry_served_by_a_pool_provider_is_explained_by_the_pool() -> None:
    """`credentials.node` names the plugin; when a pool configures it, the pool's entry is the credential path."""
    text = spec(pool="        credentialProviders: [{kind: acr}]\n", replace={
        "registries: [hub, harbor]": "registries: [hub, harbor, acr]",
        "mirrors:\n": "  - name: acr\n    server: '*.azurecr.io'\n    credentials:\n"
                       "      node: {provider: acr-credential-provider}\nmirrors:\n"})
    sources = [a.source for a in explain_spec(load(text), "corp.azurecr.io/app:1", "shop", None, None).attempts]
    assert sources == ["node pool general: credential provider acr-credential-provider (acr)"]
    other = text.replace("{provider: acr-credential-provider}", "{provider: aks-kubelet-identity}")
    sources = [a.source for a in explain_spec(load(other), "corp.azurecr.io/app:1", "shop", None, None).attempts]
    assert sources == ["node credential provider aks-kubelet-identity",
                       "node pool general: credential provider acr-credential-provider (acr)"]
