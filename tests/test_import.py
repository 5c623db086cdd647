"""`genpolicy import`: starter specs from upstream examples (tests/data/import/README.md) that render and
cover the namespaces and registries the old tools covered; credentials are referenced, never copied."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from bundles import write_certificate
from conftest import ROOT, Run, run_cli

DATA = ROOT / "tests" / "data" / "import"
KYVERNO = sorted((DATA / "kyverno").glob("*.yaml"))
PATCHER = DATA / "imagepullsecret-patcher" / "2_deployment.yaml"
PASSWORD = "Import-Canary-Password-3e7b1d"
USER = "import-robot"


def dockerconfig(key: str) -> str:
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    body = {"auths": {key: {"username": USER, "password": PASSWORD, "auth": auth}}}
    return base64.b64encode(json.dumps(body).encode()).decode()


def secret(namespace: str, name: str, key: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson", "metadata": meta,
            "data": {".dockerconfigjson": dockerconfig(key)}}


def export(folder: Path, items: list[dict[str, Any]], name: str = "export.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def do_import(folder: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> tuple[Run, dict[str, Any], str]:
    result = run_cli("import", *inputs, "-o", folder / "spec.yaml", "--checklist", folder / "checklist.md", *extra)
    assert result.code == 0, result.output
    spec_text = (folder / "spec.yaml").read_text()
    problems = list(linter.run(spec_text, YamlLintConfig(file=str(ROOT / ".yamllint"))))
    assert problems == [], [str(p) for p in problems]  # the repository's (kubectl-like) YAML style
    return result, yaml.safe_load(spec_text), (folder / "checklist.md").read_text()


def render(folder: Path, env: dict[str, str]) -> None:
    write_certificate(folder, "sealed-secrets")
    result = run_cli("render", folder / "spec.yaml", env=env)
    assert result.code == 0, result.output


def deliveries(spec: Path) -> set[tuple[str, str, str]]:
    """(namespaces, registry key, Secret name) of every delivery of the rendered spec."""
    result = run_cli("coverage", spec, "--format", "json")
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    return {(d["namespaces"], d["key"], d["secret"]) for c in report["clusters"] for d in c["deliveries"]}


def explained_secrets(spec: Path, image: str, namespace: str) -> list[str]:
    result = run_cli("explain", image, spec, "-n", namespace, "--format", "json")
    assert result.code == 0, result.output
    return [a["source"].split()[1] for a in json.loads(result.stdout)["attempts"]]


def test_kyverno_samples_and_patcher_example_round_trip(tmp_path: Path) -> None:
    """The samples clone/add Secrets in every namespace (corp.reg.com -> my-secret, regcred); the patcher
    copies image-pull-secret (gcr.io, from its mounted source Secret) into every namespace."""
    _, spec, checklist = do_import(tmp_path, *KYVERNO, PATCHER)
    assert {r["server"] for r in spec["registries"]} == {"corp.reg.com", "gcr.io"}
    render(tmp_path, {"CORP_REG_COM_USERNAME": "u", "CORP_REG_COM_PASSWORD": "p1p1", "GCR_IO_USERNAME": "_json_key",
                      "GCR_IO_PASSWORD": "p2p2"})
    assert deliveries(tmp_path / "spec.yaml") == {("*", "corp.reg.com", "my-secret"),
                                                  ("*", "gcr.io", "image-pull-secret")}
    for namespace in ("team-a", "new-namespace"):  # any namespace, also one created later
        spec_path = tmp_path / "spec.yaml"
        assert explained_secrets(spec_path, "corp.reg.com/app:1", namespace) == [f"{namespace}/my-secret"]
        assert explained_secrets(spec_path, "gcr.io/p/app", namespace) == [f"{namespace}/image-pull-secret"]
    assert "default/regcred is unknown" in checklist, "the sync-secrets source's registry is not in the inputs"
    for policy in ("sync-secrets", "add-imagepullsecrets", "add-imagepullsecrets-for-containers-and-initcontainers"):
        assert f"ClusterPolicy {policy} rule" in checklist
    assert "kubectl -n imagepullsecret-patcher scale deployment/imagepullsecret-patcher --replicas=0" in checklist
    assert checklist.index("Stop the old writers BEFORE") < checklist.index("## 4. Apply")


def test_secrets_export_becomes_a_static_group_without_copying_credentials(tmp_path: Path) -> None:
    items = [secret(ns, "regcred", "https://harbor.example.com/v2/") for ns in ("shop", "billing")]
    items.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer", "namespace": "shop"},
                  "imagePullSecrets": [{"name": "regcred"}]})
    items.append(secret("platform", "mirror-pull", "quay.io", {
        "reflector.v1.k8s.emberstack.com/reflection-allowed": "true",
        "reflector.v1.k8s.emberstack.com/reflection-auto-enabled": "true",
        "reflector.v1.k8s.emberstack.com/reflection-auto-namespaces": "shop,billing"}))
    result, spec, checklist = do_import(tmp_path, export(tmp_path, items), extra=("--backend", "plain"))
    text = (tmp_path / "spec.yaml").read_text() + checklist + result.output
    for form in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode()[:16], dockerconfig("quay.io")[:24]):
        assert form not in text
    by_namespace = {ns: g for g in spec["namespaceGroups"] for ns in g["namespaces"]}
    assert set(by_namespace) == {"billing", "shop"}, "static groups never overlap: one per namespace profile"
    assert by_namespace["shop"]["serviceAccounts"] == ["deployer"], "the account that lists the Secret today"
    assert by_namespace["billing"]["serviceAccounts"] == []
    assert by_namespace["shop"]["registries"] == by_namespace["billing"]["registries"] == [
        "harbor-example-com", "quay-io"]
    servers = {r["server"]: r for r in spec["registries"]}
    assert set(servers) == {"harbor.example.com", "quay.io"}
    assert servers["harbor.example.com"]["credentials"] == {"fromEnv": {"username": "HARBOR_EXAMPLE_COM_USERNAME",
                                                                        "password": "HARBOR_EXAMPLE_COM_PASSWORD"}}
    assert "HARBOR_EXAMPLE_COM_USERNAME / HARBOR_EXAMPLE_COM_PASSWORD" in checklist
    env = {"HARBOR_EXAMPLE_COM_USERNAME": "u", "HARBOR_EXAMPLE_COM_PASSWORD": "p3p3", "QUAY_IO_USERNAME": "u",
           "QUAY_IO_PASSWORD": "p4p4"}
    assert run_cli("render", tmp_path / "spec.yaml", env=env).code == 0
    account = [d for d in yaml.safe_load_all((tmp_path / "out/imported/namespaces/shop.yaml").read_text())
               if d["kind"] == "ServiceAccount"]
    assert [a["metadata"]["name"] for a in account] == ["deployer"]
    assert account[0]["imagePullSecrets"] == [{"name": "mirror-pull"}, {"name": "regcred"}]


def test_registry_creds_sample_with_its_source_secret(tmp_path: Path) -> None:
    source = export(tmp_path, [secret("kube-system", "registry-creds-secret", "https://index.docker.io/v1/")])
    _, spec, checklist = do_import(tmp_path, DATA / "registry-creds" / "dockerhub.yaml", source)
    assert spec["registries"][0]["server"] == "index.docker.io"
    assert spec["registries"][0]["secretName"] == "dockerhub"
    assert spec["namespaceGroups"][0]["distribution"] == "kyverno"
    assert "kubectl delete clusterpullsecret dockerhub" in checklist


def test_reflector_and_replicator_readme_examples(tmp_path: Path) -> None:
    """The README snippets carry no registry: the checklist says so; their regexes become reviewed globs."""
    result = run_cli("import", DATA / "reflector" / "source-secret.yaml", DATA / "replicator" / "test-secret.yaml")
    assert result.code == 2 and "nothing to import" in result.stderr, result.output
    items = [secret("default", "source-secret", "ghcr.io", {
        "reflector.v1.k8s.emberstack.com/reflection-allowed": "true",
        "reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces": "namespace-1,namespace-2,namespace-[0-9]*"}),
        secret("default", "test-secret", "ghcr.io", {"replicator.v1.mittwald.de/replicate-to": "my-ns-1,team-.*"})]
    _, spec, checklist = do_import(tmp_path, export(tmp_path, items))
    groups = {g["name"]: g for g in spec["namespaceGroups"]}
    assert groups["reflector-source-secret"]["namespaces"] == ["namespace-*", "namespace-1", "namespace-2"]
    assert groups["replicator-test-secret"]["namespaces"] == ["my-ns-1", "team-*"]
    assert "'namespace-[0-9]*' is a regular expression" in checklist and "team-.*" not in checklist
    assert "Pods and charts listing 'test-secret' must list 'source-secret'" in checklist


def test_patcher_flags_and_env() -> None:
    from genpolicy.importer.readers import patcher_config

    config = patcher_config({"args": ["-secretname=corp-pull", "-serviceaccounts", "default,ci", "-force"],
                             "env": [{"name": "CONFIG_EXCLUDED_NAMESPACES", "value": "kube-system"}]})
    assert config["secretname"] == "corp-pull" and config["serviceaccounts"] == "default,ci"
    assert config["excluded-namespaces"] == "kube-system" and config["force"] == "true"


def test_bad_inputs_and_existing_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [\n")
    result = run_cli("import", bad)
    assert result.code == 2 and "bad.yaml:" in result.stderr and "Traceback" not in result.output
    (tmp_path / "spec.yaml").write_text("keep me\n")
    result = run_cli("import", PATCHER, "-o", tmp_path / "spec.yaml")
    assert result.code == 6 and (tmp_path / "spec.yaml").read_text() == "keep me\n"
    assert run_cli("import", PATCHER, "-o", tmp_path / "spec.yaml", "--force").code == 0
    first = (tmp_path / "spec.yaml").read_text()
    assert run_cli("import", PATCHER, "-o", tmp_path / "spec.yaml", "--force").code == 0
    assert (tmp_path / "spec.yaml").read_text() == first, "deterministic"


HOSTILE = [
    ({"apiVersion": "ops.alexellis.io/v1", "kind": "ClusterPullSecret", "metadata": {"name": "d"},
      "spec": {"secretRef": "x"}}, "spec.secretRef must be a mapping"),
    ({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "k"},
      "spec": {"rules": [{"name": "r", "generate": {"kind": "Secret", "clone": "x"}}]}},
     "spec.rules[0].generate.clone must be a mapping"),
    ({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "k"},
      "spec": {"rules": [{"name": "r", "preconditions": "z"}]}}, "spec.rules[0].preconditions must be a mapping"),
    ({"kind": "Secret", "metadata": {"name": "s", "namespace": "a"}, "data": [1]}, "data must be a mapping"),
    ({"kind": "Deployment", "metadata": {"name": "p", "namespace": "x"}, "spec": {"template": "x"}},
     "spec.template must be a mapping"),
]


@pytest.mark.parametrize(("item", "message"), HOSTILE)
def test_malformed_inputs_are_refused_at_their_position(tmp_path: Path, item: dict[str, Any], message: str) -> None:
    result = run_cli("import", PATCHER, export(tmp_path, [item]))
    assert result.code == 2 and "Traceback" not in result.output, result.output
    assert "export.yaml:1:1: " in result.stderr and message in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["kyverno-match-all-string", "patcher-args-number", "patcher-volume-name-list"])
def test_odd_field_types_are_imported_or_refused_never_a_crash(name: str) -> None:
    """Inputs from the issue-18 review that crashed the import (exit 70): now read or refused (exit 2)."""
    result = run_cli("import", ROOT / "tests/data/import/hostile" / f"{name}.yaml")
    assert result.code in (0, 2) and "internal error" not in result.output, result.output


def test_nothing_is_written_unless_every_target_can_be(tmp_path: Path) -> None:
    source = ROOT / "tests/data/import/hostile/kyverno-match-all-string.yaml"
    missing = run_cli("import", source, "-o", tmp_path / "no-such-folder/spec.yaml")
    assert missing.code == 6 and "its folder does not exist" in missing.output
    (tmp_path / "checklist.md").write_text("mine\n")
    refused = run_cli("import", source, "-o", tmp_path / "spec.yaml", "--checklist", tmp_path / "checklist.md")
    assert refused.code == 6 and not (tmp_path / "spec.yaml").exists()
    assert (tmp_path / "checklist.md").read_text() == "mine\n"
    assert run_cli("import", source, "-o", tmp_path / "spec.yaml", "--checklist", tmp_path / "c2.md").code == 0


def test_registry_keys_that_slug_alike_get_distinct_names(tmp_path: Path) -> None:
    """harbor.example.com and harbor-example.com, and an IP registry (env var names start with a letter)."""
    def secret(name: str, key: str) -> dict[str, Any]:
        body = json.dumps({"auths": {key: {"auth": base64.b64encode(b"u:p-test").decode()}}})
        return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                "metadata": {"name": name, "namespace": "apps"},
                "data": {".dockerconfigjson": base64.b64encode(body.encode()).decode()}}
    source = tmp_path / "secrets.yaml"
    source.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [
        secret("a", "harbor.example.com"), secret("b", "harbor-example.com"), secret("c", "10.0.0.5:5000")]}))
    result = run_cli("import", source, "-o", tmp_path / "spec.yaml")
    assert result.code == 0, result.output
    spec = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    names = [r["name"] for r in spec["registries"]]
    assert len(set(names)) == 3, names
    assert all(r["credentials"]["fromEnv"]["password"][0].isalpha() for r in spec["registries"])


def test_a_tag_glob_in_a_kyverno_image_anchor_imports_as_the_repository(tmp_path: Path) -> None:
    """`<(image): "ghcr.io/org/app:*"` gave the server `ghcr.io/org/app:` (a spec that fails to load)."""
    result = run_cli("import", ROOT / "tests/data/import/hostile/kyverno-image-tag-glob.yaml",
                     "-o", tmp_path / "spec.yaml")
    assert result.code == 0, result.output
    servers = [r["server"] for r in yaml.safe_load((tmp_path / "spec.yaml").read_text())["registries"]]
    assert servers == ["ghcr.io/org/app"]
