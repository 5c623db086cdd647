"""Render the backends example with test-generated keys, plus the same spec in plaintext (the expected bytes).

Used by the real-tool tests: every SOPS file, SealedSecret and Helm values file of the example is
handed to the real tool; the plain render of the same spec says what the Secrets must contain.
"""

from __future__ import annotations

import base64
import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from conftest import ROOT, run_cli

EXAMPLE = ROOT / "examples" / "backends" / "spec.yaml"
ENV = {"GHCR_USER": "ci-robot", "GHCR_TOKEN": "ghp-Test-Token-4d2f", "HARBOR_TOKEN": "harbor-Test-Token-9e1c"}
EXAMPLE_RECIPIENT = "age1ndxz8f7e236efd6uksfwgg46t4q8apsdge463653pvrs6ja9mf6q42tsk4"


@dataclass
class Bundle:
    folder: Path
    spec: Path
    out: Path
    identity: pyrage.x25519.Identity
    key_file: Path  # SOPS_AGE_KEY_FILE
    private_key: Path  # the Sealed Secrets private key (PEM)
    cert: Path

    def sops_files(self, out: Path | None = None) -> list[Path]:
        """Every SOPS-encrypted Secret (not the `.sops.yaml` creation rules)."""
        return sorted(p for p in (out or self.out).rglob("*.sops.yaml") if p.name != ".sops.yaml")


def write_certificate(folder: Path, name: str = "cert") -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sealed-secret")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def write_identity(folder: Path, name: str = "age") -> tuple[pyrage.x25519.Identity, Path]:
    identity = pyrage.x25519.Identity.generate()
    path = folder / f"{name}.agekey"
    path.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
    return identity, path


def example_text(identity: pyrage.x25519.Identity, scope: str = "strict") -> str:
    text = EXAMPLE.read_text().replace(EXAMPLE_RECIPIENT, str(identity.to_public()))
    text = text.replace("outputDir: ../../out/backends", "outputDir: out")
    return text.replace("scope: strict}", f"scope: {scope}}}")


def render_example(folder: Path, scope: str = "strict") -> Bundle:
    """The backends example with this test's age identity and sealing certificate, rendered."""
    identity, key_file = write_identity(folder)
    cert, private_key = write_certificate(folder / "certs", "prod-sealed-secrets")
    spec = folder / "spec.yaml"
    spec.write_text(example_text(identity, scope))
    result = run_cli("render", spec, env=ENV)
    assert result.code == 0, result.output
    return Bundle(folder, spec, folder / "out", identity, key_file, private_key, cert)


def plain_secrets(folder: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(cluster, namespace, name) -> Secret of the same spec rendered with `backend: plain`."""
    text = example_text(pyrage.x25519.Identity.generate())
    text = re.sub(r"backend: (sealed-secrets|sops)", "backend: plain", text).replace(
        "kind: PullSecretSpec", "kind: PullSecretSpec\nallowPlaintext: true")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "certs").mkdir(exist_ok=True)
    write_certificate(folder / "certs", "prod-sealed-secrets")
    (folder / "spec.yaml").write_text(text)
    result = run_cli("render", folder / "spec.yaml", env=ENV)
    assert result.code == 0, result.output
    found = {}
    for path in sorted((folder / "out").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                cluster = path.relative_to(folder / "out").parts[0]
                found[(cluster, doc["metadata"]["namespace"], doc["metadata"]["name"])] = doc
    assert found, "the plain render has no Secrets"
    return found


def dockerconfigjson(secret: dict[str, Any]) -> bytes:
    return base64.b64decode(secret["data"][".dockerconfigjson"])
