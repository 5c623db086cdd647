"""ClusterExternalSecrets: one per (group, Secret) for groups with `externalSecretKind: ClusterExternalSecret`."""

from __future__ import annotations

from typing import Any

from genpolicy.errors import OutputValidationError, Problem
from genpolicy.render.context import Bundle, RenderContext, _add_kustomization, _document
from genpolicy.render.documents import OutputFile
from genpolicy.render.pullsecrets import PullSecret, PullSecretRenderer, pull_secrets
from genpolicy.specfile import NamespaceTarget
from genpolicy.specfile.model import Cluster


def _cluster_wide(target: NamespaceTarget, secret: PullSecret) -> bool:
    return (target.external_secret_kind == "ClusterExternalSecret"
            and secret.registries[0].credentials.external_secret is not None)


def _render_cluster_external_secrets(
    ctx: RenderContext, bundle: Bundle, cluster: Cluster, folder: str, targets: list[NamespaceTarget],
    secrets: PullSecretRenderer, header: str,
) -> list[str]:
    """One ClusterExternalSecret per (group, Secret) for groups with `externalSecretKind: ClusterExternalSecret`."""
    groups: dict[str, list[NamespaceTarget]] = {}
    for target in targets:
        if target.external_secret_kind == "ClusterExternalSecret":
            groups.setdefault(target.group, []).append(target)
    files = []
    for group, members in sorted(groups.items()):
        first = members[0]
        objects = []
        for secret in pull_secrets(first):
            if _cluster_wide(first, secret):
                external = _one_external_secret(ctx, secrets, members, secret)
                objects.append(cluster_external_secret(group, secret.name, external,
                                                       sorted(t.namespace for t in members)))
        if objects:
            file = OutputFile(f"{folder}/external-secrets/{group}.yaml", header, cluster=cluster.name)
            file.documents = [_document(ctx, "clusterexternalsecret.yaml.j2", {"object": o}) for o in objects]
            bundle.add(file)
            files.append(f"{group}.yaml")
    if not files:
        return []
    _add_kustomization(ctx, bundle, cluster, f"{folder}/external-secrets", files, header)
    return ["external-secrets"]


def _one_external_secret(ctx: RenderContext, secrets: PullSecretRenderer, members: list[NamespaceTarget],
                         secret: PullSecret) -> dict[str, Any]:
    """The ExternalSecret every namespace of the group would get; they must agree to be fanned out."""
    rendered: list[tuple[str, dict[str, Any]]] = []
    template = ""
    for target in members:
        template, context, _ = secrets.context(target, secret)
        obj = _document(ctx, template, context).obj
        rendered.append((target.namespace, obj if isinstance(obj, dict) else {}))
    first_namespace, first = rendered[0]
    for namespace, other in rendered[1:]:
        if other.get("spec") != first.get("spec"):
            raise OutputValidationError("ClusterExternalSecret", [Problem(
                ctx.resolved.loaded.filename, message=f"template {template} gives Secret {secret.name!r} a different "
                f"spec in namespace {namespace!r} than in {first_namespace!r}; one ClusterExternalSecret needs one "
                "spec for every namespace (use externalSecretKind: ExternalSecret)")])
    return first


_ENGINE_ANNOTATIONS = ("argocd.argoproj.io/", "kustomize.toolkit.fluxcd.io/")


def cluster_external_secret(group: str, secret_name: str, external: dict[str, Any],
                            namespaces: list[str]) -> dict[str, Any]:
    """Wrap a rendered ExternalSecret's spec into a ClusterExternalSecret for the group's namespaces."""
    meta = external["metadata"]
    annotations = meta.get("annotations") or {}
    inner = {k: v for k, v in annotations.items() if not k.startswith(_ENGINE_ANNOTATIONS)}
    es_metadata: dict[str, Any] = {"labels": meta.get("labels") or {}}
    if inner:
        es_metadata["annotations"] = inner
    # a group name is a DNS label (no dot): `<group>.<secret>` cannot collide across groups
    outer: dict[str, Any] = {"name": f"{group}.{secret_name}", "labels": meta.get("labels") or {}}
    if annotations:
        outer["annotations"] = annotations
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterExternalSecret",
        "metadata": outer,
        "spec": {
            "externalSecretName": secret_name,
            "externalSecretMetadata": es_metadata,
            "namespaceSelectors": [{"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}]}],
            "externalSecretSpec": external["spec"],
        },
    }
