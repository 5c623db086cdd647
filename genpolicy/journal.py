"""In-place writes that survive a crash: staged files, hard-link backups and a journal.

Used when the output folder cannot be swapped as a whole (it holds a `.git`, or the OS has no
atomic directory exchange). Everything lives in `<root>/.genpolicy-staging/`:

1. the new contents are written there (numbered files, final modes);
2. every file that will be replaced or deleted is hard-linked there as a backup;
3. `journal.json` (written by rename) lists targets, staged names, backups and created paths;
4. the staged files are renamed over their targets, deletions done;
5. the staging folder is removed: that is the commit.

A crash before step 3 leaves only the staging folder (removed by the next run); after it, the
next run rolls the journal back (backups renamed into place, created files removed), so the
folder is fully old again. Temporaries of older versions (`*.genpolicy-tmp`) are removed too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

STAGING = ".genpolicy-staging"
JOURNAL = "journal.json"
LEGACY_SUFFIX = ".genpolicy-tmp"


def apply_in_place(root: Path, writes: Mapping[str, tuple[bytes, int]], deletes: list[str]) -> None:
    """Write (content, mode) per relative path and delete paths, atomically with respect to a crash."""
    try:
        _apply(root, root / STAGING, writes, deletes)
    except OSError:
        rollback(root)
        raise


def _apply(root: Path, stage: Path, writes: Mapping[str, tuple[bytes, int]], deletes: list[str]) -> None:
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    journal: dict[str, dict[str, str] | list[str]] = {"writes": {}, "backups": {}, "creates": []}
    for number, (rel, (content, mode)) in enumerate(sorted(writes.items())):
        _write_new(stage / f"new-{number}", content, mode)
        _journal(journal, "writes")[rel] = f"new-{number}"
    for number, rel in enumerate(sorted({*writes, *deletes})):
        if os.path.lexists(root / rel):
            os.link(root / rel, stage / f"old-{number}", follow_symlinks=False)
            _journal(journal, "backups")[rel] = f"old-{number}"
        else:
            _created(journal).append(rel)
    _write_new(stage / f"{JOURNAL}.tmp", json.dumps(journal).encode(), 0o600)
    os.replace(stage / f"{JOURNAL}.tmp", stage / JOURNAL)
    _commit(root, stage, journal, deletes)
    os.unlink(stage / JOURNAL)  # the commit point
    shutil.rmtree(stage, ignore_errors=True)


def _journal(journal: dict[str, dict[str, str] | list[str]], key: str) -> dict[str, str]:
    part = journal[key]
    assert isinstance(part, dict)
    return part


def _created(journal: dict[str, dict[str, str] | list[str]]) -> list[str]:
    part = journal["creates"]
    assert isinstance(part, list)
    return part


def _write_new(path: Path, content: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.chmod(path, mode)


def _commit(root: Path, stage: Path, journal: dict[str, dict[str, str] | list[str]], deletes: list[str]) -> None:
    for rel, name in _journal(journal, "writes").items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / name, root / rel)
    for rel in deletes:
        with contextlib.suppress(FileNotFoundError):
            (root / rel).unlink()
        remove_empty_parents(root, rel)


def rollback(root: Path) -> bool:
    """Undo an interrupted in-place write (journal present); clear staging. True when something was undone."""
    stage = root / STAGING
    try:
        journal = json.loads((stage / JOURNAL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        journal = None
    undone = isinstance(journal, dict)
    if undone:
        for rel, name in _strings(journal.get("backups")).items():
            with contextlib.suppress(OSError):
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(stage / name, root / rel)
        for rel in journal.get("creates") or []:
            if isinstance(rel, str) and _safe(rel):
                with contextlib.suppress(OSError):
                    (root / rel).unlink()
                remove_empty_parents(root, rel)
    shutil.rmtree(stage, ignore_errors=True)
    return undone


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str) and _safe(k)
            and "/" not in v and v.startswith(("old-", "new-"))}


def _safe(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and not {"..", ".", ""} & set(parts)


def clean_legacy_temporaries(root: Path) -> None:
    """Remove `.<name>.*.genpolicy-tmp` files an interrupted older render left (never inside .git)."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", STAGING)]
        for name in names:
            if name.startswith(".") and name.endswith(LEGACY_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))


def remove_empty_parents(root: Path, rel: str) -> None:
    parent = (root / rel).parent
    while parent != root:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent
