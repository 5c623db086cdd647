"""What the output folder holds, read with as few system calls as a plan needs.

A plan (genpolicy.writer) must know, for every wanted path, whether something is there, whether
a folder on the way is a symlink, and the current bytes of files that exist. Listing each folder
once (`os.scandir`: names and kinds without a stat per entry) answers the first two; only files
that exist are opened. Each read also keeps the file's identity (`Signature`: inode, size,
modification and change times), so the check made under the lock before writing
(`writer.still_current`) can compare `lstat` results instead of reading everything again. A
change time cannot be set by a user, so an edit always shows, except within one coarse kernel
clock tick: files changed less than `RACY_SECONDS` before the plan are read again (git's
"racily clean" rule).
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Sequence
from typing import NamedTuple

RACY_SECONDS = 3  # coarse file-system clocks (FAT: 2 s); files younger than this are compared by content
DIRECTORY = b"\0directory"  # what a plan sees where a file is wanted and a folder is
SPECIAL = b"\0special file"  # a FIFO, socket or device: never opened (reading a FIFO would block)


class Signature(NamedTuple):
    """A file's identity as `lstat` gives it; equal signatures mean unchanged content (outside the racy window).
    The same six numbers, in this order, as genpolicy.quick_output folds into its digest."""

    inode: int
    device: int
    size: int
    mtime_ns: int
    ctime_ns: int
    mode: int

    @classmethod
    def of(cls, info: os.stat_result) -> Signature:
        return cls(info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_mode)

    def racy(self, since_ns: int) -> bool:
        return racy(self, since_ns)


def racy(signature: Sequence[int], since_ns: int) -> bool:
    """Changed too shortly before `since_ns` (wall clock) for its times to tell a later edit apart."""
    return max(signature[3], signature[4]) >= since_ns - RACY_SECONDS * 1_000_000_000


def now_ns() -> int:
    return time.time_ns()


def lstat_signature(path: str) -> Signature | None:
    try:
        return Signature.of(os.lstat(path))
    except OSError:
        return None


def read_file(path: str) -> tuple[bytes | None, Signature | None]:
    """A regular file's bytes and signature, not through a symlink; (None, None) when absent."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, None
    except IsADirectoryError:
        return DIRECTORY, lstat_signature(path)
    except OSError:
        return SPECIAL, lstat_signature(path)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return (DIRECTORY if stat.S_ISDIR(info.st_mode) else SPECIAL), Signature.of(info)
        return _read_all(fd, info.st_size), Signature.of(info)
    finally:
        os.close(fd)


def regular_sha256(path: str) -> str | None:
    """The SHA-256 of a regular file, not through a symlink; None when it is anything else or unreadable."""
    try:
        content, _ = read_file(path)
    except OSError:
        return None
    if content is None or content in (DIRECTORY, SPECIAL):
        return None
    return hashlib.sha256(content).hexdigest()


def _read_all(fd: int, size: int) -> bytes:
    chunks = [os.read(fd, max(size, 1 << 16))]
    while chunks[-1]:
        chunks.append(os.read(fd, 1 << 20))
    return b"".join(chunks)


class Tree:
    """The kinds of entries under an output root, one `scandir` per folder, listed when first asked."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._listings: dict[str, dict[str, str]] = {}
        self._folders = {""}  # real folders all the way down (or absent), checked before

    def kind(self, rel: str) -> str | None:
        """"file", "link", "dir", "other" or None (absent), for a path relative to the root."""
        folder, _, name = rel.rpartition("/")
        return self._listing(folder).get(name)

    def through_link(self, rel: str) -> bool:
        """True when the path or a folder on its way is a symlink (so it could lead outside the root)."""
        folder, _, name = rel.rpartition("/")
        if folder in self._folders:  # a real folder all the way down, seen before
            return self._listing(folder).get(name) == "link"
        if self._through_link(rel):
            return True
        if folder:
            self._folders.add(folder)  # absent folders too: nothing below them can be a link
        return False

    def _through_link(self, rel: str) -> bool:
        parts = rel.split("/")
        for end in range(1, len(parts) + 1):
            kind = self.kind("/".join(parts[:end]))
            if kind == "link":
                return True
            if kind != "dir":
                return False  # absent (nothing further exists) or a file (the path is blocked, not a link)
        return False

    def _listing(self, folder: str) -> dict[str, str]:
        listing = self._listings.get(folder)
        if listing is None:
            listing = self._listings[folder] = _scan(os.path.join(self.root, folder) if folder else self.root)
        return listing


def _scan(path: str) -> dict[str, str]:
    try:
        with os.scandir(path) as entries:
            return {e.name: _kind(e) for e in entries}
    except OSError:
        return {}


def _kind(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    return "file" if entry.is_file(follow_symlinks=False) else "other"


class KnownFiles:
    """Output files whose content was verified when their signatures were taken (`signed_at`).

    A file whose signature is still the same, and was not racy then, still has that content: a
    plan may skip reading it (git's index, for the output folder).
    """

    def __init__(self, signed_at: int, files: dict[str, Signature]) -> None:
        self.signed_at = signed_at
        self.files = files

    def unchanged(self, rel: str, path: str) -> Signature | None:
        before = self.files.get(rel)
        if before is None or before.racy(self.signed_at):
            return None
        now = lstat_signature(path)
        return now if now == before else None

    def to_json(self) -> dict[str, object]:
        files = {rel: [s.inode, s.device, s.size, s.mtime_ns, s.ctime_ns, s.mode] for rel, s in self.files.items()}
        return {"signed_at": self.signed_at, "files": files}

    @classmethod
    def from_json(cls, data: object) -> KnownFiles | None:
        if not isinstance(data, dict) or not isinstance(data.get("signed_at"), int) or not isinstance(
                data.get("files"), dict):
            return None
        files: dict[str, Signature] = {}
        for rel, fields in data["files"].items():
            if not (isinstance(rel, str) and isinstance(fields, list) and len(fields) == 6
                    and all(type(n) is int for n in fields)):
                return None
            files[rel] = Signature(*fields)
        return cls(data["signed_at"], files)
