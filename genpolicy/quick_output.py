"""The output half of the no-change answer (genpolicy.quick): every owned file as the last render left it.

A full render records each owned file's `lstat` signature (inode, device, size, mtime, ctime,
mode) and the moment it began (`signed_at`, before it read or wrote any output file). A later
`genpolicy render SPEC` then needs every signature equal, with no file hashed, except the racy
ones (the rule of git's index): a file whose mtime or ctime is not at least `ondisk.RACY_SECONDS` older than
`signed_at` may have changed within one coarse timestamp tick of the record, so it is hashed and
compared with the owned-files record's SHA-256 as before. ctime cannot be set from user space
(`os.utime` sets only atime and mtime), so any edit after the record changes the signature: a
miss, and the full path decides. A hit that had to hash racy files moves `signed_at` to when it
began (`Check.refresh`), so the next one is stat-only.

Stdlib only (genpolicy.ondisk is too), and not genpolicy.writer/journal (ctypes, tempfile): the
names of their files are repeated here (tests/test_quick.py checks they agree).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from genpolicy.ondisk import RACY_SECONDS, Signature, racy, regular_sha256

RACY_NS = RACY_SECONDS * 1_000_000_000
OWNED_FILE = ".genpolicy-owned.json"  # genpolicy.writer.OWNED_FILE
SWAP_MARK = ".genpolicy-swap-"  # genpolicy.writer.SWAP_MARK
STAGING = ".genpolicy-staging"  # genpolicy.journal.STAGING
LEGACY_SUFFIX = ".genpolicy-tmp"  # genpolicy.journal.LEGACY_SUFFIX

signature = Signature.of


def take(root: Path, paths: Iterable[str]) -> dict[str, list[int]] | None:
    """The signatures of `paths` under root (None when one is missing or not a regular file)."""
    base, found = os.fspath(root), {}
    for rel in paths:
        try:
            info = os.lstat(os.path.join(base, rel))
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        found[rel] = list(signature(info))
    return found


class Check(NamedTuple):
    """The outcome of comparing the output folder with a record: unchanged or not, and whether to refresh it."""

    unchanged: bool
    started: int = 0  # when this check began (time.time_ns)
    hashed: int = 0  # racy files hashed (each matched when unchanged)

    def refresh(self, signatures: Mapping[str, list[int]]) -> bool:
        """Whether moving `signed_at` to `started` would let the next check hash fewer files."""
        return self.unchanged and self.hashed > 0 and any(not racy(s, self.started) for s in signatures.values())


def check(root: Path, owned_sha: str, signatures: Mapping[str, list[int]], signed_at: int) -> Check:
    """Whether the owned-files record and every file it lists are as recorded, and no render's leftovers."""
    started = time.time_ns()
    try:
        owned = (root / OWNED_FILE).read_bytes()
    except OSError:
        return Check(False)
    if hashlib.sha256(owned).hexdigest() != owned_sha or _leftovers(root):
        return Check(False)
    hashed = _compare(root, owned, signatures, signed_at)
    return Check(hashed is not None, started, hashed or 0)


def _leftovers(root: Path) -> bool:
    """A crashed render's staging folder or swap copy, or an older version's temporaries (the full path cleans)."""
    real = Path(os.path.realpath(root))
    return (os.path.lexists(root / STAGING) or any(real.parent.glob(f".{real.name}{SWAP_MARK}*"))
            or _legacy_temporaries(root))


def _legacy_temporaries(root: Path) -> bool:
    for _, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        if any(n.startswith(".") and n.endswith(LEGACY_SUFFIX) for n in names):
            return True
    return False


def _compare(root: Path, owned: bytes, signatures: Mapping[str, list[int]], signed_at: int) -> int | None:
    """How many racy files were hashed, when every signature and every racy file's SHA-256 matched; else None."""
    base, folders, suspects = os.fspath(root), set[str](), list[str]()
    for rel, recorded in signatures.items():
        try:
            now = signature(os.lstat(os.path.join(base, rel)))
        except OSError:
            return None
        if now != tuple(recorded) or _through_link(base, rel, folders):
            return None
        if racy(now, signed_at):
            suspects.append(rel)
    return _hash_racy(base, owned, suspects, len(signatures)) if suspects else 0


def _through_link(base: str, rel: str, folders: set[str]) -> bool:
    """Whether a folder on the way to `rel` is a symlink (the full path refuses to write through one)."""
    folder = rel.rpartition("/")[0]
    while folder and folder not in folders:
        if os.path.islink(os.path.join(base, folder)):
            return True
        folders.add(folder)
        folder = folder.rpartition("/")[0]
    return False


def _hash_racy(base: str, owned: bytes, suspects: list[str], count: int) -> int | None:
    try:
        files = json.loads(owned)["files"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, dict) or len(files) != count:
        return None
    same = all(regular_sha256(os.path.join(base, rel)) == files.get(rel) for rel in suspects)
    return len(suspects) if same else None
