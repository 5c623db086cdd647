"""Encrypting one manifest the way `sops --encrypt --age R --encrypted-regex X` does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from genpolicy.crypto.sops.age import check_recipients, wrap_data_key
from genpolicy.crypto.sops.cipher import gcm_encrypt
from genpolicy.crypto.sops.common import DATA_KEY_BYTES, DEFAULT_ENCRYPTED_REGEX, Node, Scalar, SopsError
from genpolicy.crypto.sops.mac import Mac
from genpolicy.crypto.sops.rules import Rule, path_aad, path_text
from genpolicy.crypto.sops.tree import walk
from genpolicy.crypto.sops.values import to_bytes
from genpolicy.crypto.sops.yaml_out import DoubleQuoted, dump

_LASTMODIFIED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _check_lastmodified(lastmodified: str) -> str:
    if not isinstance(lastmodified, str) or not _LASTMODIFIED.fullmatch(lastmodified):
        raise SopsError(
            "lastmodified must be a UTC RFC 3339 time with whole seconds, e.g. 2026-07-01T12:00:00Z"
        )
    try:
        datetime.strptime(lastmodified, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise SopsError(f"lastmodified {lastmodified!r} is not a valid date and time") from None
    return lastmodified



def _check_data_key(data_key: bytes | None) -> bytes:
    if data_key is None:
        return os.urandom(DATA_KEY_BYTES)
    if not isinstance(data_key, bytes | bytearray) or len(data_key) != DATA_KEY_BYTES:
        raise SopsError(f"data_key must be exactly {DATA_KEY_BYTES} bytes")
    return bytes(data_key)


def _check_document(doc: Mapping[str, Any]) -> None:
    if not isinstance(doc, Mapping):
        raise SopsError("the document to encrypt must be a mapping")
    if "sops" in doc:
        raise SopsError("the top-level key 'sops' is reserved for sops metadata")


def encrypt_secret_manifest(
    doc: dict[str, Any],
    recipients: list[str],
    *,
    lastmodified: str,
    encrypted_regex: str = DEFAULT_ENCRYPTED_REGEX,
    data_key: bytes | None = None,
    version: str = "3.9.0",
    bind: Callable[[Mapping[str, Node]], Mapping[str, str]] | None = None,
) -> str:
    """Encrypt one manifest the way ``sops --encrypt --age R --encrypted-regex X`` does; YAML text.

    Leaves under a key matching ``encrypted_regex`` become ``ENC[...]`` tokens (empty strings and
    nulls stay as they are); the MAC covers every leaf. ``data_key`` is for tests and re-encryption.
    ``bind`` sees the encrypted body and returns annotations (in clear, under the MAC) that are
    added to ``metadata.annotations`` before the MAC is computed, e.g. a keyed tag of the ciphertext.
    """
    _check_document(doc)
    age_recipients = check_recipients(recipients)
    stamp = _check_lastmodified(lastmodified)
    key = _check_data_key(data_key)
    rule = Rule.make("encrypted_regex", encrypted_regex)

    def leaf(value: Scalar, path: tuple[str, ...], encrypted: bool) -> Scalar:
        where = path_text(path)
        plain, vtype = to_bytes(value, where) if value is not None else (b"", "")
        if not encrypted or value is None or value == "":
            return value
        if vtype == "bytes":
            raise SopsError(f"{where}: bytes values are not supported; use strings")
        return gcm_encrypt(key, plain, path_aad(path), vtype)

    body: dict[str, Node] = walk(doc, (), rule.default, rule, leaf)
    if bind is not None:
        extra = dict(bind(body))
        doc, body = _annotated(doc, extra), _annotated(body, extra)
    mac = Mac()

    def feed(value: Scalar, path: tuple[str, ...], encrypted: bool) -> Scalar:
        mac.feed(value, encrypted, path_text(path))
        return value

    walk(doc, (), rule.default, rule, feed)
    body["sops"] = {
        "age": wrap_data_key(key, age_recipients),
        "encrypted_regex": encrypted_regex,
        "lastmodified": DoubleQuoted(stamp),
        "mac": gcm_encrypt(key, mac.hexdigest().encode("ascii"), stamp.encode("ascii"), "str"),
        "version": version,
    }
    return dump(body)


def _annotated(doc: dict[str, Node], extra: Mapping[str, str]) -> dict[str, Node]:
    """A copy of doc with extra `metadata.annotations` (sorted, as genpolicy writes them)."""
    meta = dict(doc.get("metadata") or {})
    meta["annotations"] = dict(sorted({**(meta.get("annotations") or {}), **extra}.items()))
    return {**doc, "metadata": meta}

