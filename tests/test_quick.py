"""The no-change answer before the heavy imports (genpolicy.quick): it repeats the last full render's
answer only when every raw input it read is as then, prints exactly what the full path prints, and
falls through to the full path for anything else."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import HUB_PASSWORD, Run, run_cli
from genpolicy import cachekey, quick, quick_output

SKIPPED = "unchanged inputs and output, render skipped"
LIGHT_NEVER = {"pathlib", "datetime", "secrets", "signal"}  # nor, unless a file is racy: typing, json, hashlib, re
HEAVY = ("genpolicy.typed", "jinja2", "kubernetes_validate", "cryptography", "genpolicy.specfile", "click")


@pytest.fixture
def env(tmp_path: Path, plain_env: dict[str, str]) -> dict[str, str]:
    return {**plain_env, "XDG_CACHE_HOME": str(tmp_path / "cache")}


def render(spec: Path, env: dict[str, str], *args: str) -> Run:
    result = run_cli("render", spec, *args, env=env)
    assert result.code == 0, result.output
    return result


def imported(stderr: str) -> set[str]:
    """Module names from `python -X importtime` lines."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_no_change_is_answered_before_the_heavy_imports(plain_spec: Path, env: dict[str, str]) -> None:
    render(plain_spec, env)
    quick = render(plain_spec, {**env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert SKIPPED in quick.stderr
    modules = imported(quick.stderr)
    assert "genpolicy.quick" in modules and not {m for m in modules if m.startswith(HEAVY)}
    assert not {"dataclasses", "genpolicy.writer", "genpolicy.journal"} & modules, "a sixth of the answer's CPU"
    assert not LIGHT_NEVER & modules, "each a measurable share of an answer of a few milliseconds"
    full = render(plain_spec, {**env, "PYTHONPROFILEIMPORTTIME": "1"}, "--format", "text")  # not `render SPEC`
    assert SKIPPED in full.stderr and "genpolicy.typed" in imported(full.stderr), \
        "the full path's own cache answered"
    strip = lambda run: [line for line in run.stderr.splitlines() if not line.startswith("import time:")]  # noqa: E731
    assert strip(quick) == strip(full), "the quick answer prints exactly what the full path prints"


@pytest.mark.parametrize("change", ["credential file", "credential env", "env absent to set", "spec", "cwd",
                                    "fingerprint key appears", "hand edit", "staging leftover"])
def test_any_raw_input_change_falls_through(plain_spec: Path, env: dict[str, str], tmp_path: Path,
                                            change: str) -> None:
    render(plain_spec, env)
    out = plain_spec.parent / "out"
    cwd = None
    if change == "credential file":
        (tmp_path / "hub-password.txt").write_text(HUB_PASSWORD + "-rotated\n")
    elif change == "credential env":
        env = {**env, "REG_USER": "someone-else"}
    elif change == "env absent to set":
        env = {**env, "GENPOLICY_FINGERPRINT_KEY": "x"}  # looked up (absent) only if encrypting: not recorded
    elif change == "spec":
        plain_spec.write_text(plain_spec.read_text() + "\n")
    elif change == "cwd":
        cwd = tmp_path
    elif change == "fingerprint key appears":
        (tmp_path / ".genpolicy-fingerprint.key").write_text("00" * 32 + "\n")
    elif change == "hand edit":
        (out / "prod/namespaces/alpha.yaml").write_text("# edited\n")
    else:
        (out / ".genpolicy-staging").mkdir()
    result = run_cli("render", plain_spec, env={**env, "PYTHONPROFILEIMPORTTIME": "1"}, cwd=cwd)
    fell_through = "genpolicy.typed" in imported(result.stderr)
    if change == "env absent to set":
        assert result.code == 0 and SKIPPED in result.stderr and not fell_through, "a variable never looked up"
        return
    assert fell_through, f"{change}: the quick answer must not answer"
    if change == "hand edit":
        assert result.code == 6 and "changed by hand" in result.stderr  # the full path decides
        return
    assert result.code == 0, result.output
    if change in ("credential file", "credential env", "spec"):
        assert SKIPPED not in result.stderr
    if change in ("credential file", "credential env"):
        assert "updated" in result.stderr and "0 updated" not in result.stderr
    if change == "staging leftover":
        assert not (out / ".genpolicy-staging").exists(), "the full path recovered the leftovers"


def _record(tmp_path: Path) -> tuple[str, bytes, dict[str, Any]]:
    [record_file] = (tmp_path / "cache" / "genpolicy").glob("quick-*.rec")
    key = cachekey.load_key(str(tmp_path / "cache" / "genpolicy"))
    record = quick.read(key, str(record_file))
    assert record is not None
    return str(record_file), key, record


def test_the_record_lists_what_the_render_read(plain_spec: Path, env: dict[str, str], tmp_path: Path) -> None:
    render(plain_spec, env)
    record_file, key, record = _record(tmp_path)
    assert {"REG_USER", "REG_PASS"} <= set(record["env"])
    assert str(tmp_path / "hub-password.txt") in record["files"]
    assert str(tmp_path / ".genpolicy-fingerprint.key") in record["files"]
    assert HUB_PASSWORD.encode() not in Path(record_file).read_bytes(), "no credential in the record"
    data = bytearray(Path(record_file).read_bytes())
    data[-1] ^= 1  # one flipped bit: the tag no longer matches, the record is never decoded
    Path(record_file).write_bytes(bytes(data))
    assert quick.read(key, record_file) is None
    assert SKIPPED in render(plain_spec, env).stderr  # the full path's own cache answers instead
    assert quick.read(key, record_file) is not None, "and records again"
    quick.write(key, record_file, {**record, "format": quick.QUICK_FORMAT - 1})
    assert quick.read(key, record_file) is None, "another version's record is not read"


def test_a_spec_replaced_by_a_fifo_is_not_waited_on(plain_spec: Path, env: dict[str, str]) -> None:
    import os

    render(plain_spec, env)
    text = plain_spec.read_text()
    plain_spec.unlink()
    os.mkfifo(plain_spec)
    result = run_cli("render", plain_spec, env=env)  # would block forever if the quick answer opened it plainly
    assert result.code != 0 and SKIPPED not in result.stderr and "regular file" in result.stderr
    plain_spec.unlink()
    plain_spec.write_text(text)


# -- the output check: lstat signatures, racy entries checked (genpolicy.quick_output) ------------------------


def test_a_hand_edit_keeping_size_and_mtime_is_seen(plain_spec: Path, env: dict[str, str], tmp_path: Path) -> None:
    render(plain_spec, env)
    first = _record(tmp_path)[2]
    time.sleep(quick_output.RACY_NS / 1e9 + 0.1)  # every file the render wrote is now older than the window
    assert SKIPPED in render(plain_spec, env).stderr, "an ordinary no-change render is answered"
    refreshed = _record(tmp_path)[2]
    assert refreshed["signed_at"] > first["signed_at"], "the racy files were hashed once, then trusted by signature"
    settled = render(plain_spec, {**env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert SKIPPED in settled.stderr
    assert not (LIGHT_NEVER | {"typing", "json", "hashlib", "re"}) & imported(settled.stderr), "stat only"
    target = plain_spec.parent / "out" / "prod/namespaces/alpha.yaml"
    before, text = target.stat(), target.read_text()
    target.write_text(text.replace("alpha", "omega"))  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size and target.stat().st_mtime_ns == before.st_mtime_ns
    result = run_cli("render", plain_spec, env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert "genpolicy.typed" in imported(result.stderr), "the changed ctime is a miss: the full path decides"
    assert result.code == 6 and "changed by hand" in result.stderr


@pytest.mark.parametrize("leftover", ["older version's temporary", "staging folder", "swap copy", "user's file"])
def test_a_new_entry_in_an_owned_folder_is_seen_without_listing_it(plain_spec: Path, env: dict[str, str],
                                                                    tmp_path: Path, leftover: str) -> None:
    render(plain_spec, env)
    time.sleep(quick_output.RACY_NS / 1e9 + 0.1)
    assert SKIPPED in render(plain_spec, env).stderr  # signed_at refreshed: the next check lists no folder
    out = plain_spec.parent / "out"
    if leftover == "older version's temporary":
        (out / "prod/namespaces/.alpha.yaml.genpolicy-tmp").write_text("partial")
    elif leftover == "staging folder":
        (out / quick_output.STAGING).mkdir()
    elif leftover == "swap copy":
        (out.parent / f".out{quick_output.SWAP_MARK}1234").mkdir()
    else:
        (out / "prod/NOTES.md").write_text("mine\n")
    result = run_cli("render", plain_spec, env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert result.code == 0, result.output
    assert "genpolicy.typed" in imported(result.stderr), f"{leftover}: a miss, the full path decides"
    if leftover == "user's file":
        assert (out / "prod/NOTES.md").read_text() == "mine\n", "a file genpolicy did not write stays"
        assert SKIPPED in render(plain_spec, env).stderr and _record(tmp_path)[2], "recorded again"
    else:
        left = {p.name for p in [*out.rglob("*"), *out.parent.iterdir()] if ".genpolicy-" in p.name}
        assert left == {quick_output.OWNED_FILE}, "the full path recovered the leftovers"


def _signed_folder(root: Path, content: bytes, recorded: bytes) -> tuple[str, quick_output.Layout, str]:
    """An output folder whose owned-files record says `recorded` for ns/a.yaml, with `content` on disk."""
    import hashlib

    (root / "ns").mkdir(parents=True)
    (root / "ns/a.yaml").write_bytes(content)
    owned = json.dumps({"files": {"ns/a.yaml": hashlib.sha256(recorded).hexdigest()}}).encode()
    (root / quick_output.OWNED_FILE).write_bytes(owned)
    tree = quick_output.layout(["ns/a.yaml"])
    state = quick_output.take(str(root), tree)
    assert state is not None
    return quick_output.owned_digest(owned), tree, state


def test_the_layout_lists_every_folder_on_the_way() -> None:
    tree = quick_output.layout(["a/b/c/x.yaml", "a/y.yaml", "z.yaml"])
    assert tree == [("", [quick_output.OWNED_FILE, "z.yaml"]), ("a", ["y.yaml"]), ("a/b", []), ("a/b/c", ["x.yaml"])]


def test_a_file_stamped_within_the_window_is_hashed(tmp_path: Path) -> None:
    signed_at = time.time_ns()  # the render began; the file is then edited before its signature is taken
    owned, tree, state = _signed_folder(tmp_path / "out", b"kind: Edited\n", b"kind: Secret\n")
    root = str(tmp_path / "out")
    assert not quick_output.check(root, owned, tree, state, signed_at).unchanged, \
        "equal signatures, but the racy file's SHA-256 differs"
    old = quick_output.check(root, owned, tree, state, signed_at + 3 * quick_output.RACY_NS)
    assert old.unchanged and old.hashed == 0, "outside the window the signature alone decides (nothing hashed)"


def test_a_racy_hit_hashes_and_then_refreshes(tmp_path: Path) -> None:
    signed_at = time.time_ns()
    owned, tree, state = _signed_folder(tmp_path / "out", b"kind: Secret\n", b"kind: Secret\n")
    found = quick_output.check(str(tmp_path / "out"), owned, tree, state, signed_at)
    assert found.unchanged and found.hashed == 1
    assert not found.refresh, "still inside the window: refreshing would not save a hash"
    time.sleep(quick_output.RACY_NS / 1e9 + 0.1)
    later = quick_output.check(str(tmp_path / "out"), owned, tree, state, signed_at)
    assert later.unchanged and later.hashed == 1 and later.refresh


def test_a_racy_folder_is_listed_for_leftovers(tmp_path: Path) -> None:
    signed_at = time.time_ns()
    (tmp_path / "out" / "ns").mkdir(parents=True)
    (tmp_path / "out" / "ns" / ".a.yaml.genpolicy-tmp").write_text("partial")  # before the signatures: same state
    owned, tree, state = _signed_folder_in_place(tmp_path / "out")
    assert not quick_output.check(str(tmp_path / "out"), owned, tree, state, signed_at).unchanged
    assert quick_output.check(str(tmp_path / "out"), owned, tree, state, signed_at + 3 * quick_output.RACY_NS).unchanged


def _signed_folder_in_place(root: Path) -> tuple[str, quick_output.Layout, str]:
    import hashlib

    (root / "ns/a.yaml").write_bytes(b"x\n")
    owned = json.dumps({"files": {"ns/a.yaml": hashlib.sha256(b"x\n").hexdigest()}}).encode()
    (root / quick_output.OWNED_FILE).write_bytes(owned)
    tree = quick_output.layout(["ns/a.yaml"])
    state = quick_output.take(str(root), tree)
    assert state is not None
    return quick_output.owned_digest(owned), tree, state


def test_a_folder_replaced_by_a_symlink_is_a_miss(tmp_path: Path) -> None:
    owned, tree, state = _signed_folder(tmp_path / "out", b"x\n", b"x\n")
    later = time.time_ns() + 3 * quick_output.RACY_NS
    assert quick_output.check(str(tmp_path / "out"), owned, tree, state, later).unchanged
    (tmp_path / "out" / "ns").rename(tmp_path / "elsewhere")
    (tmp_path / "out" / "ns").symlink_to(tmp_path / "elsewhere")
    assert not quick_output.check(str(tmp_path / "out"), owned, tree, state, later).unchanged


def test_the_output_names_agree_with_the_writer() -> None:
    from genpolicy import journal, ondisk, writer

    assert (quick_output.OWNED_FILE, quick_output.SWAP_MARK) == (writer.OWNED_FILE, writer.SWAP_MARK)
    assert (quick_output.STAGING, quick_output.LEGACY_SUFFIX) == (journal.STAGING, journal.LEGACY_SUFFIX)
    assert quick_output.RACY_SECONDS == ondisk.RACY_SECONDS


# -- what the adversarial review found: each a case the quick answer once got wrong ------------------------------


def test_an_input_saved_during_the_render_is_not_recorded(plain_spec: Path, env: dict[str, str],
                                                         tmp_path: Path) -> None:
    """The record must tie the output to the bytes the render used, not to what the files hold by the time
    it is made (a spec saved mid-render would otherwise be answered "unchanged" with the old output)."""
    import subprocess
    import sys

    edit = tmp_path / "edit_during_render.py"
    edit.write_text(
        "import pathlib, sys\n"
        "from genpolicy import cli, writer\n"
        "original = writer.apply\n"
        "def apply(plan):\n"
        "    result = original(plan)\n"
        "    spec = pathlib.Path(sys.argv[2])\n"
        "    text = spec.read_text()\n"
        "    spec.write_text(text.replace('namespaces: [alpha, beta]', 'namespaces: [alpha, beta, gamma]'))\n"
        "    return result\n"
        "writer.apply = apply\n"
        "sys.argv = ['genpolicy'] + sys.argv[1:]\n"
        "cli.main()\n")
    assert "namespaces: [alpha, beta]" in plain_spec.read_text()
    proc = subprocess.run([sys.executable, str(edit), "render", str(plain_spec)], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=Path(__file__).parents[1], timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "gamma" in plain_spec.read_text()
    assert not list((tmp_path / "cache" / "genpolicy").glob("quick-*.rec")), "nothing recorded"
    again = render(plain_spec, env)
    assert SKIPPED not in again.stderr and "created" in again.stderr and "0 created" not in again.stderr
    assert (plain_spec.parent / "out/prod/namespaces/gamma.yaml").exists()


def test_leftovers_in_a_symlinked_root_or_a_folder_without_owned_files_are_seen(
        plain_spec: Path, env: dict[str, str], tmp_path: Path) -> None:
    render(plain_spec, env)
    out = plain_spec.parent / "out"
    (out / "prod/extra").mkdir()  # a folder with no owned file in it
    out.rename(tmp_path / "real")
    out.symlink_to(tmp_path / "real")
    render(plain_spec, env)
    time.sleep(quick_output.RACY_NS / 1e9 + 0.1)
    assert SKIPPED in render(plain_spec, env).stderr
    for leftover in (tmp_path / "real" / quick_output.STAGING, tmp_path / "real/prod/extra/.a.genpolicy-tmp"):
        assert SKIPPED in render(plain_spec, env).stderr  # settled again: stat-only
        if leftover.name == quick_output.STAGING:
            leftover.mkdir()
        else:
            leftover.write_text("partial")
        result = run_cli("render", plain_spec, env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
        assert result.code == 0 and "genpolicy.typed" in imported(result.stderr), f"{leftover.name}: a miss"
        assert not leftover.exists(), "the full path recovered it"
        time.sleep(quick_output.RACY_NS / 1e9 + 0.1)


@pytest.mark.parametrize("damage", ["a field missing", "a field of another type", "a bad tree"])
def test_a_tagged_record_of_another_shape_falls_through_and_is_replaced(plain_spec: Path, env: dict[str, str],
                                                                       tmp_path: Path, damage: str) -> None:
    render(plain_spec, env)
    record_file, key, record = _record(tmp_path)
    if damage == "a field missing":
        del record["inputs"]
    elif damage == "a field of another type":
        record["env"] = "REG_USER"
    else:
        record["tree"] = [("", None)]
    quick.write(key, record_file, record)
    result = run_cli("render", plain_spec, env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert result.code == 0 and "Traceback" not in result.stderr and "genpolicy.typed" in imported(result.stderr)
    assert quick.read(key, record_file) is not None and _record(tmp_path)[2] != record, "written again"


def test_a_deleted_working_folder_falls_through(plain_spec: Path, env: dict[str, str], tmp_path: Path) -> None:
    import subprocess
    import sys

    gone = tmp_path / "gone"
    gone.mkdir()
    script = f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); " \
             "sys.argv = ['genpolicy', 'render', sys.argv[1]]; from genpolicy.entry import main; main()"
    proc = subprocess.run([sys.executable, "-c", script, str(plain_spec)], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300, check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr and "internal error" not in proc.stderr, \
        proc.stderr[-2000:]
    assert (plain_spec.parent / "out/prod/namespaces/alpha.yaml").exists(), "rendered; only the record is skipped"


def test_no_credential_value_is_in_any_record(plain_spec: Path, env: dict[str, str], tmp_path: Path) -> None:
    render(plain_spec, env)
    render(plain_spec, env)
    for record in (tmp_path / "cache" / "genpolicy").iterdir():
        if record.is_file():
            data = record.read_bytes()
            for secret in (HUB_PASSWORD, env["REG_PASS"]):
                assert secret.encode() not in data, record.name


def test_an_answer_that_cannot_be_printed_is_an_error_not_a_second_render(plain_spec: Path, env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    """The answer is decided before it is printed: a stderr that fails is exit status 1, and the full path (here a
    stand-in that leaves a mark) never runs to print it again."""
    import subprocess
    import sys

    render(plain_spec, env)
    mark = tmp_path / "full-path-ran"
    script = (
        "import sys, types\n"
        "fake = types.ModuleType('genpolicy.cli')\n"
        f"fake.main = lambda: open({str(mark)!r}, 'w').close()\n"
        "sys.modules['genpolicy.cli'] = fake\n"
        "class Full:\n"
        "    def write(self, text): raise OSError(28, 'No space left on device')\n"
        "    def flush(self): raise OSError(28, 'No space left on device')\n"
        "sys.stderr = Full()\n"
        "sys.argv = ['genpolicy', 'render', sys.argv[1]]\n"
        "from genpolicy.entry import main\n"
        "main()\n")
    proc = subprocess.run([sys.executable, "-c", script, str(plain_spec)], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=Path(__file__).parents[1], timeout=300, check=False)
    assert proc.returncode == 1 and not mark.exists(), proc.stderr[-2000:]


def test_an_answer_with_stdout_closed_succeeds(plain_spec: Path, env: dict[str, str]) -> None:
    import subprocess
    import sys

    render(plain_spec, env)
    proc = subprocess.run([sys.executable, "-m", "genpolicy", "render", str(plain_spec)], stdout=None,
                          stderr=subprocess.PIPE, text=True, env={**os.environ, **env}, timeout=300, check=False,
                          preexec_fn=lambda: os.close(1))
    assert proc.returncode == 0 and SKIPPED in proc.stderr, proc.stderr[-2000:]


def test_a_fingerprint_key_replaced_right_after_this_render_saved_it_is_not_recorded(tmp_path: Path) -> None:
    """The key a render generates is recorded as the bytes it wrote: one replaced before the record is made
    (another render, a checkout) is not taken for this render's input."""
    import subprocess
    import sys

    from test_startup import ENCRYPTED_SPEC

    from bundles import write_certificate
    from conftest import write_spec

    write_certificate(tmp_path / "certs", "prod")
    spec = write_spec(tmp_path, ENCRYPTED_SPEC.format(
        backend="backend: sealed-secrets\n    sealedSecrets: {certificate: certs/prod.pem}"))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "REG_USER": "u", "REG_PASS": "p"}
    script = (
        "import base64, os, sys\n"
        "from genpolicy import cli\n"
        "from genpolicy.render.encrypted import FingerprintKey\n"
        "original = FingerprintKey.save\n"
        "def save(self):\n"
        "    original(self)\n"
        "    self.path.write_text(base64.b64encode(os.urandom(32)).decode() + '\\n')\n"
        "FingerprintKey.save = save\n"
        "sys.argv = ['genpolicy'] + sys.argv[1:]\n"
        "cli.main()\n")
    proc = subprocess.run([sys.executable, "-c", script, "render", str(spec)], capture_output=True, text=True,
                          env=env, cwd=Path(__file__).parents[1], timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / ".genpolicy-fingerprint.key").exists()
    assert not list((tmp_path / "cache" / "genpolicy").glob("quick-*.rec")), "nothing recorded"
