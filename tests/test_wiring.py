"""Argo CD / Flux wiring (`spec.gitops`): valid against upstream CRDs, ordered, buildable."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT, require_shared, run_cli
from genpolicy.pipeline import RenderOptions, RenderResult, render


def render_example(name: str, tmp_path: Path) -> RenderResult:
    return render(RenderOptions(ROOT / f"examples/{name}/spec.yaml", output=tmp_path, crds=[require_shared()],
                                environ={}, check=True))


def objects(result: RenderResult, path: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(result.bundle.files[path].content()))


def test_wiring_validates_against_upstream_crds(tmp_path: Path) -> None:
    result = render_example("kyverno", tmp_path)
    assert not [w for w in result.warnings if "not validated" in w.message]
    kinds = sorted({o["kind"] for p in ("argocd/applications.yaml", "flux/next.yaml") for o in objects(result, p)})
    assert kinds == ["Application", "GitRepository", "Kustomization"]


def test_argocd_application(tmp_path: Path) -> None:
    app = objects(render_example("kyverno", tmp_path), "argocd/applications.yaml")[0]
    assert app["metadata"]["namespace"] == "argocd" and "finalizers" not in app["metadata"]
    assert app["spec"]["source"] == {"repoURL": "https://git.example.com/platform/gitops.git",
                                     "targetRevision": "main", "path": "out/kyverno/prod"}
    assert app["spec"]["syncPolicy"]["syncOptions"] == ["ServerSideApply=true", "SkipDryRunOnMissingResource=true"]
    assert app["metadata"]["annotations"]["argocd.argoproj.io/compare-options"] == (
        "ServerSideDiff=true,IncludeMutationWebhook=true")
    assert {d["kind"] for d in app["spec"]["ignoreDifferences"]} == {"ClusterPolicy", "GeneratingPolicy",
                                                                     "MutatingPolicy"}


def test_flux_depends_on_chain(tmp_path: Path) -> None:
    docs = {o["metadata"]["name"]: o for o in objects(render_example("kyverno", tmp_path), "flux/next.yaml")}
    source = docs["genpolicy-next-kyverno-source"]["spec"]
    policies = docs["genpolicy-next-kyverno-policies"]["spec"]
    static = docs["genpolicy-next-pull-secrets"]["spec"]
    assert source["path"] == "./out/kyverno/next/kyverno/source" and source["wait"] is True
    assert policies["dependsOn"] == [{"name": "genpolicy-next-kyverno-source"}, {"name": "kyverno"}]
    assert static["path"] == "./out/kyverno/next/namespaces" and static["prune"] is True
    assert "decryption" not in static


def test_flux_decryption_for_sops_clusters() -> None:
    # check mode against the committed render: encrypted files are reused, nothing is written
    docs = objects(render_example("backends", ROOT / "out/backends"), "flux/dev.yaml")
    static = next(d for d in docs if d["metadata"]["name"] == "genpolicy-dev-pull-secrets")
    assert static["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}


def test_no_wiring_without_gitops(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    text = (ROOT / "examples/quickstart/spec.yaml").read_text()
    spec.write_text(text.split("\ngitops:")[0] + "\nregistries:" + text.split("\nregistries:", 1)[1])
    result = render(RenderOptions(spec, output=tmp_path / "out", environ={}))
    assert not [p for p in result.bundle.files if p.startswith(("argocd/", "flux/"))]


def test_kustomize_builds_every_wiring_folder(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not on PATH: cannot check that `kubectl kustomize` builds the output")
    result = render_example("kyverno", tmp_path)
    from genpolicy import writer

    writer.apply(result.plan)
    for folder in ("argocd", "flux", "next/namespaces", "next/kyverno/source", "next/kyverno/policies"):
        subprocess.run([kubectl, "kustomize", str(tmp_path / folder)], check=True, capture_output=True)


def test_flux_applies_cluster_external_secrets(tmp_path: Path) -> None:
    text = (ROOT / "examples/quickstart/spec.yaml").read_text()
    spec = tmp_path / "spec.yaml"
    spec.write_text(text.replace("clusters: [prod]\n    namespaces: [payments", "clusters: [staging]\n    namespaces: "
                                 "[payments"))
    result = render(RenderOptions(spec, output=tmp_path / "out", crds=[require_shared()], environ={}))
    assert not [w for w in result.warnings if "not validated" in w.message]
    docs = {o["metadata"]["name"]: o for o in objects(result, "flux/staging.yaml")}
    wired = docs["genpolicy-staging-external-secrets"]["spec"]
    assert wired["path"] == "./out/quickstart/staging/external-secrets" and wired["prune"] is True
    assert [o["kind"] for o in objects(result, "staging/external-secrets/services.yaml")] == ["ClusterExternalSecret"]


MULTI_ARGO = """\
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
gitops: {{repoURL: https://git.example.com/gitops.git, path: out, argocd: {{project: platform}}}}
registries:
  - name: ghcr
    server: ghcr.io
    credentials:
      externalSecret: {{store: {{name: vault}}, remoteKey: ghcr}}
clusters:
  - name: eu
    kubernetesVersion: "1.33"
{eu}
  - name: us
    kubernetesVersion: "1.33"
{us}
namespaceGroups:
  - name: apps
    namespaces: [apps]
    registries: [ghcr]
"""


def _multi(tmp_path: Path, eu: str, us: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(MULTI_ARGO.format(eu=eu, us=us), encoding="utf-8")
    return spec


def test_each_argocd_cluster_deploys_to_its_own_destination(tmp_path: Path) -> None:
    spec = _multi(tmp_path, "    argocd: {server: 'https://eu.k8s.example:6443', namespace: argocd-eu}",
                  "    argocd: {name: us-east, project: us-team}")
    result = render(RenderOptions(spec, output=tmp_path / "out", crds=[require_shared()], environ={}))
    assert not [w for w in result.warnings if "not validated" in w.message]
    eu, us = objects(result, "argocd/applications.yaml")
    assert eu["spec"]["destination"] == {"server": "https://eu.k8s.example:6443"}
    assert (eu["metadata"]["namespace"], eu["spec"]["project"]) == ("argocd-eu", "platform")
    assert us["spec"]["destination"] == {"name": "us-east"}
    assert (us["metadata"]["namespace"], us["spec"]["project"]) == ("argocd", "us-team")


@pytest.mark.parametrize(("eu", "us", "where"), [
    ("", "", "spec.yaml:13:11: clusters[1].name"),
    ("    argocd: {name: in-cluster}", "", "spec.yaml:13:11: clusters[1].name"),
    ("    argocd: {server: 'https://k.example:6443'}", "    argocd: {server: 'https://k.example:6443/'}",
     "spec.yaml:15:22: clusters[1].argocd.server"),
])
def test_two_argocd_clusters_on_one_destination_are_a_spec_error(tmp_path: Path, eu: str, us: str,
                                                                   where: str) -> None:
    run = run_cli("render", _multi(tmp_path, eu, us), "-o", tmp_path / "out")
    assert run.code == 3, run.stderr
    assert where in run.stderr and "'eu' and 'us' both deploy to" in run.stderr
    assert not (tmp_path / "out").exists()


def test_argocd_destination_takes_server_or_name(tmp_path: Path) -> None:
    run = run_cli("render", _multi(tmp_path, "    argocd: {server: 'https://a.example', name: a}", ""),
                  "-o", tmp_path / "out")
    assert run.code == 3 and "either server or name" in run.stderr
