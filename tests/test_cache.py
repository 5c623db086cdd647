"""The no-change fast path: it answers only when every input and every output file is as last time,
and it keeps no credential (nor a plain hash of one) anywhere."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import HUB_PASSWORD, PASSWORD, ROOT, Run, run_cli

SKIPPED = "unchanged inputs and output, render skipped"


@pytest.fixture
def env(tmp_path: Path, plain_env: dict[str, str]) -> dict[str, str]:
    return {**plain_env, "XDG_CACHE_HOME": str(tmp_path / "cache")}


def render(spec: Path, env: dict[str, str], *args: str) -> Run:
    result = run_cli("render", spec, *args, env=env)
    assert result.code == 0, result.output
    return result


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_second_render_is_answered_from_the_cache(plain_spec: Path, env: dict[str, str]) -> None:
    first = render(plain_spec, env)
    assert SKIPPED not in first.stderr
    before = snapshot(plain_spec.parent / "out")
    second = render(plain_spec, env)
    assert SKIPPED in second.stderr and "0 created, 0 updated, 0 deleted" in second.stderr
    assert "objects validated" in second.stderr
    assert snapshot(plain_spec.parent / "out") == before
    check = run_cli("render", plain_spec, "--check", env=env)
    assert check.code == 0 and "up to date" in check.stderr


@pytest.mark.parametrize("change", ["credential", "spec", "hand-edit", "deleted-file", "template", "crds",
                                    "no-cache-flag", "no-cache-env"])
def test_anything_changed_means_a_full_render(plain_spec: Path, env: dict[str, str], tmp_path: Path,
                                              change: str) -> None:
    render(plain_spec, env)
    out = plain_spec.parent / "out"
    args: list[str] = []
    expected_code = 0
    if change == "credential":
        env = {**env, "REG_PASS": PASSWORD + "-rotated"}
    elif change == "spec":
        plain_spec.write_text(plain_spec.read_text().replace("[alpha, beta]", "[alpha, beta, gamma]"))
    elif change == "hand-edit":
        (out / "prod/namespaces/alpha.yaml").write_text("# edited\n")
        expected_code = 6
    elif change == "deleted-file":
        (out / "prod/namespaces/alpha.yaml").unlink()
    elif change == "template":
        (tmp_path / "tpl").mkdir()
        args = ["--templates", str(tmp_path / "tpl")]
        render(plain_spec, env, *args)
        (tmp_path / "tpl" / "header.yaml.j2").write_text("# custom header {{ spec_name }}\n")
    elif change == "crds":
        (tmp_path / "crds").mkdir()
        args = ["--crds", str(tmp_path / "crds")]
        render(plain_spec, env, *args)
        (tmp_path / "crds" / "note.yaml").write_text("{}\n")
    elif change == "no-cache-flag":
        args = ["--no-cache"]
    else:
        env = {**env, "GENPOLICY_NO_CACHE": "1"}
    result = run_cli("render", plain_spec, *args, env=env)
    assert result.code == expected_code, result.output
    assert SKIPPED not in result.stderr
    if change in ("credential", "spec", "deleted-file", "template"):
        assert "0 created, 0 updated, 0 deleted" not in result.stderr


def test_the_cache_holds_no_credential_nor_a_plain_hash(plain_spec: Path, env: dict[str, str],
                                                        tmp_path: Path) -> None:
    render(plain_spec, env)
    render(plain_spec, env)
    every_file = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    code = [p for p in every_file if p.parent.name.startswith("templates-")]  # compiled templates: code only
    assert code and all(p.name.startswith("__jinja2_") for p in code)
    for path in code:
        assert not any(s.encode() in path.read_bytes() for s in (PASSWORD, HUB_PASSWORD)), path
    cache_files = [p for p in every_file if p not in code]
    # the verified files' signatures, the record, the key, the quick record (genpolicy.quick)
    names = sorted(p.name for p in cache_files)
    assert len(names) == 4 and names[0].endswith(".files.json") and names[2] == "key", names
    assert names[3].startswith("quick-"), names
    assert (tmp_path / "cache" / "genpolicy" / "key").stat().st_mode & 0o077 == 0
    for path in cache_files:
        if path.suffix == ".json":
            record = path.read_text()
            assert path.stat().st_mode & 0o077 == 0
            for secret in (PASSWORD, HUB_PASSWORD):
                forms = [secret, base64.b64encode(secret.encode()).decode(),
                         *(hashlib.sha256(s.encode()).hexdigest() for s in (secret, secret + "\n"))]
                assert not any(form in record for form in forms), path.name
    assert not list((plain_spec.parent / "out").glob(".genpolicy-cache*")), "nothing is added to the repository"


def test_symlinked_template_folders_are_part_of_the_inputs(plain_spec: Path, env: dict[str, str],
                                                           tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "header.yaml.j2").write_text("# header one {{ spec_name }}\n")
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "linked").symlink_to(real)
    (tmp_path / "tpl" / "header.yaml.j2").write_text('{% include "linked/header.yaml.j2" %}')
    render(plain_spec, env, "--templates", str(tmp_path / "tpl"))
    assert SKIPPED in render(plain_spec, env, "--templates", str(tmp_path / "tpl")).stderr
    (real / "header.yaml.j2").write_text("# header two {{ spec_name }}\n")
    changed = render(plain_spec, env, "--templates", str(tmp_path / "tpl"))
    assert SKIPPED not in changed.stderr and "0 updated" not in changed.stderr


def test_a_record_replaced_by_another_render_is_a_miss(plain_spec: Path, env: dict[str, str]) -> None:
    """Render A stores its own owned-files record, not whatever is on disk when it finishes."""
    from genpolicy.pipeline import RenderOptions
    from genpolicy.pipeline import render as render_job
    from genpolicy.writer import apply

    rotated = {**env, "REG_PASS": PASSWORD + "-new"}
    a = render_job(RenderOptions(plain_spec, environ=rotated, cache=True))
    apply(a.plan)
    render(plain_spec, env)  # render B (old password) writes and stores in between
    a.after_write()  # A remembers itself only now
    again = run_cli("render", plain_spec, env=rotated)
    assert again.code == 0 and SKIPPED not in again.stderr and "0 updated" not in again.stderr


def test_a_damaged_record_is_a_miss(plain_spec: Path, env: dict[str, str], tmp_path: Path) -> None:
    render(plain_spec, env)
    folder = tmp_path / "cache" / "genpolicy"
    for quick in folder.glob("quick-*.rec"):
        quick.unlink()  # the full path's own record is under test (genpolicy.quick has tests/test_quick.py)
    (record,) = [p for p in folder.glob("*.json") if not p.name.endswith(".files.json")]
    for known in folder.glob("*.files.json"):
        known.write_text('{"owned": 1, "known": {"signed_at": "x", "files": []}}')  # damaged too: ignored
    data = json.loads(record.read_text())
    data["warnings"] = [{"unexpected": 1}]
    data["objects"] = "many"
    record.write_text(json.dumps(data))
    result = render(plain_spec, env)
    assert SKIPPED not in result.stderr and "internal error" not in result.stderr


def test_the_spec_file_name_is_part_of_the_inputs(plain_spec: Path, env: dict[str, str]) -> None:
    renamed = plain_spec.parent / "renamed.yaml"
    renamed.write_text(plain_spec.read_text())
    render(renamed, env)
    check = run_cli("render", plain_spec, "--check", env=env)
    assert check.code == 1 and "out of date" in check.stderr, "the headers name renamed.yaml"


def test_a_planted_key_symlink_is_not_followed(plain_spec: Path, env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "genpolicy"
    folder.mkdir(parents=True, mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (folder / "key").symlink_to(victim)
    render(plain_spec, env)
    second = render(plain_spec, env)
    assert victim.read_text() == "precious\n" and SKIPPED not in second.stderr, "cache off, victim untouched"


def test_a_readable_key_or_foreign_folder_disables_the_cache(plain_spec: Path, env: dict[str, str],
                                                            tmp_path: Path) -> None:
    render(plain_spec, env)
    key = tmp_path / "cache" / "genpolicy" / "key"
    key.chmod(0o644)
    assert SKIPPED not in render(plain_spec, env).stderr
    key.chmod(0o600)
    assert SKIPPED in render(plain_spec, env).stderr
    key.parent.chmod(0o777)
    assert SKIPPED not in render(plain_spec, env).stderr



def _code_folders(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["XDG_CACHE_HOME"]) / "genpolicy").glob("templates-*"))


def _accounts(spec: Path) -> str:
    return "".join(p.read_text() for p in sorted((spec.parent / "out").rglob("namespaces/*.yaml")))


def test_compiled_templates_are_cached_privately_and_follow_the_source(plain_spec: Path, env: dict[str, str],
                                                                      tmp_path: Path) -> None:
    """Jinja2's compiled code is kept in a 0700 folder of the cache; a changed template is compiled again."""
    templates = tmp_path / "templates"
    templates.mkdir()
    builtin = (ROOT / "templates" / "serviceaccount.yaml.j2").read_text()
    (templates / "serviceaccount.yaml.j2").write_text(builtin + "# first version\n")
    render(plain_spec, env, "--templates", str(templates))
    [folder] = _code_folders(env)
    assert folder.stat().st_mode & 0o777 == 0o700
    assert len(list(folder.glob("__jinja2_*.cache"))) >= 3
    assert "# first version" in _accounts(plain_spec)
    (templates / "serviceaccount.yaml.j2").write_text(builtin + "# second version\n")
    render(plain_spec, env, "--templates", str(templates))
    assert "# second version" in _accounts(plain_spec) and "# first version" not in _accounts(plain_spec)


def test_compiled_code_is_not_kept_without_the_cache_nor_in_a_loose_folder(plain_spec: Path,
                                                                           env: dict[str, str]) -> None:
    render(plain_spec, env, "--no-cache")
    assert _code_folders(env) == [], "--no-cache keeps no compiled templates either"
    render(plain_spec, env)
    [folder] = _code_folders(env)
    assert list(folder.iterdir())
    for code in folder.iterdir():
        code.unlink()
    folder.chmod(0o777)  # another user could plant code here: it is neither read nor written
    shutil.rmtree(plain_spec.parent / "out")  # a full render with the cache on
    render(plain_spec, env)
    assert list(folder.iterdir()) == []


_COUNT_COMPILES = """
import sys, jinja2
compiled = []
original = jinja2.Environment.compile
def counting(self, *args, **kwargs):
    compiled.append(args[1] if len(args) > 1 else kwargs.get("name"))
    return original(self, *args, **kwargs)
jinja2.Environment.compile = counting
from genpolicy.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    print(f"compiled {len(compiled)} exit {exc.code}", file=sys.stderr)
"""


def _compiles(spec: Path, env: dict[str, str], *args: str) -> int:
    import os
    import re
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _COUNT_COMPILES, "render", str(spec), *args],
                            env={**os.environ, **env}, capture_output=True, text=True, check=False)
    found = re.search(r"compiled (\d+) exit 0", result.stderr)
    assert found, result.stderr
    return int(found.group(1))


def test_the_second_render_loads_compiled_templates_instead_of_compiling(plain_spec: Path,
                                                                         env: dict[str, str]) -> None:
    """A new process with the cache on compiles no template another render compiled; --no-cache compiles all."""
    assert _compiles(plain_spec, env) >= 3
    shutil.rmtree(plain_spec.parent / "out")  # a full render again, in a new process
    assert _compiles(plain_spec, env) == 0
    shutil.rmtree(plain_spec.parent / "out")
    assert _compiles(plain_spec, env, "--no-cache") >= 3, "the count can fail: without the cache all compile"
