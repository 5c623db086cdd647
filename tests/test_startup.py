"""Start-up cost (issue 15): a render imports only the stacks its spec needs.

Each case runs the real entry point (`python -X importtime -m genpolicy ...`) in a child process
and reads the modules it imported from the interpreter's own import log.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bundles import write_certificate, write_identity
from conftest import ROOT, write_spec

# Never needed by a render of a spec without an encrypting backend.
PLAIN_RENDER_NEVER = ("cryptography", "pyrage", "genpolicy.crypto", "genpolicy.audit", "genpolicy.importer",
                      "genpolicy.explain", "genpolicy.coverage", "genpolicy.coverage_cmd", "genpolicy.scaffold",
                      "genpolicy.templates_cmd", "kubernetes_validate",
                      # only a render that forks, prints a diff or a suggestion, has Kyverno groups or mirrors
                      "multiprocessing", "ctypes.util", "difflib", "genpolicy.render.kyverno_files",
                      "genpolicy.render.kyverno", "tomllib",
                      # its classes are genpolicy.record's: a dataclass costs 0.3 ms to create at import
                      "dataclasses")

ENCRYPTED_SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
outputDir: out
registries:
  - name: ghcr
    server: ghcr.io
    credentials: {{fromEnv: {{username: REG_USER, password: REG_PASS}}}}
clusters:
  - name: prod
    kubernetesVersion: "1.33"
    {backend}
namespaceGroups:
  - name: apps
    namespaces: [alpha]
    registries: [ghcr]
"""


def imported(folder: Path, *args: str | Path, env: dict[str, str] | None = None) -> set[str]:
    """Every module `genpolicy ARGS` imported (it must succeed)."""
    full_env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache"), "REG_USER": "u", "REG_PASS": "p", **(env or {})}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "genpolicy", *map(str, args)],
                          capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def stacks(modules: set[str], names: tuple[str, ...]) -> set[str]:
    """Which of `names` (packages) were imported, themselves or any submodule."""
    return {name for name in names if any(m == name or m.startswith(name + ".") for m in modules)}


def test_a_plain_render_imports_no_crypto_and_no_other_command(plain_spec: Path, plain_env: dict[str, str]) -> None:
    modules = imported(plain_spec.parent, "render", plain_spec, env=plain_env)
    expected = {"genpolicy.pipeline", "genpolicy.render", "jinja2", "genpolicy.typed"}
    assert expected <= modules, "the log was read"
    assert stacks(modules, PLAIN_RENDER_NEVER) == set()


def test_a_sealed_secrets_render_imports_the_crypto_stack(tmp_path: Path) -> None:
    write_certificate(tmp_path / "certs", "prod")
    backend = "backend: sealed-secrets\n    sealedSecrets: {certificate: certs/prod.pem}"
    spec = write_spec(tmp_path, ENCRYPTED_SPEC.format(backend=backend))
    modules = imported(tmp_path, "render", spec)
    assert {"cryptography", "genpolicy.crypto"} <= stacks(modules, PLAIN_RENDER_NEVER)
    assert (tmp_path / "out" / "prod").is_dir()


def test_a_sops_render_imports_pyrage(tmp_path: Path) -> None:
    identity, _ = write_identity(tmp_path)
    backend = f"backend: sops\n    sops: {{recipients: [{identity.to_public()}]}}"
    spec = write_spec(tmp_path, ENCRYPTED_SPEC.format(backend=backend))
    assert {"pyrage", "cryptography", "genpolicy.crypto"} <= stacks(imported(tmp_path, "render", spec),
                                                                     PLAIN_RENDER_NEVER)


def test_a_lazy_command_is_imported_when_it_runs(tmp_path: Path) -> None:
    modules = imported(tmp_path, "audit", "--list-rules")
    assert stacks(modules, PLAIN_RENDER_NEVER) >= {"genpolicy.audit"}
    assert "genpolicy.importer" not in stacks(modules, PLAIN_RENDER_NEVER)
