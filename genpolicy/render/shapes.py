"""Namespace files rendered once per shape: the files of namespaces that differ only by name.

Every namespace of a static group on a cluster gets the same files up to its name. The first
namespace of each shape is rendered with a sentinel name (`NAMESPACE_SENTINEL`) through the very
functions a direct render uses; the others get those files with the sentinel replaced, without
building template contexts again. This is exact when every document came from a built-in
per-namespace template (a `MemoDocument`, which emits the namespace only as a whole quoted
scalar: the same substitution the document memo of genpolicy.render.context already relies on)
and the backend's output does not depend on the namespace otherwise (`namespace_independent`:
not so for sealing and SOPS, which encrypt for one namespace and reuse what is on disk). Any
other shape, or one whose sentinel render fails (its errors would name the sentinel), is
rendered directly for each namespace.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from genpolicy.errors import GenpolicyError
from genpolicy.record import Frozen, set_field
from genpolicy.render.backends import backend_named
from genpolicy.render.context import NAMESPACE_SENTINEL, Bundle, memo_safe
from genpolicy.render.documents import MemoDocument, OutputFile, ShapedDocuments
from genpolicy.render.pullsecrets import pull_secrets
from genpolicy.specfile import NamespaceTarget
from genpolicy.specfile.checks import backend_for
from genpolicy.specfile.model import Spec

Direct = Callable[[NamespaceTarget, Bundle], list[str]]  # renders a namespace's files; returns kustomization entries
_FIELDS = operator.attrgetter(*(name for name in NamespaceTarget.field_names if name != "namespace"))
_SENTINEL = NAMESPACE_SENTINEL.encode()
_PLAIN = (str, int, float, bool, type(None))


class _FileShape(Frozen):
    __slots__ = ("path", "content", "header", "is_manifest", "cluster", "documents", "plaintext")
    _hidden = frozenset({"content", "documents"})
    path: str  # with the sentinel for the namespace
    content: bytes  # the file's bytes, sentinel included (credentials: never printed)
    header: str
    is_manifest: bool
    cluster: str
    documents: tuple[tuple[str, str, bool], ...]  # (template, shape, sensitive)
    plaintext: int  # documents holding credentials in clear

    def __init__(self, path: str, content: bytes, header: str, is_manifest: bool, cluster: str,
                 documents: tuple[tuple[str, str, bool], ...], plaintext: int) -> None:
        set_field(self, "path", path)
        set_field(self, "content", content)
        set_field(self, "header", header)
        set_field(self, "is_manifest", is_manifest)
        set_field(self, "cluster", cluster)
        set_field(self, "documents", documents)
        set_field(self, "plaintext", plaintext)


class Shape(Frozen):
    __slots__ = ("files", "entries")
    files: tuple[_FileShape, ...]
    entries: tuple[str, ...]  # kustomization entries, sentinel included

    def __init__(self, files: tuple[_FileShape, ...], entries: tuple[str, ...]) -> None:
        set_field(self, "files", files)
        set_field(self, "entries", entries)

    def emit(self, namespace: str, bundle: Bundle) -> list[str]:
        name = namespace.encode()
        for file in self.files:
            bundle.add(OutputFile(file.path.replace(NAMESPACE_SENTINEL, namespace), file.header, [],
                                  file.is_manifest, file.cluster, raw=file.content.replace(_SENTINEL, name),
                                  raw_plain=file.plaintext, raw_sensitive=file.plaintext > 0,
                                  shaped=ShapedDocuments(namespace, file.documents)))
        return [entry.replace(NAMESPACE_SENTINEL, namespace) for entry in self.entries]


def shape_key(target: NamespaceTarget) -> tuple[object, ...]:
    """Everything of a target but its name. Plain values as they are, anything else (models, tuples) by
    identity: a group's namespaces share its settings objects, and the targets keep them alive for the
    whole render, so equal identities mean equal values (another equal object only costs a render)."""
    return tuple(v if type(v) in _PLAIN else ("id", id(v)) for v in _FIELDS(target))


class NamespaceShapes:
    """The shapes learnt so far in one render (a worker process has its own)."""

    def __init__(self, spec: Spec, spec_text: str) -> None:
        self.spec = spec
        self.allowed = NAMESPACE_SENTINEL not in spec_text  # a value that is the sentinel would be substituted
        self._shapes: dict[tuple[object, ...], Shape | None] = {}

    def render(self, target: NamespaceTarget, bundle: Bundle, direct: Direct) -> list[str]:
        if not self.allowed or not memo_safe(target.namespace):
            return direct(target, bundle)
        key = shape_key(target)
        if key not in self._shapes:
            self._shapes[key] = self._learn(target, direct) if self._independent(target) else None
        shape = self._shapes[key]
        return direct(target, bundle) if shape is None else shape.emit(target.namespace, bundle)

    def _independent(self, target: NamespaceTarget) -> bool:
        return all(backend_named(backend_for(self.spec, target.cluster, s.registries[0])).namespace_independent
                   for s in pull_secrets(target))

    @staticmethod
    def _learn(target: NamespaceTarget, direct: Direct) -> Shape | None:
        scratch = Bundle()
        try:
            entries = direct(target.replace(namespace=NAMESPACE_SENTINEL), scratch)
        except GenpolicyError:
            return None  # the direct render reports it, naming the real namespace
        files = [_file_shape(f) for f in scratch.files.values()]
        if any(f is None for f in files) or not all(NAMESPACE_SENTINEL in e for e in entries):
            return None
        return Shape(tuple(f for f in files if f is not None), tuple(entries))


def _file_shape(file: OutputFile) -> _FileShape | None:
    if (file.raw is not None or NAMESPACE_SENTINEL not in file.path or NAMESPACE_SENTINEL in file.header
            or not all(type(d) is MemoDocument and d.shape is not None for d in file.documents)):
        return None
    docs = tuple((d.template, d.shape or "", d.sensitive) for d in file.documents)
    return _FileShape(file.path, file.content(), file.header, file.is_manifest, file.cluster, docs,
                      file.plaintext_secrets())
