"""The real entry point: exit codes, messages, --check/--diff, and no credential leaks."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import CRDS, HUB_PASSWORD, PASSWORD, PLAIN_SPEC, ROOT, require_shared, run_cli, write_spec


def all_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.rglob("*")) if p.is_file())


def test_render_then_rerender_changes_nothing(plain_spec: Path, plain_env: dict[str, str]) -> None:
    first = run_cli("render", plain_spec, env=plain_env)
    assert first.code == 0, first.output
    assert "8 objects validated" in first.stderr and "6 created" in first.stderr
    out = plain_spec.parent / "out"
    snapshot = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    second = run_cli("render", plain_spec, env=plain_env)
    assert second.code == 0 and "0 created, 0 updated, 0 deleted, 6 unchanged" in second.stderr
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()} == snapshot
    check = run_cli("render", plain_spec, "--check", env=plain_env)
    assert check.code == 0 and "up to date" in check.stderr


def test_check_reports_changes_and_writes_nothing(plain_spec: Path, plain_env: dict[str, str]) -> None:
    assert run_cli("render", plain_spec, env=plain_env).code == 0
    spec_text = plain_spec.read_text().replace("namespaces: [alpha, beta]", "namespaces: [alpha, gamma]")
    plain_spec.write_text(spec_text)
    out = plain_spec.parent / "out"
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    check = run_cli("render", plain_spec, "--check", "--diff", env=plain_env)
    assert check.code == 1
    assert f"would create {out / 'prod/namespaces/gamma.yaml'}" in check.stdout
    assert f"would delete {out / 'prod/namespaces/beta.yaml'}" in check.stdout
    assert "+- gamma.yaml" in check.stdout
    assert ".dockerconfigjson: <redacted>" in check.stdout
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert run_cli("render", plain_spec, env=plain_env).code == 0
    assert not (out / "prod/namespaces/beta.yaml").exists()


@pytest.mark.parametrize(
    ("mutate", "code", "expected"),
    [
        (lambda s: s.replace("kind: PullSecretSpec", "kind: PullSecretSpec\nbogus: 1"), 3,
         "spec.yaml:3:1: bogus: unknown key 'bogus'"),
        (lambda s: s.replace("registries: [ghcr, hub]", "registries: [ghcr, hubb]"), 3,
         "spec.yaml:23:24: namespaceGroups[0].registries[1]: unknown registry 'hubb'; did you mean 'hub'?"),
        (lambda s: s + "\t- broken", 3,
         "spec.yaml:25:1: invalid YAML: while scanning for the next token found character that cannot start any token"),
    ],
)
def test_spec_errors_exit_3_without_traceback(tmp_path: Path, mutate, code: int, expected: str) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec(tmp_path, mutate(PLAIN_SPEC))
    result = run_cli("render", spec)
    assert result.code == code, result.output
    assert f"{spec.parent}/{expected}" in result.stderr
    assert "Traceback" not in result.output


def test_missing_spec_file(tmp_path: Path) -> None:
    result = run_cli("render", tmp_path / "nope.yaml")
    assert result.code == 3
    assert f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory" in result.stderr


def test_unset_env_var_and_unreadable_file(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, PLAIN_SPEC)
    result = run_cli("render", spec, env={"REG_USER": "u"})
    assert result.code == 4, result.output
    assert (f"{spec}:9:47: registries[0].credentials.fromEnv.password: registry 'ghcr': environment variable "
            "REG_PASS is not set") in result.stderr
    assert f"registry 'hub': cannot read {tmp_path / 'hub-password.txt'}: No such file or directory" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists(), "a failed render writes nothing"


def test_usage_error_exit_2() -> None:
    result = run_cli("render", "--no-such-flag")
    assert result.code == 2 and "No such option" in result.stderr


def test_github_and_json_formats(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, PLAIN_SPEC.replace("kind: PullSecretSpec", "kind: PullSecretSpec\nbogus: 1"))
    github = run_cli("render", spec, "--format", "github")
    assert f"::error file={spec},line=3,col=1,title=genpolicy bogus::unknown key 'bogus'" in github.stderr
    as_json = run_cli("render", spec, "--format", "json")
    problems = yaml.safe_load(as_json.stdout)["problems"]
    assert problems[0]["line"] == 3 and problems[0]["path"] == "bogus"


def test_conflict_with_a_user_file_exits_6(plain_spec: Path, plain_env: dict[str, str]) -> None:
    target = plain_spec.parent / "out/prod/namespaces/alpha.yaml"
    target.parent.mkdir(parents=True)
    target.write_text("# my own file\n")
    result = run_cli("render", plain_spec, env=plain_env)
    assert result.code == 6 and "was not written by genpolicy" in result.stderr
    assert target.read_text() == "# my own file\n"
    assert not (plain_spec.parent / "out/prod/kustomization.yaml").exists()


def test_invalid_custom_template_exits_5(plain_spec: Path, plain_env: dict[str, str], tmp_path: Path) -> None:
    templates = tmp_path / "tpl"
    templates.mkdir()
    (templates / "serviceaccount.yaml.j2").write_text(
        '{% extends "builtin/serviceaccount.yaml.j2" %}\n'
    )
    builtin = (ROOT / "templates/serviceaccount.yaml.j2").read_text()
    (templates / "serviceaccount.yaml.j2").write_text(builtin.replace("imagePullSecrets:", "imagePullSecret:"))
    result = run_cli("render", plain_spec, "--templates", templates, env=plain_env)
    assert result.code == 5, result.output
    assert "prod/namespaces/alpha.yaml: ServiceAccount alpha/builder: (root): unknown field" in result.stderr
    assert "template serviceaccount.yaml.j2" in result.stderr
    assert not (plain_spec.parent / "out").exists()


def test_schema_command_prints_json_schema() -> None:
    result = run_cli("schema")
    schema = yaml.safe_load(result.stdout)
    assert result.code == 0 and schema["$schema"].endswith("2020-12/schema")
    assert {"apiVersion", "kind", "registries", "clusters", "namespaceGroups"} <= set(schema["properties"])


def test_credentials_never_leak(plain_spec: Path, plain_env: dict[str, str], tmp_path: Path) -> None:
    """Values may appear in the (opted-in) plaintext Secrets only, base64-encoded, never in any output."""
    needles = [PASSWORD, HUB_PASSWORD, base64.b64encode(PASSWORD.encode()).decode()[:20]]
    runs = [
        run_cli("render", plain_spec, "--diff", env=plain_env),
        run_cli("render", plain_spec, "--check", "--diff", env=plain_env),
        run_cli("render", plain_spec, "--format", "json", "--diff", env=plain_env),
    ]
    plain_spec.write_text(plain_spec.read_text().replace("alpha, beta", "alpha"))
    runs.append(run_cli("render", plain_spec, "--check", "--diff", env=plain_env))
    runs.append(run_cli("render", plain_spec, "--templates", tmp_path / "missing", env=plain_env))
    for result in runs:
        for needle in needles:
            assert needle not in result.output
    rendered = all_text(plain_spec.parent / "out")
    assert PASSWORD not in rendered and HUB_PASSWORD not in rendered


def test_kubectl_kustomize_builds_the_output(plain_spec: Path, plain_env: dict[str, str]) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not on PATH: cannot check that `kubectl kustomize` builds the output")
    assert run_cli("render", plain_spec, env=plain_env).code == 0
    built = subprocess.run([kubectl, "kustomize", str(plain_spec.parent / "out/prod")], capture_output=True,
                           text=True, check=True).stdout
    kinds = sorted((d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for d in yaml.safe_load_all(built))
    expected = [("Secret", ns, n) for ns in ("alpha", "beta") for n in ("ghcr-pull", "hub-pull")]
    expected += [("ServiceAccount", ns, n) for ns in ("alpha", "beta") for n in ("builder", "default")]
    assert kinds == sorted(expected)


def test_render_with_crds_validates_external_secrets(tmp_path: Path) -> None:
    require_shared()
    out = tmp_path / "qs"
    result = run_cli("render", ROOT / "examples/quickstart/spec.yaml", "-o", out, "--crds", CRDS)
    assert result.code == 0, result.output
    assert "not validated" not in result.stderr
    without = run_cli("render", ROOT / "examples/quickstart/spec.yaml", "-o", tmp_path / "other")
    assert without.code == 0 and "not validated" not in without.stderr  # the shipped schemas cover it


def test_output_pointing_at_a_file_exits_6_with_the_path(plain_spec: Path, plain_env: dict[str, str]) -> None:
    blocker = plain_spec.parent / "not-a-folder"
    blocker.write_text("mine\n")
    for output in (blocker, blocker / "sub"):
        result = run_cli("render", plain_spec, "-o", output, env=plain_env)
        assert result.code == 6, result.output
        assert f"{blocker}: is not a folder" in result.stderr and "internal error" not in result.output
    assert blocker.read_text() == "mine\n"


def test_every_missing_credential_is_reported_at_once(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, PLAIN_SPEC)
    result = run_cli("render", spec, env={})
    assert result.code == 4, result.output
    for variable in ("REG_USER", "REG_PASS"):
        assert f"registry 'ghcr': environment variable {variable} is not set" in result.stderr
    assert "hub-password.txt" in result.stderr and "(3 problems)" in result.stderr


def _interrupt_after(delay: float, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    import os
    import signal
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GHCR_", "REG_"))}
    proc = subprocess.Popen([sys.executable, "-m", "genpolicy", *args], cwd=cwd, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("delay", [0.15, 0.3, 0.6, 1.2, 4.0])
def test_ctrl_c_exits_130_with_one_line_and_no_traceback(plain_spec: Path, delay: float) -> None:
    """A real SIGINT, during the imports or while `coverage -w -` waits on its standard input."""
    run = _interrupt_after(delay, ["coverage", str(plain_spec), "-w", "-"], plain_spec.parent)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 130, (run.returncode, run.stderr)
    assert [line for line in run.stderr.splitlines() if line.strip()] == [
        "genpolicy: interrupted; nothing was written unless a render had finished"]
