"""Reading import inputs: manifests (multi-document YAML or JSON, `kind: List` as kubectl writes it).

Secret bodies are read only for their registry keys; every value is registered with the redactor
first (genpolicy.audit.live does the decoding), so no error or message can show one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genpolicy.audit.live import pull_entries, register_secret
from genpolicy.audit.shapes import IMPORT_SHAPES, shape_problem
from genpolicy.errors import Problem, UsageError
from genpolicy.inputs import MAX_MANIFEST_BYTES, read_text, yaml_documents
from genpolicy.registry import InvalidDockerConfig, InvalidKey, parse_key


@dataclass(frozen=True)
class Manifest:
    obj: dict[str, Any] = field(repr=False)
    file: str
    line: int

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or "")

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace") or "")

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.obj.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def annotations(self) -> dict[str, str]:
        value = self.meta.get("annotations")
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


def read_manifests(paths: list[Path]) -> list[Manifest]:
    found: list[Manifest] = []
    for path in paths:
        text = read_text(path, what="import input", limit=MAX_MANIFEST_BYTES)
        try:
            documents = list(yaml_documents(text, str(path)))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
            reason = f"not YAML or JSON: {getattr(exc, 'problem', exc)}"
            raise UsageError("invalid import input", [Problem(str(path), line, col, "", reason)]) from None
        for line, doc in documents:
            found += _flatten(doc, str(path), line)
    for item in found:
        problem = shape_problem(item.obj, IMPORT_SHAPES)
        if problem is not None:
            raise UsageError("invalid import input", [Problem(item.file, item.line, 1, item.ref, problem)])
        if item.kind == "Secret":
            register_secret(item.obj)
    return found


def _flatten(doc: Any, file: str, line: int) -> list[Manifest]:
    if not isinstance(doc, dict):
        return []
    if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
        return [Manifest(item, file, line) for item in doc["items"] if isinstance(item, dict)]
    return [Manifest(doc, file, line)]


def registry_keys(secret: dict[str, Any]) -> list[str]:
    """The kubelet keys a pull Secret holds (sorted); [] when it is not a readable pull Secret."""
    try:
        entries = pull_entries(secret) or {}
    except InvalidDockerConfig:
        return []
    keys = set()
    for loc in entries:
        try:
            keys.add(parse_key(loc))
        except InvalidKey:
            continue
    return sorted(keys)
