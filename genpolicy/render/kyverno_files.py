"""Kyverno output: source Secrets and RBAC, one policy file per group, group Helm values, `kyverno test` suites."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable
from typing import Any

from genpolicy.render import kyverno
from genpolicy.render.context import Bundle, RenderContext, _add_kustomization, _document
from genpolicy.render.documents import OutputFile
from genpolicy.render.helm import helm_values
from genpolicy.render.kyverno_tests import build_suite
from genpolicy.render.namespaces import _secret_documents
from genpolicy.render.pullsecrets import PullSecretRenderer, pull_secrets
from genpolicy.specfile.checks import KyvernoTarget
from genpolicy.specfile.model import Cluster


def render_kyverno(
    ctx: RenderContext, bundle: Bundle, cluster: Cluster, folder: str, secrets: PullSecretRenderer, header: str
) -> list[str]:
    """Source Secrets + RBAC (kyverno/source) and one policy file per group (kyverno/policies)."""
    targets = kyverno.with_secret_registries(sorted(ctx.resolved.kyverno_targets_for(cluster.name),
                                                    key=lambda t: t.group))
    if not targets:
        return []
    spec = ctx.resolved.spec
    registries = sorted({r.name: r for t in targets for r in t.registries}.values(), key=lambda r: r.name)
    source = OutputFile(f"{folder}/kyverno/source/source.yaml", header, cluster=cluster.name)
    objects = ([kyverno.source_namespace(spec, cluster)] if cluster.kyverno and cluster.kyverno.manage_source_namespace
               else []) + kyverno.cluster_roles(spec, cluster)
    source.documents = [_document(ctx, o.template, o.context) for o in objects]
    pseudo = kyverno.source_target(cluster, registries)
    source_files = ["source.yaml"]
    annotations = dict(sorted({**spec.common_annotations, **kyverno.waves(cluster)["source"]}.items()))
    for secret in pull_secrets(pseudo):
        docs, files = _secret_documents(ctx, bundle, pseudo, secret, secrets, source.path,
                                        f"{folder}/kyverno/source", annotations)
        source.documents += docs
        source_files += [posixpath.basename(f) for f in files]
    bundle.add(source)
    _add_kustomization(ctx, bundle, cluster, f"{folder}/kyverno/source", source_files, header)
    policy_files = []
    for target in targets:
        policy = OutputFile(f"{folder}/kyverno/policies/{target.group}.yaml", header, cluster=cluster.name)
        policy.documents = [_document(ctx, o.template, o.context) for o in kyverno.policies(ctx.resolved, target)]
        bundle.add(policy)
        policy_files.append(f"{target.group}.yaml")
        if target.helm_values.enabled:
            names = sorted(r.effective_secret_name for r in target.registries)
            values = OutputFile(f"{folder}/helm-values/group-{target.group}.yaml", header, is_manifest=False,
                                cluster=cluster.name)
            context = {"group": target.group, "cluster": cluster.name,
                       "values": helm_values(target.helm_values.keys, names)}
            values.documents = [_document(ctx, "helm-values.yaml.j2", context)]
            bundle.add(values)
    _add_kustomization(ctx, bundle, cluster, f"{folder}/kyverno/policies", policy_files, header)
    _render_kyverno_tests(ctx, bundle, cluster, f"{folder}/kyverno/tests", targets, header)
    return ["kyverno/source", "kyverno/policies"]


def _render_kyverno_tests(
    ctx: RenderContext, bundle: Bundle, cluster: Cluster, folder: str, targets: list[KyvernoTarget], header: str
) -> None:
    """`kyverno test <folder>`: sample resources with expected patched Pods and generated Secrets."""
    assert cluster.kyverno is not None
    suites = []
    for target in targets:
        clone, mutate = kyverno.policy_names(target)
        suites.append(build_suite(ctx.resolved, target, clone, mutate))
    for name, objects in sorted({n: o for s in suites for n, o in s.files.items()}.items()):
        file = OutputFile(f"{folder}/{name}", header, cluster=cluster.name)
        file.documents = [_document(ctx, "object.yaml.j2", {"object": o}) for o in objects]
        bundle.add(file)
    resource_file = OutputFile(f"{folder}/resources.yaml", header, cluster=cluster.name)
    resource_file.documents = [_document(ctx, "object.yaml.j2", {"object": o})
                               for o in _unique(r for s in suites for r in s.resources)]
    bundle.add(resource_file)
    sources = _unique(o for s in suites for o in s.sources)
    if sources:
        context = OutputFile(f"{folder}/context.yaml", header, is_manifest=False, cluster=cluster.name)
        context.documents = [_document(ctx, "object.yaml.j2", {"object": {
            "apiVersion": "cli.kyverno.io/v1alpha1", "kind": "Context", "metadata": {"name": "sources"},
            "spec": {"resources": sources}}})]
        bundle.add(context)
    test = OutputFile(f"{folder}/kyverno-test.yaml", header, is_manifest=False, cluster=cluster.name)
    test.documents = [_document(ctx, "kyverno/kyverno-test.yaml.j2", {
        "name": f"genpolicy-{cluster.name}",
        "policies": [f"../policies/{t.group}.yaml" for t in targets],
        "resources": ["resources.yaml"],
        "context": "context.yaml" if sources else None,
        "namespace_labels": _unique(n for s in suites for n in s.namespace_labels),
        "results": [r for s in suites for r in s.results],
    })]
    bundle.add(test)


def _unique(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects in first-seen order, one per kind/namespace/name (groups may share a sample Namespace or a source)."""
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        meta = item.get("metadata", {})
        identity = (json.dumps([item.get("kind"), meta.get("namespace"), meta.get("name")]) if meta
                    else json.dumps(item, sort_keys=True))
        seen.setdefault(identity, item)
    return list(seen.values())
