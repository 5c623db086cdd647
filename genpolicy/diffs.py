"""Unified diffs of a write plan, with Secret data redacted (`render --diff`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol


class _Content(Protocol):
    @property
    def content(self) -> bytes: ...


class Changes(Protocol):
    """What a diff needs of a write plan (genpolicy.writer.Plan), without importing the writer."""

    @property
    def create(self) -> Mapping[str, _Content]: ...
    @property
    def update(self) -> Mapping[str, _Content]: ...
    @property
    def delete(self) -> Sequence[str]: ...
    @property
    def old(self) -> Mapping[str, bytes]: ...


_DATA_BLOCK = re.compile(r"^(\s*)(data|stringData|encryptedData):\s*$")


def redact_secret_data(text: str) -> str:
    """Replace values inside `data:`/`stringData:` blocks so diffs never show credentials."""
    out: list[str] = []
    block_indent: int | None = None
    for line in text.splitlines(keepends=True):
        indent = len(line) - len(line.lstrip())
        if block_indent is not None and line.strip() and indent > block_indent:
            key, sep, _ = line.partition(":")
            out.append(f"{key}{sep} <redacted>\n" if sep else line)
            continue
        block_indent = None
        match = _DATA_BLOCK.match(line)
        if match:
            block_indent = len(match.group(1))
        out.append(line)
    return "".join(out)


def unified_diff(result: Changes) -> str:
    """A unified diff of every change, with Secret data redacted on both sides."""
    import difflib  # only a render that prints a diff needs it

    chunks: list[str] = []
    changes = [(rel, b"", item.content) for rel, item in result.create.items()]
    changes += [(rel, result.old[rel], item.content) for rel, item in result.update.items()]
    changes += [(rel, result.old[rel], b"") for rel in result.delete]
    for rel, old, new in sorted(changes):
        before = redact_secret_data(old.decode("utf-8", "replace")).splitlines(keepends=True)
        after = redact_secret_data(new.decode("utf-8", "replace")).splitlines(keepends=True)
        chunks.extend(difflib.unified_diff(before, after, f"a/{rel}", f"b/{rel}"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)

