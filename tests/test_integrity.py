"""Committed ciphertext: substitution, tampering and stale metadata are caught (issue 19, items 1-2).

The attacker holds only what the repository holds: the public sealing certificate and the age
recipients. Keys are generated per test.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from test_backends import ENV, PASSWORD, render_ok, sealed_spec, sops_spec

from conftest import require_shared, run_cli
from genpolicy.crypto.sealed import Scope, load_sealing_certificate, seal_value, unseal_value
from genpolicy.crypto.sops import decrypt_document, encrypt_secret_manifest

ATTACKER = '{"auths":{"ghcr.io":{"auth":"YXR0YWNrZXI6ZXZpbA==","username":"attacker","password":"evil"}}}'
ALPHA = "prod/namespaces/alpha.yaml"
SOPS_FILE = "prod/namespaces/alpha/ghcr-pull.sops.yaml"


def own_the_change(out: Path, rel: str) -> None:
    """The attacker can write the repository, so the owned-files record is updated too."""
    record = json.loads((out / ".genpolicy-owned.json").read_text())
    record["files"][rel] = hashlib.sha256((out / rel).read_bytes()).hexdigest()
    (out / ".genpolicy-owned.json").write_text(json.dumps(record, indent=2) + "\n")


def edit_sealed(out: Path, name: str, change: Any) -> None:
    """Rewrite one SealedSecret of alpha.yaml (keeping genpolicy's header and annotations)."""
    path = out / ALPHA
    header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    docs = list(yaml.safe_load_all(path.read_text()))
    for doc in docs:
        if doc["kind"] == "SealedSecret" and doc["metadata"]["name"] == name:
            change(doc)
    path.write_text(header + "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))
    own_the_change(out, ALPHA)


def check(spec: Path, env: dict[str, str] | None = None) -> Any:
    return run_cli("render", spec, "--check", "--no-cache", "--crds", require_shared(), env=env or {})


def resealed(tmp_path: Path) -> Any:
    key = load_sealing_certificate((tmp_path / "cert.pem").read_bytes())

    def change(doc: dict[str, Any]) -> None:
        doc["spec"]["encryptedData"][".dockerconfigjson"] = seal_value(
            key, ATTACKER.encode(), namespace="alpha", name="ghcr-pull", scope=Scope.STRICT)
    return change


def test_resealed_credential_fails_check_with_only_the_fingerprint_key(tmp_path: Path) -> None:
    spec, private = sealed_spec(tmp_path)
    render_ok(spec)
    out = tmp_path / "out"
    assert "ciphertext binding verified" in check(spec).stderr
    edit_sealed(out, "ghcr-pull", resealed(tmp_path))
    result = check(spec)  # CI: fingerprint key, no credentials
    assert result.code == 4, result.output
    assert "ciphertext does not match its binding" in result.stderr and "alpha/ghcr-pull" in result.stderr
    with_credentials = check(spec, ENV)
    assert with_credentials.code == 1 and f"would update {out / ALPHA}" in with_credentials.stdout
    render_ok(spec)
    value = next(d for d in yaml.safe_load_all((out / ALPHA).read_text()) if d["metadata"]["name"] == "ghcr-pull")
    plain = unseal_value(private, value["spec"]["encryptedData"][".dockerconfigjson"], label=b"alpha/ghcr-pull")
    assert PASSWORD in plain.decode(), "render replaced the attacker's ciphertext"


def test_flipped_ciphertext_byte_fails_check(tmp_path: Path) -> None:
    spec, _ = sealed_spec(tmp_path)
    render_ok(spec)

    def flip(doc: dict[str, Any]) -> None:
        blob = bytearray(base64.b64decode(doc["spec"]["encryptedData"][".dockerconfigjson"]))
        blob[-20] ^= 1
        doc["spec"]["encryptedData"][".dockerconfigjson"] = base64.b64encode(bytes(blob)).decode()
    edit_sealed(tmp_path / "out", "ghcr-pull", flip)
    result = check(spec)
    assert result.code == 4 and "alpha/ghcr-pull" in result.stderr, result.output


def test_edited_template_fails_check_even_without_the_fingerprint_key(tmp_path: Path) -> None:
    spec, _ = sealed_spec(tmp_path)
    render_ok(spec)
    (tmp_path / ".genpolicy-fingerprint.key").unlink()
    out = tmp_path / "out"
    clean = check(spec)
    assert clean.code == 0 and "NOT verified: name, namespace and key material only" in clean.stderr
    edits = [
        lambda d: d["spec"]["template"].__setitem__("type", "Opaque"),
        lambda d: d["spec"]["template"].__setitem__("data", {"extra": "aW5qZWN0ZWQ="}),
        lambda d: d["spec"].__setitem__("unknownField", True),
    ]
    original = (out / ALPHA).read_bytes()
    for edit in edits:
        edit_sealed(out, "ghcr-pull", edit)
        result = check(spec)
        assert result.code == 1, result.output
        assert f"would update {out / ALPHA}" in result.stdout
        (out / ALPHA).write_bytes(original)
        own_the_change(out, ALPHA)
    data = lambda d: d["spec"]["encryptedData"]  # noqa: E731
    edit_sealed(out, "ghcr-pull", lambda d: data(d).__setitem__("other", data(d)[".dockerconfigjson"]))
    result = check(spec)
    assert result.code == 4 and "encryptedData is malformed" in result.stderr, result.output


def test_common_labels_reach_sealed_secrets_without_credentials(tmp_path: Path) -> None:
    spec, _ = sealed_spec(tmp_path)
    render_ok(spec)
    out = tmp_path / "out"
    before = {d["metadata"]["name"]: d for d in yaml.safe_load_all((out / ALPHA).read_text())}
    spec.write_text(spec.read_text() + "commonLabels: {team: platform}\ncommonAnnotations: {owner: infra}\n")
    assert check(spec).code == 1, "the labels are not on disk yet"
    result = run_cli("render", spec, "--crds", require_shared(), env={"REG_PASS": PASSWORD})
    assert result.code == 0, result.output
    after = {d["metadata"]["name"]: d for d in yaml.safe_load_all((out / ALPHA).read_text())}
    for name in ("ghcr-pull", "hub-pull"):
        assert after[name]["metadata"]["labels"]["team"] == "platform"
        assert after[name]["metadata"]["annotations"]["owner"] == "infra"
        assert after[name]["spec"]["template"]["metadata"]["labels"]["team"] == "platform"
        assert after[name]["spec"]["encryptedData"] == before[name]["spec"]["encryptedData"], "not re-sealed"
    assert check(spec).code == 0


# --- SOPS ---------------------------------------------------------------------------------------

def sops_attack(out: Path, recipient: str, change: Any) -> None:
    """Re-encrypt the committed Secret (attacker's choice of content) to the public recipient."""
    path = out / SOPS_FILE
    original = yaml.safe_load(path.read_text())
    doc = {k: v for k, v in original.items() if k != "sops"}
    doc["data"] = {".dockerconfigjson": base64.b64encode(ATTACKER.encode()).decode()}
    change(doc)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(encrypt_secret_manifest(doc, [recipient], lastmodified=now))
    own_the_change(out, SOPS_FILE)


def test_reencrypted_sops_file_fails_check(tmp_path: Path) -> None:
    spec, identity = sops_spec(tmp_path)
    render_ok(spec)
    out = tmp_path / "out"
    assert "0 created, 0 updated" in render_ok(spec), "an unchanged SOPS file is reused"
    assert check(spec).code == 0
    sops_attack(out, str(identity.to_public()), lambda d: None)
    result = check(spec)
    assert result.code == 4 and "ciphertext does not match its binding" in result.stderr, result.output
    assert check(spec, ENV).code == 1
    render_ok(spec)
    doc = decrypt_document((out / SOPS_FILE).read_text(), str(identity))
    assert PASSWORD in base64.b64decode(doc["data"][".dockerconfigjson"]).decode()


def test_sops_file_with_other_shape_is_not_reused(tmp_path: Path) -> None:
    spec, identity = sops_spec(tmp_path)
    render_ok(spec)
    out = tmp_path / "out"
    (tmp_path / ".genpolicy-fingerprint.key").unlink()
    sops_attack(out, str(identity.to_public()), lambda d: d.__setitem__("type", "Opaque"))
    result = check(spec)
    assert result.code == 4 and "differs outside its encrypted data" in result.stderr, result.output


def test_common_labels_reach_sops_files(tmp_path: Path) -> None:
    spec, identity = sops_spec(tmp_path)
    render_ok(spec)
    spec.write_text(spec.read_text() + "commonLabels: {team: platform}\n")
    result = check(spec)
    assert result.code == 4 and "metadata changed" in result.stderr, result.output
    render_ok(spec)
    doc = decrypt_document((tmp_path / "out" / SOPS_FILE).read_text(), str(identity))
    assert doc["metadata"]["labels"]["team"] == "platform"
    assert check(spec).code == 0
