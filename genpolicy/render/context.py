"""What every renderer shares: the bundle, the render context, one template rendered into a parsed Document."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from genpolicy.errors import OutputValidationError, Problem
from genpolicy.render import encrypted
from genpolicy.render.documents import Document, MemoDocument, OutputFile, SpecPath
from genpolicy.render.pullsecrets import PullSecret
from genpolicy.secrets import Credential
from genpolicy.specfile import Resolved
from genpolicy.specfile.model import Cluster
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


def _add_kustomization(
    ctx: RenderContext, bundle: Bundle, cluster: Cluster, folder: str, resources: list[str], header: str
) -> None:
    kustomization = OutputFile(f"{folder}/kustomization.yaml", header, is_manifest=False, cluster=cluster.name)
    kustomization.documents = [_document(ctx, "kustomization.yaml.j2", {"resources": resources})]
    bundle.add(kustomization)


NAMESPACE_SENTINEL = "zz-genpolicy-namespace-sentinel-zz"
_MEMO_TEMPLATES = {"secret.yaml.j2", "externalsecret.yaml.j2", "serviceaccount.yaml.j2", "helm-values.yaml.j2"}


def _registry_path(ctx: RenderContext, secret: PullSecret) -> SpecPath:
    names = [r.name for r in ctx.resolved.spec.registries]
    return ("registries", names.index(secret.registries[0].name))


def _document(ctx: RenderContext, template: str, context: dict[str, Any], *, sensitive: bool = False) -> Document:
    namespace = context.get("namespace")
    if template in _MEMO_TEMPLATES and isinstance(namespace, str) and ctx.templates.is_builtin(template):
        text, shape = _memo_render(ctx, template, context, namespace)
        return MemoDocument(template, text, shape, NAMESPACE_SENTINEL, namespace, sensitive)
    text = ctx.templates.render(template, context)
    return Document(template, text, parse_document(template, text), sensitive)


def _memo_render(
    ctx: RenderContext, template: str, context: dict[str, Any], namespace: str
) -> tuple[str, str]:
    """Render and parse a built-in per-namespace template once per shape, then substitute the namespace.

    The built-in templates emit `namespace` only as a whole quoted scalar, so rendering with a
    sentinel and substituting it gives exactly the text (and object) of a direct render.
    """
    # repr of the plain values (str, int, bool, None, dicts, lists) a context holds is equal only for equal
    # values (True and 1 differ); another key order only costs a second render. Half json.dumps' cost.
    key = (template, repr({**context, "namespace": None}))
    cached = ctx.memo.get(key)
    if cached is None:
        text = ctx.templates.render(template, {**context, "namespace": NAMESPACE_SENTINEL})
        cached = (text, json.dumps(parse_document(template, text), default=str))
        ctx.memo[key] = cached
    text, obj_json = cached
    return text.replace(NAMESPACE_SENTINEL, namespace), obj_json  # the object: MemoDocument, when asked


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
