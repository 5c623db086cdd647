"""Encrypted pull Secrets (Sealed Secrets, SOPS+age) without churn.

Encryption is randomised, so re-sealing an unchanged credential would rewrite every file on
every render. Each encrypted object therefore carries a keyed fingerprint annotation:
HMAC-SHA256 under a local *fingerprint key* (never committed) over the plaintext, the key
material (certificate fingerprint or age recipients), the name, the namespace and the scope.
When the existing object's fingerprint equals the new one, its text is reused byte for byte.
Without the fingerprint key an attacker cannot test password guesses against the annotation
(unlike a plain hash). Changing a credential, certificate, recipient, name, namespace or scope
changes the fingerprint, so exactly the affected objects are re-encrypted.

`render --check` without credentials (typical in CI) cannot recompute fingerprints: it reuses
existing encrypted objects whose non-secret identity (name, namespace, key-material id) still
matches, and reports them as "not re-verified".
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import secrets as stdlib_secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genpolicy.crypto.sealed import Scope, SealingKey, load_sealing_certificate, scope_annotations, seal_value
from genpolicy.crypto.sops import encrypt_secret_manifest
from genpolicy.errors import CredentialError, Problem
from genpolicy.spec.model import Cluster

FINGERPRINT = "genpolicy.dev/fingerprint"
KEY_ID = "genpolicy.dev/encrypted-for"
FINGERPRINT_ENV = "GENPOLICY_FINGERPRINT_KEY"
FINGERPRINT_FILE = ".genpolicy-fingerprint.key"
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class FingerprintKey:
    """The local HMAC key; `created` when this render generated it (it is saved after a write)."""

    key: bytes | None
    path: Path
    created: bool = False

    @classmethod
    def load(cls, spec_dir: Path, environ: Mapping[str, str], *, create: bool) -> FingerprintKey:
        path = spec_dir / FINGERPRINT_FILE
        text = environ.get(FINGERPRINT_ENV)
        if text is None and path.is_file():
            text = path.read_text(encoding="utf-8").strip()
        if text:
            try:
                key = base64.b64decode(text, validate=True)
            except ValueError:
                key = b""
            if len(key) < 32:
                raise CredentialError("bad fingerprint key", [Problem(
                    str(path) if FINGERPRINT_ENV not in environ else FINGERPRINT_ENV,
                    message="the fingerprint key must be base64 of at least 32 random bytes")])
            return cls(key, path)
        return cls(stdlib_secrets.token_bytes(32) if create else None, path, created=create)

    def save(self) -> None:
        """Write a newly generated key next to the spec (0600; keep it out of git)."""
        if not self.created or self.key is None:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(base64.b64encode(self.key).decode("ascii") + "\n")
        self.created = False

    def digest(self, parts: Mapping[str, str]) -> str | None:
        if self.key is None:
            return None
        message = json.dumps(dict(sorted(parts.items())), sort_keys=True, separators=(",", ":")).encode()
        return "v1:" + hmac.new(self.key, message, hashlib.sha256).hexdigest()


@dataclass
class ExistingOutput:
    """Looks up encrypted documents in the files already on disk, by kind/namespace/name."""

    read: Callable[[str], bytes | None]
    _cache: dict[str, dict[tuple[str, str, str], tuple[str, dict[str, Any]]]] = field(default_factory=dict)

    def find(self, path: str, kind: str, namespace: str, name: str) -> tuple[str, dict[str, Any]] | None:
        if path not in self._cache:
            self._cache[path] = _index_documents(self.read(path))
        return self._cache[path].get((kind, namespace, name))


def _index_documents(raw: bytes | None) -> dict[tuple[str, str, str], tuple[str, dict[str, Any]]]:
    if raw is None:
        return {}
    index: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}
    body = raw.decode("utf-8", "replace")
    for chunk in _split_documents(body):
        try:
            obj = yaml.load(chunk, Loader=_YamlLoader)
        except yaml.YAMLError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
            meta = obj["metadata"]
            index[(str(obj.get("kind")), str(meta.get("namespace")), str(meta.get("name")))] = (chunk, obj)
    return index


def _split_documents(body: str) -> list[str]:
    """Documents as genpolicy writes them: a comment header, then texts joined by `---` lines."""
    chunks: list[str] = []
    current: list[str] = []
    for line in body.splitlines(keepends=True):
        if line.rstrip("\n") == "---":
            chunks.append("".join(current))
            current = []
        elif current or not line.startswith("#"):
            current.append(line)
    chunks.append("".join(current))
    return [c for c in chunks if c.strip()]


@dataclass
class EncryptionContext:
    fingerprint: FingerprintKey
    existing: ExistingOutput
    spec_dir: Path
    check_only: bool = False
    unverified: int = 0
    _certificates: dict[str, SealingKey] = field(default_factory=dict)

    def certificate(self, cluster: Cluster) -> SealingKey:
        settings = cluster.sealed_secrets
        assert settings is not None
        if settings.certificate not in self._certificates:
            path = self.spec_dir / settings.certificate
            try:
                pem = path.read_bytes()
            except OSError as exc:
                raise CredentialError("cannot read certificate", [Problem(
                    str(path), message=f"cluster {cluster.name!r}: cannot read the sealing certificate: "
                                       f"{exc.strerror}")]) from None
            self._certificates[settings.certificate] = load_sealing_certificate(pem)
        return self._certificates[settings.certificate]


def key_material_id(cluster: Cluster, backend: str, ctx: EncryptionContext) -> str:
    """A public identifier of the key material: certificate fingerprint or hashed recipient list."""
    if backend == "sealed-secrets":
        settings = cluster.sealed_secrets
        assert settings is not None
        return f"sealed-secrets:{settings.scope}:sha256:{ctx.certificate(cluster).fingerprint[:16]}"
    assert cluster.sops is not None
    recipients = ",".join(sorted(cluster.sops.recipients))
    return f"sops:age:sha256:{hashlib.sha256(recipients.encode()).hexdigest()[:16]}"


def reuse(ctx: EncryptionContext, path: str, kind: str, namespace: str, name: str, key_id: str,
          fingerprint: str | None) -> str | None:
    """The existing document's text when it encrypts the same thing (or, in check mode, is unverifiable)."""
    found = ctx.existing.find(path, kind, namespace, name)
    if found is None:
        return None
    text, obj = found
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if annotations.get(KEY_ID) != key_id:
        return None
    if fingerprint is not None and annotations.get(FINGERPRINT) == fingerprint:
        return text
    if fingerprint is None and ctx.check_only:
        ctx.unverified += 1
        return text
    return None


def sealed_secret(secret: dict[str, Any], cluster: Cluster, ctx: EncryptionContext, path: str,
                  plaintext: str | None) -> tuple[str | None, dict[str, Any]]:
    """(reused text or None, SealedSecret object) for a plain Secret object."""
    settings = cluster.sealed_secrets
    assert settings is not None
    meta = secret["metadata"]
    scope = Scope(settings.scope)
    key_id = key_material_id(cluster, "sealed-secrets", ctx)
    fingerprint = None if plaintext is None else ctx.fingerprint.digest(
        {"plaintext": plaintext, "key": key_id, "name": meta["name"], "namespace": meta["namespace"]})
    annotations = {**(meta.get("annotations") or {}), **scope_annotations(scope), KEY_ID: key_id}
    if fingerprint is not None:
        annotations[FINGERPRINT] = fingerprint
    text = reuse(ctx, path, "SealedSecret", meta["namespace"], meta["name"], key_id, fingerprint)
    if text is None and plaintext is None:
        raise _missing_credentials(meta)
    encrypted = "" if text is not None or plaintext is None else seal_value(
        ctx.certificate(cluster), plaintext.encode(), namespace=meta["namespace"], name=meta["name"], scope=scope)
    template_meta: dict[str, Any] = {"name": meta["name"], "namespace": meta["namespace"],
                                     "labels": meta.get("labels") or {}}
    if scope_annotations(scope):
        template_meta["annotations"] = dict(sorted(scope_annotations(scope).items()))
    obj = {
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": meta.get("labels") or {},
                     "annotations": dict(sorted(annotations.items()))},
        "spec": {"encryptedData": {".dockerconfigjson": encrypted},
                 "template": {"metadata": template_meta, "type": secret["type"]}},
    }
    return text, obj


def sops_secret(secret: dict[str, Any], cluster: Cluster, ctx: EncryptionContext, path: str,
                plaintext_b64: str | None) -> tuple[str, dict[str, Any]]:
    """(SOPS-encrypted YAML text, the plaintext object's non-secret shape for validation)."""
    settings = cluster.sops
    assert settings is not None
    meta = secret["metadata"]
    key_id = key_material_id(cluster, "sops", ctx)
    fingerprint = None if plaintext_b64 is None else ctx.fingerprint.digest(
        {"plaintext": plaintext_b64, "key": key_id, "name": meta["name"], "namespace": meta["namespace"]})
    annotations = {**(meta.get("annotations") or {}), KEY_ID: key_id}
    if fingerprint is not None:
        annotations[FINGERPRINT] = fingerprint
    doc = {**secret, "metadata": {**meta, "annotations": dict(sorted(annotations.items()))}}
    shape = {**doc, "data": {".dockerconfigjson": ""}}
    text = reuse(ctx, path, "Secret", meta["namespace"], meta["name"], key_id, fingerprint)
    if text is not None:
        return text, shape
    if plaintext_b64 is None:
        raise _missing_credentials(meta)
    doc["data"] = {".dockerconfigjson": plaintext_b64}
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return encrypt_secret_manifest(doc, list(settings.recipients), lastmodified=now), shape


def _missing_credentials(meta: Mapping[str, Any]) -> CredentialError:
    return CredentialError("credentials needed", [Problem(
        f"{meta.get('namespace')}/{meta.get('name')}",
        message="no encrypted copy to reuse and no credentials to encrypt; render once with credentials")])
