"""Typed values <-> the bytes sops encrypts and hashes (sops.go ToBytes and its inverse).
"""

from __future__ import annotations

import math
from decimal import Decimal

from genpolicy.crypto.sops.common import Scalar, SopsError


def _go_float(value: float) -> str:
    """Go ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest round-trip digits, no exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_bytes(value: Scalar, where: str) -> tuple[bytes, str]:
    """The plaintext bytes and sops type of a leaf value."""
    if isinstance(value, bool):
        return (b"True" if value else b"False"), "bool"
    if isinstance(value, int):
        return str(value).encode("ascii"), "int"
    if isinstance(value, float):
        return _go_float(value).encode("ascii"), "float"
    if isinstance(value, str):
        return value.encode("utf-8"), "str"
    if isinstance(value, bytes):
        return value, "bytes"
    raise SopsError(f"{where}: unsupported value type {type(value).__name__}")


_BOOLS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


def from_bytes(plain: bytes, vtype: str, where: str) -> Scalar:
    """Turn decrypted bytes back into the value sops would (``time``/``comment`` stay text)."""
    if vtype == "bytes":
        return plain
    try:
        text = plain.decode("utf-8")
        if vtype == "int":
            return int(text, 10)
        if vtype == "float":
            return float(text)
        if vtype == "bool":
            return _BOOLS[text.lower()]
    except (UnicodeDecodeError, ValueError, KeyError):
        raise SopsError(f"{where}: decrypted value is not a valid {vtype}") from None
    return text
