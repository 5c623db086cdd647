"""Hostile inputs (issue 19, item 6): FIFOs, devices, huge files, alias bombs, deep JSON, bad bytes.

Every input path must answer quickly with a clear message and a documented exit code: never
hang, never MemoryError or RecursionError (exit 70).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_backends import make_certificate

from conftest import ROOT, write_spec

SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
allowPlaintext: true
registries:
  - name: ghcr
    server: ghcr.io
    credentials: {username: robot, fromFile: {password: pass.txt}}
clusters: [{name: prod, kubernetesVersion: "1.33"}]
namespaceGroups: [{name: apps, namespaces: [alpha], registries: [ghcr]}]
"""

BOMB = """apiVersion: v1
kind: ConfigMap
metadata: {name: bomb}
data:
  a: &a ["x","x","x","x","x","x","x","x","x"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def genpolicy(*args: str | Path, env: dict[str, str | bytes] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI with a short timeout: a hang fails the test instead of stalling the suite."""
    full: dict[str, str | bytes] = {k: v for k, v in os.environ.items() if not k.startswith("GENPOLICY_")}
    full.update(env or {})
    try:
        return subprocess.run([sys.executable, "-m", "genpolicy", *map(str, args)], capture_output=True,
                              text=True, env=full, cwd=ROOT, timeout=60, check=False)  # type: ignore[arg-type]
    except subprocess.TimeoutExpired:
        pytest.fail(f"genpolicy {' '.join(map(str, args))} hung")


def expect(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr + result.stdout


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    (tmp_path / "pass.txt").write_text("a-password-value\n")
    return write_spec(tmp_path, SPEC)


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_fifo_as_spec(tmp_path: Path) -> None:
    expect(genpolicy("render", fifo(tmp_path / "spec.yaml")), 3, "not a regular file")
    expect(genpolicy("lint", tmp_path / "spec.yaml"), 3, "not a regular file")


def test_fifo_and_device_as_credential_file(spec: Path) -> None:
    (spec.parent / "pass.txt").unlink()
    fifo(spec.parent / "pass.txt")
    expect(genpolicy("render", spec), 4, "not a regular file", "fromFile.password")
    (spec.parent / "pass.txt").unlink()
    (spec.parent / "pass.txt").symlink_to("/dev/zero")
    expect(genpolicy("render", spec), 4, "not a regular file")


def test_huge_credential_docker_config_and_certificate(tmp_path: Path) -> None:
    with open(tmp_path / "pass.txt", "wb") as handle:
        handle.truncate(400 * 1024 * 1024)  # sparse: costs no disk
    spec = write_spec(tmp_path, SPEC)
    expect(genpolicy("render", spec), 4, "larger than")
    with open(tmp_path / "config.json", "wb") as handle:
        handle.truncate(400 * 1024 * 1024)
    spec.write_text(SPEC.replace("{username: robot, fromFile: {password: pass.txt}}",
                                 "{dockerConfig: {path: config.json}}"))
    expect(genpolicy("render", spec), 4, "larger than")
    make_certificate(tmp_path)
    spec.write_text(SPEC.replace("allowPlaintext: true\n", "").replace(
        '{name: prod, kubernetesVersion: "1.33"}',
        '{name: prod, kubernetesVersion: "1.33", backend: sealed-secrets, sealedSecrets: {certificate: cert.pem}}'))
    (tmp_path / "pass.txt").write_text("a-password-value\n")
    (tmp_path / "cert.pem").unlink()
    (tmp_path / "cert.pem").symlink_to("/dev/zero")
    expect(genpolicy("render", spec), 4, "sealing certificate is not a regular file")


def test_deeply_nested_docker_config(tmp_path: Path) -> None:
    (tmp_path / "pass.txt").write_text("x")
    (tmp_path / "config.json").write_text('{"auths":' + "[" * 100_000 + "]" * 100_000 + "}")
    spec = write_spec(tmp_path, SPEC.replace("{username: robot, fromFile: {password: pass.txt}}",
                                             "{dockerConfig: {path: config.json}}"))
    expect(genpolicy("render", spec), 4, "nested")
    expect(genpolicy("explain", "ghcr.io/a/b", "--dockerconfig", tmp_path / "config.json"), 2, "nested deeper")


def test_fifo_inputs_of_validate_explain_coverage(spec: Path) -> None:
    pipe = fifo(spec.parent / "pipe.yaml")
    expect(genpolicy("validate", pipe), 1, "not a regular file")
    expect(genpolicy("explain", "ghcr.io/a/b", "--dockerconfig", pipe), 2, "not a regular file")
    expect(genpolicy("coverage", spec, "-w", pipe), 1, "not a regular file")


def test_fifo_in_crds_and_templates(spec: Path) -> None:
    pipe = fifo(spec.parent / "crd.yaml")
    expect(genpolicy("render", spec, "--crds", pipe), 2, "not a regular file")
    expect(genpolicy("validate", spec, "--crds", pipe), 2, "not a regular file")
    (spec.parent / "tpl").mkdir()
    fifo(spec.parent / "tpl/secret.yaml.j2")
    expect(genpolicy("render", spec, "--templates", spec.parent / "tpl"), 2, "not a regular file")


def test_alias_bombs_in_validate_inputs_and_crds(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(BOMB)
    expect(genpolicy("validate", tmp_path / "bomb.yaml"), 1, "alias expansion")
    crd = BOMB.replace("kind: ConfigMap", "kind: CustomResourceDefinition")
    (tmp_path / "crd.yaml").write_text(crd)
    (tmp_path / "ok.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n")
    expect(genpolicy("validate", tmp_path / "ok.yaml", "--crds", tmp_path / "crd.yaml"), 2, "alias expansion")


def test_non_utf8_password_in_the_environment(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC.replace("fromFile: {password: pass.txt}", "fromEnv: {password: BAD_PASS}"))
    expect(genpolicy("render", spec, env={"BAD_PASS": b"caf\xe9-password"}), 4, "not valid UTF-8")
