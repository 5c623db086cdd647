"""The CRD schemas shipped in genpolicy.crds: provenance, per-Kyverno-minor selection, on by default."""

from __future__ import annotations

import filecmp
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CRDS, ROOT, run_cli, write_spec
from genpolicy import crds
from genpolicy.pipeline import RenderOptions, render
from genpolicy.validate import CrdSchemas, Validator, kubernetes_schemas

GO_MODULES = Path("/root/go/pkg/mod")
EMITTED = ["kyverno.io/v1 ClusterPolicy", "policies.kyverno.io/v1 GeneratingPolicy",
           "policies.kyverno.io/v1 MutatingPolicy", "external-secrets.io/v1 ExternalSecret",
           "external-secrets.io/v1 ClusterExternalSecret", "bitnami.com/v1alpha1 SealedSecret",
           "source.toolkit.fluxcd.io/v1 GitRepository", "kustomize.toolkit.fluxcd.io/v1 Kustomization",
           "argoproj.io/v1alpha1 Application", "source.toolkit.fluxcd.io/v1 HelmRepository",
           "source.toolkit.fluxcd.io/v1 OCIRepository", "image.toolkit.fluxcd.io/v1 ImageRepository",
           *(f"generators.external-secrets.io/v1alpha1 {k}" for k in
                                                 ("ECRAuthorizationToken", "GCRAccessToken", "ACRAccessToken"))]


def cluster_policy(spec: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "p"}, "spec": spec}


def validator_for(kyverno: str | None) -> Validator:
    return Validator(kubernetes_schemas("1.33"), CrdSchemas(), crds.shipped_crds(kyverno))


def test_every_emitted_kind_has_a_schema_with_source_and_licence() -> None:
    catalog = crds.shipped_crds(None)
    for key in EMITTED:
        api_version, kind = key.split()
        release = catalog.release(api_version, kind)
        assert release is not None, key
        assert release.licence == "Apache-2.0" and release.source and release.version
        assert catalog.validator(api_version, kind) is not None
    notice = (crds.FOLDER / "NOTICE").read_text()
    assert "Apache License, Version 2.0" in notice and "Copyright The Kyverno Authors" in notice


def test_distinct_schemas_are_stored_once_and_all_exist() -> None:
    index = json.loads((crds.FOLDER / "index.json").read_text())
    used = {d for r in [*index["kyverno"].values(), *index["projects"]] for d in r["schemas"].values()}
    stored = {p.name.removesuffix(".json.gz") for p in crds.FOLDER.glob("*.json.gz")}
    assert used == stored
    assert index["kyverno"]["1.14"]["schemas"]["kyverno.io/v1 ClusterPolicy"] == \
        index["kyverno"]["1.15"]["schemas"]["kyverno.io/v1 ClusterPolicy"]  # identical minors share a file
    for digest in stored:
        assert json.loads(gzip.decompress((crds.FOLDER / f"{digest}.json.gz").read_bytes()))["type"] == "object"


@pytest.mark.parametrize(("declared", "shipped"), [
    ("1.10", "1.10"), ("1.11", "1.11"), ("1.16", "1.15"), ("1.17", "1.17"), ("1.19", "1.19"), ("1.40", "1.19"),
    (None, "1.19"),
])
def test_the_declared_kyverno_minor_picks_the_schema(declared: str | None, shipped: str) -> None:
    assert crds.kyverno_minor_for(declared) == shipped
    assert crds.shipped_crds(declared).kyverno == shipped


def test_a_field_kyverno_1_11_added_is_an_error_on_1_10() -> None:
    policy = cluster_policy({"admission": True, "rules": []})
    old = validator_for("1.10").validate(policy)
    assert old.validated and "kyverno 1.10.3" in old.schema
    assert any("admission" in f.message for f in old.findings), old.findings
    assert validator_for("1.11").validate(policy).findings == []


def test_cel_policies_are_unknown_before_kyverno_1_15_and_v1_from_1_17() -> None:
    policy = {"apiVersion": "policies.kyverno.io/v1", "kind": "GeneratingPolicy", "metadata": {"name": "g"},
              "spec": {}}
    assert not validator_for("1.13").validate(policy).validated
    assert not validator_for("1.15").validate(policy).validated  # 1.15 served only v1alpha1
    assert validator_for("1.17").validate(policy).validated


def test_user_crds_override_shipped_ones(tmp_path: Path) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "spec": {"group": "kyverno.io", "names": {"kind": "ClusterPolicy"}, "versions": [
               {"name": "v1", "served": True, "schema": {"openAPIV3Schema": {
                   "type": "object", "properties": {"spec": {"type": "object", "properties": {
                       "admission": {"type": "boolean"}}}}}}}]}}
    (tmp_path / "crd.json").write_text(json.dumps(crd))
    validator = Validator(kubernetes_schemas("1.33"), CrdSchemas.from_paths([tmp_path]), crds.shipped_crds("1.10"))
    outcome = validator.validate(cluster_policy({"admission": True}))
    assert outcome.findings == [] and "shipped" not in outcome.schema


@pytest.mark.parametrize("example", sorted(p.parent.name for p in (ROOT / "examples").glob("*/spec.yaml")))
def test_every_example_validates_every_object_without_crds(example: str) -> None:
    result = render(RenderOptions(ROOT / "examples" / example / "spec.yaml", check=True, environ={}))
    assert result.objects > 0
    assert not [w for w in result.warnings if "not validated" in w.message], result.warnings


GENERATOR_SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
registries:
  - name: ecr
    server: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
    credentials:
      generator:
        kind: ECRAuthorizationToken
        spec:
          regoin: eu-west-1
clusters: [{name: prod, kubernetesVersion: "1.33"}, {name: stage, kubernetesVersion: "1.34"}]
namespaceGroups: [{name: g, namespaces: [a, b, c], registries: [ecr]}]
"""


def test_a_typo_in_a_generator_spec_is_a_spec_error_at_its_line(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, GENERATOR_SPEC)
    result = run_cli("render", spec)
    assert result.code == 3, result.output
    assert f"{spec}:10:11: registries[0].credentials.generator.spec.regoin:" in result.stderr
    assert "unknown field 'regoin'" in result.stderr and "ECRAuthorizationToken" in result.stderr
    assert result.stderr.count("unknown field 'regoin'") == 1  # once, not once per namespace and cluster
    assert not (tmp_path / "out").exists()
    spec.write_text(GENERATOR_SPEC.replace("regoin", "region"))
    assert run_cli("render", spec).code == 0


def test_a_wrong_type_in_a_generator_spec_points_at_the_value(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, GENERATOR_SPEC.replace("regoin: eu-west-1", "region: [eu-west-1]"))
    result = run_cli("render", spec)
    assert result.code == 3 and f"{spec}:10:11: registries[0].credentials.generator.spec.region:" in result.stderr


def test_a_typo_in_a_user_template_is_an_output_error(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    builtin = (ROOT / "templates" / "externalsecret.yaml.j2").read_text()
    assert "refreshInterval:" in builtin
    (templates / "externalsecret.yaml.j2").write_text(builtin.replace("refreshInterval:", "refreshIntervall:"))
    result = run_cli("render", ROOT / "examples/quickstart/spec.yaml", "-o", tmp_path / "out", "--templates", templates)
    assert result.code == 5, result.output
    assert "refreshIntervall" in result.stderr and "template externalsecret.yaml.j2" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_maintainer_script_reproduces_the_shipped_schemas(tmp_path: Path) -> None:
    missing = [str(p) for p in (CRDS, GO_MODULES / "github.com/kyverno/kyverno@v1.10.3") if not p.is_dir()]
    if missing:
        pytest.skip(f"upstream CRD sources not found: {', '.join(missing)}")
    out = tmp_path / "crds"
    shutil.copytree(crds.FOLDER, out, ignore=shutil.ignore_patterns("*.json.gz", "__pycache__"))
    subprocess.run([sys.executable, ROOT / "scripts/build-crd-schemas.py", "--upstream", CRDS,
                    "--kyverno-modules", GO_MODULES, "--out", out], check=True, capture_output=True)
    names = sorted(p.name for p in crds.FOLDER.iterdir() if p.suffix in (".gz", ".json") or p.name == "NOTICE")
    assert names == sorted(p.name for p in out.iterdir() if p.suffix in (".gz", ".json") or p.name == "NOTICE")
    _, mismatch, errors = filecmp.cmpfiles(crds.FOLDER, out, names, shallow=False)
    assert mismatch == [] and errors == []


KYVERNO_SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
registries:
  - name: ghcr
    server: ghcr.io
    credentials: {externalSecret: {store: {name: vault}, remoteKey: ghcr}}
clusters: [{name: c, kubernetesVersion: "1.32", kyverno: {version: "VERSION", policyKind: ClusterPolicy}}]
namespaceGroups: [{name: teams, distribution: kyverno, namespaces: ["team-*"], registries: [ghcr]}]
"""


@pytest.mark.parametrize(("version", "code"), [("1.10", 5), ("1.11", 0), ("1.19", 0)])
def test_render_checks_kyverno_objects_against_the_declared_minor(tmp_path: Path, version: str, code: int) -> None:
    templates = tmp_path / "templates" / "kyverno"
    templates.mkdir(parents=True)
    builtin = (ROOT / "templates/kyverno/clusterpolicy.yaml.j2").read_text()
    # `spec.useServerSideApply` appeared in Kyverno 1.11's ClusterPolicy
    (templates / "clusterpolicy.yaml.j2").write_text(builtin.replace("spec:\n", "spec:\n  useServerSideApply: false\n"))
    spec = write_spec(tmp_path, KYVERNO_SPEC.replace("VERSION", version))
    result = run_cli("render", spec, "--templates", tmp_path / "templates")
    assert result.code == code, result.output
    assert ("'useServerSideApply'" in result.stderr) == (code == 5)
    assert "not validated" not in result.stderr


def test_validate_command_uses_the_shipped_schemas() -> None:
    result = run_cli("validate", ROOT / "out/quickstart")
    assert result.code == 0, result.output
    assert "0 errors, 0 not validated" in result.stderr
