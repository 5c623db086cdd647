"""Argo CD Applications and Flux Kustomizations that deploy the rendered bundle (`spec.gitops`).

Argo CD objects go to `<output>/argocd/` (applied to the Argo CD control plane); Flux objects to
`<output>/flux/<cluster>.yaml` (applied by the cluster's own Flux, e.g. from flux-system). Flux
gets one Kustomization per part so `dependsOn` orders them: the Kyverno source Secrets and RBAC,
then the policies (after Kyverno itself when `flux.kyvernoDependency` is set), and the static
namespaces. Sources: the Argo CD Application spec and sync-wave docs
(https://argo-cd.readthedocs.io/en/stable/user-guide/sync-waves/) and the Flux Kustomization API
(https://fluxcd.io/flux/components/kustomize/kustomizations/).
"""

from __future__ import annotations

import posixpath
from typing import Any

from genpolicy.render import metadata
from genpolicy.specfile import Resolved
from genpolicy.specfile.model import Cluster, GitOpsWiring

KYVERNO_KINDS = [("kyverno.io", "ClusterPolicy"), ("policies.kyverno.io", "GeneratingPolicy"),
                 ("policies.kyverno.io", "MutatingPolicy")]


def _path(wiring: GitOpsWiring, *parts: str) -> str:
    return posixpath.normpath(posixpath.join(wiring.path, *parts))


def argocd_application(resolved: Resolved, cluster: Cluster, folder: str) -> dict[str, Any]:
    """One Application per Argo CD cluster, server-side apply, Kyverno-aware diffing."""
    wiring = resolved.spec.gitops
    assert wiring is not None
    uses_kyverno = bool(resolved.kyverno_targets_for(cluster.name))
    options = ["ServerSideApply=true"] + (["SkipDryRunOnMissingResource=true"] if uses_kyverno else [])
    spec: dict[str, Any] = {
        "project": cluster.argocd.project or wiring.argocd.project,
        "source": {"repoURL": wiring.repo_url, "targetRevision": wiring.target_revision,
                   "path": _path(wiring, folder)},
        "destination": cluster.argocd.destination(),
        "syncPolicy": {"automated": {"prune": wiring.argocd.prune, "selfHeal": wiring.argocd.self_heal},
                       "syncOptions": options},
    }
    if uses_kyverno:
        # Kyverno writes defaults and labels into its policies; let them not show as drift.
        spec["ignoreDifferences"] = [{"group": g, "kind": k, "managedFieldsManagers": ["kyverno"]}
                                     for g, k in KYVERNO_KINDS]
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {
            "name": f"genpolicy-{cluster.name}", "namespace": cluster.argocd.namespace or wiring.argocd.namespace,
            "labels": metadata.labels(resolved.spec),
            # No resources-finalizer: deleting the Application must never cascade to the `default`
            # ServiceAccounts (their patches also carry Delete=false).
            "annotations": {"argocd.argoproj.io/compare-options": "ServerSideDiff=true,IncludeMutationWebhook=true"},
        },
        "spec": spec,
    }


def flux_objects(resolved: Resolved, cluster: Cluster, folder: str, files: set[str]) -> list[dict[str, Any]]:
    """GitRepository + Kustomizations for one Flux cluster, ordered with dependsOn."""
    wiring = resolved.spec.gitops
    assert wiring is not None
    flux = wiring.flux
    labels = metadata.labels(resolved.spec)
    source = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
              "metadata": {"name": flux.source_name, "namespace": flux.namespace, "labels": labels},
              "spec": {"interval": flux.interval, "url": wiring.repo_url, "ref": {"branch": wiring.target_revision}}}
    objects: list[dict[str, Any]] = [source]
    decryption = ({"provider": "sops", "secretRef": {"name": cluster.sops.decryption_secret}}
                  if cluster.sops is not None else None)
    has = {part: any(f.startswith(f"{folder}/{part}/") for f in files)
           for part in ("namespaces", "external-secrets", "kyverno/source", "kyverno/policies", "engines")}
    if has["kyverno/source"]:
        objects.append(_kustomization(resolved, cluster, "kyverno-source", _path(wiring, folder, "kyverno/source"),
                                      [], decryption, wait=True))
    if has["kyverno/policies"]:
        depends = [f"genpolicy-{cluster.name}-kyverno-source"] + ([flux.kyverno_dependency]
                                                                   if flux.kyverno_dependency else [])
        objects.append(_kustomization(resolved, cluster, "kyverno-policies",
                                      _path(wiring, folder, "kyverno/policies"), depends, None, wait=False))
    if has["namespaces"]:
        objects.append(_kustomization(resolved, cluster, "pull-secrets", _path(wiring, folder, "namespaces"),
                                      [], decryption, wait=True))
    if has["external-secrets"]:
        objects.append(_kustomization(resolved, cluster, "external-secrets",
                                      _path(wiring, folder, "external-secrets"), [], None, wait=True))
    if has["engines"]:  # engineCredentials: the sources' Secrets (maybe SOPS) and the Flux sources
        objects.append(_kustomization(resolved, cluster, "engine-credentials", _path(wiring, folder, "engines"),
                                      [], decryption, wait=True))
    return objects


def _kustomization(resolved: Resolved, cluster: Cluster, part: str, path: str, depends: list[str],
                   decryption: dict[str, Any] | None, *, wait: bool) -> dict[str, Any]:
    wiring = resolved.spec.gitops
    assert wiring is not None
    spec: dict[str, Any] = {
        "interval": wiring.flux.interval,
        "sourceRef": {"kind": "GitRepository", "name": wiring.flux.source_name},
        "path": f"./{path}",
        "prune": True,
        "wait": wait,
    }
    if depends:
        spec["dependsOn"] = [{"name": name} for name in depends]
    if decryption is not None:
        spec["decryption"] = decryption
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": f"genpolicy-{cluster.name}-{part}", "namespace": wiring.flux.namespace,
                         "labels": metadata.labels(resolved.spec)},
            "spec": spec}
