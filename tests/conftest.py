"""Shared test helpers: the real CLI entry point, spec builders, the shared/ folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENPOLICY_SHARED") or ROOT.parent / "shared")  # see README "Running the tests"
CRDS = SHARED / "crds"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run `python -m genpolicy` exactly as a user would (a real process, real exit code)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GHCR_", "REG_"))}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "genpolicy", *map(str, args)],
        capture_output=True, text=True, env=full_env, cwd=cwd or ROOT, timeout=300, check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def write_spec(folder: Path, body: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


PLAIN_SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
outputDir: out
allowPlaintext: true
registries:
  - name: ghcr
    server: ghcr.io
    credentials:
      fromEnv: {username: REG_USER, password: REG_PASS}
  - name: hub
    server: https://index.docker.io/v1/
    secretName: hub-pull
    credentials:
      username: hubuser
      fromFile: {password: hub-password.txt}
clusters:
  - name: prod
    kubernetesVersion: "1.33"
    gitops: argocd
namespaceGroups:
  - name: apps
    namespaces: [alpha, beta]
    registries: [ghcr, hub]
    serviceAccounts: [default, builder]
"""

USERNAME = "octo-user"
PASSWORD = "s3cr3t-Pa55:w0rd/\"{{ x }}\"\n#tail"
HUB_PASSWORD = "hub-T0ken-value-XYZ"


@pytest.fixture
def plain_spec(tmp_path: Path) -> Path:
    (tmp_path / "hub-password.txt").write_text(HUB_PASSWORD + "\n")
    return write_spec(tmp_path, PLAIN_SPEC)


@pytest.fixture
def plain_env() -> dict[str, str]:
    return {"REG_USER": USERNAME, "REG_PASS": PASSWORD}


def require_shared() -> Path:
    if not CRDS.is_dir():
        pytest.skip(f"upstream CRDs not found at {CRDS}: set GENPOLICY_SHARED (README: Running the tests on a "
                    "fresh clone)")
    return CRDS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line naming the real tools (tests/realtools.py) that tests ran, with their versions."""
    import realtools

    terminalreporter.write_line(realtools.summary())
