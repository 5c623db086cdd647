"""`genpolicy explain`: the kubelet's credential order for an image, from raw pull secrets or the spec."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from genpolicy.explain import explain, explain_spec
from genpolicy.registry import Entry
from genpolicy.specfile import load_spec


def secret(**auths: str) -> dict[str, Entry]:
    return {key.replace("__", "/").replace("_", "."): Entry(user, "pw-" + user) for key, user in auths.items()}


@pytest.mark.parametrize(("image", "secrets", "expected"), [
    # Docker Hub: short names normalise to docker.io/library/...
    ("nginx", [{"docker.io": "a"}], [("docker.io", "a", False)]),
    # index.docker.io only through the fallback...
    ("nginx", [{"https://index.docker.io/v1/": "a"}], [("index.docker.io", "a", True)]),
    # ...which a docker.io key in ANOTHER secret suppresses (one merged keyring)
    ("nginx", [{"https://index.docker.io/v1/": "a"}, {"docker.io": "b"}], [("docker.io", "b", False)]),
    # longer keys first, then insertion order; duplicates tried twice
    ("quay.io/coreos/etcd", [{"quay.io": "a", "quay.io/coreos": "b"}], [("quay.io/coreos", "b", False),
                                                                        ("quay.io", "a", False)]),
    ("quay.io/x/y", [{"quay.io": "a"}, {"quay.io": "b"}], [("quay.io", "a", False), ("quay.io", "b", False)]),
    # plain string prefix: /team matches /teammate
    ("reg.io/teammate/app", [{"reg.io/team": "a"}], [("reg.io/team", "a", False)]),
    # ports must be equal, label counts must be equal
    ("reg.io:5000/app", [{"reg.io": "a"}], []),
    ("sub.reg.io/app", [{"reg.io": "a"}], []),
    ("sub.reg.io/app", [{"*.reg.io": "a"}], [("*.reg.io", "a", False)]),
    # *.docker.io never matches Docker Hub images
    ("nginx", [{"*.docker.io": "a"}], []),
    # localhost/foo counts as Docker Hub for the fallback
    ("localhost/foo", [{"https://index.docker.io/v1/": "a"}], [("index.docker.io", "a", True)]),
])
def test_kubelet_order(image: str, secrets: list[dict[str, str]], expected: list[tuple[str, str, bool]]) -> None:
    configs = [(f"secret{i}", {k: Entry(u, "pw-" + u) for k, u in s.items()}) for i, s in enumerate(secrets)]
    result = explain(configs, image)
    assert [(a.key, a.username, a.fallback) for a in result.attempts] == expected


def test_near_misses_say_why() -> None:
    configs = [("s", {"reg.io:5000": Entry("a", "x"), "a.b.reg.io": Entry("b", "y"), "reg.io/other": Entry("c", "z")})]
    reasons = {m.key: m.reason for m in explain(configs, "reg.io/team/app").near_misses}
    assert reasons == {
        "reg.io:5000": "port 5000 differs from the image's (none)",
        "a.b.reg.io": "host a.b.reg.io differs from the image's reg.io",
        "reg.io/other": "the image path does not start with /other",
    }


def test_near_misses_name_the_real_difference() -> None:
    """Host before port; wildcard wording only for keys with a `*` (issue 13 item 5)."""
    configs = [("s", {"harbor.corp.example:8443": Entry("a", "x"), "*.reg.io": Entry("b", "y"),
                      "x*.other.io": Entry("c", "z"), "[::1]:5000": Entry("d", "w"),
                      "reg.io:8443/platform/": Entry("e", "v")})]
    reasons = {m.key: m.reason for m in explain(configs, "reg.io:8443/platformx/app").near_misses}
    assert reasons == {
        "harbor.corp.example:8443": "host harbor.corp.example differs from the image's reg.io",
        "*.reg.io": "host pattern *.reg.io has 3 DNS labels and the image's host reg.io 2 "
                    "(a `*` matches exactly one label)",
        "x*.other.io": "host pattern x*.other.io has 3 DNS labels and the image's host reg.io 2 "
                       "(a `*` matches exactly one label)",
        "[::1]:5000": "host [::1] differs from the image's reg.io",
        "reg.io:8443/platform/": "the image path does not start with /platform/",
    }
    pattern = {m.key: m.reason for m in explain([("s", {"x*.reg.io": Entry("a", "x")})], "ab.reg.io/a").near_misses}
    assert pattern == {"x*.reg.io": "host pattern x*.reg.io does not match the image's host ab.reg.io"}
    port = {m.key: m.reason for m in explain([("s", {"*.reg.io:5000": Entry("a", "x")})], "a.reg.io/a").near_misses}
    assert port == {"*.reg.io:5000": "port 5000 differs from the image's (none)"}


def _secret_manifest(body: dict[str, object], kind: str = "kubernetes.io/dockerconfigjson") -> str:
    key = ".dockerconfigjson" if kind.endswith("json") else ".dockercfg"
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "type": kind,
                       "metadata": {"name": "reg", "namespace": "a"},
                       "data": {key: base64.b64encode(json.dumps(body).encode()).decode()}})


BARE = {"ghcr.io": {"auth": base64.b64encode(b"octo:Bare-Secret-9").decode()}}


@pytest.mark.parametrize(("name", "content"), [
    ("secret.yaml", _secret_manifest(BARE)),
    (".dockerconfigjson", json.dumps(BARE)),
    ("config.json", json.dumps(BARE)),
])
def test_a_dockerconfigjson_without_auths_yields_nothing_and_says_why(tmp_path: Path, name: str,
                                                                        content: str) -> None:
    (tmp_path / name).write_text(content)
    result = run_cli("explain", "ghcr.io/org/app", "--dockerconfig", tmp_path / name)
    assert result.code == 0, result.output
    assert "no credential matches" in result.stdout
    assert "has no `auths` object: the kubelet reads no credential from it" in result.stdout
    assert "Bare-Secret-9" not in result.output


def test_a_dockercfg_is_the_bare_map(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(_secret_manifest(BARE, "kubernetes.io/dockercfg"))
    (tmp_path / ".dockercfg").write_text(json.dumps(BARE))
    for path in (tmp_path / "s.yaml", tmp_path / ".dockercfg"):
        result = run_cli("explain", "ghcr.io/org/app", "--dockerconfig", path)
        assert result.code == 0 and "1. ghcr.io  user octo" in result.stdout, result.output


def test_dockerconfig_cli_json_never_shows_passwords(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"auths": {"ghcr.io": {
        "auth": base64.b64encode(b"octo:Very-Secret-Pass-1").decode()}}}))
    body = json.dumps({"auths": {"ghcr.io/org": {"username": "u2", "password": "Other-Secret-Pass-2"}}})
    manifest = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                "metadata": {"name": "b"}, "data": {".dockerconfigjson": base64.b64encode(body.encode()).decode()}}
    (tmp_path / "b.yaml").write_text(json.dumps(manifest))
    result = run_cli("explain", "ghcr.io/org/app:1", "--dockerconfig", tmp_path / "a.json",
                     "--dockerconfig", tmp_path / "b.yaml", "--format", "json")
    assert result.code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["version"] == 1 and payload["lookup_key"] == "ghcr.io/org/app"
    assert [(a["key"], a["username"]) for a in payload["attempts"]] == [("ghcr.io/org", "u2"), ("ghcr.io", "octo")]
    assert "Very-Secret-Pass-1" not in result.output and "Other-Secret-Pass-2" not in result.output


def _pull_secret(name: str, auths: dict[str, dict[str, str]]) -> dict[str, object]:
    body = base64.b64encode(json.dumps({"auths": auths}).encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "namespace": "apps"}, "data": {".dockerconfigjson": body}}


def test_dockerconfig_reads_kubectl_lists_and_multi_document_files(tmp_path: Path) -> None:
    opaque = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "tls"}, "data": {}}
    listed = {"apiVersion": "v1", "kind": "List", "items": [
        _pull_secret("first", {"ghcr.io": {"username": "one", "password": "p1"}}), opaque,
        _pull_secret("second", {"ghcr.io/org": {"username": "two", "password": "p2"}})]}
    (tmp_path / "list.yaml").write_text(json.dumps(listed))
    (tmp_path / "multi.yaml").write_text("---\n".join(json.dumps(d) + "\n" for d in listed["items"]))
    for name in ("list.yaml", "multi.yaml"):
        result = run_cli("explain", "ghcr.io/org/app", "--dockerconfig", tmp_path / name, "--format", "json")
        assert result.code == 0, result.output
        attempts = json.loads(result.stdout)["attempts"]
        assert [(a["username"], a["source"]) for a in attempts] == [
            ("two", f"{tmp_path / name} (Secret apps/second)"), ("one", f"{tmp_path / name} (Secret apps/first)")]
    (tmp_path / "none.yaml").write_text(json.dumps(opaque))
    refused = run_cli("explain", "ghcr.io/x", "--dockerconfig", tmp_path / "none.yaml")
    assert refused.code == 2 and "no Secret of type kubernetes.io/dockerconfigjson" in refused.stderr


def test_dockerconfig_reads_docker_config_json_string_data_and_typed_lists(tmp_path: Path) -> None:
    auth = base64.b64encode(b"tabbed:pw").decode()
    tabbed = json.dumps({"auths": {"ghcr.io": {"auth": auth}}}, indent="\t")  # as docker writes config.json
    (tmp_path / "config.json").write_text(tabbed)
    string_data = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                   "metadata": {"name": "s"},
                   "stringData": {".dockerconfigjson": json.dumps({"auths": {"ghcr.io/org": {"auth": base64.b64encode(
                       b"plain:pw").decode()}}})}}
    (tmp_path / "string.yaml").write_text(json.dumps(string_data))
    (tmp_path / "list.yaml").write_text(json.dumps({"apiVersion": "v1", "kind": "SecretList", "items": [
        _pull_secret("listed", {"ghcr.io/org/app": {"username": "listed", "password": "pw"}})]}))
    result = run_cli("explain", "ghcr.io/org/app", "--format", "json", "--dockerconfig", tmp_path / "config.json",
                     "--dockerconfig", tmp_path / "string.yaml", "--dockerconfig", tmp_path / "list.yaml")
    assert result.code == 0, result.output
    users = [a["username"] for a in json.loads(result.stdout)["attempts"]]
    assert users == ["listed", "plain", "tabbed"]


def test_spec_static_namespace_and_service_account_rule() -> None:
    resolved = load_spec(ROOT / "examples/quickstart/spec.yaml")
    result = explain_spec(resolved, "harbor.example.com:8443/team-a/api:2", "team-a", "builder", "prod")
    assert [(a.key, a.source) for a in result.attempts] == [
        ("harbor.example.com:8443/team-a", "Secret team-a/harbor-pull (attached by ServiceAccount builder)")]
    assert any("only if the Pod lists none of its own" in n for n in result.notes)
    other = explain_spec(resolved, "ghcr.io/x/y", "team-a", "ci-bot", "prod")
    assert any("'ci-bot' is not patched" in n for n in other.notes)


def test_spec_kyverno_and_node_sources() -> None:
    resolved = load_spec(ROOT / "examples/kyverno/spec.yaml")
    result = explain_spec(resolved, "nginx:1.27", "team-blue", None, "prod")
    assert [a.key for a in result.attempts] == ["docker.io"]
    assert "added by Kyverno group 'teams'" in result.attempts[0].source
    excluded = explain_spec(resolved, "nginx:1.27", "team-sandbox", None, "prod")
    assert excluded.attempts == []
    backends = load_spec(ROOT / "examples/backends/spec.yaml")
    node = explain_spec(backends, "europe-docker.pkg.dev/p/r/app:1", "payments", None, "prod")
    assert [a.source for a in node.attempts] == ["node credential provider gke-node-service-account"]


def test_cli_errors() -> None:
    assert run_cli("explain", "nginx").code == 2
    bad = run_cli("explain", "UPPER/Case//x", "--dockerconfig", ROOT / "pyproject.toml")
    assert bad.code in (2, 3) and "Traceback" not in bad.output
