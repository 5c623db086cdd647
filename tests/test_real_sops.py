"""The real getsops/sops v3 (built by .ci/real-tools) opens, re-keys and re-encrypts what genpolicy writes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bundles import ENV, Bundle, dockerconfigjson, plain_secrets, render_example, write_identity
from conftest import run_cli
from realtools import require


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return render_example(tmp_path_factory.mktemp("sops"))


def sops(key_file: Path, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = require("sops")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "SOPS_AGE_KEY_FILE": str(key_file),
           "SOPS_DISABLE_VERSION_CHECK": "1"}
    return subprocess.run([tool.path, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=60, check=False)


def decrypted(bundle: Bundle, path: Path, key_file: Path | None = None) -> dict[str, object]:
    proc = sops(key_file or bundle.key_file, "--decrypt", path, cwd=bundle.out)
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(proc.stdout)
    assert isinstance(doc, dict) and "sops" not in doc
    return doc


def test_real_sops_decrypts_every_file_to_the_exact_dockerconfigjson(bundle: Bundle, tmp_path: Path) -> None:
    expected = plain_secrets(tmp_path / "plain")
    files = bundle.sops_files()
    assert len(files) == 5
    for path in files:
        doc = decrypted(bundle, path)
        meta = doc["metadata"]
        assert isinstance(meta, dict)
        plain = expected[("dev", meta["namespace"], meta["name"])]
        assert dockerconfigjson(doc) == dockerconfigjson(plain), path  # type: ignore[arg-type]
        assert doc["type"] == plain["type"] == "kubernetes.io/dockerconfigjson"


def test_real_sops_refuses_a_wrong_key(bundle: Bundle, tmp_path: Path) -> None:
    _, wrong = write_identity(tmp_path, "wrong")
    proc = sops(wrong, "--decrypt", bundle.sops_files()[0], cwd=bundle.out)
    assert proc.returncode != 0 and "data key" in proc.stderr.lower() + proc.stdout.lower()


def test_updatekeys_with_the_rendered_sops_yaml_adds_a_recipient(bundle: Bundle, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(bundle.out, out)
    second, second_file = write_identity(tmp_path, "second")
    path = bundle.sops_files(out)[0]
    assert sops(second_file, "--decrypt", path, cwd=out).returncode != 0
    config = out / ".sops.yaml"
    config.write_text(config.read_text().replace(f'age: "{bundle.identity.to_public()}"',
                                                 f'age: "{bundle.identity.to_public()},{second.to_public()}"'))
    rel = path.relative_to(out)
    proc = sops(bundle.key_file, "updatekeys", "--yes", rel, cwd=out)
    assert proc.returncode == 0, proc.stderr
    assert sops(second_file, "--decrypt", rel, cwd=out).returncode == 0
    assert dockerconfigjson(decrypted(bundle, path)) == dockerconfigjson(decrypted(bundle, bundle.out / rel))


def test_real_sops_encrypts_with_the_rendered_creation_rules(bundle: Bundle, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(bundle.out, out)
    path = bundle.sops_files(out)[0]
    rel = path.relative_to(out)
    plain = decrypted(bundle, path)
    path.write_text(yaml.safe_dump(plain))
    proc = sops(bundle.key_file, "--encrypt", "--in-place", rel, cwd=out)
    assert proc.returncode == 0, proc.stderr
    encrypted = yaml.safe_load(path.read_text())
    assert encrypted["sops"]["encrypted_regex"] == "^(data|stringData)$"
    assert [a["recipient"] for a in encrypted["sops"]["age"]] == [str(bundle.identity.to_public())]
    assert str(encrypted["data"][".dockerconfigjson"]).startswith("ENC[AES256_GCM,")
    assert encrypted["metadata"] == plain["metadata"]  # only data is encrypted
    assert dockerconfigjson(decrypted(bundle, path)) == dockerconfigjson(plain)  # type: ignore[arg-type]


def test_a_file_real_sops_rewrote_is_never_overwritten_and_re_encrypted_once_moved(bundle: Bundle,
                                                                                    tmp_path: Path) -> None:
    """A file real sops rewrote (`--rotate`) carries no ciphertext binding genpolicy can verify, so it is
    not reused (issue 19: substituted ciphertext must not pass); and since it changed after genpolicy
    wrote it, it is not overwritten either: exit 6 naming it. Once moved away, genpolicy re-encrypts it
    and real sops opens the new file."""
    folder = tmp_path / "copy"
    shutil.copytree(bundle.folder, folder)
    out = folder / "out"
    path = bundle.sops_files(out)[0]
    proc = sops(bundle.key_file, "--rotate", "--in-place", path.relative_to(out), cwd=out)
    assert proc.returncode == 0, proc.stderr
    rotated = path.read_bytes()
    assert rotated != (bundle.out / path.relative_to(out)).read_bytes()
    result = run_cli("render", folder / "spec.yaml", env=ENV)
    assert result.code == 6, result.output
    assert f"{path}: was changed by hand since genpolicy wrote it" in result.stderr
    assert path.read_bytes() == rotated, "nothing is written when a render fails"
    path.unlink()
    result = run_cli("render", folder / "spec.yaml", env=ENV)
    assert result.code == 0, result.output
    assert "1 created" in result.stderr, result.stderr
    reopened = sops(bundle.key_file, "--decrypt", path, cwd=out)
    assert reopened.returncode == 0, reopened.stderr
    assert yaml.safe_load(reopened.stdout)["metadata"]["name"] == yaml.safe_load(
        sops(bundle.key_file, "--decrypt", bundle.out / path.relative_to(out), cwd=bundle.out).stdout
    )["metadata"]["name"]


