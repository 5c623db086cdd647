"""Labels and annotations shared by every rendered object."""

from __future__ import annotations

from genpolicy.specfile import NamespaceTarget
from genpolicy.specfile.model import Spec

MANAGED_BY = {"app.kubernetes.io/managed-by": "genpolicy"}
REGISTRY_LABEL = "genpolicy.dev/registry"

ARGOCD_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
ARGOCD_SYNC_WAVE = "argocd.argoproj.io/sync-wave"
FLUX_PRUNE = "kustomize.toolkit.fluxcd.io/prune"
FLUX_SUBSTITUTE = "kustomize.toolkit.fluxcd.io/substitute"


def labels(spec: Spec, extra: dict[str, str] | None = None) -> dict[str, str]:
    merged = {**spec.common_labels, **MANAGED_BY, **(extra or {})}
    return dict(sorted(merged.items()))


def secret_annotations(spec: Spec, target: NamespaceTarget) -> dict[str, str]:
    """Secrets come before the ServiceAccounts that reference them; Flux must not substitute `${...}`."""
    extra = (
        {ARGOCD_SYNC_WAVE: "-1"} if target.cluster.gitops == "argocd" else {FLUX_SUBSTITUTE: "disabled"}
    )
    return dict(sorted({**spec.common_annotations, **extra}.items()))


def service_account_annotations(spec: Spec, target: NamespaceTarget) -> dict[str, str]:
    """A ServiceAccount patch must never be pruned or deleted by the GitOps engine.

    Deleting `default` makes Kubernetes recreate it empty (all pull secrets lost); other accounts
    usually belong to a chart. Server-side apply lets the engine own just the fields written here.
    """
    if target.cluster.gitops == "argocd":
        extra = {ARGOCD_SYNC_OPTIONS: "Prune=false,Delete=false,ServerSideApply=true", ARGOCD_SYNC_WAVE: "0"}
    else:
        extra = {FLUX_PRUNE: "disabled"}
    return dict(sorted({**spec.common_annotations, **extra}.items()))


def wave_before(spec: Spec, annotations: dict[str, str]) -> dict[str, str]:
    """Annotations for an object the annotated one needs (an ESO generator before its ExternalSecret):
    one Argo CD sync wave earlier, since Argo CD waits for a wave to be healthy before the next."""
    if ARGOCD_SYNC_WAVE not in annotations:
        return dict(spec.common_annotations)
    earlier = {ARGOCD_SYNC_WAVE: str(int(annotations[ARGOCD_SYNC_WAVE]) - 1)}
    return dict(sorted({**spec.common_annotations, **earlier}.items()))
