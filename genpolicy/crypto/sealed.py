"""kubeseal-compatible sealing of Secret values for Bitnami Sealed Secrets.

Format (``pkg/crypto`` HybridEncrypt in bitnami-labs/sealed-secrets): a fresh 32-byte AES key per
value, wrapped with RSA-OAEP (SHA-256, MGF1-SHA-256, label = scope label); the value itself is
encrypted with AES-256-GCM under a 12-byte all-zero nonce and no AAD. The output is
``[uint16 BE len(rsa ct)][rsa ct][gcm ct || tag]`` in standard padded base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from genpolicy.errors import CredentialError

__all__ = [
    "MIN_KEY_BITS",
    "Scope",
    "SealingError",
    "SealingKey",
    "load_sealing_certificate",
    "scope_annotations",
    "scope_label",
    "seal_value",
    "unseal_value",
]

MIN_KEY_BITS = 2048
SESSION_KEY_BYTES = 32
_GCM_NONCE = bytes(12)
_GCM_TAG_BYTES = 16
_LENGTH_PREFIX = struct.Struct(">H")
_ANNOTATION_PREFIX = "sealedsecrets.bitnami.com/"


class SealingError(CredentialError):
    """The sealing certificate is unusable, or a value cannot be sealed/unsealed."""


class Scope(StrEnum):
    """Sealed Secrets scopes; they decide the RSA-OAEP label."""

    STRICT = "strict"
    NAMESPACE_WIDE = "namespace-wide"
    CLUSTER_WIDE = "cluster-wide"


@dataclass(frozen=True)
class SealingKey:
    """The controller's public sealing key, as read from its certificate."""

    public_key: rsa.RSAPublicKey
    certificate: x509.Certificate
    fingerprint: str  # sha256 of the DER SubjectPublicKeyInfo, lowercase hex

    @property
    def key_size(self) -> int:
        """RSA modulus size in bits."""
        return self.public_key.key_size


def _parse_certificate(pem: bytes) -> x509.Certificate:
    """Parse the first certificate of a PEM bundle, or raise SealingError."""
    if not isinstance(pem, bytes | bytearray):
        raise SealingError("sealing certificate must be PEM bytes")
    try:
        certs = x509.load_pem_x509_certificates(bytes(pem))
    except ValueError as exc:
        raise SealingError(
            "sealing certificate is not a PEM X.509 certificate (expected kubeseal --fetch-cert output)"
        ) from exc
    if not certs:  # pragma: no cover - cryptography raises instead
        raise SealingError("sealing certificate PEM holds no certificate")
    return certs[0]


def _rsa_public_key(cert: x509.Certificate) -> rsa.RSAPublicKey:
    """Return the certificate's RSA key, refusing other algorithms and weak sizes."""
    try:
        key = cert.public_key()
    except (ValueError, TypeError) as exc:
        raise SealingError(f"sealing certificate has an unsupported public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise SealingError(f"sealing certificate holds a {type(key).__name__} key; Sealed Secrets needs RSA")
    if key.key_size < MIN_KEY_BITS:
        raise SealingError(
            f"sealing certificate RSA key is {key.key_size} bits; at least {MIN_KEY_BITS} are required"
        )
    return key


def _check_validity(cert: x509.Certificate, now: datetime) -> None:
    """Refuse an expired certificate, as kubeseal does."""
    not_after = cert.not_valid_after_utc
    if now > not_after:
        raise SealingError(f"sealing certificate expired on {not_after.date().isoformat()}")


def _spki_fingerprint(key: rsa.RSAPublicKey) -> str:
    """sha256 (hex) of the DER SubjectPublicKeyInfo: stable across certificate renewals of one key."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def load_sealing_certificate(pem: bytes, *, now: datetime | None = None) -> SealingKey:
    """Load the sealing certificate written by ``kubeseal --fetch-cert`` (first one if several).

    ``now`` (default: current UTC time) is used to refuse expired certificates.
    """
    cert = _parse_certificate(pem)
    key = _rsa_public_key(cert)
    _check_validity(cert, now or datetime.now(UTC))
    return SealingKey(public_key=key, certificate=cert, fingerprint=_spki_fingerprint(key))


def _scope(scope: Scope | str) -> Scope:
    """Coerce to Scope, raising SealingError for unknown names."""
    try:
        return Scope(scope)
    except ValueError:
        allowed = ", ".join(s.value for s in Scope)
        raise SealingError(f"unknown sealing scope {scope!r} (expected one of: {allowed})") from None


def _require(value: str, what: str, scope: Scope) -> str:
    """Return a non-empty string or raise SealingError naming the scope that needs it."""
    if not isinstance(value, str) or not value:
        raise SealingError(f"{what} is required for {scope.value} scope")
    return value


def scope_label(scope: Scope, namespace: str, name: str) -> bytes:
    """The RSA-OAEP label the controller will use for this scope and object."""
    scope = _scope(scope)
    if scope is Scope.CLUSTER_WIDE:
        return b""
    ns = _require(namespace, "namespace", scope)
    if scope is Scope.NAMESPACE_WIDE:
        return ns.encode("utf-8")
    return f"{ns}/{_require(name, 'name', scope)}".encode()


def scope_annotations(scope: Scope) -> dict[str, str]:
    """Annotations that make the controller use ``scope`` (none for strict)."""
    scope = _scope(scope)
    if scope is Scope.STRICT:
        return {}
    return {f"{_ANNOTATION_PREFIX}{scope.value}": "true"}


def _oaep(label: bytes) -> padding.OAEP:
    """RSA-OAEP with SHA-256 for both the hash and MGF1, as Sealed Secrets uses."""
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


def _hybrid_encrypt(public_key: rsa.RSAPublicKey, plaintext: bytes, label: bytes) -> bytes:
    """HybridEncrypt: length-prefixed RSA-wrapped session key followed by the GCM ciphertext."""
    session_key = os.urandom(SESSION_KEY_BYTES)
    wrapped = public_key.encrypt(session_key, _oaep(label))
    sealed = AESGCM(session_key).encrypt(_GCM_NONCE, plaintext, None)
    return _LENGTH_PREFIX.pack(len(wrapped)) + wrapped + sealed


def seal_value(key: SealingKey, plaintext: bytes, *, namespace: str, name: str, scope: Scope) -> str:
    """Seal one raw Secret value (not base64) for ``spec.encryptedData``; returns padded base64."""
    if not isinstance(plaintext, bytes | bytearray):
        raise SealingError("the value to seal must be bytes")
    label = scope_label(scope, namespace, name)
    return base64.b64encode(_hybrid_encrypt(key.public_key, bytes(plaintext), label)).decode("ascii")


def _split(blob: bytes) -> tuple[bytes, bytes]:
    """Split a sealed blob into the RSA ciphertext and the GCM ciphertext+tag."""
    if len(blob) < _LENGTH_PREFIX.size:
        raise SealingError("sealed value is too short")
    (rsa_len,) = _LENGTH_PREFIX.unpack_from(blob)
    end = _LENGTH_PREFIX.size + rsa_len
    if rsa_len == 0 or len(blob) < end + _GCM_TAG_BYTES:
        raise SealingError("sealed value is truncated or has a bad length prefix")
    return blob[_LENGTH_PREFIX.size : end], blob[end:]


def unseal_value(private_key: rsa.RSAPrivateKey, b64: str, *, label: bytes) -> bytes:
    """Reverse :func:`seal_value` with the controller's private key (tests and tools only).

    Rendering never calls this: genpolicy never holds the controller's private key.
    """
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SealingError("sealed value is not valid base64") from exc
    wrapped, sealed = _split(blob)
    try:
        session_key = private_key.decrypt(wrapped, _oaep(label))
        return AESGCM(session_key).decrypt(_GCM_NONCE, sealed, None)
    except (ValueError, InvalidTag) as exc:
        raise SealingError("sealed value does not decrypt with this key and scope label") from exc
