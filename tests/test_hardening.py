"""Hostile and broken input: clear errors with documented exit codes, never a traceback or partial output."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PLAIN_SPEC, ROOT, Run, run_cli, write_spec
from genpolicy.errors import GenpolicyError
from genpolicy.specfile import parse_spec


def test_oversized_spec_is_refused_quickly(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("a: " + "x" * (5 * 1024 * 1024) + "\n")
    start = time.perf_counter()
    result = run_cli("render", spec)
    assert result.code == 3 and "larger than" in result.stderr
    assert time.perf_counter() - start < 10


def test_binary_junk_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(bytes(range(256)) * 4)
    result = run_cli("render", spec)
    assert result.code == 3 and "not UTF-8" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("text", [
    "apiVersion: genpolicy/v1alpha1\n---\nkind: PullSecretSpec\n",      # several documents
    "a: !!binary aGVsbG8=\n",                                           # non-standard tag
    "a: !custom x\n",                                                   # local tag
    "? [a, b]\n: c\n",                                                  # complex key
    "a: &x [*x]\n",                                                     # recursive alias
    "\x00\x01",                                                         # control characters
])
def test_odd_yaml_fails_cleanly(text: str) -> None:
    with pytest.raises(GenpolicyError) as info:
        parse_spec(text, "spec.yaml")
    assert info.value.exit_code == 3 and info.value.problems


def test_anchors_and_aliases_are_fine_within_limits() -> None:
    base = yaml.safe_load(PLAIN_SPEC)
    text = PLAIN_SPEC.replace("    serviceAccounts: [default, builder]\n",
                              "    serviceAccounts: &accounts [default, builder]\n")
    text += "  - name: more\n    namespaces: [gamma]\n    registries: [ghcr]\n    serviceAccounts: *accounts\n"
    resolved = parse_spec(text, "spec.yaml")
    assert [t.service_accounts for t in resolved.targets][-1] == ("builder", "default") or \
        [t.service_accounts for t in resolved.targets][-1] == ("default", "builder")
    assert base["kind"] == "PullSecretSpec"


HOSTILE = st.sampled_from(["a: b", "{{ x }}", "'\"", "\n- x", "#", "&a", "*a", "!!python/name:os.system",
                           "${HOME}", "../../etc", "a/b", "..", "\u2028", "\x00", "%", " "])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["server", "secretName", "namespace", "sa", "label", "annotation", "helm", "outputDir",
                              "username", "remoteKey", "store"]), value=HOSTILE)
def test_every_string_field_round_trips_or_is_rejected(tmp_path: Path, field: str, value: str) -> None:
    doc = {
        "apiVersion": "genpolicy/v1alpha1", "kind": "PullSecretSpec", "outputDir": "out",
        "commonLabels": {}, "commonAnnotations": {},
        "registries": [{"name": "r", "server": "reg.example.com", "credentials": {"externalSecret": {
            "store": {"name": "vault"}, "remoteKey": "k"}}}],
        "clusters": [{"name": "c", "kubernetesVersion": "1.33"}],
        "namespaceGroups": [{"name": "g", "namespaces": ["ns"], "registries": ["r"], "serviceAccounts": ["default"]}],
    }
    registry, group = doc["registries"][0], doc["namespaceGroups"][0]  # type: ignore[index]
    target = {
        "server": lambda: registry.update(server=value), "secretName": lambda: registry.update(secretName=value),
        "namespace": lambda: group.update(namespaces=[value]), "sa": lambda: group.update(serviceAccounts=[value]),
        "label": lambda: doc.update(commonLabels={"team": value}),
        "annotation": lambda: doc.update(commonAnnotations={"example.com/note": value}),
        "helm": lambda: doc.update(defaults={"helmValues": {"keys": [value]}}),
        "outputDir": lambda: doc["clusters"][0].update(outputDir=value),  # type: ignore[index]
        "username": lambda: registry["credentials"].update(username=value),
        "remoteKey": lambda: registry["credentials"]["externalSecret"].update(remoteKey=value),
        "store": lambda: registry["credentials"]["externalSecret"]["store"].update(name=value),
    }
    target[field]()
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    spec = work / "spec.yaml"
    spec.write_text(yaml.safe_dump(doc, allow_unicode=False))
    out = work / "out"
    result = run_cli("render", spec, "-o", out)
    assert "Traceback" not in result.output
    if result.code != 0:
        assert result.code in (3, 5), result.output
        assert not out.exists() or not any(out.rglob("*.yaml")), "a refused spec writes nothing"
        return
    for path in out.rglob("*.yaml"):
        for obj in yaml.safe_load_all(path.read_text()):
            if isinstance(obj, dict) and obj.get("kind") in ("ExternalSecret", "ServiceAccount"):
                meta = obj["metadata"]
                if field == "annotation":
                    assert meta["annotations"]["example.com/note"] == value
                assert set(obj) <= {"apiVersion", "kind", "metadata", "spec", "imagePullSecrets"}
    for path in out.rglob("*"):
        assert out in path.resolve().parents or path.resolve() == out, "nothing escapes the output folder"


PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def _drop_file_permission_override() -> None:
    """Root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH after exec: file permissions apply to it too."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop the capability")


def _render_limited(spec: Path, *, unprivileged: bool = False, max_file_bytes: int | None = None) -> Run:
    """Render in a child that obeys file permissions even as root, or whose files cannot grow (RLIMIT_FSIZE)."""

    def limit() -> None:
        if unprivileged and os.geteuid() == 0:
            _drop_file_permission_override()
        if max_file_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes then fail with EFBIG, like a full disk
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    env = {**os.environ, "REG_USER": "u", "REG_PASS": "p" * 8, "GENPOLICY_NO_CACHE": "1"}
    proc = subprocess.run([sys.executable, "-m", "genpolicy", "render", str(spec)], capture_output=True, text=True,
                          env=env, cwd=ROOT, preexec_fn=limit, check=False, timeout=300)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def test_read_only_output_folder(tmp_path: Path) -> None:
    (tmp_path / "hub-password.txt").write_text("x" * 8)
    spec = write_spec(tmp_path, PLAIN_SPEC)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = _render_limited(spec, unprivileged=True)
    except subprocess.SubprocessError as exc:  # no CAP_SETPCAP in this container
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE ({exc}): permissions would not apply")
    finally:
        out.chmod(0o755)
    assert result.code == 6, result.output
    assert "cannot write" in result.stderr and "Traceback" not in result.output
    assert list(out.iterdir()) == [], "nothing half-written"


def test_full_disk_during_an_update_keeps_the_old_output(tmp_path: Path) -> None:
    (tmp_path / "hub-password.txt").write_text("x" * 8)
    spec = write_spec(tmp_path, PLAIN_SPEC)
    assert run_cli("render", spec, env={"REG_USER": "u", "REG_PASS": "p" * 8}).code == 0
    out = tmp_path / "out"
    spec.write_text(spec.read_text().replace("[alpha, beta]", "[alpha, beta, " + ", ".join(
        f"ns-{i:03d}" for i in range(60)) + "]"))
    before = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    result = _render_limited(spec, max_file_bytes=4096)  # the kustomization.yaml outgrows the limit
    assert result.code == 6, result.output
    assert "File too large" in result.stderr and "Traceback" not in result.output
    after = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    assert after == before, "the old output is untouched and no temporary file or folder is left"
    assert sorted(tmp_path.iterdir()) == sorted({*before, out} - {p for p in before if p.parent != tmp_path})


@pytest.mark.parametrize("value", ['"a\\0b"', '"out\\x01"', '"line\\nbreak"'])
def test_paths_with_nul_or_control_characters_are_spec_errors(tmp_path: Path, value: str) -> None:
    spec = write_spec(tmp_path, PLAIN_SPEC.replace("outputDir: out", f"outputDir: {value}"))
    result = run_cli("render", spec, env={"REG_USER": "u", "REG_PASS": "p" * 8})
    assert result.code == 3, result.output
    assert "spec.yaml:3:12: outputDir: invalid path: must be non-empty, without NUL or control characters" in \
        result.stderr


def test_alias_bomb_in_workloads_is_harmless(tmp_path: Path) -> None:
    (tmp_path / "hub-password.txt").write_text("x" * 8)
    spec = write_spec(tmp_path, PLAIN_SPEC)
    levels = ["a0: &a0 [\"ghcr.io/x\", \"ghcr.io/y\"]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    bomb = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: alpha}\n" + "\n".join(levels) + \
        "\nspec:\n  containers: *a9\n  initContainers: [{name: i, image: ghcr.io/x}]\n"
    (tmp_path / "bomb.yaml").write_text(bomb)
    (tmp_path / "list.yaml").write_text("\n".join(levels) + "\napiVersion: v1\nkind: List\nitems: *a9\n")
    start = time.monotonic()
    result = run_cli("coverage", spec, "--workloads", tmp_path / "bomb.yaml", "--workloads", tmp_path / "list.yaml")
    assert time.monotonic() - start < 60 and "Traceback" not in result.output
    assert result.code in (0, 1) and "ghcr.io/x" in result.stdout
