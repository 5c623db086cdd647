"""kubeseal-compatible sealing: round trips, scope labels, wire layout, certificate checks.

Every key and certificate is generated here at run time; no private key is stored anywhere.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import importlib
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genpolicy.crypto.sealed import (
    Scope,
    SealingError,
    SealingKey,
    load_sealing_certificate,
    scope_annotations,
    scope_label,
    seal_value,
    unseal_value,
)

NOW = dt.datetime.now(dt.UTC)
SECRET = b'{"auths":{"ghcr.io":{"username":"u","password":"hunter2","auth":"dTpodW50ZXIy"}}}'


@dataclass(frozen=True)
class Pair:
    private: rsa.RSAPrivateKey
    key: SealingKey
    pem: bytes


def _cert_pem(
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
    *,
    not_after: dt.datetime | None = None,
    serial: int = 1,
) -> bytes:
    """A self-signed certificate like the controller's (CN=sealed-secret, O=sealed-secret)."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sealed-secret"),
        ]
    )
    start = NOW - dt.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(serial)
        .not_valid_before(start if not_after is None else not_after - dt.timedelta(days=2))
        .not_valid_after(not_after or NOW + dt.timedelta(days=3650))
    )
    algorithm = None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private, algorithm).public_bytes(serialization.Encoding.PEM)


def _pair(bits: int) -> Pair:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = _cert_pem(private)
    return Pair(private, load_sealing_certificate(pem), pem)


@pytest.fixture(scope="module")
def rsa2048() -> Pair:
    return _pair(2048)


@pytest.fixture(scope="module")
def rsa4096() -> Pair:
    return _pair(4096)


def _manual_unseal(private: rsa.RSAPrivateKey, b64: str, label: bytes) -> bytes:
    """Decrypt with raw primitives, following the documented layout (independent of unseal_value)."""
    blob = base64.b64decode(b64, validate=True)
    rsa_len = int.from_bytes(blob[:2], "big")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)
    session = private.decrypt(blob[2 : 2 + rsa_len], oaep)
    assert len(session) == 32
    return AESGCM(session).decrypt(b"\x00" * 12, blob[2 + rsa_len :], None)


# -- certificate loading ----------------------------------------------------------------------


def test_certificate_fields_and_fingerprint(rsa2048: Pair) -> None:
    spki = rsa2048.private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert rsa2048.key.key_size == 2048
    assert rsa2048.key.fingerprint == hashlib.sha256(spki).hexdigest()
    assert len(rsa2048.key.fingerprint) == 64


def test_fingerprint_is_stable_across_reissued_certificates(rsa2048: Pair) -> None:
    again = load_sealing_certificate(_cert_pem(rsa2048.private, serial=99))
    assert again.fingerprint == rsa2048.key.fingerprint
    other = load_sealing_certificate(
        _cert_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    )
    assert other.fingerprint != rsa2048.key.fingerprint


def test_first_certificate_of_a_bundle_is_used(rsa2048: Pair, rsa4096: Pair) -> None:
    assert load_sealing_certificate(rsa4096.pem + rsa2048.pem).fingerprint == rsa4096.key.fingerprint


@pytest.mark.parametrize(
    "garbage", [b"", b"hello", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
)
def test_garbage_is_rejected(garbage: bytes) -> None:
    with pytest.raises(SealingError, match=r"not a PEM X\.509 certificate"):
        load_sealing_certificate(garbage)


def test_der_and_text_input_are_rejected(rsa2048: Pair) -> None:
    der = rsa2048.key.certificate.public_bytes(serialization.Encoding.DER)
    with pytest.raises(SealingError):
        load_sealing_certificate(der)
    with pytest.raises(SealingError, match="PEM bytes"):
        load_sealing_certificate(rsa2048.pem.decode())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "private",
    [ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()],
    ids=["ec-p256", "ed25519"],
)
def test_non_rsa_keys_are_rejected(private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> None:
    with pytest.raises(SealingError, match="needs RSA"):
        load_sealing_certificate(_cert_pem(private))


def test_small_rsa_keys_are_rejected() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(SealingError, match="1024 bits; at least 2048"):
        load_sealing_certificate(_cert_pem(weak))


def test_expired_certificate_is_rejected(rsa2048: Pair) -> None:
    pem = _cert_pem(rsa2048.private, not_after=NOW - dt.timedelta(days=1))
    with pytest.raises(SealingError, match="expired"):
        load_sealing_certificate(pem)
    assert load_sealing_certificate(pem, now=NOW - dt.timedelta(days=1, hours=1)).key_size == 2048


# -- scopes ------------------------------------------------------------------------------------


def test_scope_labels_and_annotations() -> None:
    assert scope_label(Scope.STRICT, "apps", "regcred") == b"apps/regcred"
    assert scope_label(Scope.NAMESPACE_WIDE, "apps", "regcred") == b"apps"
    assert scope_label(Scope.CLUSTER_WIDE, "", "") == b""
    assert scope_annotations(Scope.STRICT) == {}
    assert scope_annotations(Scope.NAMESPACE_WIDE) == {"sealedsecrets.bitnami.com/namespace-wide": "true"}
    assert scope_annotations(Scope.CLUSTER_WIDE) == {"sealedsecrets.bitnami.com/cluster-wide": "true"}
    assert [s.value for s in Scope] == ["strict", "namespace-wide", "cluster-wide"]


@pytest.mark.parametrize(
    ("scope", "namespace", "name", "missing"),
    [
        (Scope.STRICT, "", "regcred", "namespace"),
        (Scope.STRICT, "apps", "", "name"),
        (Scope.NAMESPACE_WIDE, "", "x", "namespace"),
    ],
)
def test_scope_label_requires_identity(scope: Scope, namespace: str, name: str, missing: str) -> None:
    with pytest.raises(SealingError, match=f"{missing} is required for {scope.value} scope"):
        scope_label(scope, namespace, name)


def test_unknown_scope_is_a_sealing_error() -> None:
    with pytest.raises(SealingError, match="unknown sealing scope"):
        scope_label("global", "a", "b")  # type: ignore[arg-type]


# -- sealing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", list(Scope))
def test_round_trip_4096_every_scope(rsa4096: Pair, scope: Scope) -> None:
    sealed = seal_value(rsa4096.key, SECRET, namespace="apps", name="regcred", scope=scope)
    label = scope_label(scope, "apps", "regcred")
    assert unseal_value(rsa4096.private, sealed, label=label) == SECRET
    assert _manual_unseal(rsa4096.private, sealed, label) == SECRET


def test_layout_4096(rsa4096: Pair) -> None:
    sealed = seal_value(rsa4096.key, SECRET, namespace="apps", name="regcred", scope=Scope.STRICT)
    assert "\n" not in sealed and len(sealed) % 4 == 0
    blob = base64.b64decode(sealed, validate=True)
    assert base64.b64encode(blob).decode() == sealed  # standard alphabet with padding
    assert blob[:2] == b"\x02\x00"
    assert len(blob) == 2 + 512 + len(SECRET) + 16


def test_layout_2048_and_empty_value(rsa2048: Pair) -> None:
    sealed = seal_value(rsa2048.key, b"", namespace="apps", name="regcred", scope=Scope.STRICT)
    blob = base64.b64decode(sealed)
    assert blob[:2] == b"\x01\x00" and len(blob) == 2 + 256 + 16
    assert unseal_value(rsa2048.private, sealed, label=b"apps/regcred") == b""


def test_two_seals_differ(rsa2048: Pair) -> None:
    one, two = (
        seal_value(rsa2048.key, SECRET, namespace="a", name="b", scope=Scope.STRICT) for _ in range(2)
    )
    assert one != two
    assert base64.b64decode(one)[2 + 256 :] != base64.b64decode(two)[2 + 256 :]  # fresh session key each time


@pytest.mark.parametrize("label", [b"apps/other", b"other/regcred", b"apps", b"", b"apps/regcred/"])
def test_wrong_label_fails(rsa2048: Pair, label: bytes) -> None:
    sealed = seal_value(rsa2048.key, SECRET, namespace="apps", name="regcred", scope=Scope.STRICT)
    with pytest.raises(SealingError, match="does not decrypt") as info:
        unseal_value(rsa2048.private, sealed, label=label)
    assert "hunter2" not in str(info.value)


def test_namespace_wide_and_cluster_wide_labels_are_distinct(rsa2048: Pair) -> None:
    ns_wide = seal_value(rsa2048.key, SECRET, namespace="apps", name="x", scope=Scope.NAMESPACE_WIDE)
    cluster = seal_value(rsa2048.key, SECRET, namespace="", name="", scope=Scope.CLUSTER_WIDE)
    assert unseal_value(rsa2048.private, ns_wide, label=b"apps") == SECRET
    assert unseal_value(rsa2048.private, cluster, label=b"") == SECRET
    for sealed, wrong in ((ns_wide, b""), (ns_wide, b"apps/x"), (cluster, b"apps")):
        with pytest.raises(SealingError):
            unseal_value(rsa2048.private, sealed, label=wrong)


def test_wrong_private_key_fails(rsa2048: Pair, rsa4096: Pair) -> None:
    sealed = seal_value(rsa2048.key, SECRET, namespace="a", name="b", scope=Scope.STRICT)
    with pytest.raises(SealingError):
        unseal_value(rsa4096.private, sealed, label=b"a/b")


def test_tampering_and_malformed_input_fail(rsa2048: Pair) -> None:
    blob = bytearray(
        base64.b64decode(seal_value(rsa2048.key, SECRET, namespace="a", name="b", scope=Scope.STRICT))
    )
    blob[-20] ^= 1
    cases = [
        base64.b64encode(bytes(blob)).decode(),
        "not base64!",
        "AA==",
        base64.b64encode(b"\x01\x00abc").decode(),
    ]
    for bad in cases:
        with pytest.raises(SealingError):
            unseal_value(rsa2048.private, bad, label=b"a/b")


def test_plaintext_must_be_bytes(rsa2048: Pair) -> None:
    with pytest.raises(SealingError, match="must be bytes"):
        seal_value(rsa2048.key, "text", namespace="a", name="b", scope=Scope.STRICT)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.binary(max_size=2048),
    namespace=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True),
    name=st.from_regex(r"[a-z0-9]([-.a-z0-9]{0,30}[a-z0-9])?", fullmatch=True),
)
def test_round_trip_property(rsa2048: Pair, value: bytes, namespace: str, name: str) -> None:
    sealed = seal_value(rsa2048.key, value, namespace=namespace, name=name, scope=Scope.STRICT)
    assert unseal_value(rsa2048.private, sealed, label=f"{namespace}/{name}".encode()) == value


# -- independent implementation ----------------------------------------------------------------


def test_cross_check_with_aes_gcm_rsa_oaep(rsa2048: Pair) -> None:
    try:
        other = importlib.import_module("aes_gcm_rsa_oaep")
    except ImportError:
        pytest.skip("aes-gcm-rsa-oaep is not installed (pip install --no-deps aes-gcm-rsa-oaep==0.1.0)")
    ours = seal_value(rsa2048.key, SECRET, namespace="apps", name="regcred", scope=Scope.STRICT)
    assert other.decrypt(base64.b64decode(ours), rsa2048.private, b"apps/regcred") == SECRET
    theirs = base64.b64encode(other.encrypt(SECRET, rsa2048.key.public_key, b"apps/regcred")).decode()
    assert unseal_value(rsa2048.private, theirs, label=b"apps/regcred") == SECRET
    cluster = base64.b64encode(other.encrypt(SECRET, rsa2048.key.public_key, None)).decode()
    assert unseal_value(rsa2048.private, cluster, label=scope_label(Scope.CLUSTER_WIDE, "", "")) == SECRET
