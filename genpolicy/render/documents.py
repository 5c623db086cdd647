"""In-memory output: rendered YAML documents and the files that hold them."""

from __future__ import annotations

import json
from typing import Any

from genpolicy.record import Frozen, Record, set_field

SpecPath = tuple[str | int, ...]


class Document:
    """One rendered Kubernetes object (or values file), its text and its parsed form.

    A plain class, not a record: `MemoDocument` keeps its lazily parsed object in `__dict__` (a record's
    subclass may not have one). Nothing compares documents; the repr leaves out what may hold credentials."""

    __slots__ = ("template", "text", "obj", "sensitive", "shape", "origins")
    template: str
    text: str  # may hold credentials in clear (plain backend): never printed
    obj: Any
    sensitive: bool  # holds credential material in clear (plain backend)
    shape: str | None  # same shape: same object up to the namespace (validated once)
    origins: dict[str, SpecPath]  # object key -> the spec path its value came from

    def __init__(self, template: str, text: str, obj: Any = None, sensitive: bool = False, shape: str | None = None,
                 origins: dict[str, SpecPath] | None = None) -> None:
        self.template = template
        self.text = text
        self.obj = obj
        self.sensitive = sensitive
        self.shape = shape
        self.origins = {} if origins is None else origins

    def __repr__(self) -> str:
        shown = f"template={self.template!r}, sensitive={self.sensitive!r}, origins={self.origins!r}"
        return f"{type(self).__name__}({shown})"

    def describe(self) -> str:
        if isinstance(self.obj, dict):
            meta = self.obj.get("metadata") or {}
            ns = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
            return f"{self.obj.get('kind', '?')} {ns}{meta.get('name', '?')}"
        return self.template


class MemoDocument(Document):
    """A document rendered once per shape: its object is the shape's JSON with the namespace substituted,
    parsed only if something asks for it (validation reuses the shape's outcome; most never do).
    It has a `__dict__` (no `__slots__`): its `obj` property keeps the parsed object there."""

    def __init__(self, template: str, text: str, shape: str, sentinel: str, namespace: str, sensitive: bool) -> None:
        super().__init__(template, text, None, sensitive, shape)
        self._pending: tuple[str, str, str] | None = (shape, sentinel, namespace)

    @property
    def obj(self) -> Any:
        pending = self.__dict__.get("_pending")
        if pending is not None:
            shape, sentinel, namespace = pending
            # namespaces are DNS labels: substituting in the JSON text needs no escaping
            self.__dict__["_obj"] = json.loads(shape.replace(sentinel, namespace))
            self._pending = None
        return self.__dict__.get("_obj")

    @obj.setter
    def obj(self, value: Any) -> None:
        self.__dict__["_obj"] = value
        self._pending = None


class ShapedDocuments(Frozen):
    """The documents of a file rendered from a shape (genpolicy.render.shapes), for validation only."""

    __slots__ = ("namespace", "documents")
    _hidden = frozenset({"documents"})
    namespace: str
    documents: tuple[tuple[str, str, bool], ...]  # (template, shape JSON, sensitive)

    def __init__(self, namespace: str, documents: tuple[tuple[str, str, bool], ...]) -> None:
        set_field(self, "namespace", namespace)
        set_field(self, "documents", documents)


class OutputFile(Record):
    """A file of the bundle: a header plus one or more documents."""

    __slots__ = ("path", "header", "documents", "is_manifest", "cluster", "raw", "raw_plain", "raw_sensitive", "shaped",
                 "digest", "_digest_of")
    _hidden = frozenset({"documents", "raw"})
    path: str  # relative to the output root, POSIX separators
    header: str
    documents: list[Document]
    is_manifest: bool  # Kubernetes objects (validated) vs. other files (Helm values)
    cluster: str
    raw: bytes | None  # content rendered elsewhere (a worker, a shape)
    raw_plain: int  # with `raw`: how many plaintext Secrets it holds
    raw_sensitive: bool
    shaped: ShapedDocuments | None  # with `raw`: its documents by shape (validated once per shape)
    digest: str  # with `raw`: its SHA-256 when the worker that rendered it hashed it (read it by known_digest)

    def __init__(self, path: str, header: str, documents: list[Document] | None = None, is_manifest: bool = True,
                 cluster: str = "", raw: bytes | None = None, raw_plain: int = 0, raw_sensitive: bool = False,
                 shaped: ShapedDocuments | None = None, digest: str = "") -> None:
        self.path = path
        self.header = header
        self.documents = [] if documents is None else documents
        self.is_manifest = is_manifest
        self.cluster = cluster
        self.raw = raw
        self.raw_plain = raw_plain
        self.raw_sensitive = raw_sensitive
        self.shaped = shaped
        self.digest = digest if raw is not None else ""
        self._digest_of = raw  # the bytes `digest` is of: a replaced `raw` has no known digest

    def replace(self, **changes: Any) -> OutputFile:
        """As `Record.replace`; new bytes come without the old bytes' digest."""
        return super().replace(**{**({"digest": ""} if "raw" in changes else {}), **changes})

    def known_digest(self) -> str:
        """The SHA-256 of the file's bytes when already known ("" when not, or when `raw` was replaced since)."""
        return self.digest if self.raw is not None and self.raw is self._digest_of else ""

    @property
    def sensitive(self) -> bool:
        return self.raw_sensitive if self.raw is not None else any(d.sensitive for d in self.documents)

    def plaintext_secrets(self) -> int:
        return self.raw_plain if self.raw is not None else sum(1 for d in self.documents if d.sensitive)

    def freeze(self) -> bytes:
        """The file's bytes, kept in place of its documents (a written render needs nothing else)."""
        if self.raw is None:
            self.raw, self.raw_plain, self.raw_sensitive = self.content(), self.plaintext_secrets(), self.sensitive
            self.documents = []
        self.shaped = None
        return self.raw

    def content(self) -> bytes:
        if self.raw is not None:
            return self.raw
        body = "---\n".join(_ensure_newline(d.text) for d in self.documents)
        return (self.header + body).encode("utf-8")


def _ensure_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
