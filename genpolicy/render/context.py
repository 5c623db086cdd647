"""What every renderer shares: the bundle, the render context, one template rendered into a parsed Document."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard

import yaml

from genpolicy.errors import OutputValidationError, Problem
from genpolicy.record import Record
from genpolicy.render import encrypted
from genpolicy.render.documents import Document, MemoDocument, OutputFile, SpecPath
from genpolicy.render.pullsecrets import PullSecret
from genpolicy.secrets import Credential
from genpolicy.specfile import Resolved
from genpolicy.specfile.model import Cluster
from genpolicy.templating import Templates, is_plain

_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Bundle(Record):
    """Everything a render produces, keyed by path relative to the output root."""

    __slots__ = ("files", "clusters")
    files: dict[str, OutputFile]
    clusters: dict[str, str]  # cluster name -> folder

    def __init__(self, files: dict[str, OutputFile] | None = None, clusters: dict[str, str] | None = None) -> None:
        self.files = {} if files is None else files
        self.clusters = {} if clusters is None else clusters

    def add(self, file: OutputFile) -> None:
        self.files[file.path] = file

    def documents(self) -> Iterator[tuple[OutputFile, Document]]:
        for file in self.files.values():
            for doc in file.documents:
                yield file, doc


class RenderContext(Record):
    __slots__ = ("resolved", "templates", "credentials", "spec_name", "progress", "encryption", "memo", "on_files")
    _hidden = frozenset({"credentials", "memo"})  # the memo holds rendered Secrets: never printed
    resolved: Resolved
    templates: Templates
    credentials: dict[str, Credential]
    spec_name: str
    progress: Callable[[int], None] | None
    encryption: encrypted.EncryptionContext | None
    memo: dict[tuple[str, str], tuple[str, str]]
    on_files: Callable[[list[OutputFile]], None] | None  # e.g. validate, then free parsed objects

    def __init__(self, resolved: Resolved, templates: Templates, credentials: dict[str, Credential], spec_name: str,
                 progress: Callable[[int], None] | None = None, encryption: encrypted.EncryptionContext | None = None,
                 memo: dict[tuple[str, str], tuple[str, str]] | None = None,
                 on_files: Callable[[list[OutputFile]], None] | None = None) -> None:
        self.resolved = resolved
        self.templates = templates
        self.credentials = credentials
        self.spec_name = spec_name
        self.progress = progress
        self.encryption = encryption
        self.memo = {} if memo is None else memo
        self.on_files = on_files


def _add_kustomization(
    ctx: RenderContext, bundle: Bundle, cluster: Cluster, folder: str, resources: list[str], header: str
) -> None:
    kustomization = OutputFile(f"{folder}/kustomization.yaml", header, is_manifest=False, cluster=cluster.name)
    kustomization.documents = [_document(ctx, "kustomization.yaml.j2", {"resources": resources})]
    bundle.add(kustomization)


NAMESPACE_SENTINEL = "zz-genpolicy-namespace-sentinel-zz"
_MEMO_TEMPLATES = {"secret.yaml.j2", "externalsecret.yaml.j2", "serviceaccount.yaml.j2", "helm-values.yaml.j2"}
# Built-in templates that are exactly `{{ object | to_yaml }}` (tests/test_render_data.py checks): their text
# reads back as the object itself, so a plain-data object is not parsed back (a quarter of a sealed render)
DATA_TEMPLATES = frozenset({"object.yaml.j2", "sealedsecret.yaml.j2"})


def _registry_path(ctx: RenderContext, secret: PullSecret) -> SpecPath:
    names = [r.name for r in ctx.resolved.spec.registries]
    return ("registries", names.index(secret.registries[0].name))


def _document(ctx: RenderContext, template: str, context: dict[str, Any], *, sensitive: bool = False) -> Document:
    namespace = context.get("namespace")
    if template in _MEMO_TEMPLATES and memo_safe(namespace) and ctx.templates.is_builtin(template):
        key = (template, repr({**context, "namespace": None}))
        if NAMESPACE_SENTINEL not in key[1]:  # a value that is the sentinel would be substituted too
            text, shape = _memo_render(ctx, key, context)
            return MemoDocument(template, text.replace(NAMESPACE_SENTINEL, namespace), shape, NAMESPACE_SENTINEL,
                                namespace, sensitive)
    text = ctx.templates.render(template, context)
    if template in DATA_TEMPLATES and plain_data(context.get("object")) and ctx.templates.is_builtin(template):
        return Document(template, text, context["object"], sensitive)
    return Document(template, text, parse_document(template, text), sensitive)


def plain_data(value: object, depth: int = 0) -> bool:
    """Whether `to_yaml` writes `value` so that YAML reads back an equal object: mappings with string keys,
    lists, strings, ints, bools and None (the round trip tests/test_templating.py proves with hypothesis).
    Floats (`1e+20` reads back as a string), tuples, other keys and types, keys longer than 256 characters
    (YAML's limit for a simple key is 1,024) and lone surrogates are parsed back instead."""
    kind = type(value)
    if kind is str and isinstance(value, str):
        return value.isascii() or _utf8(value)
    if kind is int or kind is bool or value is None:
        return True
    if depth > 64:
        return False
    if kind is dict and isinstance(value, dict):
        return all(type(k) is str and len(k) <= 256 and (k.isascii() or _utf8(k)) and plain_data(v, depth + 1)
                   for k, v in value.items())
    if kind is list and isinstance(value, list):
        return all(plain_data(v, depth + 1) for v in value)
    return False


def _utf8(text: str) -> bool:
    """Not a lone surrogate (YAML cannot carry one: such text is parsed back, and refused)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def memo_safe(namespace: object) -> TypeGuard[str]:
    """Whether a namespace may stand in for the sentinel by substitution: a name written plain, as the sentinel
    is (`123`, `null` or `yes` are written quoted, so documents for them are rendered directly)."""
    return isinstance(namespace, str) and is_plain(namespace)


def _memo_render(ctx: RenderContext, key: tuple[str, str], context: dict[str, Any]) -> tuple[str, str]:
    """Render and parse a built-in per-namespace template once per shape, with the sentinel for the namespace.

    The built-in templates emit `namespace` only as a whole scalar, written plain for the sentinel and
    for every name `memo_safe` accepts, so substituting the sentinel gives exactly the text (and object)
    of a direct render. The key is the repr of the other plain values (str, int, bool, None, dicts,
    lists): equal only for equal values (True and 1 differ); another key order only costs a second render.
    """
    cached = ctx.memo.get(key)
    if cached is None:
        template = key[0]
        text = ctx.templates.render(template, {**context, "namespace": NAMESPACE_SENTINEL})
        cached = (text, json.dumps(parse_document(template, text), default=str))
        ctx.memo[key] = cached
    return cached  # (text, the object's JSON: MemoDocument parses it when asked)


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
