"""The kadet component of the kapitan side of the benchmark: genpolicy's plain-backend bundle for one cluster.

bench_kapitan.py copies this file into the kapitan project it generates (as
components/pullsecrets/__init__.py), so it runs inside kapitan's interpreter: standard library
only, apart from kapitan's `inventory()`, which is imported in `main` so the tests can call
`bundle` without kapitan. It writes what `genpolicy render` writes for the benchmark's spec, object
for object: per namespace one file with a pull Secret per registry and the ServiceAccounts that
list them, one Helm values file, and the two kustomizations. Each key of the returned mapping is a
file (kapitan appends `.yaml`); a list becomes a multi-document file.
"""

from __future__ import annotations

import base64
import json
from typing import Any

MANAGED = {"app.kubernetes.io/managed-by": "genpolicy"}
KUSTOMIZE = "kustomize.config.k8s.io/v1beta1"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def docker_config(registry: dict[str, str]) -> str:
    user, password = registry["username"], registry["password"]
    auth = {"auth": b64(f"{user}:{password}"), "password": password, "username": user}
    return b64(json.dumps({"auths": {registry["server"]: auth}}, sort_keys=True, separators=(",", ":")))


def secret(registry: dict[str, str], config: str, namespace: str) -> dict[str, Any]:
    labels = {**MANAGED, "genpolicy.dev/registry": registry["name"]}
    metadata = {"name": f"{registry['name']}-pull", "namespace": namespace, "labels": labels,
                "annotations": {"argocd.argoproj.io/sync-wave": "-1"}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata,
            "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": config}}


def account(name: str, namespace: str, pulls: list[str]) -> dict[str, Any]:
    annotations = {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false,ServerSideApply=true",
                   "argocd.argoproj.io/sync-wave": "0"}
    metadata = {"name": name, "namespace": namespace, "labels": dict(MANAGED), "annotations": annotations}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata,
            "imagePullSecrets": [{"name": pull} for pull in pulls]}


def helm_values(pulls: list[str]) -> dict[str, Any]:
    return {"imagePullSecrets": [{"name": pull} for pull in pulls],
            "global": {"imagePullSecrets": [{"name": pull} for pull in pulls]}}


def kustomization(resources: list[str]) -> dict[str, Any]:
    return {"apiVersion": KUSTOMIZE, "kind": "Kustomization", "resources": resources}


def bundle(params: dict[str, Any]) -> dict[str, Any]:
    """Every file of one cluster, from the target's `genpolicy` parameters."""
    registries, namespaces = params["registries"], params["namespaces"]
    configs = [(registry, docker_config(registry)) for registry in registries]
    pulls = [f"{registry['name']}-pull" for registry in registries]
    files: dict[str, Any] = {"kustomization": kustomization(["namespaces"]),
                             "namespaces/kustomization": kustomization([f"{ns}.yaml" for ns in namespaces])}
    for ns in namespaces:
        files[f"namespaces/{ns}"] = ([secret(registry, config, ns) for registry, config in configs]
                                     + [account(name, ns, pulls) for name in params["serviceAccounts"]])
        files[f"helm-values/{ns}"] = helm_values(pulls)
    return files


def main() -> dict[str, Any]:
    from kapitan.inputs.kadet import inventory  # type: ignore[import-not-found]

    params: dict[str, Any] = inventory()["parameters"]["genpolicy"].to_dict()
    return bundle(params)
