"""The render pipeline: resolved spec -> in-memory bundle of files (nothing touches the disk)."""

from __future__ import annotations

import functools
import posixpath

from genpolicy.nodes.render import node_files
from genpolicy.render import encrypted, engines
from genpolicy.render.cluster_secrets import _render_cluster_external_secrets, cluster_external_secret
from genpolicy.render.context import (
    NAMESPACE_SENTINEL,
    Bundle,
    RenderContext,
    _add_kustomization,
    _document,
    parse_document,
)
from genpolicy.render.cross_cluster import _render_sops_config, _render_wiring
from genpolicy.render.documents import Document, OutputFile
from genpolicy.render.helm import _helm_values, helm_values
from genpolicy.render.namespaces import _namespace_documents, _secret_documents
from genpolicy.render.pullsecrets import PullSecretRenderer
from genpolicy.render.shapes import NamespaceShapes
from genpolicy.specfile import NamespaceTarget
from genpolicy.specfile.model import Cluster

__all__ = ["NAMESPACE_SENTINEL", "Bundle", "RenderContext", "cluster_external_secret", "encrypted", "finalize_bundle",
           "helm_values", "parse_document", "render_bundle"]


def render_bundle(ctx: RenderContext, clusters: list[Cluster] | None = None, *, finalize: bool = True) -> Bundle:
    """Render the clusters' folders (all by default); parse each document so it can be validated.

    `finalize` adds the files that span clusters (`.sops.yaml`); a partial render (one worker's
    share of the clusters) leaves that to `finalize_bundle`.
    """
    bundle = Bundle()
    secrets = PullSecretRenderer(ctx.resolved, ctx.credentials)
    header = ctx.templates.render("header.yaml.j2", {"spec_name": ctx.spec_name})
    for cluster in clusters if clusters is not None else ctx.resolved.spec.clusters:
        folder = posixpath.normpath(cluster.output_dir or cluster.name)
        bundle.clusters[cluster.name] = folder
        before = set(bundle.files)
        _render_cluster(ctx, bundle, cluster, folder, secrets, header)
        if ctx.on_files is not None:
            ctx.on_files([f for p, f in bundle.files.items() if p not in before])
    if finalize:
        finalize_bundle(ctx, bundle)
    return bundle


def finalize_bundle(ctx: RenderContext, bundle: Bundle) -> None:
    """Files that depend on every cluster's output."""
    header = ctx.templates.render("header.yaml.j2", {"spec_name": ctx.spec_name})
    before = set(bundle.files)
    _render_sops_config(bundle, ctx, header)
    _render_wiring(bundle, ctx, header)
    if ctx.on_files is not None:
        ctx.on_files([f for p, f in bundle.files.items() if p not in before])


def _render_cluster(
    ctx: RenderContext, bundle: Bundle, cluster: Cluster, folder: str, secrets: PullSecretRenderer, header: str
) -> None:
    namespace_files: list[str] = []  # relative to <folder>/namespaces, which has its own kustomization
    targets = sorted(ctx.resolved.targets_for(cluster.name), key=lambda t: t.namespace)
    shapes = NamespaceShapes(ctx.resolved.spec, ctx.resolved.loaded.text)
    direct = functools.partial(_namespace_files, ctx, secrets, folder, header)
    for target in targets:
        namespace_files += shapes.render(target, bundle, direct)
        if ctx.progress:
            ctx.progress(1)
    resources: list[str] = []
    if namespace_files:
        _add_kustomization(ctx, bundle, cluster, f"{folder}/namespaces", namespace_files, header)
        resources.append("namespaces")
    resources += _render_cluster_external_secrets(ctx, bundle, cluster, folder, targets, secrets, header)
    resources += _render_kyverno(ctx, bundle, cluster, folder, secrets, header)
    resources += engines.render_engines(_engine_emit(ctx, bundle, cluster, secrets, header), cluster, folder)
    _add_kustomization(ctx, bundle, cluster, folder, resources, header)
    _render_nodes(ctx, bundle, cluster, folder, header)


def _render_kyverno(
    ctx: RenderContext, bundle: Bundle, cluster: Cluster, folder: str, secrets: PullSecretRenderer, header: str
) -> list[str]:
    """The Kyverno files of a cluster that has Kyverno groups (their policy and test builders, a fortieth of a
    render's start-up, are imported only then)."""
    if not ctx.resolved.kyverno_targets_for(cluster.name):
        return []
    from genpolicy.render.kyverno_files import render_kyverno

    return render_kyverno(ctx, bundle, cluster, folder, secrets, header)


def _namespace_files(ctx: RenderContext, secrets: PullSecretRenderer, folder: str, header: str,
                     target: NamespaceTarget, bundle: Bundle) -> list[str]:
    """A namespace's manifest and Helm values files; returns its entries of the namespaces kustomization."""
    values_doc = _helm_values(ctx, target) if target.helm_values.enabled else None
    manifest = OutputFile(f"{folder}/namespaces/{target.namespace}.yaml", header, cluster=target.cluster.name)
    manifest.documents, extra = _namespace_documents(ctx, bundle, target, secrets, folder, values_doc)
    entries = [posixpath.relpath(f, "namespaces") for f in extra]
    if manifest.documents:
        bundle.add(manifest)
        entries.append(f"{target.namespace}.yaml")
    if values_doc is not None:
        values = OutputFile(f"{folder}/helm-values/{target.namespace}.yaml", header, is_manifest=False,
                            cluster=target.cluster.name)
        values.documents = [values_doc]
        bundle.add(values)
    return entries


def _render_nodes(ctx: RenderContext, bundle: Bundle, cluster: Cluster, folder: str, header: str) -> None:
    """Node pools' bootstrap files (docs/nodes.md): validated by genpolicy.nodes, not in any kustomization."""
    for node_file in node_files(ctx.resolved.spec, cluster, folder):
        comments = "".join(line for line in header.splitlines(keepends=True) if line.startswith("#"))
        file = OutputFile(node_file.path, header if node_file.text is None else comments, is_manifest=False,
                          cluster=cluster.name)
        file.documents = ([Document("hosts.toml", node_file.text)] if node_file.text is not None else
                          [_document(ctx, "object.yaml.j2", {"object": o}) for o in node_file.objects])
        bundle.add(file)


def _engine_emit(ctx: RenderContext, bundle: Bundle, cluster: Cluster, secrets: PullSecretRenderer,
                 header: str) -> engines.Emit:
    """The pipeline's helpers, lent to genpolicy.render.engines (engineCredentials)."""
    return engines.Emit(
        ctx.resolved, ctx.credentials, ctx.encryption, header,
        document=lambda obj, sensitive: _document(ctx, "object.yaml.j2", {"object": obj}, sensitive=sensitive),
        pull_secret=lambda target, secret, path, sops_dir: _secret_documents(
            ctx, bundle, target, secret, secrets, path, sops_dir),
        add=bundle.add,
        kustomization=lambda path, resources: _add_kustomization(ctx, bundle, cluster, path, resources, header))
