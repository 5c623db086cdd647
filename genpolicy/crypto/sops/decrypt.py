"""Reading SOPS files: our own canonical files back (no-churn checks) and decryption with an age identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genpolicy.crypto.sops.age import parse_identities, unwrap_data_key
from genpolicy.crypto.sops.cipher import ENC, gcm_decrypt
from genpolicy.crypto.sops.common import Node, Scalar, SopsError
from genpolicy.crypto.sops.mac import Mac, check_mac
from genpolicy.crypto.sops.rules import path_aad, path_text, rule_from_metadata
from genpolicy.crypto.sops.tree import walk
from genpolicy.crypto.sops.values import from_bytes
from genpolicy.crypto.sops.yaml_in import load_single
from genpolicy.crypto.sops.yaml_out import dump


def parse_sops_file(text: str) -> tuple[dict[str, Node], Mapping[str, Any]] | None:
    """(body, sops metadata) of a file exactly as this module writes it, else None (edited or foreign)."""
    try:
        doc = load_single(text)
        body, meta = _split_metadata(doc)
        canonical = dump(doc) == text
    except (SopsError, TypeError, ValueError):
        return None
    return (body, meta) if canonical else None


def is_encrypted_token(value: object) -> bool:
    """A whole `ENC[AES256_GCM,...,type:str]` value."""
    match = ENC.fullmatch(value) if isinstance(value, str) else None
    return match is not None and match.group("type") == "str"


def _split_metadata(doc: dict[str, Node]) -> tuple[dict[str, Node], Mapping[str, Any]]:
    meta = doc.get("sops")
    if not isinstance(meta, Mapping):
        raise SopsError("not a sops file: no 'sops' metadata mapping")
    return {k: v for k, v in doc.items() if k != "sops"}, meta


def decrypt_document(text: str, identity: str, *, verify_mac: bool = True) -> dict[str, Any]:
    """Decrypt one SOPS YAML document with an age identity (key or keys.txt text); checks the MAC.

    Values come back typed (str/int/float/bool/bytes; ``time`` stays text). The ``sops`` block is
    removed. Multi-document files and comment-based rules are not supported.
    """
    body, meta = _split_metadata(load_single(text))
    rule = rule_from_metadata(meta)
    key = unwrap_data_key(meta, parse_identities(identity))
    mac = Mac(only_encrypted=meta.get("mac_only_encrypted") is True)

    def leaf(value: Scalar, path: tuple[str, ...], encrypted: bool) -> Scalar:
        where = path_text(path)
        if encrypted and isinstance(value, str) and value:
            plain, vtype = gcm_decrypt(key, value, path_aad(path), where)
            value = from_bytes(plain, vtype, where)
        elif encrypted and value is not None and value != "":
            raise SopsError(f"{where}: expected an encrypted value")
        mac.feed(value, encrypted, where)
        return value

    result: dict[str, Any] = walk(body, (), rule.default, rule, leaf)
    if verify_mac:
        check_mac(meta, key, mac.hexdigest())
    return result
