"""The render pipeline: resolved spec -> in-memory bundle of files (nothing touches the disk)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from genpolicy.errors import OutputValidationError, Problem
from genpolicy.render import metadata
from genpolicy.render.documents import Document, OutputFile
from genpolicy.render.pullsecrets import PullSecretRenderer, pull_secrets
from genpolicy.secrets import Credential
from genpolicy.spec import NamespaceTarget, Resolved
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


def render_bundle(ctx: RenderContext) -> Bundle:
    """Render every cluster's folder; parse each document so it can be validated."""
    bundle = Bundle()
    secrets = PullSecretRenderer(ctx.resolved, ctx.credentials)
    header = ctx.templates.render("header.yaml.j2", {"spec_name": ctx.spec_name})
    for cluster in ctx.resolved.spec.clusters:
        folder = posixpath.normpath(cluster.output_dir or cluster.name)
        bundle.clusters[cluster.name] = folder
        _render_cluster(ctx, bundle, cluster, folder, secrets, header)
    return bundle


def _render_cluster(
    ctx: RenderContext, bundle: Bundle, cluster: Cluster, folder: str, secrets: PullSecretRenderer, header: str
) -> None:
    resources: list[str] = []
    targets = sorted(ctx.resolved.targets_for(cluster.name), key=lambda t: t.namespace)
    for target in targets:
        manifest = OutputFile(f"{folder}/namespaces/{target.namespace}.yaml", header, cluster=cluster.name)
        manifest.documents = _namespace_documents(ctx, target, secrets)
        bundle.add(manifest)
        resources.append(f"namespaces/{target.namespace}.yaml")
        if target.helm_values.enabled:
            values_path = f"{folder}/helm-values/{target.namespace}.yaml"
            values = OutputFile(values_path, header, is_manifest=False, cluster=cluster.name)
            values.documents = [_helm_values(ctx, target)]
            bundle.add(values)
        if ctx.progress:
            ctx.progress(1)
    kustomization = OutputFile(f"{folder}/kustomization.yaml", header, is_manifest=False, cluster=cluster.name)
    kustomization.documents = [_document(ctx, "kustomization.yaml.j2", {"resources": resources})]
    bundle.add(kustomization)


def _namespace_documents(ctx: RenderContext, target: NamespaceTarget, secrets: PullSecretRenderer) -> list[Document]:
    docs: list[Document] = []
    names: list[str] = []
    for secret in pull_secrets(target):
        template, context, sensitive = secrets.context(target, secret)
        docs.append(_document(ctx, template, context, sensitive=sensitive))
        names.append(secret.name)
    spec = ctx.resolved.spec
    for account in sorted(target.service_accounts):
        docs.append(_document(ctx, "serviceaccount.yaml.j2", {
            "name": account,
            "namespace": target.namespace,
            "labels": metadata.labels(spec),
            "annotations": metadata.service_account_annotations(spec, target),
            "image_pull_secrets": sorted(names),
        }))
    return docs


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


def _document(ctx: RenderContext, template: str, context: dict[str, Any], *, sensitive: bool = False) -> Document:
    text = ctx.templates.render(template, context)
    return Document(template, text, parse_document(template, text), sensitive)


def parse_document(template: str, text: str) -> Any:
    """Parse a rendered document; a template that emits broken YAML is reported by name and line."""
    try:
        return yaml.load(text, Loader=_YamlLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 0
        raise OutputValidationError("template produced invalid YAML", [Problem(
            template, line, 1 if line else 0, "", f"rendered text is not valid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise OutputValidationError("template produced invalid YAML", [
            Problem(template, message=f"rendered text is not valid YAML: {type(exc).__name__}")]) from None
