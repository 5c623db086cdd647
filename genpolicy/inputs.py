"""Reading user-supplied files safely: regular files only, a size cap, bounded YAML and JSON.

Every command reads its inputs through here, so a FIFO or device never blocks or floods a
read, a huge file is refused before it is read, and YAML alias bombs or deeply nested JSON are
refused before anything walks them. Failures raise the caller's error class (its exit code).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from genpolicy.cachekey import seen
from genpolicy.errors import GenpolicyError, Problem, UsageError
from genpolicy.specfile.loader import MAX_DEPTH, MAX_NODES

MIB = 1024 * 1024
MAX_MANIFEST_BYTES = 64 * MIB  # one validate/coverage/explain input or CRD file
MAX_CREDENTIAL_BYTES = 1 * MIB  # a fromFile password or username (a Secret holds at most 1 MiB)
MAX_CONFIG_BYTES = 4 * MIB  # a docker config.json
MAX_CERTIFICATE_BYTES = 1 * MIB
MAX_DOCUMENT_NODES = 5 * MAX_NODES  # per YAML document, after alias expansion (large CRDs fit)
# ... or one node per byte of the file, whichever is more: without aliases a node takes at least a byte,
# so only alias expansion can exceed it (a `kubectl get pods -A -o yaml` List is one big document)
MAX_DOCUMENT_DEPTH = 2 * MAX_DEPTH
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ErrorType = type[GenpolicyError]
# While set (a render that may feed genpolicy.quick): every path read, with a digest of the bytes read (None when
# it was no regular file it could read, "changed" when two reads differed), so the record it feeds is checked
# against what this render used, not what the files hold by the time it is made.
READ_LOG: dict[str, str | None] | None = None


def _fail(error: ErrorType, path: Path | str, message: str, what: str) -> GenpolicyError:
    return error(f"cannot read {what}", [Problem(str(path), message=message)])


def read_bytes(path: Path, *, what: str, limit: int, error: ErrorType = UsageError) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (opened without blocking on FIFOs)."""
    data = None
    try:
        data = _read_bytes(path, what=what, limit=limit, error=error)
        return data
    finally:
        if READ_LOG is not None:
            _log(os.path.abspath(path), data)


def _log(path: str, data: bytes | None) -> None:
    assert READ_LOG is not None
    digest = None if data is None else quick_digest(data)
    if path in READ_LOG and READ_LOG[path] != digest:
        digest = "changed"
    READ_LOG[path] = digest


def quick_digest(data: bytes) -> str:
    """How READ_LOG names the bytes read: as genpolicy.quick reads a regular file (genpolicy.cachekey.seen)."""
    return seen(b"\1" + data)


def _read_bytes(path: Path, *, what: str, limit: int, error: ErrorType) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _fail(error, path, f"cannot read: {exc.strerror}", what) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _fail(error, path, f"{what} is not a regular file (a folder, FIFO or device); refusing to read it",
                        what)
        if info.st_size > limit:
            raise _fail(error, path, f"{what} is larger than {limit} bytes; refusing to read it", what)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise _fail(error, path, f"cannot read: {exc.strerror}", what) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _fail(error, path, f"{what} is larger than {limit} bytes; refusing to read it", what)
    return data


def read_text(path: Path, *, what: str, limit: int, error: ErrorType = UsageError) -> str:
    raw = read_bytes(path, what=what, limit=limit, error=error)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(error, path, f"{what} is not UTF-8 text (byte {exc.start})", what) from None


def yaml_documents(text: str, filename: str, *, error: ErrorType = UsageError) -> Iterator[tuple[int, Any]]:
    """(first line, object) per non-empty YAML document, refusing alias bombs and deep nesting."""
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_size(node, filename, error, max(MAX_DOCUMENT_NODES, len(text)))
            yield node.start_mark.line + 1, loader.construct_document(node)
    except RecursionError:
        raise _fail(error, filename, f"YAML nested deeper than {MAX_DOCUMENT_DEPTH} levels; refusing to load",
                    "YAML") from None
    finally:
        loader.dispose()


def _check_size(root: yaml.Node, filename: str, error: ErrorType, limit: int = MAX_DOCUMENT_NODES) -> None:
    """Count nodes after alias expansion (memoised: linear in the composed graph) and the depth."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DOCUMENT_DEPTH or id(node) in active:
            line = node.start_mark.line + 1
            raise _fail(error, filename, f"line {line}: recursive alias or nesting deeper than "
                                         f"{MAX_DOCUMENT_DEPTH} levels; refusing to load", "YAML")
        if id(node) in sizes:
            return sizes[id(node)]
        total = 1
        if isinstance(node, yaml.SequenceNode | yaml.MappingNode):
            active.add(id(node))
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
            for child in children:
                total += size(child, depth + 1)
                if total > limit:
                    raise _fail(error, filename, f"a YAML document has more than {limit} nodes after "
                                                 "alias expansion; refusing to load", "YAML")
            active.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root, 0)


def load_json(raw: bytes | str, filename: str, *, error: ErrorType = UsageError) -> Any:
    """json.loads with a nesting limit (ValueError for malformed JSON, as json.loads raises)."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    depth = 0
    in_string = escaped = False
    for char in text:  # the nesting depth, before the recursive parser sees it
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DOCUMENT_DEPTH:
                raise _fail(error, filename, f"JSON nested deeper than {MAX_DOCUMENT_DEPTH} levels; refusing to load",
                            "JSON")
        elif char in "]}":
            depth -= 1
    return json.loads(text)
