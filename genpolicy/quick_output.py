"""The output half of the no-change answer (genpolicy.quick): every owned file as the last render left it.

A full render records one digest (`state`) of the `lstat` signature (inode, device, size, mtime,
ctime, mode) of every owned file and of every folder on their way, root included, and the moment
it began (`signed_at`, before it read or wrote any output file). A later `genpolicy render SPEC`
needs the same digest, with no file read, except for the racy entries (the rule of git's index):
one whose mtime or ctime is not at least `RACY_SECONDS` older than `signed_at` may have changed
within one coarse timestamp tick of the record, so a racy file is hashed and compared with the
owned-files record's SHA-256, and a racy folder is listed. ctime cannot be set from user space
(`os.utime` sets only atime and mtime), so any edit after the record changes a signature: a miss,
and the full path decides. A hit that met racy entries tells its caller to move `signed_at` to
when it began (`Check.refresh`), so the next one is stat-only.

A folder's signature changes when an entry is created, removed or renamed in it: a crashed
render's staging folder, an older version's temporaries or a folder replaced by a symlink show
without listing any folder. Swap copies sit beside the root, in a folder genpolicy does not own
(its mtime moves with every unrelated edit): that one is listed.

Imports nothing beyond what genpolicy.cachekey does (no pathlib, typing, json or hashlib; those the
racy case loads when it needs them), and not genpolicy.writer/journal (ctypes, tempfile): the
names of their files are repeated here (tests/test_quick.py checks they agree).
"""

from __future__ import annotations

import marshal
import os
import stat
import time

from genpolicy.cachekey import blake2b, read_regular

RACY_SECONDS = 3  # genpolicy.ondisk.RACY_SECONDS
RACY_NS = RACY_SECONDS * 1_000_000_000
OWNED_FILE = ".genpolicy-owned.json"  # genpolicy.writer.OWNED_FILE
SWAP_MARK = ".genpolicy-swap-"  # genpolicy.writer.SWAP_MARK
STAGING = ".genpolicy-staging"  # genpolicy.journal.STAGING
LEGACY_SUFFIX = ".genpolicy-tmp"  # genpolicy.journal.LEGACY_SUFFIX
OWNED_LIMIT = 256 << 20

Signature = tuple[int, int, int, int, int, int]


class Check:
    """The outcome of comparing the output folder with a record (a plain class: no typing, no dataclasses)."""

    __slots__ = ("hashed", "refresh", "started", "unchanged")

    def __init__(self, unchanged: bool, started: int = 0, hashed: int = 0, refresh: bool = False) -> None:
        self.unchanged = unchanged
        self.started = started  # when this check began (time.time_ns)
        self.hashed = hashed  # racy files hashed (each matched when unchanged)
        self.refresh = refresh  # moving signed_at to `started` would spare the next check some racy entries


def owned_digest(owned: bytes) -> str:
    """How the record names the owned-files record's bytes."""
    return blake2b(owned, digest_size=32, person=b"genpolicy-owned").hexdigest()


Layout = list[tuple[str, list[str]]]  # each folder ("" is the root, first; ancestors too) and its owned files
_BATCH = 8  # files in a folder from which one descriptor for the folder beats resolving each full path


def other_folders(root: str) -> list[str]:
    """Every folder under root, relative to it (not into `.git` or symlinked folders, as
    `journal.clean_legacy_temporaries` walks): signed too, so a temporary left in one without owned files shows."""
    found = []
    for folder, dirs, _ in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", STAGING)]
        rel = os.path.relpath(folder, root)
        if rel != ".":
            found.append(rel.replace(os.sep, "/"))
    return found


def layout(paths: list[str], more: list[str] | tuple[()] = ()) -> Layout:
    """The folders of `paths` (the owned files) and every folder on their way, with the owned-files record,
    and the folders `more` (each with no file to sign)."""
    tree: dict[str, list[str]] = {"": [OWNED_FILE], **{folder: [] for folder in more}}
    for rel in paths:
        folder, _, name = rel.rpartition("/")
        if folder not in tree:
            ancestor = folder.rpartition("/")[0]
            while ancestor not in tree:
                tree[ancestor] = []
                ancestor = ancestor.rpartition("/")[0]
            tree[folder] = []
        tree[folder].append(name)
    return sorted((folder, sorted(names)) for folder, names in tree.items())


def take(root: str, tree: Layout) -> str | None:
    """The digest of the signatures of every entry of `tree` under root (None when a file is missing or not a
    regular file, or a folder on the way is not a folder)."""
    found = signatures(root, tree)
    return None if found is None else _fold(found)


def signatures(root: str, tree: Layout) -> list[Signature] | None:
    """Each folder's `lstat` signature followed by its files' (in `tree` order), or None as `take`."""
    found: list[Signature] = []
    for folder, names in tree:
        where = root + "/" + folder if folder else root
        try:
            info = os.lstat(where) if folder else os.stat(where)  # a symlinked root: the folder it leads to
            if not stat.S_ISDIR(info.st_mode):
                return None
            found.append(_signature(info))
            found += _files(where, names)
        except (OSError, ValueError):
            return None
    return found


def _signature(info: os.stat_result) -> Signature:
    return info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_mode


def _files(where: str, names: list[str]) -> list[Signature]:
    """The signatures of regular files in one folder (OSError when one is missing, ValueError when not regular)."""
    if len(names) < _BATCH:
        infos = [os.lstat(where + "/" + name) for name in names]
    else:
        fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            infos = [os.stat(name, dir_fd=fd, follow_symlinks=False) for name in names]
        finally:
            os.close(fd)
    if not all(stat.S_ISREG(info.st_mode) for info in infos):
        raise ValueError("not a regular file")
    return [_signature(info) for info in infos]


def _fold(found: list[Signature]) -> str:
    return blake2b(marshal.dumps(found, 2), digest_size=32, person=b"genpolicy-lstat").hexdigest()  # 2: no refs


def check(root: str, owned_sha: str, tree: Layout, state: str, signed_at: int) -> Check:
    """Whether every entry of `tree` is as `take` found it (`state`), racy files and the owned-files record
    as recorded (`owned_sha`), and no render left anything behind."""
    started = time.time_ns()
    if _swap_copies(root):
        return Check(False)
    found = signatures(root, tree)
    if found is None or _fold(found) != state:
        return Check(False)
    racy = [i for i, sig in enumerate(found) if max(sig[3], sig[4]) >= signed_at - RACY_NS]
    if not racy:
        return Check(True, started)
    return _racy(root, owned_sha, tree, found, racy, started)


def _entries(tree: Layout) -> list[tuple[str, bool]]:
    """Each entry's path relative to the root and whether it is a folder, in `signatures` order."""
    found = []
    for folder, names in tree:
        found.append((folder, True))
        prefix = folder + "/" if folder else ""
        found += [(prefix + name, False) for name in names]
    return found


def _racy(root: str, owned_sha: str, tree: Layout, found: list[Signature], racy: list[int], started: int) -> Check:
    """The check of entries changed too shortly before the record for their times to tell: racy files are
    hashed, racy folders listed (for a staging folder or temporaries), the owned-files record compared."""
    entries = _entries(tree)
    try:
        owned = read_regular(os.path.join(root, OWNED_FILE), OWNED_LIMIT)
    except OSError:
        return Check(False)
    if owned_digest(owned) != owned_sha:
        return Check(False)
    files = [entries[i][0] for i in racy if not entries[i][1] and entries[i][0] != OWNED_FILE]
    hashed = _hash_racy(root, owned, files)
    if hashed is None or _leftovers_in(root, [entries[i][0] for i in racy if entries[i][1]]):
        return Check(False)
    settled = any(max(found[i][3], found[i][4]) < started - RACY_NS for i in racy)
    return Check(True, started, hashed, settled)


def _swap_copies(root: str) -> bool:
    """A crashed render's copy beside the root (the full path recovers it)."""
    real = os.path.realpath(root)
    parent, name = os.path.split(real)
    try:
        return any(n.startswith(f".{name}{SWAP_MARK}") for n in os.listdir(parent or "/"))
    except OSError:
        return True


def _leftovers_in(root: str, racy_folders: list[str]) -> bool:
    """A staging folder or an older version's temporaries in a folder changed too recently for its times."""
    for rel in racy_folders:
        try:
            names = os.listdir(root + "/" + rel if rel else root)
        except OSError:
            return True
        if any(n == STAGING or (n.startswith(".") and n.endswith(LEGACY_SUFFIX)) for n in names):
            return True
    return False


def _hash_racy(root: str, owned: bytes, suspects: list[str]) -> int | None:
    """How many racy files were hashed, when each matches the owned-files record's SHA-256; else None."""
    if not suspects:
        return 0
    import json  # only when a file is racy

    try:
        files = json.loads(owned)["files"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, dict):
        return None
    same = all(_sha256_of(os.path.join(root, rel)) == files.get(rel) for rel in suspects)
    return len(suspects) if same else None


def _sha256_of(path: str) -> str | None:
    """A regular file's SHA-256, not through a symlink (as genpolicy.ondisk.regular_sha256); None otherwise."""
    from hashlib import sha256  # only when a file is racy (it loads OpenSSL)

    try:
        return sha256(read_regular(path, OWNED_LIMIT)).hexdigest()
    except OSError:
        return None
