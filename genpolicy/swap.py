"""The whole-tree strategy of `writer.apply`: build the new tree beside the old one, swap them in one call.

Linux `renameat2(RENAME_EXCHANGE)` swaps two directories atomically, so a crash at any point
leaves the old or the new tree. The new tree hard-links every file that stays (unchanged and
foreign files alike), writes the changed ones and the owned-files record, and is then exchanged
with the live folder; what was live is removed afterwards. Leftover trees of a crashed render sit
beside the output under `.<name>.genpolicy-swap-*` and are removed by the next run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
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
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@functools.cache
def _libc() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


@functools.cache
def exchange_supported() -> bool:
    return sys.platform == "linux" and hasattr(_libc(), "renameat2")


def exchange(a: Path, b: Path) -> None:
    """Atomically swap two directories."""
    if _libc().renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def clean_leftovers(root: Path) -> None:
    """Remove trees a crashed render left beside the output (they are never the live output)."""
    root = Path(os.path.realpath(root))
    for leftover in root.parent.glob(f".{root.name}{SWAP_MARK}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def apply_by_swap(root: Path, writes: Mapping[str, tuple[bytes, int]], skip: set[str], deletes: list[str]) -> None:
    """The new tree: the old one's entries (hard links) except `skip`, plus `writes` (content, mode); swapped in.

    `deletes` (already in `skip`) only matter for their now-empty folders. Raises OSError; the
    live folder is then untouched.
    """
    real = Path(os.path.realpath(root))  # a symlinked output root stays a symlink: swap its target
    staging = Path(tempfile.mkdtemp(prefix=f".{real.name}{SWAP_MARK}", dir=real.parent))
    try:
        linked = _build_tree(real, staging, writes, skip, deletes)
        exchange(staging, real)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        _keep_late_entries(os.fspath(staging), os.fspath(real), linked, skip | set(writes))
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # now holds the old tree


def _keep_late_entries(old: str, new: str, linked: Mapping[str, int], ours: set[str]) -> None:
    """What another program did to the live folder while the new tree was built, carried over to it.

    The lock keeps other renders out, not editors or checkouts: an entry that appeared, or was
    replaced (another inode), is moved into the new tree; one removed is removed from it. What
    cannot be moved (a folder now stands there) stays in the old tree, which is then removed.
    """
    seen: set[str] = set()
    for folder, dirs, names in os.walk(old):
        rel_dir = os.path.relpath(folder, old)
        for name in [*names, *(d for d in dirs if os.path.islink(os.path.join(folder, d)))]:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            seen.add(rel)
            path = os.path.join(folder, name)
            if rel in ours or linked.get(rel) == os.lstat(path).st_ino:
                continue
            with contextlib.suppress(OSError):  # best effort: the new tree is live already (never an error)
                target = os.path.join(new, rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.replace(path, target)
    for rel in set(linked) - seen:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(new, rel))


def _build_tree(root: Path, staging: Path, writes: Mapping[str, tuple[bytes, int]], skip: set[str],
                deletes: list[str]) -> dict[str, int]:
    """The new tree in `staging`; returns the entries linked from the old one with their inodes."""
    os.chmod(staging, stat.S_IMODE(os.stat(root).st_mode))
    base, target = os.fspath(root), os.fspath(staging)
    folders, linked = {""}, {}
    for folder, dirs, names in os.walk(base):
        rel_dir = os.path.relpath(folder, base)
        rel_dir = "" if rel_dir == "." else rel_dir
        for name in dirs:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if _copy_folder(os.path.join(folder, name), os.path.join(target, rel_dir, name)):
                linked[rel] = os.lstat(os.path.join(folder, name)).st_ino  # a symlinked folder, copied as a link
            folders.add(rel)
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel not in skip and rel not in writes:
                linked[rel] = _link(os.path.join(folder, name), os.path.join(target, rel))
    for rel, (content, mode) in writes.items():
        _ensure_folder(target, rel.rpartition("/")[0], folders)
        write_new(os.path.join(target, rel), content, mode)
    for rel in deletes:
        journal.remove_empty_parents(staging, rel)
    return linked


def _copy_folder(source: str, target: str) -> bool:
    """A folder of the old tree in the new one (True when it is a symlink, recreated as one)."""
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
        return True
    os.mkdir(target)
    os.chmod(target, stat.S_IMODE(os.stat(source).st_mode))  # keep the folder's mode
    return False


def _link(source: str, target: str) -> int:
    """The old tree's entry in the new one (a hard link, or the same symlink); returns its inode."""
    info = os.lstat(source)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(source), target)
    else:
        os.link(source, target)
    return info.st_ino


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
