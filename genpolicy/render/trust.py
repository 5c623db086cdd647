"""Whether committed ciphertext may be reused, and how far it was verified.

Anyone who can write the repository can encrypt their own credential with the public sealing
certificate or the age recipients (both are in the repository) and copy genpolicy's
annotations. So reused ciphertext must be bound to the fingerprint key:

* `genpolicy.dev/fingerprint` is an HMAC (fingerprint key) over the plaintext and the identity;
* `genpolicy.dev/ciphertext-binding` is an HMAC (fingerprint key) over that fingerprint, the
  identity and the ciphertext itself.

Whoever holds the fingerprint key (CI) detects a substituted or edited ciphertext without the
credentials; with the credentials too, the fingerprint also proves the plaintext is current.
Without the fingerprint key only the identity (name, namespace, key material) can be checked.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from genpolicy.errors import CredentialError, OutputValidationError, Problem
from genpolicy.record import Frozen, set_field
from genpolicy.secrets import leaks

FINGERPRINT = "genpolicy.dev/fingerprint"
KEY_ID = "genpolicy.dev/encrypted-for"
BINDING = "genpolicy.dev/ciphertext-binding"
OWN_ANNOTATIONS = (FINGERPRINT, BINDING)

# how a reused (or new) encrypted object was verified; printed by `render --check`
ENCRYPTED = "encrypted now"
REVERIFIED = "re-verified: credentials fingerprint and ciphertext binding match"
BOUND = "ciphertext binding verified with the fingerprint key (credentials not available)"
IDENTITY = "NOT verified: name, namespace and key material only (no fingerprint key)"
LEVELS = (REVERIFIED, BOUND, IDENTITY, ENCRYPTED)


class Identity(Frozen):
    """What an encrypted object is for: its file, kind, namespace, name and key material id."""

    __slots__ = ("path", "kind", "namespace", "name", "key_id")
    path: str
    kind: str
    namespace: str
    name: str
    key_id: str

    def __init__(self, path: str, kind: str, namespace: str, name: str, key_id: str) -> None:
        set_field(self, "path", path)
        set_field(self, "kind", kind)
        set_field(self, "namespace", namespace)
        set_field(self, "name", name)
        set_field(self, "key_id", key_id)

    def parts(self) -> dict[str, str]:
        return {"key": self.key_id, "name": self.name, "namespace": self.namespace}

    def describe(self) -> str:
        return f"{self.path}: {self.kind} {self.namespace}/{self.name}"


class Keyed(Protocol):
    """The fingerprint key: `key` is None when absent; `digest` is its HMAC."""

    key: bytes | None

    def digest(self, parts: Mapping[str, str]) -> str | None: ...


def binding(key: Keyed, identity: Identity, fingerprint: str, ciphertext: Mapping[str, str]) -> str | None:
    """The keyed tag over the fingerprint, identity and ciphertext (None without a fingerprint key)."""
    text = json.dumps(dict(sorted(ciphertext.items())), separators=(",", ":"))
    result: str | None = key.digest({**identity.parts(), "fingerprint": fingerprint, "ciphertext": text})
    return result


def substituted(identity: Identity, why: str) -> CredentialError:
    return CredentialError("untrusted encrypted Secret", [Problem(identity.describe(), message=(
        f"{why}; it was not written by genpolicy with this fingerprint key (substituted or edited). "
        "Render with the credentials to re-encrypt it"))])


def judge(key: Keyed, identity: Identity, annotations: Mapping[str, Any], ciphertext: Mapping[str, str] | None,
          fingerprint: str | None) -> str | None:
    """The verification level of an existing object, None when it must be re-encrypted.

    Raises when the fingerprint key shows the ciphertext is not genpolicy's and no credentials
    are there to re-encrypt it.
    """
    if annotations.get(KEY_ID) != identity.key_id:
        return None
    if key.key is None:
        return IDENTITY if fingerprint is None and ciphertext is not None else None
    stored = annotations.get(FINGERPRINT)
    why = _binding_problem(key, identity, stored, annotations.get(BINDING), ciphertext)
    if why is not None:
        if fingerprint is None:
            raise substituted(identity, why)
        return None
    if fingerprint is None:
        return BOUND
    return REVERIFIED if stored == fingerprint else None


def _binding_problem(key: Keyed, identity: Identity, stored: Any, tag: Any,
                     ciphertext: Mapping[str, str] | None) -> str | None:
    if ciphertext is None:
        return "its encrypted data is malformed"
    if not isinstance(stored, str) or not isinstance(tag, str):
        return "it has no ciphertext binding"
    if binding(key, identity, stored, ciphertext) != tag:
        return "its ciphertext does not match its binding"
    return None


def sealed_ciphertext(obj: Mapping[str, Any], key_bytes: int,
                      keys: tuple[str, ...] = (".dockerconfigjson",)) -> dict[str, str] | None:
    """The `encryptedData` of a SealedSecret when it is exactly a plausible sealed value per key, else None."""
    spec = obj.get("spec")
    data = spec.get("encryptedData") if isinstance(spec, Mapping) else None
    if not isinstance(data, Mapping) or set(data) != set(keys):
        return None
    if not all(_plausible_sealed(data[k], key_bytes) for k in keys):
        return None
    return {k: data[k] for k in keys}


def _plausible_sealed(value: Any, key_bytes: int) -> bool:
    try:
        blob = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        return False
    # HybridEncrypt: 2-byte length, RSA-OAEP block (the key size), AES-GCM ciphertext and 16-byte tag
    return len(blob) >= 2 + key_bytes + 16 and int.from_bytes(blob[:2], "big") == key_bytes


def without_own(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object without genpolicy's fingerprint/binding annotations (to compare shapes)."""
    meta = dict(obj.get("metadata") or {})
    notes = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in OWN_ANNOTATIONS}
    meta["annotations"] = notes
    return {**obj, "metadata": meta}


def refuse_clear_credentials(obj: Any, template: str, backend: str) -> None:
    """Only `data` is encrypted: a template must not copy a credential-derived value anywhere else."""
    fields = {k: v for k, v in obj.items() if k not in ("data", "stringData")} if isinstance(obj, dict) else {}
    for path, value in _leaves(fields, ""):
        if leaks(value):
            raise OutputValidationError("credential outside the encrypted data", [Problem(
                template, path=path, message=f"the template puts a credential-derived value outside the "
                f"Secret's data; {backend} encrypts only data, so it would be committed in clear")])


def _leaves(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, f"{path}[{i}]")
    else:
        yield path, str(node)
