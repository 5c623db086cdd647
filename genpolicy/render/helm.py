"""Helm values output: per-namespace and per-group values files, and the values ConfigMap for Flux `valuesFrom`."""

from __future__ import annotations

from typing import Any

from genpolicy.errors import OutputValidationError, Problem
from genpolicy.render import metadata
from genpolicy.render.context import RenderContext, _document
from genpolicy.render.documents import Document
from genpolicy.render.pullsecrets import pull_secrets
from genpolicy.specfile import NamespaceTarget
from genpolicy.specfile.model import HelmKey


def helm_values(keys: list[HelmKey], secret_names: list[str]) -> dict[str, Any]:
    """Nested values with the pull secrets under every configured key path."""
    values: dict[str, Any] = {}
    for key in keys:
        node = values
        *parents, leaf = key.path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"helm key {key.path!r} conflicts with another key")
        node[leaf] = [{"name": n} for n in secret_names] if key.format == "objects" else list(secret_names)
    return values


def _helm_values(ctx: RenderContext, target: NamespaceTarget) -> Document:
    names = sorted(s.name for s in pull_secrets(target))
    try:
        values = helm_values(target.helm_values.keys, names)
    except ValueError as exc:
        raise OutputValidationError("helm values", [Problem(ctx.resolved.loaded.filename, message=str(exc))]) from None
    context = {"namespace": target.namespace, "cluster": target.cluster.name, "values": values}
    return _document(ctx, "helm-values.yaml.j2", context)


def _values_config_map(ctx: RenderContext, target: NamespaceTarget, values: str) -> Document:
    """The namespace's Helm values file, exactly, in a ConfigMap (`values.yaml`) for a Flux `valuesFrom`."""
    assert target.helm_values.config_map is not None
    meta: dict[str, Any] = {"name": target.helm_values.config_map, "namespace": target.namespace,
                            "labels": metadata.labels(ctx.resolved.spec)}
    if ctx.resolved.spec.common_annotations:
        meta["annotations"] = dict(sorted(ctx.resolved.spec.common_annotations.items()))
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"values.yaml": values}}
    return _document(ctx, "object.yaml.j2", {"object": config_map})
