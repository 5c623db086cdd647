"""Argo CD destinations: two Argo CD clusters of one spec must not deploy to the same cluster.

Every Application genpolicy renders goes into one `argocd/applications.yaml`; two of them with the
same `spec.destination` would apply two clusters' bundles to one cluster and fight over its objects.
"""

from __future__ import annotations

from collections.abc import Iterator

from genpolicy.specfile.loader import Path
from genpolicy.specfile.model import Spec


def shared_destinations(spec: Spec) -> Iterator[tuple[Path, str]]:
    """(path, message) for every Argo CD cluster whose destination an earlier one already uses."""
    if spec.gitops is None:
        return
    seen: dict[str, str] = {}
    for i, cluster in enumerate(spec.clusters):
        if cluster.gitops != "argocd":
            continue
        target = cluster.argocd.target()
        if target in seen:
            yield _where(cluster.argocd.name is not None, cluster.argocd.server is not None, i), (
                f"Argo CD clusters {seen[target]!r} and {cluster.name!r} both deploy to {target}: their "
                "bundles would fight over the same objects; set clusters[].argocd.server (or .name) to each "
                "cluster's destination as registered in Argo CD")
        else:
            seen[target] = cluster.name


def _where(has_name: bool, has_server: bool, index: int) -> Path:
    """The destination field when set, else the cluster's name."""
    if has_name:
        return ("clusters", index, "argocd", "name")
    if has_server:
        return ("clusters", index, "argocd", "server")
    return ("clusters", index, "name")
