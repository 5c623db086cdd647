"""Validation: strict built-in schemas, CRD schemas, caching speed, `genpolicy validate`."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from conftest import require_shared, run_cli
from genpolicy.validate import CrdSchemas, KubernetesSchemas, Validator, available_versions, schema_version_for

SA: dict[str, Any] = {
    "apiVersion": "v1", "kind": "ServiceAccount",
    "metadata": {"name": "default", "namespace": "apps", "labels": {"a": "b"}},
    "imagePullSecrets": [{"name": "ghcr-pull"}],
}

ESO: dict[str, Any] = {
    "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
    "metadata": {"name": "x", "namespace": "apps"},
    "spec": {
        "refreshInterval": "1h",
        "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"},
        "target": {"name": "x", "template": {"type": "kubernetes.io/dockerconfigjson", "data": {".d": "{}"}}},
        "data": [{"secretKey": "p", "remoteRef": {"key": "k", "property": "p"}}],
    },
}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(KubernetesSchemas("1.33"), CrdSchemas.from_paths([require_shared()]))


def test_valid_service_account(validator: Validator) -> None:
    outcome = validator.validate(SA)
    assert outcome.findings == [] and outcome.validated and outcome.schema == "kubernetes 1.33"


def test_unknown_fields_are_errors_in_strict_mode(validator: Validator) -> None:
    bad = copy.deepcopy(SA)
    bad["imagePullSecret"] = []
    bad["imagePullSecrets"][0]["nmae"] = "x"
    messages = sorted((f.path, f.message) for f in validator.validate(bad).findings)
    assert [p for p, _ in messages] == ["", "imagePullSecrets[0]"]
    assert all("nmae" in m or "imagePullSecret" in m for _, m in messages)


def test_object_meta_rules(validator: Validator) -> None:
    bad = copy.deepcopy(SA)
    bad["metadata"]["name"] = "Bad_Name"
    bad["metadata"]["labels"] = {"ok": "x" * 64}
    paths = sorted(f.path for f in validator.validate(bad).findings)
    assert paths == ["metadata.labels.ok", "metadata.name"]


def test_external_secret_against_upstream_crd(validator: Validator) -> None:
    outcome = validator.validate(ESO)
    assert outcome.validated and outcome.findings == [], outcome.findings
    bad = copy.deepcopy(ESO)
    bad["spec"]["target"]["creationPolicy"] = "Sometimes"
    bad["spec"]["secretStoreRef"]["nmae"] = "typo"
    paths = sorted(f.path for f in validator.validate(bad).findings)
    assert paths == ["spec.secretStoreRef", "spec.target.creationPolicy"]


def test_unserved_versions_and_unknown_kinds_are_not_validated(validator: Validator) -> None:
    old = {**ESO, "apiVersion": "external-secrets.io/v1beta1"}
    assert validator.validate(old).validated is False
    assert validator.validate({**SA, "apiVersion": "example.com/v1", "kind": "Thing"}).validated is False


def test_version_mapping() -> None:
    versions = available_versions()
    assert versions[0] == "1.25" and "1.33" in versions
    assert schema_version_for("1.33.4") == "1.33"
    with pytest.raises(ValueError):
        schema_version_for("1.10")


def test_cached_validation_is_100x_faster_than_naive(validator: Validator) -> None:
    validator.validate(SA)  # build once
    rounds = 300
    start = time.perf_counter()
    for _ in range(rounds):
        assert validator.validate(SA).findings == []
    ours = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    for _ in range(5):
        kubernetes_validate.validate(SA, "1.33", strict=True)
    naive = (time.perf_counter() - start) / 5
    print(f"per object: genpolicy {ours * 1e6:.1f} us, kubernetes-validate {naive * 1e3:.1f} ms, "
          f"ratio {naive / ours:.0f}x")
    assert naive / ours >= 100


def test_validate_command_reports_file_line(tmp_path: Path) -> None:
    require_shared()
    (tmp_path / "m.yaml").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ok}\n---\n"
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: bad}\nimagePullSecret: []\n---\n"
        "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\n"
    )
    result = run_cli("validate", tmp_path, "--crds", require_shared())
    assert result.code == 1
    assert f"{tmp_path / 'm.yaml'}:5:1: ServiceAccount/bad: (root): unknown field" in result.stderr
    assert "warning: " in result.stderr and "m.yaml:10:1: Thing: 1 Thing not validated" in result.stderr
    assert "3 objects checked, 1 errors, 1 not validated" in result.stderr
    ok = run_cli("validate", tmp_path / "m.yaml", "--crds", require_shared())
    assert ok.code == 1


def test_a_list_without_metadata_is_valid_and_its_items_are_checked(tmp_path: Path) -> None:
    """kube-prometheus ships `kind: List` without metadata; kubectl applies the items."""
    (tmp_path / "list.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - {apiVersion: v1, kind: ServiceAccount, metadata: {name: a, namespace: x}}\n"
        "  - {apiVersion: v1, kind: ServiceAccount, metadata: {name: b, namespace: x}}\n")
    ok = run_cli("validate", tmp_path / "list.yaml")
    assert ok.code == 0, ok.output
    assert "2 objects checked, 0 errors" in ok.stderr and "metadata must be a mapping" not in ok.output
    (tmp_path / "list.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ServiceAccount, metadata: {name: B_}}\n")
    bad = run_cli("validate", tmp_path / "list.yaml")
    assert bad.code == 1 and "ServiceAccount/B_" in bad.stderr, bad.output


def test_unvalidated_warnings_are_grouped_by_kind(tmp_path: Path) -> None:
    docs = "---\n".join(f"apiVersion: example.com/v1\nkind: Thing\nmetadata: {{name: t{i}}}\n" for i in range(5))
    (tmp_path / "m.yaml").write_text(docs)
    result = run_cli("validate", tmp_path)
    assert result.code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [f"warning: {tmp_path / 'm.yaml'}:1:1: Thing: 5 Thing not validated: no schema for this kind "
                        "(pass --crds DIR) (first here)"]
    strict = run_cli("validate", tmp_path, "--strict-crds")
    assert strict.code == 1 and strict.stderr.count("not validated: no schema") == 5, "errors keep every place"


def test_strict_crds_passes_on_genpolicys_own_kyverno_tests(tmp_path: Path) -> None:
    from conftest import ROOT

    result = run_cli("validate", ROOT / "out/kyverno", "--kubernetes-version", "1.32", "--crds", require_shared(),
                     "--strict-crds")
    assert result.code == 0, result.output
    assert "skipped 3 document(s): Kyverno CLI files (cli.kyverno.io)" in result.stderr
