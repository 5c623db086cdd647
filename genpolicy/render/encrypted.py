"""Encrypted pull Secrets (Sealed Secrets, SOPS+age) without churn.

Encryption is randomised, so re-sealing an unchanged credential would rewrite every file on
every render. Each encrypted object therefore carries a keyed fingerprint annotation:
HMAC-SHA256 under a local *fingerprint key* (never committed) over the plaintext, the key
material (certificate fingerprint or age recipients), the name and the namespace, plus a keyed
binding of that fingerprint to the ciphertext itself (`genpolicy.render.trust`). Existing
ciphertext is reused only when both match; changing a credential, certificate, recipient, name
or namespace re-encrypts exactly the affected objects. A SealedSecret is always re-rendered
around the reused `encryptedData` (its metadata is not encrypted); a SOPS file (metadata under
the MAC) is reused only when everything outside its data is current, else re-encrypted.

`render --check` without credentials (typical in CI) checks the binding when the fingerprint
key is there, and only the identity (name, namespace, key material) when it is not; it reports
which objects were verified how.
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from genpolicy import yamlfast
from genpolicy.errors import CredentialError, Problem
from genpolicy.inputs import MAX_CERTIFICATE_BYTES, read_bytes, read_text
from genpolicy.record import Record
from genpolicy.render import trust
from genpolicy.specfile.model import Cluster

if TYPE_CHECKING:  # the crypto stack (cryptography, pyrage) is imported where a cluster first encrypts
    from genpolicy.crypto.sealed import SealingKey

FINGERPRINT = trust.FINGERPRINT
refuse_clear_credentials = trust.refuse_clear_credentials
KEY_ID = trust.KEY_ID
FINGERPRINT_ENV = "GENPOLICY_FINGERPRINT_KEY"
FINGERPRINT_FILE = ".genpolicy-fingerprint.key"


class FingerprintKey(Record):
    """The local HMAC key; `created` when this render generated it (it is saved after a write)."""

    __slots__ = ("key", "path", "created", "saved")
    _hidden = frozenset({"key"})  # the HMAC key is never printed
    key: bytes | None
    path: Path
    created: bool
    saved: bool  # this render wrote the key file (genpolicy.quick records the bytes it wrote, not a re-read)

    def __init__(self, key: bytes | None, path: Path, created: bool = False, saved: bool = False) -> None:
        self.key = key
        self.path = path
        self.created = created
        self.saved = saved

    @classmethod
    def load(cls, spec_dir: Path, environ: Mapping[str, str], *, create: bool) -> FingerprintKey:
        path = spec_dir / FINGERPRINT_FILE
        text = environ.get(FINGERPRINT_ENV)
        if text is None and os.path.lexists(path):
            text = read_text(path, what="fingerprint key", limit=4096, error=CredentialError).strip()
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
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.file_bytes())
        self.created, self.saved = False, True

    def file_bytes(self) -> bytes:
        """The key file's content."""
        assert self.key is not None
        return (base64.b64encode(self.key).decode("ascii") + "\n").encode("ascii")

    def digest(self, parts: Mapping[str, str]) -> str | None:
        if self.key is None:
            return None
        message = json.dumps(dict(sorted(parts.items())), sort_keys=True, separators=(",", ":")).encode()
        return "v1:" + hmac.new(self.key, message, hashlib.sha256).hexdigest()


_FILTERED = 16  # files of at most this many documents are searched by text first (a namespace file)


class ExistingOutput(Record):
    """Looks up encrypted documents in the files already on disk, by kind/namespace/name.

    A file's documents are split once and each is parsed at most once. In a small file, the documents
    whose text holds the kind and the name are parsed first: the Secret genpolicy wrote is there (the
    ServiceAccounts beside the Secrets were a third of a sealed re-render's YAML parsing). Otherwise
    (a name written with escapes, a Secret not written yet, a large file) every document is parsed
    once into an index, so a lookup costs the same as before the text search, never more."""

    __slots__ = ("read", "_files")

    def __init__(self, read: Callable[[str], bytes | None]) -> None:
        self.read = read
        self._files: dict[str, _ExistingFile] = {}

    def find(self, path: str, kind: str, namespace: str, name: str) -> tuple[str, dict[str, Any]] | None:
        file = self._files.get(path)
        if file is None:
            raw = self.read(path)
            file = self._files[path] = _ExistingFile([] if raw is None else _split_documents(
                raw.decode("utf-8", "replace")))
        wanted = (kind, namespace, name)
        if len(file.chunks) <= _FILTERED:
            for i in range(len(file.chunks) - 1, -1, -1):  # the last of equal documents, as a reader takes it
                chunk = file.chunks[i]
                if kind in chunk and name in chunk and _identity(parsed := file.parsed(i)) == wanted:
                    return chunk, parsed
        return file.index().get(wanted)


class _ExistingFile(Record):
    __slots__ = ("chunks", "_objects", "_index")

    def __init__(self, chunks: list[str]) -> None:
        self.chunks = chunks
        self._objects: dict[int, Any] = {}
        self._index: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] | None = None

    def parsed(self, i: int) -> Any:
        if i not in self._objects:
            try:
                self._objects[i] = yamlfast.load(self.chunks[i])
            except yaml.YAMLError:
                self._objects[i] = None
        return self._objects[i]

    def index(self) -> dict[tuple[str, str, str], tuple[str, dict[str, Any]]]:
        if self._index is None:
            self._index = {}
            for i, chunk in enumerate(self.chunks):
                key = _identity(self.parsed(i))
                if key is not None:
                    self._index[key] = (chunk, self.parsed(i))
        return self._index


def _identity(obj: Any) -> tuple[str, str, str] | None:
    if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
        meta = obj["metadata"]
        return str(obj.get("kind")), str(meta.get("namespace")), str(meta.get("name"))
    return None


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


class EncryptionContext(Record):
    __slots__ = ("fingerprint", "existing", "spec_dir", "check_only", "verified", "_certificates")
    fingerprint: FingerprintKey
    existing: ExistingOutput
    spec_dir: Path
    check_only: bool
    verified: list[tuple[str, str]]  # (level, object) per encrypted Secret
    _certificates: dict[str, SealingKey]

    def __init__(self, fingerprint: FingerprintKey, existing: ExistingOutput, spec_dir: Path, check_only: bool = False,
                 verified: list[tuple[str, str]] | None = None) -> None:
        self.fingerprint = fingerprint
        self.existing = existing
        self.spec_dir = spec_dir
        self.check_only = check_only
        self.verified = [] if verified is None else verified
        self._certificates = {}

    def record(self, level: str, ident: trust.Identity) -> None:
        self.verified.append((level, ident.describe()))

    def unverified(self) -> int:
        return sum(1 for level, _ in self.verified if level == trust.IDENTITY)

    def certificate(self, cluster: Cluster) -> SealingKey:
        settings = cluster.sealed_secrets
        assert settings is not None
        if settings.certificate not in self._certificates:
            from genpolicy.crypto.sealed import load_sealing_certificate

            path = self.spec_dir / settings.certificate
            try:
                pem = read_bytes(path, what="the sealing certificate", limit=MAX_CERTIFICATE_BYTES,
                                 error=CredentialError)
            except CredentialError as exc:
                raise CredentialError("cannot read certificate", [Problem(
                    str(path), message=f"cluster {cluster.name!r}: " + exc.problems[0].message.replace(
                        "cannot read:", "cannot read the sealing certificate:"))]) from None
            self._certificates[settings.certificate] = load_sealing_certificate(pem)
        return self._certificates[settings.certificate]


def sealed_key_id(cluster: Cluster, ctx: EncryptionContext) -> str:
    """A public identifier of the sealing key: scope and certificate fingerprint."""
    settings = cluster.sealed_secrets
    assert settings is not None
    return f"sealed-secrets:{settings.scope}:sha256:{ctx.certificate(cluster).fingerprint[:16]}"


def sops_key_id(cluster: Cluster) -> str:
    """A public identifier of the age recipients: their sorted list, hashed."""
    assert cluster.sops is not None
    recipients = ",".join(sorted(cluster.sops.recipients))
    return f"sops:age:sha256:{hashlib.sha256(recipients.encode()).hexdigest()[:16]}"


Plaintext = str | Mapping[str, str]  # the `.dockerconfigjson` value, or every data key's value


def _values(plaintext: Plaintext) -> dict[str, str]:
    return {".dockerconfigjson": plaintext} if isinstance(plaintext, str) else dict(sorted(plaintext.items()))


def _fingerprinted(plaintext: Plaintext) -> str:
    """What the fingerprint covers: the value itself (one `.dockerconfigjson`), else every key and value."""
    return plaintext if isinstance(plaintext, str) else json.dumps(_values(plaintext), separators=(",", ":"))


def _data_keys(secret: Mapping[str, Any]) -> tuple[str, ...]:
    data = secret.get("data")
    return tuple(sorted(data)) if isinstance(data, Mapping) and data else (".dockerconfigjson",)


def sealed_secret(secret: dict[str, Any], cluster: Cluster, ctx: EncryptionContext, path: str,
                  plaintext: Plaintext | None) -> dict[str, Any]:
    """The SealedSecret for a plain Secret object: fresh metadata around reused or new ciphertext.

    Only `encryptedData` is reused (after the trust checks); every other field is rendered from
    the spec, so metadata is always current and nothing else on disk is carried over. A Secret
    with several data keys (an Argo CD repository) passes them all as `plaintext`; each is sealed.
    """
    from genpolicy.crypto.sealed import Scope, scope_annotations, seal_value

    settings = cluster.sealed_secrets
    assert settings is not None
    meta = secret["metadata"]
    scope = Scope(settings.scope)
    ident = trust.Identity(path, "SealedSecret", meta["namespace"], meta["name"],
                           sealed_key_id(cluster, ctx))
    fingerprint = None if plaintext is None else ctx.fingerprint.digest(
        {**ident.parts(), "plaintext": _fingerprinted(plaintext)})
    found, why = _reusable_sealed(ctx, ident, fingerprint, ctx.certificate(cluster).key_size // 8, _data_keys(secret))
    if found is not None:
        ciphertext, stored, tag, level = found
    elif plaintext is None:
        raise _missing_credentials(ident, why)
    else:
        ciphertext = {k: seal_value(ctx.certificate(cluster), v.encode(), namespace=ident.namespace,
                                    name=ident.name, scope=scope) for k, v in _values(plaintext).items()}
        stored, tag, level = fingerprint, None, trust.ENCRYPTED
    if stored is not None and ctx.fingerprint.key is not None:
        tag = trust.binding(ctx.fingerprint, ident, stored, ciphertext)
    ctx.record(level, ident)
    own = {k: v for k, v in ((FINGERPRINT, stored), (trust.BINDING, tag)) if v is not None}
    annotations = {**(meta.get("annotations") or {}), **scope_annotations(scope), KEY_ID: ident.key_id, **own}
    template_meta: dict[str, Any] = {"name": ident.name, "namespace": ident.namespace,
                                     "labels": meta.get("labels") or {}}
    if scope_annotations(scope):
        template_meta["annotations"] = dict(sorted(scope_annotations(scope).items()))
    return {
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": ident.name, "namespace": ident.namespace, "labels": meta.get("labels") or {},
                     "annotations": dict(sorted(annotations.items()))},
        "spec": {"encryptedData": ciphertext,
                 "template": {"metadata": template_meta, "type": secret["type"]}},
    }


def _reusable_sealed(ctx: EncryptionContext, ident: trust.Identity, fingerprint: str | None, key_bytes: int,
                     keys: tuple[str, ...]) -> tuple[tuple[dict[str, str], str | None, str | None, str] | None, str]:
    """((ciphertext, stored fingerprint, stored binding, level) or None, why not) for an existing SealedSecret."""
    found = ctx.existing.find(ident.path, ident.kind, ident.namespace, ident.name)
    if found is None:
        return None, ""
    _, obj = found
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    ciphertext = trust.sealed_ciphertext(obj, key_bytes, keys)
    if not isinstance(annotations, dict) or ciphertext is None:
        return None, f"the committed SealedSecret's encryptedData is malformed (sealed {', '.join(keys)} expected)"
    level = trust.judge(ctx.fingerprint, ident, annotations, ciphertext, fingerprint)
    if level is None:
        return None, "the committed SealedSecret's fingerprint or key material does not match"
    return (ciphertext, _text(annotations.get(FINGERPRINT)), _text(annotations.get(trust.BINDING)), level), ""


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def sops_secret(secret: dict[str, Any], cluster: Cluster, ctx: EncryptionContext, path: str,
                plaintext_b64: Plaintext | None) -> tuple[str, dict[str, Any]]:
    """(SOPS-encrypted YAML text, the plaintext object's non-secret shape for validation).

    The MAC covers the metadata, so a file is reused only when everything outside its encrypted
    data is exactly what the spec renders now; otherwise it is re-encrypted.
    """
    settings = cluster.sops
    assert settings is not None
    meta = secret["metadata"]
    ident = trust.Identity(path, "Secret", meta["namespace"], meta["name"], sops_key_id(cluster))
    fingerprint = None if plaintext_b64 is None else ctx.fingerprint.digest(
        {**ident.parts(), "plaintext": _fingerprinted(plaintext_b64)})
    annotations = {**(meta.get("annotations") or {}), KEY_ID: ident.key_id}
    doc = {**secret, "metadata": {**meta, "annotations": dict(sorted(annotations.items()))}}
    shape = {**doc, "data": dict.fromkeys(_data_keys(secret), "")}
    found, why = _reusable_sops(ctx, ident, fingerprint, shape, list(settings.recipients))
    if found is not None:
        return found, shape
    if plaintext_b64 is None:
        raise _missing_credentials(ident, why)
    ctx.record(trust.ENCRYPTED, ident)
    if fingerprint is not None:
        doc = {**doc, "metadata": {**doc["metadata"], "annotations": {**annotations, FINGERPRINT: fingerprint}}}
    doc["data"] = _values(plaintext_b64)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")

    def bind(body: Mapping[str, Any]) -> dict[str, str]:
        tag = None if fingerprint is None else trust.binding(ctx.fingerprint, ident, fingerprint, body["data"])
        return {} if tag is None else {trust.BINDING: tag}

    from genpolicy.crypto.sops import encrypt_secret_manifest

    return encrypt_secret_manifest(doc, list(settings.recipients), lastmodified=now, bind=bind), shape


_SOPS_KEYS = {"age", "encrypted_regex", "lastmodified", "mac", "version"}


def _reusable_sops(ctx: EncryptionContext, ident: trust.Identity, fingerprint: str | None,
                   shape: dict[str, Any], recipients: list[str]) -> tuple[str | None, str]:
    """(existing text worth reusing or None, why not) for a SOPS file."""
    from genpolicy.crypto.sops import DEFAULT_ENCRYPTED_REGEX, is_encrypted_token, parse_sops_file

    found = ctx.existing.find(ident.path, ident.kind, ident.namespace, ident.name)
    if found is None:
        return None, ""
    parsed = parse_sops_file(found[0])
    if parsed is None:
        return None, "the committed file is not a SOPS file as genpolicy writes it"
    body, meta = parsed
    if trust.without_own({**body, "data": dict.fromkeys(shape["data"], "")}) != trust.without_own(shape):
        return None, "the committed file differs outside its encrypted data (the spec's metadata changed, or " \
                     "the file was edited); SOPS files are re-encrypted for that"
    age = meta.get("age")
    age = age if isinstance(age, list) else []
    if (set(meta) - _SOPS_KEYS or meta.get("encrypted_regex") != DEFAULT_ENCRYPTED_REGEX
            or sorted(str(a.get("recipient")) for a in age if isinstance(a, dict)) != sorted(recipients)):
        return None, "the committed file's sops metadata is not for the spec's recipients"
    data = body.get("data")
    ciphertext = dict(data) if isinstance(data, dict) and sorted(data) == sorted(shape["data"]) and \
        all(is_encrypted_token(v) for v in data.values()) else None
    annotations = body["metadata"].get("annotations") or {}
    level = trust.judge(ctx.fingerprint, ident, annotations, ciphertext, fingerprint)
    if level is None:
        return None, "its fingerprint does not match"
    ctx.record(level, ident)
    return found[0], ""


def _missing_credentials(ident: trust.Identity, why: str = "") -> CredentialError:
    reason = why or "no encrypted copy to reuse"
    return CredentialError("credentials needed", [Problem(
        f"{ident.namespace}/{ident.name}",
        message=f"{reason}; no credentials to encrypt: render once with credentials")])
