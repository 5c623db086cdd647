"""The sops MAC: a SHA-512 over the leaf values in document order, stored encrypted with
`lastmodified` as AAD (sops.go).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from genpolicy.crypto.sops.cipher import gcm_decrypt
from genpolicy.crypto.sops.common import Scalar, SopsError
from genpolicy.crypto.sops.values import to_bytes


@dataclass
class Mac:
    """Running SHA-512 over leaf values (sops.go)."""

    only_encrypted: bool = False
    _hash: Any = field(default_factory=hashlib.sha512)

    def __post_init__(self) -> None:
        if self.only_encrypted:
            self._hash.update(hashlib.sha256(b"sops").digest())

    def feed(self, value: Scalar, encrypted: bool, where: str) -> None:
        if value is None or (self.only_encrypted and not encrypted):
            return
        self._hash.update(to_bytes(value, where)[0])

    def hexdigest(self) -> str:
        return str(self._hash.hexdigest()).upper()


def check_mac(meta: Mapping[str, Any], key: bytes, computed: str) -> None:
    """Compare the recomputed MAC with the stored one (decrypted with lastmodified as AAD)."""
    stored, stamp = meta.get("mac"), meta.get("lastmodified")
    if not isinstance(stored, str) or not stored or not isinstance(stamp, str):
        raise SopsError("sops metadata lacks mac or lastmodified")
    plain, _ = gcm_decrypt(key, stored, stamp.encode("utf-8"), "sops.mac")
    if not hmac.compare_digest(plain, computed.encode("ascii")):
        raise SopsError("MAC mismatch: the file was modified after it was encrypted")
