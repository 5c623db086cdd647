"""Plan and apply a bundle on disk: owned files only, atomic, idempotent, prunable.

genpolicy records the files it wrote (with their SHA-256) in `.genpolicy-owned.json` at the
output root. A file is only overwritten or deleted when it is recorded there AND its content
is still what genpolicy wrote; anything else is a conflict, never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import difflib
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genpolicy.errors import Problem, WriteError

OWNED_FILE = ".genpolicy-owned.json"
OWNED_FORMAT = 1


@dataclass(frozen=True)
class Planned:
    """The bytes genpolicy wants at a path, and whether they hold plaintext credentials."""

    content: bytes
    sensitive: bool = False


@dataclass
class Plan:
    root: Path
    create: dict[str, Planned] = field(default_factory=dict)
    update: dict[str, Planned] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    conflicts: list[Problem] = field(default_factory=list)
    old: dict[str, bytes] = field(default_factory=dict)  # current bytes of updated/deleted files
    owned: dict[str, str] = field(default_factory=dict)  # the new owned-files record

    @property
    def changed(self) -> bool:
        return bool(self.create or self.update or self.delete)

    def summary(self) -> str:
        return (f"{len(self.create)} created, {len(self.update)} updated, {len(self.delete)} deleted, "
                f"{len(self.unchanged)} unchanged")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_owned(root: Path) -> dict[str, str]:
    """The owned-files record; a missing or unreadable record means "nothing owned"."""
    try:
        record = json.loads((root / OWNED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str) and _safe_relpath(k)}


def _safe_relpath(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and ".." not in parts and "" not in parts and "\\" not in rel


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return b"\0directory"


def _outside(root: Path, rel: str, safe_dirs: set[str] | None = None) -> bool:
    """True when a path component is a symlink (so the path could lead outside root)."""
    parts = rel.split("/")
    for end in range(1, len(parts)):
        folder = "/".join(parts[:end])
        if safe_dirs is not None and folder in safe_dirs:
            continue
        if os.path.islink(os.path.join(root, folder)):
            return True
        if safe_dirs is not None:
            safe_dirs.add(folder)
    return os.path.islink(os.path.join(root, rel))


def plan(root: Path, wanted: Mapping[str, Planned]) -> Plan:
    """Compare the wanted files with the disk; nothing is written."""
    result = Plan(root)
    owned = read_owned(root)
    safe_dirs: set[str] = set()
    exists = root.exists()
    for rel in sorted(wanted):
        item = wanted[rel]
        if not _safe_relpath(rel) or (exists and _outside(root, rel, safe_dirs)):
            result.conflicts.append(Problem(str(root / rel), message="refusing to write through a symlink or "
                                                                     "outside the output folder"))
            continue
        current = _read(root / rel)
        digest = sha256(item.content)
        result.owned[rel] = digest
        if current is None:
            result.create[rel] = item
        elif current == item.content:
            result.unchanged.append(rel)
        elif owned.get(rel) == sha256(current):
            result.update[rel] = item
            result.old[rel] = current
        else:
            why = "was changed by hand since genpolicy wrote it" if rel in owned else "was not written by genpolicy"
            result.conflicts.append(Problem(str(root / rel), message=f"{why}; refusing to overwrite "
                                                                     "(move it away or restore it)"))
    for rel in sorted(set(owned) - set(wanted)):
        current = _read(root / rel)
        if current is None:
            continue
        if _outside(root, rel) or owned[rel] != sha256(current):
            continue  # changed by hand (or not ours): never deleted, no longer recorded
        result.delete.append(rel)
        result.old[rel] = current
    return result


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """An exclusive lock on the output folder, so two renders never interleave."""
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WriteError("output locked", [Problem(str(root), message="another genpolicy render is writing "
                                                                          "this folder; try again when it ends")]) \
                from None
        yield
    finally:
        os.close(fd)


def apply(result: Plan) -> None:
    """Write the plan so that the output folder is always fully old or fully new.

    Where the OS can swap two directories atomically (Linux renameat2 RENAME_EXCHANGE), the new
    tree is built beside the old one (unchanged and foreign files hard-linked, changed files
    written) and swapped in with one system call: a crash at any point leaves the old or the new
    tree. Elsewhere (or when the folder holds a `.git`), files are staged next to their targets and
    renamed, and a failure restores the old files.
    """
    root = result.root
    if not result.changed and (root / OWNED_FILE).exists():
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(root, exc) from None
    with locked(root):
        _clean_leftovers(root)
        if _exchange_supported() and not (root / ".git").exists():
            _apply_by_swap(result)
        else:
            staged = _stage(result)
            _commit(result, staged)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
SWAP_MARK = ".genpolicy-swap-"


@functools.cache
def _libc() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


@functools.cache
def _exchange_supported() -> bool:
    return sys.platform == "linux" and hasattr(_libc(), "renameat2")


def _exchange(a: Path, b: Path) -> None:
    """Atomically swap two directories."""
    if _libc().renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _clean_leftovers(root: Path) -> None:
    """Remove trees a crashed render left beside the output (they are never the live output)."""
    for leftover in root.parent.glob(f".{root.name}{SWAP_MARK}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _apply_by_swap(result: Plan) -> None:
    root = result.root
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}{SWAP_MARK}", dir=root.parent))
    try:
        _build_tree(result, staging)
        _exchange(staging, root)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _write_error(root, exc) from None
    shutil.rmtree(staging, ignore_errors=True)  # now holds the old tree


def _build_tree(result: Plan, staging: Path) -> None:
    """The new output tree: every file of the old one (hard links) except deletions, plus new contents."""
    os.chmod(staging, stat.S_IMODE(os.stat(result.root).st_mode))
    writes = {**result.create, **result.update}
    skip = set(result.delete) | set(writes) | {OWNED_FILE}
    for folder, dirs, names in os.walk(result.root):
        rel_dir = os.path.relpath(folder, result.root)
        rel_dir = "" if rel_dir == "." else rel_dir
        for name in dirs:
            source = os.path.join(folder, name)
            target = staging / rel_dir / name
            if os.path.islink(source):
                os.symlink(os.readlink(source), target)
            else:
                target.mkdir()
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel in skip:
                continue
            source = os.path.join(folder, name)
            if os.path.islink(source):
                os.symlink(os.readlink(source), staging / rel)
            else:
                os.link(source, staging / rel)
    for rel, item in writes.items():
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if item.sensitive else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(item.content)
    for rel in result.delete:
        _remove_empty_parents(staging, rel)
    _write_owned(staging, result.owned)


def _stage(result: Plan) -> dict[str, str]:
    staged: dict[str, str] = {}
    try:
        for rel, item in {**result.create, **result.update}.items():
            target = result.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".genpolicy-tmp", dir=target.parent)
            staged[rel] = tmp
            with os.fdopen(fd, "wb") as handle:
                handle.write(item.content)
            os.chmod(tmp, 0o600 if item.sensitive else 0o644)
    except OSError as exc:
        _discard(staged.values())
        raise _write_error(result.root / rel, exc) from None
    return staged


def _commit(result: Plan, staged: dict[str, str]) -> None:
    done: list[str] = []
    try:
        for rel, tmp in staged.items():
            os.replace(tmp, result.root / rel)
            done.append(rel)
        for rel in result.delete:
            (result.root / rel).unlink()
            done.append(rel)
            _remove_empty_parents(result.root, rel)
        _write_owned(result.root, result.owned)
    except OSError as exc:
        _rollback(result, done)
        _discard(tmp for rel, tmp in staged.items() if rel not in done)
        raise _write_error(result.root, exc) from None


def _rollback(result: Plan, done: list[str]) -> None:
    for rel in reversed(done):
        path = result.root / rel
        with contextlib.suppress(OSError):
            if rel in result.old:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(result.old[rel])
            else:
                path.unlink()


def _discard(paths: Iterable[str]) -> None:
    for tmp in list(paths):
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _remove_empty_parents(root: Path, rel: str) -> None:
    parent = (root / rel).parent
    while parent != root:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def _write_owned(root: Path, owned: dict[str, str]) -> None:
    record = {"format": OWNED_FORMAT, "generator": "genpolicy", "files": dict(sorted(owned.items()))}
    data = (json.dumps(record, indent=2) + "\n").encode()
    target = root / OWNED_FILE
    if _read(target) == data:
        return
    fd, tmp = tempfile.mkstemp(prefix=".genpolicy-owned.", dir=root)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def _write_error(path: Path, exc: OSError) -> WriteError:
    reason = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or type(exc).__name__)
    return WriteError("cannot write output", [Problem(str(path), message=f"cannot write: {reason}; "
                                                                         "the output folder was left unchanged")])


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


def unified_diff(result: Plan) -> str:
    """A unified diff of every change, with Secret data redacted on both sides."""
    chunks: list[str] = []
    changes = [(rel, b"", item.content) for rel, item in result.create.items()]
    changes += [(rel, result.old[rel], item.content) for rel, item in result.update.items()]
    changes += [(rel, result.old[rel], b"") for rel in result.delete]
    for rel, old, new in sorted(changes):
        before = redact_secret_data(old.decode("utf-8", "replace")).splitlines(keepends=True)
        after = redact_secret_data(new.decode("utf-8", "replace")).splitlines(keepends=True)
        chunks.extend(difflib.unified_diff(before, after, f"a/{rel}", f"b/{rel}"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
