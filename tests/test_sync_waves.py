"""Argo CD sync waves follow what each object needs, for every backend and both distributions.

Argo CD applies a wave and waits for it to be healthy before the next, so every object must be in
an earlier wave than what depends on it (a Namespace may share the wave of its objects: Argo CD
applies Namespaces first within a wave). Edges: ESO generator -> the ExternalSecret that uses it;
whatever produces a pull Secret (Secret, SealedSecret, ExternalSecret, ClusterExternalSecret) ->
the ServiceAccount listing it and the Kyverno policies cloning it; Kyverno RBAC -> the policies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml
from test_backends import make_certificate

from conftest import write_spec
from genpolicy.pipeline import RenderOptions, render

SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
allowPlaintext: true
registries:
  - name: ghcr
    server: ghcr.io
    credentials: {fromEnv: {username: U, password: P}}
  - name: vault
    server: harbor.example.com/platform
    credentials:
      externalSecret: {store: {name: vault}, remoteKey: harbor}
  - name: ecr
    server: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
    credentials:
      generator: {kind: ECRAuthorizationToken, spec: {region: eu-west-1}}
  - name: gar
    server: europe-docker.pkg.dev
    credentials:
      node: {provider: gke}
clusters:
  - name: prod
    kubernetesVersion: "1.33"
    gitops: argocd
    backend: BACKEND
    SETTINGS
    kyverno: {version: "KYVERNO"}
namespaceGroups:
  - name: apps
    namespaces: [alpha, beta]
    registries: [ghcr, vault, ecr, gar]
  - name: shared
    namespaces: [gamma, delta]
    registries: [vault]
    externalSecretKind: ClusterExternalSecret
  - name: teams
    distribution: kyverno
    namespaces: [team-*]
    registries: [ghcr, vault, ecr]
"""
POLICY_KINDS = {"ClusterPolicy", "GeneratingPolicy", "MutatingPolicy"}


def _settings(backend: str, folder: Path) -> str:
    if backend == "sealed-secrets":
        make_certificate(folder)
        return "sealedSecrets: {certificate: cert.pem}"
    if backend == "sops":
        return f"sops: {{recipients: [{pyrage.x25519.Identity.generate().to_public()}]}}"
    return ""


def rendered_objects(tmp_path: Path, backend: str, kyverno: str) -> list[dict[str, Any]]:
    text = SPEC.replace("BACKEND", backend).replace("SETTINGS", _settings(backend, tmp_path))
    spec = write_spec(tmp_path, text.replace("KYVERNO", kyverno))
    result = render(RenderOptions(spec, output=tmp_path / "out", environ={"U": "robot", "P": "pw"}))
    docs = []
    for path, file in sorted(result.bundle.files.items()):
        if path.startswith("prod/") and "/tests/" not in path and path.endswith(".yaml"):
            docs += [d for d in yaml.safe_load_all(file.content()) if isinstance(d, dict) and "metadata" in d]
    return docs


def wave(obj: dict[str, Any]) -> int:
    annotations = obj["metadata"].get("annotations") or {}
    return int(annotations.get("argocd.argoproj.io/sync-wave", "0"))


def produced_secrets(obj: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(namespace, Secret name) an object makes exist."""
    meta = obj["metadata"]
    if obj["kind"] in ("Secret", "SealedSecret"):
        yield meta["namespace"], meta["name"]
    elif obj["kind"] == "ExternalSecret":
        yield meta["namespace"], obj["spec"]["target"]["name"]
    elif obj["kind"] == "ClusterExternalSecret":
        for selector in obj["spec"]["namespaceSelectors"]:
            for namespace in selector["matchExpressions"][0]["values"]:
                yield namespace, obj["spec"]["externalSecretName"]


def edges(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(reason, needed, needing) for every dependency between rendered objects."""
    def name(o: dict[str, Any]) -> tuple[str, str]:
        return o["metadata"].get("namespace", ""), o["metadata"]["name"]
    producers = {secret: o for o in docs for secret in produced_secrets(o)}
    generators = {name(o): o for o in docs if o["apiVersion"].startswith("generators.external-secrets.io/")}
    policies = [o for o in docs if o["kind"] in POLICY_KINDS]
    for o in docs:
        for ref in o.get("spec", {}).get("dataFrom", []):
            yield "generator", generators[(name(o)[0], ref["sourceRef"]["generatorRef"]["name"])], o
        if o["kind"] == "ServiceAccount":
            for entry in o["imagePullSecrets"]:
                if (name(o)[0], entry["name"]) in producers:
                    yield "secret", producers[(name(o)[0], entry["name"])], o
        if o["kind"] == "ClusterRole":
            yield from (("rbac", o, policy) for policy in policies)
        if o["kind"] in ("Secret", "SealedSecret", "ExternalSecret") and o["metadata"]["namespace"] not in (
                "alpha", "beta", "gamma", "delta"):
            yield from (("source", o, policy) for policy in policies)


@pytest.mark.parametrize("kyverno", ["1.13", "1.19"])
@pytest.mark.parametrize("backend", ["sealed-secrets", "sops", "plain"])
def test_every_object_is_in_an_earlier_wave_than_what_needs_it(tmp_path: Path, backend: str, kyverno: str) -> None:
    docs = rendered_objects(tmp_path, backend, kyverno)
    seen: set[str] = set()
    for reason, needed, needing in edges(docs):
        seen.add(reason)
        assert wave(needed) < wave(needing), (
            f"{reason}: {needed['kind']} {needed['metadata']['name']} (wave {wave(needed)}) must sync before "
            f"{needing['kind']} {needing['metadata']['name']} (wave {wave(needing)})")
    assert seen == {"generator", "secret", "rbac", "source"}, "every kind of dependency was checked"
    by_namespace = {o["metadata"]["name"]: wave(o) for o in docs if o["kind"] == "Namespace"}
    assert by_namespace, "the Kyverno source namespace is rendered"
    for o in docs:
        namespace = o["metadata"].get("namespace")
        if namespace in by_namespace:
            assert by_namespace[namespace] <= wave(o), f"Namespace {namespace} after {o['kind']}"


def test_a_kyverno_group_renders_a_key_with_a_trailing_slash(tmp_path: Path) -> None:
    text = SPEC.replace("server: harbor.example.com/platform\n", "server: harbor.example.com/platform/\n")
    spec = write_spec(tmp_path, text.replace("BACKEND", "plain").replace("SETTINGS", "").replace("KYVERNO", "1.13"))
    render(RenderOptions(spec, output=tmp_path / "out", environ={"U": "robot", "P": "pw"}))
