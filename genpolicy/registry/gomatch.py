"""A port of Go's `path/filepath.Match` (Unix: separator '/', '\\' escapes), byte for byte.

The kubelet matches each host label of a docker config key against the image's with it.
Reference: src/path/filepath/match.go in golang/go.
"""

from __future__ import annotations

from genpolicy.registry.common import go_bytes

_RUNE_ERROR = 0xFFFD


class _BadPattern(ValueError):
    """filepath.ErrBadPattern."""


def _decode_rune(data: bytes) -> tuple[int, int]:
    """Go's utf8.DecodeRune: (rune, width); (RuneError, 1) for invalid input, (RuneError, 0) when empty."""
    if not data:
        return _RUNE_ERROR, 0
    lead = data[0]
    width = 1 if lead < 0x80 else 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4
    if lead >= 0x80 and not 0xC2 <= lead <= 0xF4:
        return _RUNE_ERROR, 1
    try:
        return ord(data[:width].decode("utf-8")), width
    except UnicodeDecodeError:
        return _RUNE_ERROR, 1


def _scan_chunk(pattern: bytes) -> tuple[bool, bytes, bytes]:
    """Go's scanChunk: leading stars, then the chunk up to the next unbracketed '*'."""
    star = False
    while pattern[:1] == b"*":
        pattern, star = pattern[1:], True
    in_range, i = False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == 0x5C:  # '\\'
            if i + 1 < len(pattern):
                i += 1
        elif c == 0x5B:  # '['
            in_range = True
        elif c == 0x5D:  # ']'
            in_range = False
        elif c == 0x2A and not in_range:  # '*'
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: bytes) -> tuple[int, bytes]:
    """Go's getEsc: one possibly escaped character of a class."""
    if not chunk or chunk[0] in (0x2D, 0x5D):  # '-' or ']'
        raise _BadPattern
    if chunk[0] == 0x5C:
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern
    rune, width = _decode_rune(chunk)
    if rune == _RUNE_ERROR and width == 1:
        raise _BadPattern
    chunk = chunk[width:]
    if not chunk:
        raise _BadPattern
    return rune, chunk


def _match_class(chunk: bytes, rune: int) -> tuple[bool, bytes]:
    """One `[...]` class (chunk starts after '['): (matched, rest of chunk)."""
    negated = chunk[:1] == b"^"
    if negated:
        chunk = chunk[1:]
    matched, ranges = False, 0
    while not (chunk[:1] == b"]" and ranges > 0):
        low, chunk = _get_esc(chunk)
        high = low
        if chunk[0] == 0x2D:
            high, chunk = _get_esc(chunk[1:])
        matched = matched or low <= rune <= high
        ranges += 1
    return matched != negated, chunk[1:]


def _match_chunk(chunk: bytes, name: bytes) -> bytes | None:
    """Go's matchChunk: the rest of name after chunk, or None; raises _BadPattern."""
    failed = False
    while chunk:
        failed = failed or not name
        c = chunk[0]
        if c == 0x5B:  # '['
            rune = 0
            if not failed:
                rune, width = _decode_rune(name)
                name = name[width:]
            ok, chunk = _match_class(chunk[1:], rune)
            failed = failed or not ok
            continue
        if c == 0x3F:  # '?'
            if not failed:
                failed = name[0] == 0x2F
                name = name[_decode_rune(name)[1] :]
            chunk = chunk[1:]
            continue
        if c == 0x5C:
            chunk = chunk[1:]
            if not chunk:
                raise _BadPattern
        if not failed:
            failed = chunk[0] != name[0]
            name = name[1:]
        chunk = chunk[1:]
    return None if failed else name


def _go_match(pattern: bytes, name: bytes) -> bool:
    """Go's filepath.Match on bytes; raises _BadPattern for a malformed pattern."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return b"/" not in name
        rest = _match_chunk(chunk, name)
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        if star:
            skipped = _match_after_star(chunk, name, last=not pattern)
            if skipped is not None:
                name = skipped
                continue
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, b"")
        return False
    return not name


def _match_after_star(chunk: bytes, name: bytes, *, last: bool) -> bytes | None:
    """Try chunk after skipping 1..n bytes of name (never across '/'), as Go's Match does."""
    i = 0
    while i < len(name) and name[i] != 0x2F:
        rest = _match_chunk(chunk, name[i + 1 :])
        if rest is not None and not (last and rest):
            return rest
        i += 1
    return None


def filepath_match(pattern: str, name: str) -> bool:
    """Go `path/filepath.Match`: '*' never crosses '/', '?' one rune, `[...]`/`[^...]` classes,
    '\\' escapes, case-sensitive. Raises ValueError for a malformed pattern."""
    try:
        return _go_match(go_bytes(pattern), go_bytes(name))
    except _BadPattern:
        raise ValueError("malformed glob pattern") from None
