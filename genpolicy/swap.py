"""The whole-tree strategy of `writer.apply`: build the new tree beside the old one, swap them in one call.

Linux `renameat2(RENAME_EXCHANGE)` swaps two directories atomically, so a crash at any point
leaves the old or the new tree. The new tree hard-links every file that stays (unchanged and
foreign files alike), writes the changed ones and the owned-files record, and is then exchanged
with the live folder; what was live is removed afterwards. Leftover trees of a crashed render sit
beside the output under `.<name>.genpolicy-swap-*` and are removed by the next run.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genpolicy import journal

SWAP_MARK = ".genpolicy-swap-"
KEPT_MARK = ".genpolicy-kept-"  # an old tree another program wrote into at the very moment of the swap: kept
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@functools.cache
def _libc() -> Any:
    """The C library the interpreter runs on (its symbols, through the program's own namespace): imported
    when first needed, and not through `ctypes.util.find_library`, which loads subprocess and more."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


@functools.cache
def exchange_supported() -> bool:
    return sys.platform == "linux" and hasattr(_libc(), "renameat2")


def exchange(a: Path, b: Path) -> None:
    """Atomically swap two directories."""
    if _libc().renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def clean_leftovers(root: Path) -> None:
    """Remove trees a crashed render left beside the output (they are never the live output)."""
    root = Path(os.path.realpath(root))
    for leftover in root.parent.glob(f".{root.name}{SWAP_MARK}*"):
        shutil.rmtree(leftover, ignore_errors=True)


class TreeChanged(OSError):
    """The live folder changed while the new tree was built (another program wrote into it)."""

    def __init__(self) -> None:
        super().__init__(errno.EBUSY, "the output folder changed while the new tree was built (another program?)")


def apply_by_swap(root: Path, writes: Mapping[str, tuple[bytes, int]], skip: set[str],
                  deletes: list[str]) -> Path | None:
    """The new tree: the old one's entries (hard links) except `skip`, plus `writes` (content, mode); swapped in.

    `deletes` (already in `skip`) only matter for their now-empty folders. The live folder is
    listed again just before the exchange: if another program added, replaced or removed an entry
    meanwhile (the lock keeps only other renders out), nothing is swapped (`TreeChanged`), so
    their change is never lost. One that lands between that listing and the exchange is found in
    the old tree afterwards, which is then kept beside the output (`.<name>.genpolicy-kept-*`)
    instead of removed, and returned (for the caller to say so). Raises OSError; the live folder is then
    untouched.
    """
    real = Path(os.path.realpath(root))  # a symlinked output root stays a symlink: swap its target
    staging = Path(tempfile.mkdtemp(prefix=f".{real.name}{SWAP_MARK}", dir=real.parent))
    try:
        before = snapshot(os.fspath(real))
        _build_tree(real, staging, before, writes, skip, deletes)
        if snapshot(os.fspath(real)) != before:
            raise TreeChanged()
        exchange(staging, real)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if snapshot(os.fspath(staging)) != before:  # changed between the last listing and the exchange: keep it all
        kept = staging.with_name(staging.name.replace(SWAP_MARK, KEPT_MARK))
        with contextlib.suppress(OSError):
            os.rename(staging, kept)
            return kept
    shutil.rmtree(staging, ignore_errors=True)  # now holds the old tree
    return None


def snapshot(base: str) -> dict[str, tuple[int, int]]:
    """Every entry under `base`, not following symlinks: relative path -> (kind: 0 other, 1 folder, 2 link; inode)."""
    found: dict[str, tuple[int, int]] = {}
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        with os.scandir(os.path.join(base, rel_dir) if rel_dir else base) as entries:
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                kind = 2 if entry.is_symlink() else 1 if entry.is_dir(follow_symlinks=False) else 0
                found[rel] = (kind, entry.inode())
                if kind == 1:
                    pending.append(rel)
    return found


def _build_tree(root: Path, staging: Path, entries: Mapping[str, tuple[int, int]],
                writes: Mapping[str, tuple[bytes, int]], skip: set[str], deletes: list[str]) -> None:
    os.chmod(staging, stat.S_IMODE(os.stat(root).st_mode))
    base, target = os.fspath(root), os.fspath(staging)
    folders = {""}
    for rel in sorted(entries):  # a folder sorts before everything in it
        kind, source = entries[rel][0], os.path.join(base, rel)
        if kind == 1:
            os.mkdir(os.path.join(target, rel))
            os.chmod(os.path.join(target, rel), stat.S_IMODE(os.stat(source).st_mode))  # keep the folder's mode
            folders.add(rel)
        elif kind == 2:
            os.symlink(os.readlink(source), os.path.join(target, rel))
        elif rel not in skip and rel not in writes:
            os.link(source, os.path.join(target, rel))
    for rel, (content, mode) in writes.items():
        _ensure_folder(target, rel.rpartition("/")[0], folders)
        write_new(f"{target}/{rel}", content, mode)  # rel is relative (checked by the plan): os.path.join's result
    for rel in deletes:
        journal.remove_empty_parents(staging, rel)


def _ensure_folder(target: str, rel_dir: str, folders: set[str]) -> None:
    if rel_dir in folders:
        return
    _ensure_folder(target, rel_dir.rpartition("/")[0], folders)
    os.mkdir(os.path.join(target, rel_dir))
    folders.add(rel_dir)


def write_new(path: str, content: bytes, mode: int) -> None:
    """Create a file that must not exist yet, with its final mode (no buffered file object: fewer calls)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
