"""The value cipher (sops aes/cipher.go): one `ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]` token
per value, AES-256-GCM under the data key with a 32-byte IV and the key path as AAD.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from genpolicy.crypto.sops.common import SopsError

IV_BYTES = 32
TAG_BYTES = 16
_B64 = r"[A-Za-z0-9+/]*={0,2}"
ENC = re.compile(
    rf"ENC\[AES256_GCM,data:(?P<data>{_B64}),iv:(?P<iv>{_B64}),tag:(?P<tag>{_B64}),"
    r"type:(?P<type>str|int|float|bool|bytes|time|comment)\]"
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def unb64(text: str, what: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SopsError(f"{where}: {what} is not valid base64") from exc


def gcm_encrypt(key: bytes, plaintext: bytes, aad: bytes, vtype: str) -> str:
    """One ``ENC[AES256_GCM,...]`` token with a fresh random 32-byte IV."""
    iv = os.urandom(IV_BYTES)
    sealed = AESGCM(key).encrypt(iv, plaintext, aad)
    data, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    return f"ENC[AES256_GCM,data:{b64(data)},iv:{b64(iv)},tag:{b64(tag)},type:{vtype}]"


def gcm_decrypt(key: bytes, token: str, aad: bytes, where: str) -> tuple[bytes, str]:
    """Decrypt one token; returns (plaintext bytes, sops type name)."""
    match = ENC.fullmatch(token)
    if match is None:
        raise SopsError(f"{where}: value is not in the sops ENC[AES256_GCM,...] format")
    data = unb64(match["data"], "data", where)
    iv = unb64(match["iv"], "iv", where)
    tag = unb64(match["tag"], "tag", where)
    if len(iv) != IV_BYTES or len(tag) != TAG_BYTES:
        raise SopsError(f"{where}: bad IV or tag length")
    try:
        return AESGCM(key).decrypt(iv, data + tag, aad), match["type"]
    except InvalidTag:
        raise SopsError(
            f"{where}: decryption failed (wrong data key, tampered value, or value moved to another key)"
        ) from None
