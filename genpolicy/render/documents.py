"""In-memory output: rendered YAML documents and the files that hold them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SpecPath = tuple[str | int, ...]


@dataclass
class Document:
    """One rendered Kubernetes object (or values file), its text and its parsed form."""

    template: str
    text: str = field(repr=False)  # may hold credentials in clear (plain backend): never printed
    obj: Any = field(default=None, repr=False)
    sensitive: bool = False  # holds credential material in clear (plain backend)
    shape: str | None = field(default=None, repr=False)  # same shape: same object up to the namespace (validated once)
    origins: dict[str, SpecPath] = field(default_factory=dict)  # object key -> the spec path its value came from

    def describe(self) -> str:
        if isinstance(self.obj, dict):
            meta = self.obj.get("metadata") or {}
            ns = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
            return f"{self.obj.get('kind', '?')} {ns}{meta.get('name', '?')}"
        return self.template


class MemoDocument(Document):
    """A document rendered once per shape: its object is the shape's JSON with the namespace substituted,
    parsed only if something asks for it (validation reuses the shape's outcome; most never do)."""

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


@dataclass(frozen=True)
class ShapedDocuments:
    """The documents of a file rendered from a shape (genpolicy.render.shapes), for validation only."""

    namespace: str
    documents: tuple[tuple[str, str, bool], ...] = field(repr=False)  # (template, shape JSON, sensitive)


@dataclass
class OutputFile:
    """A file of the bundle: a header plus one or more documents."""

    path: str  # relative to the output root, POSIX separators
    header: str
    documents: list[Document] = field(default_factory=list, repr=False)
    is_manifest: bool = True  # Kubernetes objects (validated) vs. other files (Helm values)
    cluster: str = ""
    raw: bytes | None = field(default=None, repr=False)  # content rendered elsewhere (a worker, a shape)
    raw_plain: int = 0  # with `raw`: how many plaintext Secrets it holds
    raw_sensitive: bool = False
    shaped: ShapedDocuments | None = None  # with `raw`: its documents by shape (validated once per shape)

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
