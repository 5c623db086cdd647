"""The render pipeline: resolved spec -> in-memory bundle of files (nothing touches the disk)."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from genpolicy.crypto.sops import render_sops_config
from genpolicy.errors import OutputValidationError, Problem
from genpolicy.nodes.render import node_files
from genpolicy.render import encrypted, engines, kyverno, metadata, wiring
from genpolicy.render.backends import SecretJob, backend_named
from genpolicy.render.documents import Document, OutputFile, SpecPath
from genpolicy.render.kyverno_tests import build_suite
from genpolicy.render.pullsecrets import PullSecret, PullSecretRenderer, pull_secrets
from genpolicy.secrets import Credential
from genpolicy.spec import NamespaceTarget, Resolved
from genpolicy.spec.checks import KyvernoTarget, backend_for
from genpolicy.spec.model import Cluster, HelmKey
from genpolicy.templating import Templates

_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Bundle:
    """Everything a render produces, keyed by path relative to the output root."""

    files: dict[str, OutputFile] = field(default_factory=dict)
    clusters: dict[str, str] = field(default_factory=dict)  # cluster name -> folder

    def add(self, file: OutputFile) -> None:
        self.files[file.path] = file

    def documents(self) -> Iterator[tuple[OutputFile, Document]]:
        for file in self.files.values():
            for doc in file.documents:
                yield file, doc


@dataclass
class RenderContext:
    resolved: Resolved
    templates: Templates
    credentials: dict[str, Credential]
    spec_name: str
    progress: Callable[[int], None] | None = None
    encryption: encrypted.EncryptionContext | None = None
    memo: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    on_files: Callable[[list[OutputFile]], None] | None = None  # e.g. validate, then free parsed objects


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


def _render_sops_config(bundle: Bundle, ctx: RenderContext, header: str) -> None:
    """`.sops.yaml` creation rules, so `sops` edits the files with the right recipients."""
    rules = []
    for cluster in ctx.resolved.spec.clusters:
        folder = bundle.clusters.get(cluster.name, posixpath.normpath(cluster.output_dir or cluster.name))
        if cluster.sops is not None and any(p.startswith(f"{folder}/") and p.endswith(".sops.yaml")
                                            for p in bundle.files):
            rules.append((f"^{re.escape(folder)}/.*\\.sops\\.yaml$", list(cluster.sops.recipients)))
    if rules:
        file = OutputFile(".sops.yaml", header, is_manifest=False)
        file.documents = [Document("sops-config", render_sops_config(rules))]
        bundle.add(file)


def _render_cluster(
    ctx: RenderContext, bundle: Bundle, cluster: Cluster, folder: str, secrets: PullSecretRenderer, header: str
) -> None:
    namespace_files: list[str] = []  # relative to <folder>/namespaces, which has its own kustomization
    targets = sorted(ctx.resolved.targets_for(cluster.name), key=lambda t: t.namespace)
    for target in targets:
        values_doc = _helm_values(ctx, target) if target.helm_values.enabled else None
        manifest = OutputFile(f"{folder}/namespaces/{target.namespace}.yaml", header, cluster=cluster.name)
        manifest.documents, extra = _namespace_documents(ctx, bundle, target, secrets, folder, values_doc)
        namespace_files += [posixpath.relpath(f, "namespaces") for f in extra]
        if manifest.documents:
            bundle.add(manifest)
            namespace_files.append(f"{target.namespace}.yaml")
        if values_doc is not None:
            values_path = f"{folder}/helm-values/{target.namespace}.yaml"
            values = OutputFile(values_path, header, is_manifest=False, cluster=cluster.name)
            values.documents = [values_doc]
            bundle.add(values)
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


def _add_kustomization(
    ctx: RenderContext, bundle: Bundle, cluster: Cluster, folder: str, resources: list[str], header: str
) -> None:
    kustomization = OutputFile(f"{folder}/kustomization.yaml", header, is_manifest=False, cluster=cluster.name)
    kustomization.documents = [_document(ctx, "kustomization.yaml.j2", {"resources": resources})]
    bundle.add(kustomization)


def _render_kyverno(
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


def _secret_documents(
    ctx: RenderContext, bundle: Bundle, target: NamespaceTarget, secret: PullSecret, secrets: PullSecretRenderer,
    manifest_path: str, sops_dir: str, annotations: dict[str, str] | None = None,
) -> tuple[list[Document], list[str]]:
    """Documents for the manifest file, plus paths of separate SOPS files (relative to sops_dir's parent)."""
    backend = backend_named(backend_for(ctx.resolved.spec, target.cluster, secret.registries[0]))
    job = SecretJob(target, secret, secrets, manifest_path, sops_dir, annotations,
                    document=lambda template, context, sensitive=False: _document(
                        ctx, template, context, sensitive=sensitive),
                    add=bundle.add, encryption=ctx.encryption, registry_path=_registry_path(ctx, secret))
    return backend.pull_secret(job)


def _namespace_documents(
    ctx: RenderContext, bundle: Bundle, target: NamespaceTarget, secrets: PullSecretRenderer, folder: str,
    values_doc: Document | None,
) -> tuple[list[Document], list[str]]:
    docs: list[Document] = []
    extra: list[str] = []
    names: list[str] = []
    manifest_path = f"{folder}/namespaces/{target.namespace}.yaml"
    for secret in pull_secrets(target):
        names.append(secret.name)
        if _cluster_wide(target, secret):
            continue  # one ClusterExternalSecret creates it (external-secrets/<group>.yaml)
        secret_docs, files = _secret_documents(ctx, bundle, target, secret, secrets, manifest_path,
                                               f"{folder}/namespaces/{target.namespace}")
        docs += secret_docs
        extra += [posixpath.relpath(f, folder) for f in files]
    spec = ctx.resolved.spec
    if values_doc is not None and target.helm_values.config_map is not None:
        docs.append(_values_config_map(ctx, target, values_doc.text))
    for account in sorted(target.service_accounts):
        docs.append(_document(ctx, "serviceaccount.yaml.j2", {
            "name": account,
            "namespace": target.namespace,
            "labels": metadata.labels(spec),
            "annotations": metadata.service_account_annotations(spec, target),
            "image_pull_secrets": sorted(names),
        }))
    return docs, extra


def _values_config_map(ctx: RenderContext, target: NamespaceTarget, values: str) -> Document:
    """The namespace's Helm values file, exactly, in a ConfigMap (`values.yaml`) for a Flux `valuesFrom`."""
    assert target.helm_values.config_map is not None
    meta: dict[str, Any] = {"name": target.helm_values.config_map, "namespace": target.namespace,
                            "labels": metadata.labels(ctx.resolved.spec)}
    if ctx.resolved.spec.common_annotations:
        meta["annotations"] = dict(sorted(ctx.resolved.spec.common_annotations.items()))
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"values.yaml": values}}
    return _document(ctx, "object.yaml.j2", {"object": config_map})


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


NAMESPACE_SENTINEL = "zz-genpolicy-namespace-sentinel-zz"
_MEMO_TEMPLATES = {"secret.yaml.j2", "externalsecret.yaml.j2", "serviceaccount.yaml.j2", "helm-values.yaml.j2"}


def _registry_path(ctx: RenderContext, secret: PullSecret) -> SpecPath:
    names = [r.name for r in ctx.resolved.spec.registries]
    return ("registries", names.index(secret.registries[0].name))


def _document(ctx: RenderContext, template: str, context: dict[str, Any], *, sensitive: bool = False) -> Document:
    namespace = context.get("namespace")
    if template in _MEMO_TEMPLATES and isinstance(namespace, str) and ctx.templates.is_builtin(template):
        text, obj, shape = _memo_render(ctx, template, context, namespace)
        return Document(template, text, obj, sensitive, shape)
    text = ctx.templates.render(template, context)
    return Document(template, text, parse_document(template, text), sensitive)


def _memo_render(
    ctx: RenderContext, template: str, context: dict[str, Any], namespace: str
) -> tuple[str, Any, str]:
    """Render and parse a built-in per-namespace template once per shape, then substitute the namespace.

    The built-in templates emit `namespace` only as a whole quoted scalar, so rendering with a
    sentinel and substituting it gives exactly the text (and object) of a direct render.
    """
    key = (template, json.dumps({**context, "namespace": None}, sort_keys=True, default=str))
    cached = ctx.memo.get(key)
    if cached is None:
        text = ctx.templates.render(template, {**context, "namespace": NAMESPACE_SENTINEL})
        cached = (text, json.dumps(parse_document(template, text), default=str))
        ctx.memo[key] = cached
    text, obj_json = cached
    # Namespaces are DNS labels: substituting in the JSON text needs no escaping.
    obj = json.loads(obj_json.replace(NAMESPACE_SENTINEL, namespace))
    return text.replace(NAMESPACE_SENTINEL, namespace), obj, obj_json


def parse_document(template: str, text: str) -> Any:
    """Parse a rendered document; a template that emits broken YAML is reported by name and line."""
    try:
        # parsed as written to disk: every document ends with a newline (a final `|` block keeps it)
        return yaml.load(text if text.endswith("\n") else text + "\n", Loader=_YamlLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 0
        raise OutputValidationError("template produced invalid YAML", [Problem(
            template, line, 1 if line else 0, "", f"rendered text is not valid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise OutputValidationError("template produced invalid YAML", [
            Problem(template, message=f"rendered text is not valid YAML: {type(exc).__name__}")]) from None
