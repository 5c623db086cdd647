"""Files that span clusters: `.sops.yaml` creation rules and the GitOps wiring (Argo CD Applications, Flux objects)."""

from __future__ import annotations

import posixpath
import re

from genpolicy.render import wiring
from genpolicy.render.context import Bundle, RenderContext, _add_kustomization, _document
from genpolicy.render.documents import Document, OutputFile


def _render_sops_config(bundle: Bundle, ctx: RenderContext, header: str) -> None:
    """`.sops.yaml` creation rules, so `sops` edits the files with the right recipients."""
    rules = []
    for cluster in ctx.resolved.spec.clusters:
        folder = bundle.clusters.get(cluster.name, posixpath.normpath(cluster.output_dir or cluster.name))
        if cluster.sops is not None and any(p.startswith(f"{folder}/") and p.endswith(".sops.yaml")
                                            for p in bundle.files):
            rules.append((f"^{re.escape(folder)}/.*\\.sops\\.yaml$", list(cluster.sops.recipients)))
    if rules:
        from genpolicy.crypto.sops import render_sops_config  # pyrage and cryptography: only a SOPS render

        file = OutputFile(".sops.yaml", header, is_manifest=False)
        file.documents = [Document("sops-config", render_sops_config(rules))]
        bundle.add(file)


def _render_wiring(bundle: Bundle, ctx: RenderContext, header: str) -> None:
    """Argo CD Applications (`argocd/`) and Flux objects (`flux/<cluster>.yaml`) when `spec.gitops` is set."""
    spec = ctx.resolved.spec
    if spec.gitops is None:
        return
    paths = set(bundle.files)
    argo = [c for c in spec.clusters if c.gitops == "argocd"]
    if argo:
        apps = OutputFile("argocd/applications.yaml", header, cluster=argo[0].name)
        apps.documents = [_document(ctx, "gitops/application.yaml.j2", {"object": wiring.argocd_application(
            ctx.resolved, c, bundle.clusters[c.name])}) for c in argo]
        bundle.add(apps)
        _add_kustomization(ctx, bundle, argo[0], "argocd", ["applications.yaml"], header)
    flux = [c for c in spec.clusters if c.gitops == "flux"]
    for cluster in flux:
        file = OutputFile(f"flux/{cluster.name}.yaml", header, cluster=cluster.name)
        file.documents = [_document(ctx, "gitops/flux.yaml.j2", {"object": o}) for o in
                          wiring.flux_objects(ctx.resolved, cluster, bundle.clusters[cluster.name], paths)]
        bundle.add(file)
    if flux:
        _add_kustomization(ctx, bundle, flux[0], "flux", [f"{c.name}.yaml" for c in flux], header)
