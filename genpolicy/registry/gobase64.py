"""A port of Go's `encoding/base64` decoding (StdEncoding and RawStdEncoding, non-strict), which the
kubelet uses for a docker config entry's `auth` field. Reference: src/encoding/base64/base64.go.
"""

from __future__ import annotations

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUES = {c: i for i, c in enumerate(_B64_ALPHABET)}


def _skip_newlines(src: bytes, i: int) -> int:
    while i < len(src) and src[i] in (0x0A, 0x0D):
        i += 1
    return i


def _decode_quantum(src: bytes, i: int, padded: bool) -> tuple[int, bytes]:
    """Go's base64 decodeQuantum (non-strict): up to 4 symbols -> up to 3 bytes."""
    values: list[int] = []
    while len(values) < 4:
        if i == len(src):
            if not values:
                return i, b""
            if len(values) == 1 or padded:
                raise ValueError(f"illegal base64 data at input byte {i - len(values)}")
            break
        c = src[i]
        i += 1
        if c in _B64_VALUES:
            values.append(_B64_VALUES[c])
            continue
        if c in (0x0A, 0x0D):
            continue
        if not padded or c != 0x3D or len(values) < 2:
            raise ValueError(f"illegal base64 data at input byte {i - 1}")
        if len(values) == 2:
            i = _skip_newlines(src, i)
            if i == len(src) or src[i] != 0x3D:
                raise ValueError(f"illegal base64 data at input byte {min(i, len(src))}")
            i += 1
        i = _skip_newlines(src, i)
        if i < len(src):
            raise ValueError(f"illegal base64 data at input byte {i}")
        break
    bits = sum(v << (18 - 6 * n) for n, v in enumerate(values))
    return i, bits.to_bytes(3, "big")[: len(values) - 1]


def go_b64decode(src: bytes, padded: bool) -> bytes:
    """Go's base64.StdEncoding (padded) / RawStdEncoding (unpadded) DecodeString."""
    out, i = bytearray(), 0
    while i < len(src):
        i, chunk = _decode_quantum(src, i, padded)
        out += chunk
    return bytes(out)
