"""clusters[].engineCredentials: Argo CD repository Secrets and Flux sources, every backend, both sides."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from bundles import write_certificate
from conftest import ROOT, run_cli, write_spec
from genpolicy import crds
from genpolicy.crypto.sealed import Scope, scope_label, unseal_value
from genpolicy.crypto.sops import decrypt_document
from genpolicy.errors import OutputValidationError
from genpolicy.render.engine_secrets import check_repository_secret
from genpolicy.validate import CrdSchemas, Validator, kubernetes_schemas
from realtools import require

PASSWORD = "Engine-Canary-Token-7f3a9c"
ENV = {"REG_USER": "robot", "REG_PASS": PASSWORD}
EXAMPLE = ROOT / "examples" / "engines" / "spec.yaml"

HEAD = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
ALLOW
registries:
  - name: ghcr
    server: ghcr.io
    credentials: {fromEnv: {username: REG_USER, password: REG_PASS}}
  - name: hub
    server: https://index.docker.io/v1/
    credentials: {fromEnv: {username: REG_USER, password: REG_PASS}}
  - name: harbor
    server: harbor.example.com/platform
    credentials: {username: robot$charts, externalSecret: {store: {name: vault}, remoteKey: harbor}}
  - name: gar
    server: europe-docker.pkg.dev
    credentials: {generator: {kind: GCRAccessToken, spec: {auth: {workloadIdentity: {serviceAccountRef: {name: sa},
      clusterLocation: europe-west1, clusterName: c, clusterProjectID: p}}, projectID: p}}}
  - name: ecr
    server: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
    credentials: {node: {provider: ecr-credential-provider}}
  - name: internal
    server: registry.internal.example:5000
    credentials: {node: {provider: kubelet-config}}
namespaceGroups: [{name: apps, namespaces: [apps], registries: [ghcr]}]
clusters:
"""

ARGO = """
  - name: argo
    kubernetesVersion: "1.33"
    BACKEND
    argocd: {namespace: argo-system}
    engineCredentials:
      - {registry: ghcr, kind: repository, url: oci://ghcr.io/acme/charts}
      - {registry: hub, kind: repo-creds}
      - {registry: harbor, kind: repo-creds, name: harbor-charts}
      - {registry: gar, kind: repository, url: europe-docker.pkg.dev/p/charts}
"""

FLUX = """
  - name: edge
    kubernetesVersion: "1.34"
    gitops: flux
    BACKEND
    engineCredentials:
      - {registry: ghcr, kind: HelmRepository, name: charts, url: ghcr.io/acme/charts}
      - {registry: ghcr, kind: OCIRepository, name: manifests, url: ghcr.io/acme/manifests, interval: 2m}
      - {registry: ecr, kind: ImageRepository, name: api, url: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api}
      - {registry: gar, kind: OCIRepository, name: gar-art, url: europe-docker.pkg.dev/p/art}
      - {registry: gar, kind: HelmRepository, name: gar-generic, url: europe-docker.pkg.dev/p/c, provider: generic}
      - {registry: internal, kind: ImageRepository, name: int, url: registry.internal.example:5000/x, provider: aws}
"""


def spec_text(clusters: str, backend: str, *, allow: bool = False) -> str:
    body = HEAD.replace("ALLOW", "allowPlaintext: true" if allow else "") + clusters
    return body.replace("BACKEND", backend)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def by_name(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- Argo CD ----------------------------------------------------------------------------------------


def test_argocd_plain_repository_secrets_hold_what_argocd_reads(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, spec_text(ARGO, "backend: plain", allow=True))
    result = run_cli("render", spec, env=ENV)
    assert result.code == 0, result.output
    path = tmp_path / "out/argo/engines/engines.yaml"
    docs = by_name(documents(path))
    repo = docs[("Secret", "ghcr-oci-repo")]
    assert repo["metadata"]["namespace"] == "argo-system"  # the cluster's Argo CD namespace
    assert repo["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert repo["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"
    assert decoded(repo) == {"enableOCI": "true", "name": "ghcr-oci-repo", "password": PASSWORD,
                             "type": "helm", "url": "ghcr.io/acme/charts", "username": "robot"}
    creds = docs[("Secret", "hub-oci-creds")]
    assert creds["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repo-creds"
    assert decoded(creds)["url"] == "registry-1.docker.io"  # Docker Hub's OCI endpoint, no scheme
    assert "name" not in decoded(creds)
    assert (path.stat().st_mode & 0o777) == 0o600  # plaintext: owner only
    assert "engines" in yaml.safe_load((tmp_path / "out/argo/kustomization.yaml").read_text().split("---\n")[1])[
        "resources"]
    assert PASSWORD not in result.output


def test_argocd_external_secret_and_generator_build_the_secret_in_the_cluster(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, spec_text(ARGO, "backend: plain", allow=True))
    assert run_cli("render", spec, env=ENV).code == 0
    docs = by_name(documents(tmp_path / "out/argo/engines/engines.yaml"))
    eso = docs[("ExternalSecret", "harbor-charts")]
    template = eso["spec"]["target"]["template"]
    assert template["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repo-creds"
    assert template["data"] == {"enableOCI": "true", "password": "{{ .password }}", "type": "helm",
                                "url": "harbor.example.com/platform", "username": "robot$charts"}
    assert eso["spec"]["data"] == [{"secretKey": "password", "remoteRef": {"key": "harbor", "property": "password"}}]
    generator = docs[("GCRAccessToken", "gar-oci-repo-token")]
    assert generator["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-2"  # before its user
    minted = docs[("ExternalSecret", "gar-oci-repo")]
    assert minted["spec"]["refreshInterval"] == "30m"  # GAR tokens live about an hour
    assert minted["spec"]["target"]["template"]["data"]["username"] == '{{ "oauth2accesstoken" }}'
    assert minted["spec"]["target"]["template"]["data"]["password"] == "{{ .token }}"


def test_argocd_sealed_repository_secret_opens_and_does_not_churn(tmp_path: Path) -> None:
    _, key_path = write_certificate(tmp_path, "cert")
    spec = write_spec(tmp_path, spec_text(ARGO, "backend: sealed-secrets\n    sealedSecrets: {certificate: cert.pem}"))
    assert run_cli("render", spec, env=ENV).code == 0
    out = tmp_path / "out"
    sealed = by_name(documents(out / "argo/engines/engines.yaml"))[("SealedSecret", "ghcr-oci-repo")]
    assert sealed["spec"]["template"]["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    private = serialization.load_pem_private_key(key_path.read_bytes(), None)
    label = scope_label(Scope.STRICT, "argo-system", "ghcr-oci-repo")
    opened = {k: unseal_value(private, v, label=label).decode()  # type: ignore[arg-type]
              for k, v in sealed["spec"]["encryptedData"].items()}
    assert opened["password"] == PASSWORD and opened["url"] == "ghcr.io/acme/charts" and opened["type"] == "helm"
    before = tree(out)
    again = run_cli("render", spec, env=ENV)
    assert again.code == 0 and tree(out) == before, again.output  # same credential: same bytes
    check = run_cli("render", spec, "--check", env={})
    assert check.code == 0 and "SealedSecret argo-system/ghcr-oci-repo" in check.output, check.output
    changed = run_cli("render", spec, env={**ENV, "REG_PASS": PASSWORD + "-rotated"})
    assert changed.code == 0, changed.output
    after = tree(out)
    assert after["argo/engines/engines.yaml"] != before["argo/engines/engines.yaml"]
    assert after["argo/namespaces/apps.yaml"] != before["argo/namespaces/apps.yaml"]  # same registry, rotated too


def _edit_engine_file(out: Path, rel: str, name: str, change: Any) -> None:
    """Rewrite one SealedSecret (as someone with write access to the repository could, owned-files record too)."""
    path = out / rel
    header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        if doc["kind"] == "SealedSecret" and doc["metadata"]["name"] == name:
            change(doc["spec"]["encryptedData"])
    path.write_text(header + "---\n" + "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))
    record = json.loads((out / ".genpolicy-owned.json").read_text())
    record["files"][rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    (out / ".genpolicy-owned.json").write_text(json.dumps(record, indent=2) + "\n")


def test_a_tampered_sealed_repository_secret_is_never_reused(tmp_path: Path) -> None:
    write_certificate(tmp_path, "cert")
    spec = write_spec(tmp_path, spec_text(ARGO, "backend: sealed-secrets\n    sealedSecrets: {certificate: cert.pem}"))
    assert run_cli("render", spec, env=ENV).code == 0
    out, rel = tmp_path / "out", "argo/engines/engines.yaml"
    original = (out / rel).read_bytes()

    def check(env: dict[str, str]) -> Any:
        return run_cli("render", spec, "--check", "--no-cache", env=env)

    assert check({}).code == 0
    _edit_engine_file(out, rel, "ghcr-oci-repo", lambda data: data.__setitem__("url", data["password"]))
    swapped = check({})  # the fingerprint key is there: the binding shows the swap
    assert swapped.code == 4 and "does not match its binding" in swapped.stderr, swapped.output
    _edit_engine_file(out, rel, "ghcr-oci-repo", lambda data: data.pop("url"))
    missing = check({})
    assert missing.code == 4 and "encryptedData is malformed (sealed enableOCI, name, password, type, url, " \
        "username expected)" in missing.stderr, missing.output
    healed = run_cli("render", spec, "--no-cache", env=ENV)  # with the credentials: sealed afresh
    assert healed.code == 0, healed.output
    assert set(by_name(documents(out / rel))[("SealedSecret", "ghcr-oci-repo")]["spec"]["encryptedData"]) == set(
        EXPECTED_KEYS)
    assert (out / rel).read_bytes() != original and check({}).code == 0


def test_argocd_sops_repository_secret_decrypts(tmp_path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    backend = f"backend: sops\n    sops: {{recipients: [{identity.to_public()}]}}"
    spec = write_spec(tmp_path, spec_text(ARGO, backend))
    assert run_cli("render", spec, env=ENV).code == 0
    folder = tmp_path / "out/argo/engines"
    text = (folder / "argo-system/ghcr-oci-repo.sops.yaml").read_text()
    assert PASSWORD not in text
    secret = decrypt_document(text, str(identity))
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert decoded(secret)["password"] == PASSWORD
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text().split("---\n")[1])
    assert "argo-system/ghcr-oci-repo.sops.yaml" in kustomization["resources"]
    before = tree(tmp_path / "out")
    assert run_cli("render", spec, env=ENV).code == 0 and tree(tmp_path / "out") == before


# --- Flux ---------------------------------------------------------------------------------------------


def test_flux_sources_reference_a_secret_or_use_the_cloud_identity(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, spec_text(FLUX, "backend: plain", allow=True))
    result = run_cli("render", spec, env=ENV)
    assert result.code == 0, result.output
    docs = by_name(documents(tmp_path / "out/edge/engines/engines.yaml"))
    helm = docs[("HelmRepository", "charts")]
    assert helm["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert helm["spec"] == {"interval": "10m", "url": "oci://ghcr.io/acme/charts", "type": "oci",
                            "secretRef": {"name": "ghcr-pull"}}
    assert docs[("OCIRepository", "manifests")]["spec"]["interval"] == "2m"
    assert docs[("ImageRepository", "api")]["spec"] == {
        "interval": "10m", "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api", "provider": "aws"}
    assert docs[("OCIRepository", "gar-art")]["spec"]["provider"] == "gcp"  # generator source: the cloud identity
    assert docs[("ImageRepository", "int")]["spec"]["provider"] == "aws"  # explicit provider wins
    generic = docs[("HelmRepository", "gar-generic")]["spec"]
    assert generic["secretRef"] == {"name": "gar-pull"} and "provider" not in generic
    secret = docs[("Secret", "ghcr-pull")]
    assert secret["metadata"]["namespace"] == "flux-system" and secret["type"] == "kubernetes.io/dockerconfigjson"
    assert json.loads(decoded(secret)[".dockerconfigjson"])["auths"]["ghcr.io"]["password"] == PASSWORD
    assert docs[("ExternalSecret", "gar-pull")]["metadata"]["namespace"] == "flux-system"  # generator for generic
    assert not any(k == ("Secret", "ecr-pull") for k in docs)  # node/provider: no Secret
    assert len([k for k in docs if k == ("Secret", "ghcr-pull")]) == 1  # one Secret per registry


def test_flux_wiring_deploys_the_engines_folder_with_decryption(tmp_path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    text = spec_text(FLUX, f"backend: sops\n    sops: {{recipients: [{identity.to_public()}]}}")
    wiring = "gitops: {repoURL: https://git.example.com/x.git, path: out}\n"
    text = text.replace("registries:\n", wiring + "registries:\n", 1)
    spec = write_spec(tmp_path, text)
    result = run_cli("render", spec, env=ENV)
    assert result.code == 0, result.output
    flux = by_name(documents(tmp_path / "out/flux/edge.yaml"))
    part = flux[("Kustomization", "genpolicy-edge-engine-credentials")]["spec"]
    assert part["path"] == "./out/edge/engines" and part["decryption"]["provider"] == "sops"
    sops_file = tmp_path / "out/edge/engines/flux-system/ghcr-pull.sops.yaml"
    assert decoded(decrypt_document(sops_file.read_text(), str(identity)))[".dockerconfigjson"]


# --- validation ------------------------------------------------------------------------------------


def _validator() -> Validator:
    return Validator(kubernetes_schemas("1.34"), CrdSchemas(), crds.shipped_crds(None))


def test_shipped_flux_schemas_accept_the_rendered_sources_and_reject_broken_ones(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, spec_text(FLUX, "backend: plain", allow=True))
    assert run_cli("render", spec, env=ENV).code == 0
    docs = by_name(documents(tmp_path / "out/edge/engines/engines.yaml"))
    validator = _validator()
    for key in [("HelmRepository", "charts"), ("OCIRepository", "manifests"), ("ImageRepository", "api")]:
        outcome = validator.validate(docs[key])
        assert outcome.validated and not outcome.findings, (key, outcome.findings)
    broken = copy.deepcopy(docs[("HelmRepository", "charts")])
    broken["spec"]["type"] = "oci2"
    assert validator.validate(broken).findings
    no_scheme = copy.deepcopy(docs[("OCIRepository", "manifests")])
    no_scheme["spec"]["url"] = "ghcr.io/acme/manifests"  # OCIRepository urls must be oci://
    assert validator.validate(no_scheme).findings
    unknown = copy.deepcopy(docs[("ImageRepository", "api")])
    unknown["spec"]["url"] = unknown["spec"].pop("image")
    assert validator.validate(unknown).findings


def test_argocd_rules_reject_a_secret_argocd_would_ignore_or_misread(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, spec_text(ARGO, "backend: plain", allow=True))
    assert run_cli("render", spec, env=ENV).code == 0
    docs = by_name(documents(tmp_path / "out/argo/engines/engines.yaml"))
    good = docs[("Secret", "ghcr-oci-repo")]
    check_repository_secret(good, "x")
    check_repository_secret(docs[("ExternalSecret", "harbor-charts")], "x")
    assert _validator().validate(good).validated
    unlabelled = copy.deepcopy(good)
    del unlabelled["metadata"]["labels"]["argocd.argoproj.io/secret-type"]
    schemed = copy.deepcopy(good)
    schemed["data"]["url"] = base64.b64encode(b"oci://ghcr.io/acme/charts").decode()
    not_oci = copy.deepcopy(docs[("ExternalSecret", "harbor-charts")])
    del not_oci["spec"]["target"]["template"]["data"]["enableOCI"]
    for broken, needle in [(unlabelled, "secret-type"), (schemed, "without a scheme"), (not_oci, "enableOCI")]:
        with pytest.raises(OutputValidationError) as info:
            check_repository_secret(broken, "x")
        assert needle in str([p.path + p.message for p in info.value.problems])


# --- spec errors -----------------------------------------------------------------------------------

BAD = [
    ("{registry: nope, kind: repository}", "unknown registry 'nope'"),
    ("{registry: ghcr, kind: HelmRepository}", "runs argocd, whose kinds are repository, repo-creds"),
    ("{registry: ghcr, kind: repository, url: quay.io/acme}", "is not under registry 'ghcr'"),
    ("{registry: ecr, kind: repository}", "served by the nodes' identity; Argo CD"),
    ("{registry: ghcr, kind: repository, url: https://ghcr.io/acme}", "write the repository as `oci://host/path`"),
    ("{registry: ghcr, kind: repository, interval: 5m}", "`interval` and `provider` are Flux settings"),
    ("{registry: ghcr, kind: repository, url: ghcr.io/a}\n      - {registry: ghcr, kind: repo-creds, name: "
     "ghcr-oci-repo}", "Secret name 'ghcr-oci-repo' in namespace 'argocd' is already used"),
    ("{registry: ghcr, kind: repository, url: ghcr.io/a}\n      - {registry: ghcr, kind: repository, name: b, "
     "url: ghcr.io/a}", "url 'ghcr.io/a' in namespace 'argocd' is already used"),
]
BAD_FLUX = [
    ("{registry: ghcr, kind: OCIRepository}", "OCIRepository needs `url`"),
    ("{registry: internal, kind: ImageRepository, url: registry.internal.example:5000/x}", "names no cloud"),
    ("{registry: ghcr, kind: ImageRepository, url: ghcr.io/a/b:1.0}", "without tag or digest"),
    ("{registry: ghcr, kind: repository}", "runs flux, whose kinds are HelmRepository"),
]


def _one(gitops: str, entry: str) -> str:
    return spec_text(f"""
  - name: c
    kubernetesVersion: "1.33"
    gitops: {gitops}
    backend: plain
    engineCredentials:
      - {entry}
""", "", allow=True)


@pytest.mark.parametrize(("gitops", "entry", "message"), [("argocd", *b) for b in BAD] +
                         [("flux", *b) for b in BAD_FLUX])
def test_spec_errors_point_at_the_entry(tmp_path: Path, gitops: str, entry: str, message: str) -> None:
    spec = write_spec(tmp_path, _one(gitops, entry))
    result = run_cli("render", spec, env=ENV)
    assert result.code == 3, result.output
    assert message in result.stderr, result.stderr
    assert f"{spec}:" in result.stderr and "engineCredentials" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # a failed render changes nothing


@pytest.mark.parametrize(("gitops", "entry", "fires"), [
    ("flux", "{registry: ghcr, kind: HelmRepository}", True),
    ("flux", "{registry: ghcr, kind: HelmRepository, namespace: sources}", False),
    ("argocd", "{registry: ghcr, kind: repository, name: ghcr-pull}", True),
    ("argocd", "{registry: ghcr, kind: repository}", False),
])
def test_an_engine_secret_may_not_duplicate_a_pull_secret(tmp_path: Path, gitops: str, entry: str,
                                                          fires: bool) -> None:
    namespace = "flux-system" if gitops == "flux" else "argocd"
    text = _one(gitops, entry).replace("namespaces: [apps]", f"namespaces: [apps, {namespace}]")
    result = run_cli("render", write_spec(tmp_path, text), env=ENV)
    assert (result.code == 3) == fires, result.output
    assert ("already renders Secret 'ghcr-pull'" in result.stderr) == fires


def test_plaintext_engine_secret_needs_the_opt_in(tmp_path: Path) -> None:
    text = spec_text(ARGO, "backend: plain").replace("registries: [ghcr]", "registries: [harbor]")
    spec = write_spec(tmp_path, text)
    result = run_cli("render", spec, env=ENV)
    assert result.code == 3 and "allowPlaintext" in result.stderr, result.output


def test_engine_only_registry_is_read_and_not_reported_unused(tmp_path: Path) -> None:
    text = spec_text(ARGO, "backend: plain", allow=True).replace("registries: [ghcr]", "registries: [harbor]")
    spec = write_spec(tmp_path, text)
    assert run_cli("render", spec, env={}).code == 4  # ghcr's variables are read for its engine Secret
    lint = run_cli("lint", spec, "--format", "json")
    unused = [p["message"] for p in json.loads(lint.stdout)["problems"] if p.get("code") == "GP010"]
    assert any("'internal'" in m for m in unused), unused  # the rule still fires for a really unused one
    assert not any("'ghcr'" in m or "'hub'" in m for m in unused), unused


# --- the committed example ---------------------------------------------------------------------------


def test_the_example_is_current_and_complete() -> None:
    result = run_cli("render", EXAMPLE, "--check", env={})
    assert result.code == 0, result.output
    out = ROOT / "out" / "engines"
    argo = by_name(documents(out / "mgmt/engines/engines.yaml"))
    assert {k[0] for k in argo} == {"SealedSecret", "ExternalSecret", "ECRAuthorizationToken"}
    flux = by_name(documents(out / "edge/engines/engines.yaml"))
    assert {k[0] for k in flux} == {"HelmRepository", "OCIRepository", "ImageRepository"}
    assert (out / "edge/engines/flux-system/ghcr-pull.sops.yaml").is_file()


@pytest.mark.parametrize(("destination", "fires"), [("", False), ("argocd: {name: in-cluster}", False),
                                                    ("argocd: {server: https://edge.example.com:6443}", True)])
def test_lint_warns_when_argocd_repository_secrets_go_to_another_cluster(
        tmp_path: Path, destination: str, fires: bool) -> None:
    spec = write_spec(tmp_path, _one("argocd", "{registry: ghcr, kind: repository}").replace(
        "    backend: plain\n", f"    backend: plain\n    {destination}\n"))
    result = run_cli("lint", spec, "--format", "json")
    codes = [p.get("code") for p in json.loads(result.stdout)["problems"]]
    assert ("GP012" in codes) == fires, result.output


def test_kubectl_kustomize_builds_the_example_engine_folders(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not on PATH: cannot check that `kubectl kustomize` builds the engines folders")
    out = ROOT / "out" / "engines"

    def build(folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=False)

    edge = build(out / "edge")
    assert edge.returncode == 0, edge.stderr
    objects = list(yaml.safe_load_all(edge.stdout))
    kinds = sorted((d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for d in objects
                   if d["metadata"]["namespace"] == "flux-system")
    assert kinds == [("HelmRepository", "flux-system", "acme-charts"), ("ImageRepository", "flux-system", "shop-api"),
                     ("ImageRepository", "flux-system", "shop-web"), ("OCIRepository", "flux-system", "acme-manifests"),
                     ("Secret", "flux-system", "ghcr-pull")]
    mgmt = build(out / "mgmt")
    assert mgmt.returncode == 0 and "argocd.argoproj.io/secret-type: repo-creds" in mgmt.stdout, mgmt.stderr
    broken = tmp_path / "edge"
    shutil.copytree(out / "edge", broken)
    (broken / "engines/flux-system/ghcr-pull.sops.yaml").unlink()  # the kustomization lists it
    assert build(broken).returncode != 0


# --- the real tools (tests/realtools.py; skipped with the reason when not built) --------------------

EXPECTED_KEYS = {"enableOCI": "true", "name": "ghcr-oci-repo", "password": PASSWORD, "type": "helm",
                 "url": "ghcr.io/acme/charts", "username": "robot"}


def _tool(name: str, *args: str | Path, stdin: str = "", cwd: Path, env: dict[str, str] | None = None) -> Any:
    tool = require(name)
    full = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "KUBECONFIG": str(cwd / "none"),
            "SOPS_DISABLE_VERSION_CHECK": "1", **(env or {})}
    return subprocess.run([tool.path, *map(str, args)], input=stdin, capture_output=True, text=True, env=full,
                          cwd=cwd, timeout=60, check=False)


def test_real_kubeseal_opens_every_key_of_the_repository_secret(tmp_path: Path) -> None:
    _, key_path = write_certificate(tmp_path, "cert")
    _, wrong_key = write_certificate(tmp_path, "wrong")
    spec = write_spec(tmp_path, spec_text(ARGO, "backend: sealed-secrets\n    sealedSecrets: {certificate: cert.pem}"))
    assert run_cli("render", spec, env=ENV).code == 0
    sealed = by_name(documents(tmp_path / "out/argo/engines/engines.yaml"))[("SealedSecret", "ghcr-oci-repo")]
    proc = _tool("kubeseal", "--recovery-unseal", "--recovery-private-key", key_path, "-o", "yaml",
                 stdin=yaml.safe_dump(sealed), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    secret = yaml.safe_load(proc.stdout)
    assert decoded(secret) == EXPECTED_KEYS
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    refused = _tool("kubeseal", "--recovery-unseal", "--recovery-private-key", wrong_key, "-o", "yaml",
                    stdin=yaml.safe_dump(sealed), cwd=tmp_path)
    assert refused.returncode != 0  # the wrong key opens nothing


def test_real_sops_decrypts_the_repository_secret_and_refuses_an_edited_one(tmp_path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    (tmp_path / "age.agekey").write_text(f"{identity}\n")
    spec = write_spec(tmp_path, spec_text(ARGO, f"backend: sops\n    sops: {{recipients: [{identity.to_public()}]}}"))
    assert run_cli("render", spec, env=ENV).code == 0
    path = tmp_path / "out/argo/engines/argo-system/ghcr-oci-repo.sops.yaml"
    env = {"SOPS_AGE_KEY_FILE": str(tmp_path / "age.agekey")}
    proc = _tool("sops", "--decrypt", path, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert decoded(yaml.safe_load(proc.stdout)) == EXPECTED_KEYS
    edited = tmp_path / "edited.sops.yaml"
    edited.write_text(path.read_text().replace("argo-system", "other-ns", 1))  # metadata is under the MAC
    assert _tool("sops", "--decrypt", edited, cwd=tmp_path, env=env).returncode != 0


def test_same_spec_same_bytes_in_a_fresh_folder(tmp_path: Path) -> None:
    """Unencrypted output (plain, ESO, Flux sources) is a function of the spec and the credentials."""
    trees = []
    for run in ("a", "b"):
        folder = tmp_path / run
        folder.mkdir()
        spec = write_spec(folder, spec_text(ARGO + FLUX, "backend: plain", allow=True))
        assert run_cli("render", spec, env=ENV).code == 0
        trees.append(tree(folder / "out"))
    assert trees[0] == trees[1] and any("engines/" in p for p in trees[0])
