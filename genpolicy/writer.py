"""Plan and apply a bundle on disk: owned files only, atomic, idempotent, prunable.

genpolicy records the files it wrote (with their SHA-256) in `.genpolicy-owned.json` at the
output root. A file is only overwritten or deleted when it is recorded there AND its content
is still what genpolicy wrote; anything else is a conflict, never touched.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from genpolicy import journal, ondisk, swap
from genpolicy.diffs import redact_secret_data as redact_secret_data  # re-exported: the diff of a plan
from genpolicy.diffs import unified_diff as unified_diff
from genpolicy.errors import Problem, WriteError
from genpolicy.record import Frozen, Record, set_field
from genpolicy.swap import SWAP_MARK as SWAP_MARK  # re-exported: genpolicy.quick looks for leftovers
from genpolicy.swap import exchange_supported as _exchange_supported

OWNED_FILE = ".genpolicy-owned.json"
OWNED_FORMAT = 1


class Planned(Frozen):
    """The bytes genpolicy wants at a path, and whether they hold plaintext credentials."""

    __slots__ = ("content", "sensitive", "digest")
    _hidden = frozenset({"content"})  # may hold credentials in clear: never printed
    content: bytes
    sensitive: bool
    digest: str  # its SHA-256 when already known (computed where it was rendered)

    def __init__(self, content: bytes, sensitive: bool = False, digest: str = "") -> None:
        set_field(self, "content", content)
        set_field(self, "sensitive", sensitive)
        set_field(self, "digest", digest)


class Plan(Record):
    __slots__ = ("root", "create", "update", "unchanged", "delete", "conflicts", "old", "owned", "record_before",
                 "signatures", "started_ns", "_record")
    _hidden = frozenset({"old"})
    root: Path
    create: dict[str, Planned]
    update: dict[str, Planned]
    unchanged: list[str]
    delete: list[str]
    conflicts: list[Problem]
    old: dict[str, bytes]  # current bytes of updated/deleted files
    owned: dict[str, str]  # the new owned-files record
    record_before: bytes | None  # the owned-files record the plan was made against
    signatures: dict[str, ondisk.Signature | None]  # of the files read
    started_ns: int  # wall clock when the plan began (files changed shortly before are re-read)
    _record: bytes | None

    def __init__(self, root: Path, create: dict[str, Planned] | None = None, update: dict[str, Planned] | None = None,
                 unchanged: list[str] | None = None, delete: list[str] | None = None,
                 conflicts: list[Problem] | None = None, old: dict[str, bytes] | None = None,
                 owned: dict[str, str] | None = None, record_before: bytes | None = None,
                 signatures: dict[str, ondisk.Signature | None] | None = None, started_ns: int = 0) -> None:
        self.root = root
        self.create = {} if create is None else create
        self.update = {} if update is None else update
        self.unchanged = [] if unchanged is None else unchanged
        self.delete = [] if delete is None else delete
        self.conflicts = [] if conflicts is None else conflicts
        self.old = {} if old is None else old
        self.owned = {} if owned is None else owned
        self.record_before = record_before
        self.signatures = {} if signatures is None else signatures
        self.started_ns = started_ns
        self._record = None

    @property
    def changed(self) -> bool:
        return bool(self.create or self.update or self.delete)

    def verified(self) -> ondisk.KnownFiles:
        """The unchanged files and their signatures (content checked by this plan): for the next plan."""
        return ondisk.KnownFiles(self.started_ns, {rel: s for rel in self.unchanged
                                                   if (s := self.signatures.get(rel)) is not None})

    def record(self) -> bytes:
        """The owned-files record this plan writes (computed once: the plan's map is final once made)."""
        if self._record is None:
            self._record = owned_record(self.owned)
        return self._record

    def summary(self) -> str:
        return (f"{len(self.create)} created, {len(self.update)} updated, {len(self.delete)} deleted, "
                f"{len(self.unchanged)} unchanged")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_owned(root: Path) -> dict[str, str]:
    """The owned-files record; a missing or unreadable record means "nothing owned"."""
    return parse_owned(_read(root / OWNED_FILE))


def parse_owned(data: bytes | None) -> dict[str, str]:
    """The files of an owned-files record's bytes (read once per plan); anything unreadable owns nothing."""
    try:
        record = json.loads(data or b"")
    except ValueError:
        return {}
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str) and _safe_relpath(k)}


def _safe_relpath(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and not {"..", ".", ""} & set(parts) and "\\" not in rel


GENERATED_MARKERS = (b"Generated by genpolicy", b"genpolicy.dev/encrypted-for")


def looks_generated(content: bytes) -> bool:
    """Whether a file carries genpolicy's own marker (a hand-edited record alone is not enough to delete)."""
    head = content[:4096]
    return any(marker in head for marker in GENERATED_MARKERS)


def read_record(root: Path) -> bytes | None:
    """The owned-files record's bytes as they are on disk (None when absent)."""
    return _read(root / OWNED_FILE)


def _read(path: Path) -> bytes | None:
    return ondisk.read_file(os.fspath(path))[0]


def plan(root: Path, wanted: Mapping[str, Planned], known: ondisk.KnownFiles | None = None) -> Plan:
    """Compare the wanted files with the disk; nothing is written. Only files that exist are read, and not
    those `known` (verified by an earlier render, same signature since) to hold what the record says."""
    result = Plan(root, record_before=_read(root / OWNED_FILE), started_ns=ondisk.now_ns())
    owned = parse_owned(result.record_before)
    tree = ondisk.Tree(os.fspath(root))
    for rel in sorted(wanted):
        item = wanted[rel]
        if not _safe_relpath(rel) or tree.through_link(rel):
            result.conflicts.append(Problem(str(root / rel), message="refusing to write through a symlink or "
                                                                     "outside the output folder"))
            continue
        digest = result.owned[rel] = item.digest or sha256(item.content)
        path = os.path.join(tree.root, rel)
        same = known.unchanged(rel, path) if known is not None and owned.get(rel) == digest else None
        if same is not None:
            result.signatures[rel] = same
            result.unchanged.append(rel)
            continue
        current, signature = (None, None) if tree.kind(rel) is None else ondisk.read_file(path)
        if current is None:
            result.create[rel] = item
            continue
        result.signatures[rel] = signature
        if current == item.content:
            result.unchanged.append(rel)
        elif owned.get(rel) == sha256(current):
            result.update[rel] = item
            result.old[rel] = current
        else:
            why = "was changed by hand since genpolicy wrote it" if rel in owned else "was not written by genpolicy"
            result.conflicts.append(Problem(str(root / rel), message=f"{why}; refusing to overwrite "
                                                                     "(move it away or restore it)"))
    for rel in sorted(set(owned) - set(wanted)):
        _plan_delete(result, tree, owned, rel)
    return result


def _plan_delete(result: Plan, tree: ondisk.Tree, owned: dict[str, str], rel: str) -> None:
    """Delete a file no longer wanted only if it is ours, unchanged since written, and carries our marker."""
    if tree.through_link(rel) or tree.kind(rel) != "file":
        return
    current, signature = ondisk.read_file(os.path.join(tree.root, rel))
    if current is None or owned[rel] != sha256(current) or not looks_generated(current):
        return  # changed by hand, or not ours (even if the record says so): never deleted
    result.delete.append(rel)
    result.old[rel] = current
    result.signatures[rel] = signature


def verified_unchanged(root: Path, known: ondisk.KnownFiles | None = None) -> Plan | None:
    """A no-change plan when every file of the owned-files record is on disk exactly as recorded, else None
    (files `known` with an unchanged signature are not read again)."""
    record = _read(root / OWNED_FILE)
    owned = parse_owned(record)
    if not owned:
        return None
    result = Plan(root, owned=dict(owned), record_before=record)
    tree = ondisk.Tree(os.fspath(root))
    for rel in sorted(owned):
        if tree.through_link(rel) or tree.kind(rel) != "file":
            return None
        path = os.path.join(tree.root, rel)
        same = known.unchanged(rel, path) if known is not None else None
        if same is None:
            content, same = ondisk.read_file(path)
            if content is None or sha256(content) != owned[rel]:
                return None
        result.signatures[rel] = same
        result.unchanged.append(rel)
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


def apply(result: Plan) -> Path | None:
    """Write the plan so that the output folder is always fully old or fully new.

    Where the OS can swap two directories atomically (Linux renameat2 RENAME_EXCHANGE) and at
    least half the files change, the new tree is built beside the old one (unchanged and foreign
    files hard-linked, changed files written) and swapped in with one system call: a crash at any
    point leaves the old or the new tree. Otherwise (few changes, where linking every unchanged
    file would cost more than the render; no exchange; a `.git` in the folder), the changed files
    are staged and renamed under a journal (genpolicy.journal): a failure restores the old files,
    and a crash is rolled back by the next run (`recover`), so the folder is again fully old.
    Returns where the old tree was kept when another program wrote into it at the moment of the swap.
    """
    root = result.root
    if not result.changed and _read(root / OWNED_FILE) == result.record():
        return None
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(root, exc) from None
    with locked(root):
        if not still_current(result):
            raise WriteError("output changed while rendering", [Problem(str(root), message=(
                "the output folder changed after this render planned its changes (another render?); "
                "nothing was written; run the render again"))])
        _clean_leftovers(root)
        if swap_chosen(result):
            return _apply_by_swap(result)
        _apply_in_place(result)
        return None


def swap_chosen(result: Plan) -> bool:
    """Swap the whole tree (see `apply`) only where it can be done and costs no more than twice the writes."""
    changes = len(result.create) + len(result.update) + len(result.delete)
    return _exchange_supported() and not (result.root / ".git").exists() and len(result.unchanged) <= changes


def recover(root: Path) -> None:
    """Undo what a crashed render left (in-place journal, swap trees, temporaries); no-op when locked."""
    if not root.is_dir() or (root.is_symlink() and not root.resolve().is_dir()):
        return
    with contextlib.suppress(WriteError, OSError), locked(root):
        journal.rollback(root)
        journal.clean_legacy_temporaries(root)
        _clean_leftovers(root)


def _apply_in_place(result: Plan) -> None:
    """Per-file renames with a journal (genpolicy.journal): a crash is rolled back by the next run."""
    writes = {rel: (item.content, 0o600 if item.sensitive else 0o644)
              for rel, item in {**result.create, **result.update}.items()}
    record = result.record()
    if _read(result.root / OWNED_FILE) != record:
        writes[OWNED_FILE] = (record, 0o644)
    try:
        journal.apply_in_place(result.root, writes, list(result.delete))
    except OSError as exc:
        raise _write_error(result.root, exc) from None


def still_current(result: Plan) -> bool:
    """Is the disk (checked under the lock) still what the plan was made against?

    Each file the plan read must have the same `lstat` signature; one changed within the racy
    window (genpolicy.ondisk) is also compared by content. Files to create must still be absent, and
    no folder on the way to a file to write or delete may have become a symlink.
    """
    root = os.fspath(result.root)
    if _read(result.root / OWNED_FILE) != result.record_before:
        return False
    tree = ondisk.Tree(root)  # listed afresh: a folder on the way may have become a symlink since the plan
    if any(tree.through_link(rel) for rel in (*result.create, *result.update, *result.delete)):
        return False
    if _any_present(root, result.create):
        return False
    expected = {rel: sha256(result.old[rel]) for rel in (*result.update, *result.delete)}
    expected.update({rel: result.owned[rel] for rel in result.unchanged if rel in result.owned})
    return all(_same(os.path.join(root, rel), result.signatures.get(rel), digest, result.started_ns)
               for rel, digest in expected.items())


def _any_present(root: str, rels: Iterable[str]) -> bool:
    """Whether any of `rels` exists, by name lookup (`lstat`), not from the listings: the plan decided "create"
    from those, and a lookup is what the write will meet (a folder that can be searched but not listed, a
    case-insensitive file system). A folder found absent stands for every file in it (a first render, a new
    cluster: one lookup, not one per file)."""
    folders: dict[str, bool] = {"": True}
    for rel in rels:
        folder = rel.rpartition("/")[0]
        present = folders.get(folder)
        if present is None:
            present = folders[folder] = os.path.lexists(os.path.join(root, folder))
        if present and os.path.lexists(os.path.join(root, rel)):
            return True
    return False


def _same(path: str, before: ondisk.Signature | None, digest: str, started_ns: int) -> bool:
    now = ondisk.lstat_signature(path)
    if now is None or now != before:
        return False
    if before is not None and not before.racy(started_ns):
        return True
    content, _ = ondisk.read_file(path)
    return content is not None and sha256(content) == digest


def _clean_leftovers(root: Path) -> None:
    swap.clean_leftovers(root)


def _apply_by_swap(result: Plan) -> Path | None:
    writes = {rel: (item.content, 0o600 if item.sensitive else 0o644)
              for rel, item in {**result.create, **result.update}.items()}
    writes[OWNED_FILE] = (result.record(), 0o644)
    try:
        return swap.apply_by_swap(result.root, writes, set(result.delete) | {OWNED_FILE}, list(result.delete))
    except OSError as exc:
        raise _write_error(Path(os.path.realpath(result.root)), exc) from None


def owned_record(owned: Mapping[str, str]) -> bytes:
    """The bytes of `.genpolicy-owned.json` for an owned-files map: exactly `json.dumps(record, indent=2)`
    plus a newline, built directly (with an indent, json's encoder runs in Python: 10 ms per 4,000 files)."""
    lines = ",\n".join(f"    {_json_string(k)}: {_json_string(v)}" for k, v in sorted(owned.items()))
    files = "{\n" + lines + "\n  }" if owned else "{}"
    return f'{{\n  "format": {OWNED_FORMAT},\n  "generator": "genpolicy",\n  "files": {files}\n}}\n'.encode()


def _json_string(value: str) -> str:
    return json.encoder.encode_basestring_ascii(value)


def _write_error(path: Path, exc: OSError) -> WriteError:
    reason = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or type(exc).__name__)
    return WriteError("cannot write output", [Problem(str(path), message=f"cannot write: {reason}; "
                                                                         "the output folder was left unchanged")])
