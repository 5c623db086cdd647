"""Writing: idempotent, owned files only, prune, conflicts, atomic failure, lock, redacted diffs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genpolicy import writer
from genpolicy.errors import WriteError
from genpolicy.writer import OWNED_FILE, Planned, apply, plan, redact_secret_data, unified_diff


def files(**kwargs: str) -> dict[str, Planned]:
    return {k.replace("__", "/"): Planned(v.encode()) for k, v in kwargs.items()}


def test_create_then_nothing_to_do(tmp_path: Path) -> None:
    apply(plan(tmp_path, files(a__x="1\n", b="2\n")))
    assert (tmp_path / "a/x").read_text() == "1\n"
    mtime = (tmp_path / "a/x").stat().st_mtime_ns
    again = plan(tmp_path, files(a__x="1\n", b="2\n"))
    assert not again.changed and sorted(again.unchanged) == ["a/x", "b"]
    apply(again)
    assert (tmp_path / "a/x").stat().st_mtime_ns == mtime, "unchanged files must not be rewritten"


def test_update_and_prune_owned_files(tmp_path: Path) -> None:
    apply(plan(tmp_path, files(keep="1\n", gone__deep="2\n")))
    (tmp_path / "user.txt").write_text("mine")
    result = plan(tmp_path, files(keep="changed\n"))
    assert list(result.update) == ["keep"] and result.delete == ["gone/deep"]
    apply(result)
    assert (tmp_path / "keep").read_text() == "changed\n"
    assert not (tmp_path / "gone").exists(), "emptied folders are removed"
    assert (tmp_path / "user.txt").read_text() == "mine", "files genpolicy did not write are never deleted"


def test_never_overwrites_a_file_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("user content")
    result = plan(tmp_path, files(x="ours\n"))
    assert [p.message for p in result.conflicts] == [
        "was not written by genpolicy; refusing to overwrite (move it away or restore it)"]


def test_never_overwrites_or_prunes_hand_edited_files(tmp_path: Path) -> None:
    apply(plan(tmp_path, files(x="1\n", y="2\n")))
    (tmp_path / "x").write_text("edited")
    (tmp_path / "y").write_text("edited too")
    result = plan(tmp_path, files(x="new\n"))
    assert "changed by hand" in result.conflicts[0].message
    assert result.delete == [], "an edited file is never pruned"


def test_corrupt_owned_record_owns_nothing(tmp_path: Path) -> None:
    (tmp_path / "victim").write_text("precious")
    (tmp_path / OWNED_FILE).write_text('{"files": {"victim": "0000", "../etc/passwd": "x"}}')
    result = plan(tmp_path, {})
    assert result.delete == []
    (tmp_path / OWNED_FILE).write_text("not json")
    assert plan(tmp_path, {}).delete == []


def test_failed_write_leaves_the_folder_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "_exchange_supported", lambda: False)  # the per-file rename strategy
    apply(plan(tmp_path, files(a="old a\n", b="old b\n")))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src: str, dst: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", flaky_replace)
    with pytest.raises(WriteError) as info:
        apply(plan(tmp_path, files(a="new a\n", b="new b\n", c="new c\n")))
    assert "no space left on device" in info.value.problems[0].message
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before, "rollback restores every file and leaves no temporary files"


def test_failed_staging_leaves_no_temporary_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "_exchange_supported", lambda: False)
    monkeypatch.setattr(writer.os, "chmod", lambda *a: (_ for _ in ()).throw(OSError(13, "Permission denied")))
    with pytest.raises(WriteError):
        apply(plan(tmp_path, files(a="1\n", b="2\n")))
    assert list(tmp_path.iterdir()) == []


def test_sensitive_files_are_private(tmp_path: Path) -> None:
    apply(plan(tmp_path, {"s.yaml": Planned(b"x\n", sensitive=True), "p.yaml": Planned(b"y\n")}))
    assert (tmp_path / "s.yaml").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "p.yaml").stat().st_mode & 0o777 == 0o644


def test_refuses_to_write_through_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    result = plan(root, files(link__x="1\n"))
    assert result.conflicts and not result.create


def test_concurrent_render_is_refused(tmp_path: Path) -> None:
    with writer.locked(tmp_path), pytest.raises(WriteError, match="locked"):
        apply(plan(tmp_path, files(a="1\n")))


def test_diff_redacts_secret_data(tmp_path: Path) -> None:
    old = "kind: Secret\ndata:\n  .dockerconfigjson: T0xEU0VDUkVU\nmetadata:\n  name: x\n"
    apply(plan(tmp_path, {"s.yaml": Planned(old.encode())}))
    new = old.replace("T0xEU0VDUkVU", "TkVXU0VDUkVU").replace("name: x", "name: y")
    diff = unified_diff(plan(tmp_path, {"s.yaml": Planned(new.encode())}))
    assert "T0xEU0VDUkVU" not in diff and "TkVXU0VDUkVU" not in diff
    assert "-  name: x" in diff and "+  name: y" in diff


def test_redact_secret_data_keeps_structure() -> None:
    text = "data:\n  a: b\n  c: d\nkind: Secret\nstringData:\n  x: y\n"
    assert redact_secret_data(text) == (
        "data:\n  a: <redacted>\n  c: <redacted>\nkind: Secret\nstringData:\n  x: <redacted>\n")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.skipif(not writer._exchange_supported(), reason="no atomic directory exchange on this OS")
@pytest.mark.parametrize("fail_at", ["link", "write", "exchange"])
def test_swap_failure_at_each_step_leaves_old_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   fail_at: str) -> None:
    root = tmp_path / "out"
    apply(plan(root, files(a="old a\n", b__c="old c\n", gone="x\n")))
    (root / "user.txt").write_text("not ours")
    before = snapshot(root)
    real_open = os.open

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    if fail_at == "link":
        monkeypatch.setattr(writer.os, "link", boom)
    elif fail_at == "write":
        def fail_new_files(path: object, flags: int, *args: object, **kwargs: object) -> int:
            if "genpolicy-swap" in str(path) and flags & os.O_CREAT:
                boom()
            return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(writer.os, "open", fail_new_files)
    else:
        monkeypatch.setattr(writer, "_exchange", boom)
    with pytest.raises(WriteError):
        apply(plan(root, files(a="new a\n", b__c="old c\n", d="new d\n")))
    assert snapshot(root) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "no staging tree is left behind"


@pytest.mark.skipif(not writer._exchange_supported(), reason="no atomic directory exchange on this OS")
def test_swap_keeps_foreign_files_and_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "out"
    apply(plan(root, files(a="1\n")))
    (root / "notes").mkdir()
    (root / "notes/mine.txt").write_text("mine")
    (root / "link").symlink_to("notes/mine.txt")
    apply(plan(root, files(a="2\n", b="3\n")))
    assert (root / "notes/mine.txt").read_text() == "mine"
    assert os.readlink(root / "link") == "notes/mine.txt"
    assert (root / "a").read_text() == "2\n" and (root / "b").read_text() == "3\n"
