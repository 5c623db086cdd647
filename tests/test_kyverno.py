"""Kyverno distribution: version-exact policies, selectors, registry matching equal to the kubelet's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CRDS, ROOT, SHARED, require_shared, run_cli, write_spec
from genpolicy.errors import SpecError
from genpolicy.pipeline import RenderOptions, RenderResult, render
from genpolicy.registry import InvalidImage, normalize_image, urls_match
from genpolicy.render.image_match import excludes_localhost, image_regex, namespace_regex
from genpolicy.specfile import parse_spec

SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
registries:
  - name: ghcr
    server: ghcr.io
    credentials: {externalSecret: {store: {name: vault}, remoteKey: ghcr}}
  - name: harbor
    server: harbor.example.com:8443/team-a
    credentials: {externalSecret: {store: {name: vault}, remoteKey: harbor}}
  - name: hub
    server: https://index.docker.io/v1/
    credentials: {externalSecret: {store: {name: vault}, remoteKey: hub}}
clusters:
  - name: c
    kubernetesVersion: "1.32"
    gitops: argocd
    kyverno: {version: "VERSION"}
namespaceGroups:
  - name: static
    namespaces: [legacy]
    registries: [ghcr]
  - name: teams
    distribution: kyverno
    namespaces: ["team-*", "ops"]
    excludeNamespaces: [team-sandbox]
    registries: [ghcr, harbor, hub]
"""


def render_version(tmp_path: Path, version: str, extra: str = "") -> RenderResult:
    spec = write_spec(tmp_path, SPEC.replace("VERSION", version).replace('kyverno: {version: "' + version + '"}',
                                                                           'kyverno: {version: "' + version + '"'
                                                                           + extra + "}"))
    return render(RenderOptions(spec, environ={}))  # the shipped CRD schemas of that Kyverno minor


def objects(result: RenderResult, path: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(result.bundle.files[path].content()))


@pytest.mark.parametrize("version", [f"1.{minor}" for minor in range(10, 20)])
def test_every_version_validates_against_its_own_crds(tmp_path: Path, version: str) -> None:
    """Validated against the CRD of the declared minor (shipped): a field it lacks is a render error."""
    result = render_version(tmp_path, version)
    assert result.warnings == [], "every Kyverno object must be validated against a CRD"


def test_and_against_the_upstream_crds(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC.replace("VERSION", "1.19"))
    assert render(RenderOptions(spec, crds=[require_shared()], environ={})).warnings == []


def test_field_placement_before_1_13(tmp_path: Path) -> None:
    clone, mutate = objects(render_version(tmp_path, "1.12"), "c/kyverno/policies/teams.yaml")
    assert clone["kind"] == "ClusterPolicy" and clone["spec"]["generateExisting"] is True
    assert all("generateExisting" not in r["generate"] for r in clone["spec"]["rules"])
    assert mutate["spec"]["failurePolicy"] == "Ignore" and "webhookConfiguration" not in mutate["spec"]


def test_field_placement_from_1_13(tmp_path: Path) -> None:
    clone, mutate = objects(render_version(tmp_path, "1.13"), "c/kyverno/policies/teams.yaml")
    assert "generateExisting" not in clone["spec"]
    assert all(r["generate"]["generateExisting"] is True for r in clone["spec"]["rules"])
    assert all(r["generate"]["synchronize"] is True for r in clone["spec"]["rules"])
    assert mutate["spec"]["webhookConfiguration"] == {"failurePolicy": "Ignore"}
    assert mutate["metadata"]["annotations"]["pod-policies.kyverno.io/autogen-controllers"] == "none"
    for rule in mutate["spec"]["rules"]:
        assert rule["match"]["any"][0]["resources"]["operations"] == ["CREATE"]
        keys = [c["key"] for c in rule["preconditions"]["any"]]
        assert [k.split("||")[0] for k in keys] == ["{{ length((request.object.spec.containers ",
                                                   "{{ length((request.object.spec.initContainers "]
        assert all("regex_match(" in k and "images." not in k for k in keys), "raw images, not defaultRegistry"


def test_1_10_defaults_fields_it_does_not_know(tmp_path: Path) -> None:
    clone, _ = objects(render_version(tmp_path, "1.10"), "c/kyverno/policies/teams.yaml")
    assert "emitWarning" not in clone["spec"]
    assert all("orphanDownstreamOnPolicyDelete" not in r["generate"] for r in clone["spec"]["rules"])


@pytest.mark.parametrize(("version", "admission", "emit_warning"),
                         [("1.10", False, False), ("1.11", True, False), ("1.12", True, False), ("1.13", True, True)])
def test_spec_fields_appear_from_the_version_that_has_them(tmp_path: Path, version: str, admission: bool,
                                                          emit_warning: bool) -> None:
    """`spec.admission` is in the CRD from 1.11, `spec.emitWarning` from 1.13 (the 1.12 CLI rejects it)."""
    for policy in objects(render_version(tmp_path, version), "c/kyverno/policies/teams.yaml"):
        assert ("admission" in policy["spec"]) == admission, policy["metadata"]["name"]
        assert ("emitWarning" in policy["spec"]) == emit_warning, policy["metadata"]["name"]


@pytest.mark.parametrize(("version", "path"), [("1.12", ("failurePolicy",)),
                                               ("1.13", ("webhookConfiguration", "failurePolicy"))])
def test_the_clone_policy_does_not_fail_closed(tmp_path: Path, version: str, path: tuple[str, ...]) -> None:
    """Without a failure policy the clone webhook defaults to Fail: a Kyverno outage would block every
    Namespace and Secret write in the cluster."""
    clone, _ = objects(render_version(tmp_path, version), "c/kyverno/policies/teams.yaml")
    value: Any = clone["spec"]
    for key in path:
        value = value[key]
    assert value == "Ignore"


def test_no_policy_matches_ephemeral_containers(tmp_path: Path) -> None:
    """Ephemeral containers cannot exist at Pod CREATE, the only operation the mutation matches."""
    for version in ("1.13", "1.19"):
        (tmp_path / version).mkdir()
        text = render_version(tmp_path / version, version).bundle.files["c/kyverno/policies/teams.yaml"].content()
        assert b"ephemeralContainers" not in text.split(b"spec:", 1)[1], version


def test_cel_policies_clone_the_listed_sources(tmp_path: Path) -> None:
    """The GeneratingPolicy clones the source objects themselves (so Kyverno links each clone to its
    source and synchronizes it), found by listing the source namespace: a missing one is skipped,
    not an error that aborts every clone (resource.Get)."""
    generating, mutating = objects(render_version(tmp_path, "1.19"), "c/kyverno/policies/teams.yaml")
    assert generating["spec"]["generate"] == [
        {"expression": "generator.Apply(variables.targetNamespace, variables.sources)"}]
    sources = {v["name"]: v["expression"] for v in generating["spec"]["variables"]}["sources"]
    assert "resource.List(" in sources and "resource.Get(" not in sources
    assert mutating["spec"]["evaluation"]["background"] == {"enabled": False}


def test_cel_policies_from_1_19_and_the_switch_back(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert [o["kind"] for o in objects(render_version(tmp_path / "a", "1.18"), "c/kyverno/policies/teams.yaml")
            ] == ["ClusterPolicy", "ClusterPolicy"], "1.17/1.18 CEL clones would be garbage-collected"
    kinds = [o["kind"] for o in objects(render_version(tmp_path, "1.19"), "c/kyverno/policies/teams.yaml")]
    assert kinds == ["GeneratingPolicy", "MutatingPolicy"]
    other = tmp_path / "other"
    other.mkdir()
    kinds = [o["kind"] for o in objects(render_version(other, "1.17", ", policyKind: ClusterPolicy"),
                                        "c/kyverno/policies/teams.yaml")]
    assert kinds == ["ClusterPolicy", "ClusterPolicy"]


def test_rbac_by_version(tmp_path: Path) -> None:
    old = [o for o in objects(render_version(tmp_path, "1.12"), "c/kyverno/source/source.yaml")
           if o["kind"] == "ClusterRole"]
    assert [o["metadata"]["name"] for o in old] == ["genpolicy:kyverno:background-controller"]
    assert old[0]["metadata"]["labels"]["app.kubernetes.io/component"] == "background-controller"
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    new = [o for o in objects(render_version(new_dir, "1.13"), "c/kyverno/source/source.yaml")
           if o["kind"] == "ClusterRole"]
    assert {o["metadata"]["name"]: o["rules"][0]["verbs"] for o in new} == {
        "genpolicy:kyverno:background-controller": ["get", "list", "watch", "create", "update", "patch", "delete"],
        "genpolicy:kyverno:admission-controller": ["get", "list", "watch"],
    }
    assert new[1]["metadata"]["labels"]["rbac.kyverno.io/aggregate-to-admission-controller"] == "true"
    assert all(o["rules"][0]["resources"] == ["secrets"] for o in new)


def test_ordering_source_before_policy(tmp_path: Path) -> None:
    result = render_version(tmp_path, "1.13")
    source = objects(result, "c/kyverno/source/source.yaml")
    waves = {o["kind"]: int(o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for o in source}
    policy_wave = int(objects(result, "c/kyverno/policies/teams.yaml")[0]["metadata"]["annotations"][
        "argocd.argoproj.io/sync-wave"])
    assert waves["ClusterRole"] < waves["ExternalSecret"] < policy_wave
    for obj in source:
        assert "Replace=true" not in str(obj) and "Force=true" not in str(obj)


def test_selectors_and_exclusions(tmp_path: Path) -> None:
    clone, mutate = objects(render_version(tmp_path, "1.13"), "c/kyverno/policies/teams.yaml")
    rule = clone["spec"]["rules"][0]
    assert rule["match"]["any"][0]["resources"] == {"kinds": ["Namespace"], "names": ["team-*", "ops"]}
    excluded = rule["exclude"]["any"][0]["resources"]["names"]
    assert excluded == ["genpolicy-system", "kube-node-lease", "kube-public", "kube-system", "kyverno", "legacy",
                        "team-sandbox"]
    assert mutate["spec"]["rules"][0]["exclude"]["any"][0]["resources"]["namespaces"] == excluded


def test_label_selector_and_system_namespaces(tmp_path: Path) -> None:
    text = SPEC.replace("VERSION", "1.19").replace(
        '    namespaces: ["team-*", "ops"]\n    excludeNamespaces: [team-sandbox]\n',
        "    includeSystemNamespaces: true\n    namespaceSelector:\n      matchLabels: {pull: \"yes\"}\n"
        "      matchExpressions: [{key: tier, operator: In, values: [gold]}]\n")
    result = render(RenderOptions(write_spec(tmp_path, text), crds=[require_shared()], environ={}))
    generating, mutating = objects(result, "c/kyverno/policies/teams.yaml")
    selector = {"matchLabels": {"pull": "yes"}, "matchExpressions": [{"key": "tier", "operator": "In",
                                                                       "values": ["gold"]}]}
    assert generating["spec"]["matchConstraints"]["objectSelector"] == selector
    assert mutating["spec"]["matchConstraints"]["namespaceSelector"] == selector
    excluded = generating["spec"]["matchConditions"][-1]["expression"]
    assert "kube-system" not in excluded and "kyverno" in excluded


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('    kyverno: {version: "1.13"}\n', "cluster 'c' needs `kyverno` settings"),
        ("    distribution: kyverno\n", "wildcards need `distribution: kyverno`"),
        ("    registries: [ghcr, harbor, hub]\n", "`merged` is not supported with `distribution: kyverno`"),
    ],
)
def test_kyverno_spec_errors(change: str, message: str) -> None:
    text = SPEC.replace("VERSION", "1.13")
    if "registries: [ghcr, harbor, hub]" in change:
        text = text.replace(change, change + "    secretMode: merged\n")
    else:
        text = text.replace(change, "")
    with pytest.raises(SpecError) as info:
        parse_spec(text, "spec.yaml")
    assert any(message in p.message for p in info.value.problems), info.value.problems


# --- registry matching: the policies add a Secret exactly when the kubelet would use it -----------

KEYS = ["ghcr.io", "harbor.example.com:8443/team-a", "docker.io", "docker.io/myorg", "docker.io/library",
        "docker.io/library/ng", "quay.io/org", "localhost:5000",
        "registry.example.com", "reg.io/a/b"]
IMAGES = [
    "nginx", "nginx:1.25", "library/nginx", "user/app:1", "docker.io/user/app", "index.docker.io/user/app",
    "myorg/app", "myorgx/app", "myorg.io/app", "docker.io/myorg/app", "docker.io/nginx", "ngx:1", "Myorg/app",
    "ghcr.io/org/app:1", "ghcr.io/org/app@sha256:" + "a" * 64, "ghcr.io:443/org/app",
    "harbor.example.com:8443/team-a/x",
    "harbor.example.com:8443/team-ab/x", "harbor.example.com/team-a/x", "harbor.example.com:8443/team-b/x",
    "quay.io/org/app", "quay.io/organisation/app", "quay.io/other/app", "localhost:5000/app", "localhost/app",
    "registry.example.com/a/b/c:2", "sub.registry.example.com/a", "reg.io/a/b/c", "reg.io/a/bc", "reg.io/a/c",
]


def kubelet_matches(key: str, image: str) -> bool:
    return urls_match(key, normalize_image(image).lookup_key)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("image", IMAGES)
def test_cel_regex_matches_like_the_kubelet(key: str, image: str) -> None:
    ours = re.search(image_regex(key), image) is not None
    if excludes_localhost(key):
        ours = ours and not image.startswith("localhost/")
    assert ours == kubelet_matches(key, image), (key, image)


SEGMENT = st.from_regex(r"[a-z0-9]{1,4}", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(
    host=st.sampled_from(["ghcr.io", "a.b", "docker.io", "index.docker.io", "localhost", "x.y.z", "foo"]),
    port=st.sampled_from(["", ":5000", ":443"]),
    path=st.lists(SEGMENT, min_size=1, max_size=3),
    tag=st.sampled_from(["", ":1", ":latest", "@sha256:" + "b" * 64]),
    key=st.sampled_from([*KEYS, "a.b", "a.b:5000/x", "x.y.z/ab", "foo"]),
)
def test_matching_property(host: str, port: str, path: list[str], tag: str, key: str) -> None:
    image = f"{host}{port}/{'/'.join(path)}{tag}" if host != "foo" else f"{'/'.join(path)}{tag}"
    try:
        expected = kubelet_matches(key, image)
    except InvalidImage:
        return
    cel = re.search(image_regex(key), image) is not None and not (excludes_localhost(key)
                                                                  and image.startswith("localhost/"))
    assert cel == expected, (key, image)


def test_namespace_regex() -> None:
    regex = namespace_regex(["team-*", "a?c", "ops"])
    assert [n for n in ["team-", "team-x", "teams", "abc", "ac", "ops", "opsx"] if re.fullmatch(regex, n)] == [
        "team-", "team-x", "abc", "ops"]


# --- the rendered kyverno-test suite, checked against the kubelet --------------------------------

def test_kyverno_test_suite_expectations(tmp_path: Path) -> None:
    result = render_version(tmp_path, "1.13")
    files = result.bundle.files
    suite = yaml.safe_load(files["c/kyverno/tests/kyverno-test.yaml"].content())
    assert suite["apiVersion"] == "cli.kyverno.io/v1alpha1" and suite["kind"] == "Test"
    assert suite["policies"] == ["../policies/teams.yaml"]
    resources = list(yaml.safe_load_all(files["c/kyverno/tests/resources.yaml"].content()))
    namespaces = [r["metadata"]["name"] for r in resources if r["kind"] == "Namespace"]
    assert namespaces == ["team-x", "team-sandbox"], "a selected and an excluded namespace"
    pods = {p["metadata"]["name"]: p for p in resources if p["kind"] == "Pod"}
    assert set(pods) >= {"teams.reg-ghcr", "teams.init-harbor", "teams.reg-hub", "teams.two-registries",
                         "teams.no-registry", "teams.own-secret", "teams.already-listed", "teams.excluded"}
    assert pods["teams.reg-hub"]["spec"]["containers"][0]["image"] == "app:1.0", "Docker Hub short name"
    assert pods["teams.excluded"]["metadata"]["namespace"] == "team-sandbox"
    for name, pod in pods.items():
        patched = yaml.safe_load(files[f"c/kyverno/tests/patched-{name}.yaml"].content())
        images = [c["image"] for kind in ("containers", "initContainers") for c in pod["spec"].get(kind, [])]
        listed = [s["name"] for s in pod["spec"].get("imagePullSecrets", [])]
        added = [] if name.endswith(".excluded") else [
            f"{r}-pull" for r in ("ghcr", "harbor", "hub")
            if any(kubelet_matches(result.resolved.server_keys[r], i) for i in images) and f"{r}-pull" not in listed]
        # ClusterPolicy: each rule's strategic merge puts its Secret first (the real CLIs agree).
        expected = [*reversed(added), *listed]
        assert [s["name"] for s in patched["spec"].get("imagePullSecrets", [])] == expected, name
    assert suite["results"][0]["patchedResource"], "the 1.13 CLI spelling (1.13.0/1.13.1 know no other)"
    assert pods["teams.two-registries"]["spec"]["containers"][1]["image"].startswith("harbor.example.com:8443/")
    outcomes = {(r["rule"], r["resources"][0]): r["result"] for r in suite["results"] if r["kind"] == "Pod"}
    assert outcomes[("add-ghcr", "team-x/teams.reg-ghcr")] == "pass"
    assert outcomes[("add-harbor", "team-x/teams.reg-ghcr")] == "skip"
    assert outcomes[("add-harbor", "team-x/teams.init-harbor")] == "pass", "init containers count"


def test_static_and_kyverno_coexist_and_kustomize_builds(tmp_path: Path) -> None:
    result = render_version(tmp_path, "1.13")
    kustomization = yaml.safe_load(result.bundle.files["c/kustomization.yaml"].content())
    assert kustomization["resources"] == ["namespaces", "kyverno/source", "kyverno/policies"]
    static = yaml.safe_load(result.bundle.files["c/namespaces/kustomization.yaml"].content())
    assert static["resources"] == ["legacy.yaml"]
    from genpolicy import writer

    writer.apply(result.plan)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not on PATH: cannot check that `kubectl kustomize` builds the output")
    built = subprocess.run([kubectl, "kustomize", str(result.plan.root / "c")], capture_output=True, text=True,
                           check=True).stdout
    kinds = sorted({d["kind"] for d in yaml.safe_load_all(built)})
    assert kinds == ["ClusterPolicy", "ClusterRole", "ExternalSecret", "Namespace", "ServiceAccount"]


def test_upstream_checker_accepts_the_kyverno_example(tmp_path: Path) -> None:
    """An independent consumer: shared/tools/validate-crs.py against the upstream CRDs."""
    require_shared()
    out = tmp_path / "out"
    assert run_cli("render", ROOT / "examples/kyverno/spec.yaml", "-o", out, "--crds", CRDS).code == 0
    checker = subprocess.run([sys.executable, str(SHARED / "tools/validate-crs.py"), "--crds", str(CRDS), str(out)],
                             capture_output=True, text=True, check=False)
    assert checker.returncode == 0, checker.stdout + checker.stderr
    assert " 0 failed" in checker.stdout


@pytest.mark.parametrize(("settings_text", "where", "message"), [
    ('{version: "1.21"}', "clusters[0].kyverno.version", "Kyverno 1.21 is not supported (supported: 1.10 to 1.19)"),
    ('{version: "1.16", policyKind: CEL}', "clusters[0].kyverno.policyKind", "need Kyverno 1.17 or newer"),
    ('{version: "1.18", policyKind: CEL}', "clusters[0].kyverno.policyKind", "Kyverno issue 15444, fixed in 1.19"),
    ("{version: 1.10}", "clusters[0].kyverno.version", 'quote it: "1.10"'),
    ("{version: 1.13}", "clusters[0].kyverno.version", 'quote it: "1.13"'),
])
def test_kyverno_version_errors(settings_text: str, where: str, message: str) -> None:
    text = SPEC.replace('{version: "VERSION"}', settings_text)
    with pytest.raises(SpecError) as info:
        parse_spec(text, "spec.yaml")
    assert any(message in p.message and p.path == where for p in info.value.problems), info.value.problems

