"""A port of the subset of Go's `net/url` (url.Parse for "https://" + key) and `net.SplitHostPort`
the kubelet's key parsing and `URLsMatch` rely on, byte for byte.

Reference: src/net/url/url.go and src/net/ipsock.go in golang/go.
"""

from __future__ import annotations

from genpolicy.record import Frozen, set_field
from genpolicy.registry.common import go_bytes, go_str


class URLError(ValueError):
    """Go's url.Parse failed."""


class URL(Frozen):
    __slots__ = ("host", "path")
    host: str
    path: str

    def __init__(self, host: str, path: str) -> None:
        set_field(self, "host", host)
        set_field(self, "path", path)


_HOST, _ZONE, _OTHER = "host", "zone", "other"
_HOST_SAFE = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" b"-_.~!$&'()*+,;=:[]<>\""
)
_USERINFO_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" "-._:~!$&'()*+,;=%@"
)
_HEX = frozenset(b"0123456789abcdefABCDEF")



def _unescape(text: str, mode: str) -> str:
    """Go's url.unescape: validate %XX (and host bytes), then decode."""
    try:
        raw = go_bytes(text)
    except UnicodeEncodeError:
        raise URLError("not representable as a Go string") from None
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%'
            if i + 2 >= len(raw) or raw[i + 1] not in _HEX or raw[i + 2] not in _HEX:
                raise URLError("invalid %-escape")
            value = int(raw[i + 1 : i + 3], 16)
            is_pct25 = raw[i : i + 3] == b"%25"
            if mode == _HOST and value < 0x80 and not is_pct25:
                raise URLError("%-escaped ASCII in host")
            if mode == _ZONE and not is_pct25 and value != 0x20 and value not in _HOST_SAFE:
                raise URLError("invalid %-escape in zone")
            out.append(value)
            i += 3
            continue
        if mode in (_HOST, _ZONE) and c < 0x80 and c not in _HOST_SAFE:
            raise URLError("invalid character in host")
        out.append(c)
        i += 1
    return go_str(bytes(out))


def _valid_optional_port(port: str) -> bool:
    """Go's validOptionalPort: empty, or ':' followed by ASCII digits only (possibly none)."""
    return port == "" or (port[0] == ":" and all("0" <= ch <= "9" for ch in port[1:]))


def _parse_host(host: str) -> str:
    """Go's url.parseHost."""
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            raise URLError("missing ']' in host")
        if not _valid_optional_port(host[end + 1 :]):
            raise URLError("invalid port after host")
        zone = host[:end].find("%25")
        if zone >= 0:
            head, zone_id, tail = host[:zone], host[zone:end], host[end:]
            return _unescape(head, _HOST) + _unescape(zone_id, _ZONE) + _unescape(tail, _HOST)
    else:
        colon = host.rfind(":")
        if colon != -1 and not _valid_optional_port(host[colon:]):
            raise URLError("invalid port after host")
    return _unescape(host, _HOST)


def _parse_authority(authority: str) -> str:
    """Go's url.parseAuthority, returning only the host (userinfo is validated, then dropped)."""
    at = authority.rfind("@")
    host = _parse_host(authority[at + 1 :] if at >= 0 else authority)
    if at >= 0:
        userinfo = authority[:at]
        if any(ch not in _USERINFO_SAFE for ch in userinfo):
            raise URLError("invalid userinfo")
        _unescape(userinfo, _OTHER)
    return host


def parse_url(raw: str) -> URL:
    """Go's url.Parse for a string that starts with "http://" or "https://": host and decoded path."""
    main, _, fragment = raw.partition("#")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in main):
        raise URLError("control character in URL")
    rest = main.split(":", 1)[1]
    rest = rest[:-1] if rest.endswith("?") and rest.count("?") == 1 else rest.partition("?")[0]
    host = ""
    if rest.startswith("//"):
        authority, slash, tail = rest[2:].partition("/")
        host = _parse_authority(authority)
        rest = slash + tail
    path = _unescape(rest, _OTHER)
    if fragment:
        _unescape(fragment, _OTHER)
    return URL(host, path)


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort; None where Go returns an error."""
    colon = hostport.rfind(":")
    if colon < 0:
        return None
    start, after_bracket = 0, 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 != colon:
            return None
        host = hostport[1:end]
        start, after_bracket = 1, end + 1
    else:
        host = hostport[:colon]
        if ":" in host:
            return None
    if "[" in hostport[start:] or "]" in hostport[after_bracket:]:
        return None
    return host, hostport[colon + 1 :]


def split_url(host: str) -> tuple[list[str], str]:
    """The kubelet's SplitURL: host labels and port ("" when SplitHostPort fails)."""
    split = _split_host_port(host)
    name, port = split if split is not None else (host, "")
    return name.split("."), port
