"""Registry keys, image names and credential matching exactly as the kubelet does it.

Reference: the kubelet's pkg/credentialprovider (keyring.go, config.go) in kubernetes/kubernetes.
The kubelet derives a match key from every
`.dockerconfigjson` key (`BasicDockerKeyring.Add`), turns the image into a lookup key
(`distribution/reference`), matches with `URLsMatch` (Go `net/url`, `net.SplitHostPort`,
`path/filepath.Match`) and orders by key in descending byte order. The private helpers below
reproduce the few Go library behaviours that matter, byte for byte.

`normalize_server` is genpolicy's own, stricter step: it turns what a user writes into the bare
key genpolicy emits, and refuses spellings the kubelet would misread. Everything else is a
faithful model of the kubelet, used to explain and test which credential a pod will get.
Nothing here ever puts a password into a repr or an error message.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

__all__ = [
    "DEFAULT_REGISTRY_HOST",
    "DOCKER_HUB",
    "Entry",
    "ImageRef",
    "InvalidDockerConfig",
    "InvalidImage",
    "InvalidKey",
    "InvalidServer",
    "Keyring",
    "KeyringLike",
    "Match",
    "SourcedEntry",
    "UnionKeyring",
    "ambiguous_spellings",
    "credentials_for_image",
    "decode_auth",
    "entries_from_secret",
    "filepath_match",
    "is_default_registry_match",
    "make_docker_keyring",
    "normalize_image",
    "normalize_server",
    "parse_dockercfg",
    "parse_dockerconfigjson",
    "parse_key",
    "prefix_overlaps",
    "union",
    "urls_match",
]

DOCKER_HUB = "docker.io"
"""The domain every Docker Hub image normalises to, and so the key that matches Hub images directly."""

DEFAULT_REGISTRY_HOST = "index.docker.io"
"""The key the kubelet falls back to for Hub-looking images when nothing matched."""

_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})


class InvalidServer(ValueError):
    """A registry server genpolicy cannot turn into a key the kubelet reads as intended."""


class InvalidKey(ValueError):
    """A docker config key Go's `net/url` rejects; the kubelet logs it and skips the entry."""


class InvalidImage(ValueError):
    """An image reference the kubelet rejects (`InvalidImageName`) before any lookup."""


class InvalidDockerConfig(ValueError):
    """A docker config body the kubelet fails on; messages never contain credential values."""


# --------------------------------------------------------------------------------------------
# Go net/url (the subset url.Parse uses for "https://" + key)
# --------------------------------------------------------------------------------------------


class _URLError(ValueError):
    """Go's url.Parse failed."""


@dataclass(frozen=True)
class _URL:
    host: str
    path: str


_HOST, _ZONE, _OTHER = "host", "zone", "other"
_HOST_SAFE = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" b"-_.~!$&'()*+,;=:[]<>\""
)
_USERINFO_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" "-._:~!$&'()*+,;=%@"
)
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _go_bytes(text: str) -> bytes:
    """The bytes of a Go string (invalid UTF-8 is carried as surrogate escapes)."""
    return text.encode("utf-8", "surrogateescape")


def _go_str(data: bytes) -> str:
    """Inverse of `_go_bytes`."""
    return data.decode("utf-8", "surrogateescape")


def _unescape(text: str, mode: str) -> str:
    """Go's url.unescape: validate %XX (and host bytes), then decode."""
    try:
        raw = _go_bytes(text)
    except UnicodeEncodeError:
        raise _URLError("not representable as a Go string") from None
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%'
            if i + 2 >= len(raw) or raw[i + 1] not in _HEX or raw[i + 2] not in _HEX:
                raise _URLError("invalid %-escape")
            value = int(raw[i + 1 : i + 3], 16)
            is_pct25 = raw[i : i + 3] == b"%25"
            if mode == _HOST and value < 0x80 and not is_pct25:
                raise _URLError("%-escaped ASCII in host")
            if mode == _ZONE and not is_pct25 and value != 0x20 and value not in _HOST_SAFE:
                raise _URLError("invalid %-escape in zone")
            out.append(value)
            i += 3
            continue
        if mode in (_HOST, _ZONE) and c < 0x80 and c not in _HOST_SAFE:
            raise _URLError("invalid character in host")
        out.append(c)
        i += 1
    return _go_str(bytes(out))


def _valid_optional_port(port: str) -> bool:
    """Go's validOptionalPort: empty, or ':' followed by ASCII digits only (possibly none)."""
    return port == "" or (port[0] == ":" and all("0" <= ch <= "9" for ch in port[1:]))


def _parse_host(host: str) -> str:
    """Go's url.parseHost."""
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            raise _URLError("missing ']' in host")
        if not _valid_optional_port(host[end + 1 :]):
            raise _URLError("invalid port after host")
        zone = host[:end].find("%25")
        if zone >= 0:
            head, zone_id, tail = host[:zone], host[zone:end], host[end:]
            return _unescape(head, _HOST) + _unescape(zone_id, _ZONE) + _unescape(tail, _HOST)
    else:
        colon = host.rfind(":")
        if colon != -1 and not _valid_optional_port(host[colon:]):
            raise _URLError("invalid port after host")
    return _unescape(host, _HOST)


def _parse_authority(authority: str) -> str:
    """Go's url.parseAuthority, returning only the host (userinfo is validated, then dropped)."""
    at = authority.rfind("@")
    host = _parse_host(authority[at + 1 :] if at >= 0 else authority)
    if at >= 0:
        userinfo = authority[:at]
        if any(ch not in _USERINFO_SAFE for ch in userinfo):
            raise _URLError("invalid userinfo")
        _unescape(userinfo, _OTHER)
    return host


def _parse_url(raw: str) -> _URL:
    """Go's url.Parse for a string that starts with "http://" or "https://": host and decoded path."""
    main, _, fragment = raw.partition("#")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in main):
        raise _URLError("control character in URL")
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
    return _URL(host, path)


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


def _split_url(host: str) -> tuple[list[str], str]:
    """The kubelet's SplitURL: host labels and port ("" when SplitHostPort fails)."""
    split = _split_host_port(host)
    name, port = split if split is not None else (host, "")
    return name.split("."), port


# --------------------------------------------------------------------------------------------
# Go path/filepath.Match (Unix: separator '/', '\\' escapes)
# --------------------------------------------------------------------------------------------

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
        return _go_match(_go_bytes(pattern), _go_bytes(name))
    except _BadPattern:
        raise ValueError("malformed glob pattern") from None


# --------------------------------------------------------------------------------------------
# Keys, matching, keyrings (pkg/credentialprovider/keyring.go)
# --------------------------------------------------------------------------------------------


def parse_key(loc: str) -> str:
    """The kubelet's key for a docker config `loc` (BasicDockerKeyring.Add), quirks included.

    Raises InvalidKey where Go's url.Parse fails (the kubelet logs and skips that entry).
    """
    value = loc if loc.startswith(("https://", "http://")) else "https://" + loc
    try:
        url = _parse_url(value)
    except _URLError as exc:
        raise InvalidKey(f"the kubelet cannot parse docker config key {_redact(loc)!r} ({exc})") from None
    path = url.path
    if path.startswith(("/v2/", "/v1/")):
        path = path[3:]
    return url.host + path if path not in ("", "/") else url.host


def urls_match(key: str, lookup_key: str) -> bool:
    """The kubelet's URLsMatchStr(key, lookup_key); any parse or pattern error is no match."""
    try:
        glob_url, target_url = _parse_url("https://" + key), _parse_url("https://" + lookup_key)
    except _URLError:
        return False
    glob_labels, glob_port = _split_url(glob_url.host)
    target_labels, target_port = _split_url(target_url.host)
    if glob_port != target_port or len(glob_labels) != len(target_labels):
        return False
    if not target_url.path.startswith(glob_url.path):
        return False
    try:
        return all(filepath_match(g, t) for g, t in zip(glob_labels, target_labels, strict=True))
    except ValueError:
        return False


def is_default_registry_match(lookup_key: str) -> bool:
    """The kubelet's isDefaultRegistryMatch: does the lookup key "look like Docker Hub"?"""
    first, slash, _ = lookup_key.partition("/")
    if not first:
        return False
    if not slash or first in (DOCKER_HUB, DEFAULT_REGISTRY_HOST):
        return True
    return "." not in first and ":" not in first


C = TypeVar("C")


@dataclass(frozen=True)
class Match(Generic[C]):
    """One credential a lookup returned, with the key that matched (the fallback key for a fallback)."""

    key: str
    credential: C
    fallback: bool = False


class KeyringLike(Protocol[C]):
    """Anything with the kubelet's DockerKeyring.Lookup."""

    def lookup(self, lookup_key: str) -> list[Match[C]]:
        """Credentials to try, in order."""
        ...


class Keyring(Generic[C]):
    """The kubelet's BasicDockerKeyring: credentials by key, keys in descending byte order."""

    def __init__(self) -> None:
        self._creds: dict[str, list[C]] = {}
        self._index: list[str] = []

    def add(self, loc: str, credential: C) -> str | None:
        """Add one entry; returns its key, or None when the kubelet would skip it."""
        try:
            key = parse_key(loc)
        except InvalidKey:
            return None
        self._creds.setdefault(key, []).append(credential)
        self._index = sorted(self._creds, key=_go_bytes, reverse=True)
        return key

    def add_config(self, config: Mapping[str, C]) -> None:
        """Add every entry of one docker config (the kubelet's order within one config is random)."""
        for loc, credential in config.items():
            self.add(loc, credential)

    @property
    def keys(self) -> tuple[str, ...]:
        """The index, in lookup order."""
        return tuple(self._index)

    def credentials(self, key: str) -> tuple[C, ...]:
        """Everything stacked under one key, in insertion order."""
        return tuple(self._creds.get(key, ()))

    def lookup(self, lookup_key: str) -> list[Match[C]]:
        """BasicDockerKeyring.Lookup: every matching key's list in index order, else the Hub fallback."""
        found = [
            Match(key, credential)
            for key in self._index
            if urls_match(key, lookup_key)
            for credential in self._creds[key]
        ]
        if found or not is_default_registry_match(lookup_key):
            return found
        hub = self._creds.get(DEFAULT_REGISTRY_HOST, [])
        return [Match(DEFAULT_REGISTRY_HOST, credential, fallback=True) for credential in hub]

    def __len__(self) -> int:
        return sum(len(creds) for creds in self._creds.values())

    def __repr__(self) -> str:
        counts = ", ".join(f"{key!r}: {len(self._creds[key])}" for key in self._index)
        return f"Keyring({{{counts}}})"


class UnionKeyring(Generic[C]):
    """The kubelet's UnionDockerKeyring: members' results concatenated in member order, no de-duplication."""

    def __init__(self, members: Sequence[KeyringLike[C]]) -> None:
        self.members = tuple(members)

    def lookup(self, lookup_key: str) -> list[Match[C]]:
        """Each member looks up (and falls back) on its own."""
        return [match for member in self.members for match in member.lookup(lookup_key)]

    def __repr__(self) -> str:
        return f"UnionKeyring({list(self.members)!r})"


def union(*members: KeyringLike[C]) -> UnionKeyring[C]:
    """A union keyring: for the kubelet, pull-secret keyring first, then node config, then plugins."""
    return UnionKeyring(members)


def credentials_for_image(keyring: KeyringLike[C], image: str) -> list[Match[C]]:
    """What the kubelet would try for `image`, in order (raises InvalidImage first, like the kubelet)."""
    return keyring.lookup(normalize_image(image).lookup_key)


def ambiguous_spellings(locs: Iterable[str]) -> dict[str, list[str]]:
    """Keys reached by two or more spellings: inside ONE docker config their order is random."""
    groups: dict[str, list[str]] = {}
    for loc in locs:
        try:
            groups.setdefault(parse_key(loc), []).append(loc)
        except InvalidKey:
            continue
    return {key: spellings for key, spellings in groups.items() if len(spellings) > 1}


def prefix_overlaps(key_a: str, key_b: str) -> bool:
    """Does one key also match the other's repositories through a plain string prefix that does not
    end at a '/' (key `host/team` matching `host/teammate/...`)?"""
    return _loose_prefix(key_a, key_b) or _loose_prefix(key_b, key_a)


def _loose_prefix(shorter: str, longer: str) -> bool:
    """`shorter` matches `longer` and its path stops in the middle of a path segment of `longer`."""
    if not urls_match(shorter, longer):
        return False
    short_path = _parse_url("https://" + shorter).path
    long_path = _parse_url("https://" + longer).path
    if not short_path or short_path.endswith("/") or len(long_path) <= len(short_path):
        return False
    return long_path[len(short_path)] != "/"


# --------------------------------------------------------------------------------------------
# Images (distribution/reference ParseNormalizedNamed, kubelet parsers.ParseImageName)
# --------------------------------------------------------------------------------------------

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_DOMAIN_AND_PORT = r"(?:" + _DOMAIN_NAME + r"|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = r"(?:" + _DOMAIN_AND_PORT + r"/)?" + _REMOTE_NAME
_REFERENCE_RE = re.compile(r"(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?", re.ASCII)
_ANCHORED_NAME_RE = re.compile(r"(?:(" + _DOMAIN_AND_PORT + r")/)?(" + _REMOTE_NAME + r")", re.ASCII)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")
_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_NAME_TOTAL_LENGTH_MAX = 255


@dataclass(frozen=True)
class ImageRef:
    """A normalised image reference; `lookup_key` is what the kubelet hands to Lookup."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def lookup_key(self) -> str:
        """`domain/path` (distribution/reference Name(); just the path if there is no domain)."""
        return f"{self.domain}/{self.path}" if self.domain else self.path


def _split_docker_domain(name: str) -> tuple[str, str]:
    """distribution/reference splitDockerDomain."""
    first, slash, rest = name.partition("/")
    if not slash:
        return DOCKER_HUB, "library/" + name
    if first == "localhost" or "." in first or ":" in first or first.lower() != first:
        domain, remainder = (DOCKER_HUB if first == DEFAULT_REGISTRY_HOST else first), rest
    else:
        domain, remainder = DOCKER_HUB, name
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = "library/" + remainder
    return domain, remainder


def _check_digest(digest: str) -> None:
    """opencontainers/go-digest Parse for the algorithms the kubelet links in."""
    algorithm, _, encoded = digest.partition(":")
    size = _DIGEST_HEX_LENGTHS.get(algorithm)
    if size is None:
        raise InvalidImage(f"unsupported digest algorithm {algorithm!r}")
    if len(encoded) != size or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidImage(f"invalid {algorithm} digest: expected {size} lowercase hex characters")


def normalize_image(image: str) -> ImageRef:
    """ParseNormalizedNamed + ParseImageName: `nginx` -> docker.io/library/nginx, tag defaults to latest."""
    if _IDENTIFIER_RE.fullmatch(image):
        raise InvalidImage(f"invalid image {image!r}: a bare 64-character hex string is an image ID")
    domain, remainder = _split_docker_domain(image)
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        raise InvalidImage(f"invalid image {image!r}: repository name {remote!r} must be lowercase")
    full = f"{domain}/{remainder}"
    match = _REFERENCE_RE.fullmatch(full)
    if match is None:
        raise InvalidImage(f"invalid image {image!r}: {_reference_problem(full)}")
    name, tag, digest = match.group(1), match.group(2) or "", match.group(3) or ""
    name_match = _ANCHORED_NAME_RE.fullmatch(name)
    assert name_match is not None  # same grammar as the reference's name group
    ref_domain, path = name_match.group(1) or "", name_match.group(2)
    if len(path) > _NAME_TOTAL_LENGTH_MAX:
        raise InvalidImage(f"invalid image {image!r}: repository name longer than 255 characters")
    if digest:
        _check_digest(digest)
    return ImageRef(ref_domain, path, tag or ("" if digest else "latest"), digest)


def _reference_problem(full: str) -> str:
    """distribution/reference's reason for a reference that does not match the grammar."""
    lowered = full.lower()
    if lowered != full and _REFERENCE_RE.fullmatch(lowered):
        return "repository name must be lowercase"
    return "invalid reference format"


# --------------------------------------------------------------------------------------------
# Server normalisation (genpolicy's input -> the bare key it emits)
# --------------------------------------------------------------------------------------------

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_GLOB_LABEL_RE = re.compile(r"[a-z0-9*\[\]-]+")
_PATH_RE = re.compile(r"[a-z0-9._/-]*")
_GLOB_CHARS = frozenset("*?[]")


def normalize_server(server: str) -> str:
    """Turn a registry server as users write it into the bare `.dockerconfigjson` key to emit.

    Drops `https://`/`http://` and a leading `/v1/` or `/v2/` (as the kubelet does); a bare `/` after the
    host is dropped, a trailing `/` after a path is kept (`host/team/` must not match `host/teammate`);
    lowercases the host; keeps ports, paths and host globs; every Docker Hub spelling becomes
    `docker.io`. The result is a fixed point of `parse_key`, so the kubelet reads exactly this key.
    """
    shown = _redact(server)
    _check_characters(server, shown)
    rest = _strip_scheme(server, shown)
    if "?" in rest or "#" in rest:
        raise _bad(shown, "contains '?' or '#': the kubelet reads a URL query or fragment (no '?' glob)")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        raise _bad(shown, "contains userinfo ('user@'); put credentials elsewhere")
    host = _normalize_host(authority, shown)
    hub = host in _HUB_HOSTS
    path = _normalize_path(slash + path, shown, hub=hub)
    return (DOCKER_HUB if hub else host) + path


def _bad(shown: str, reason: str) -> InvalidServer:
    """An InvalidServer naming the (redacted) server."""
    return InvalidServer(f"registry server {shown!r}{'' if reason.startswith(':') else ' '}{reason}")


def _check_characters(server: str, shown: str) -> None:
    """Reject empty input, whitespace, control and non-ASCII characters."""
    if not server:
        raise InvalidServer("registry server is empty")
    if any(ch.isspace() for ch in server):
        raise _bad(shown, "contains whitespace")
    if any(ord(ch) < 0x20 or ord(ch) >= 0x7F for ch in server):
        raise InvalidServer(
            f"registry server {shown!r} contains a control or non-ASCII character (use punycode for IDNs)"
        )


def _strip_scheme(server: str, shown: str) -> str:
    """Drop an http(s) scheme (any case); other schemes are an error."""
    match = _SCHEME_RE.match(server)
    if match is None:
        return server
    if match.group(1).lower() not in ("http", "https"):
        raise _bad(shown, f"has scheme {match.group(1)!r}; only http(s) is allowed")
    return server[match.end() :]


def _normalize_host(authority: str, shown: str) -> str:
    """Lowercase host[:port]; validate labels, globs, port."""
    if not authority:
        raise _bad(shown, "has no host")
    if authority.startswith("["):
        return _normalize_ipv6(authority, shown)
    if authority.count(":") > 1:
        raise _bad(shown, "has more than one ':' in the host")
    name, colon, port = authority.partition(":")
    name = name.lower()
    labels = name.split(".")
    if any(label == "" for label in labels):
        raise _bad(shown, "has an empty host label (check for '..' or a stray '.')")
    for label in labels:
        _check_label(label, shown, with_port=bool(colon))
    if colon:
        _check_port(port, shown)
    if len(labels) == 1 and not colon and name != "localhost":
        raise InvalidServer(
            f"registry server {shown!r} is a single name without '.' or a port: the kubelet reads an image "
            f"'{name}/...' as a Docker Hub repository, so this key would never be used"
        )
    return name + colon + port


def _check_label(label: str, shown: str, *, with_port: bool) -> None:
    """A DNS label, or a glob label the kubelet parses and honours."""
    if not (_GLOB_CHARS & set(label)):
        if not _LABEL_RE.fullmatch(label):
            raise InvalidServer(
                f"registry server {shown!r}: host label {label!r} is not a valid host name label"
            )
        return
    if "^" in label:
        raise _bad(shown, ": a negated class '[^...]' cannot be used, Go rejects '^' in a URL host")
    if not _GLOB_LABEL_RE.fullmatch(label):
        raise _bad(shown, f": glob host label {label!r} has invalid characters")
    if with_port and ("[" in label or "]" in label):
        raise InvalidServer(
            f"registry server {shown!r}: with a port, a '[...]' class makes the kubelet lose the port "
            "(net.SplitHostPort fails), so the key would never match"
        )
    try:
        filepath_match(label, "")
    except ValueError:
        raise _bad(shown, f": malformed glob in host label {label!r}") from None


def _check_port(port: str, shown: str) -> None:
    """Decimal 1..65535 without leading zeros (the kubelet compares ports as strings)."""
    if _GLOB_CHARS & set(port):
        raise _bad(shown, ": globs are only honoured in the host, not the port")
    if not port:
        raise _bad(shown, "has an empty port")
    if not re.fullmatch(r"[1-9][0-9]{0,4}", port) or int(port) > 65535:
        raise InvalidServer(
            f"registry server {shown!r} has invalid port {port!r} (expected 1-65535 without leading zeros; "
            "the kubelet compares ports as strings)"
        )


def _normalize_ipv6(authority: str, shown: str) -> str:
    """`[v6]` or `[v6]:port`, lowercased; no zone, no dotted IPv4 tail (the image grammar forbids both)."""
    end = authority.find("]")
    literal, after = authority[1:max(end, 0)], authority[end + 1 :]
    try:
        if end < 0 or not re.fullmatch(r"[0-9a-fA-F:]+", literal):
            raise ValueError
        ipaddress.IPv6Address(literal)
    except ValueError:
        raise _bad(
            shown, "has an invalid IPv6 literal (a '[...]' glob class cannot start the host: "
            "the kubelet parses it as an IPv6 address)",
        ) from None
    if after:
        if not after.startswith(":"):
            raise _bad(shown, "has text after the IPv6 literal")
        _check_port(after[1:], shown)
    return f"[{literal.lower()}]{after}"


def _normalize_path(path: str, shown: str, *, hub: bool) -> str:
    """Strip `/v1/`|`/v2/` once, drop a path that is only '/', then validate what remains.

    A trailing '/' after a path is kept exactly as the kubelet keeps it: `host/team/` matches
    `host/team/app` but not `host/teammate/app`, while `host/team` matches both.

    A remaining path of exactly `/v1` or `/v2` is the registry root on Docker Hub (whose namespaces
    have at least 4 characters) and ambiguous anywhere else; one that still starts with `/v1/` or
    `/v2/` would be stripped again by the kubelet. Refusing both keeps every result a fixed point.
    """
    if path.startswith(("/v1/", "/v2/")):
        path = path[3:]
    if path in ("", "/"):
        return ""
    if path in ("/v1", "/v2", "/v1/", "/v2/"):
        if hub:
            return ""
        raise InvalidServer(
            f"registry server {shown!r}: a path of exactly {path!r} is ambiguous (API version or project?) "
            "and the kubelet keeps it as a repository prefix; drop it for the registry root"
        )
    if path.startswith(("/v1/", "/v2/")):
        raise InvalidServer(
            f"registry server {shown!r}: the path would still start with {path[:4]!r} and the kubelet would "
            "strip that too; no bare key can express it"
        )
    _check_path(path, shown)
    return path


def _check_path(path: str, shown: str) -> None:
    """Characters an image repository path can contain, no empty segments."""
    if _GLOB_CHARS & set(path):
        raise _bad(shown, ": globs are only honoured in the host, not the path")
    if ":" in path:
        raise _bad(shown, ": ':' in the path (a port must directly follow the host)")
    if "%" in path:
        raise _bad(shown, ": percent-encoding in the path (the kubelet decodes it)")
    if "" in path[1:].removesuffix("/").split("/"):
        raise _bad(shown, "has an empty path segment ('//')")
    if path.lower() != path:
        raise InvalidServer(
            f"registry server {shown!r}: repository paths are lowercase and the kubelet compares them "
            "case-sensitively, so this key would never match"
        )
    if not _PATH_RE.fullmatch(path):
        raise _bad(shown, "has characters an image repository path cannot contain")


def _redact(loc: str) -> str:
    """Replace any userinfo (`user:password@`) so it never reaches a message."""
    match = _SCHEME_RE.match(loc)
    prefix, rest = (match.group(0), loc[match.end() :]) if match else ("", loc)
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return prefix + authority + slash + tail


# --------------------------------------------------------------------------------------------
# Docker config bodies (pkg/credentialprovider/config.go, secrets/secrets.go)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One decoded auths entry: what the kubelet sends to the CRI (username/password) plus email."""

    username: str
    password: str = field(repr=False)
    email: str = ""


@dataclass(frozen=True)
class SourcedEntry:
    """A credential tagged with where it came from (secret namespace/name, "node", a plugin)."""

    source: str
    entry: Entry


class _Object(list[tuple[str, object]]):
    """A JSON object as its ordered (key, value) pairs, duplicates included."""


class _Number:
    """A JSON number (never used as a value, so its digits are not parsed)."""


class _NotJSON(ValueError):
    """NaN/Infinity, which Python's json accepts and Go's does not."""


_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" + (
    "\u2028\u2029\u202f\u205f\u3000"
)
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUES = {c: i for i, c in enumerate(_B64_ALPHABET)}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> object:
    raise _NotJSON(f"{name} is not valid JSON")


def _number(_text: str) -> object:
    return _Number()


def _load_json(data: bytes) -> object:
    """Parse like Go's encoding/json: UTF-8 only (invalid bytes replaced), no NaN/Infinity."""
    text = data.decode("utf-8", "replace")
    try:
        return json.loads(
            text, object_pairs_hook=_Object, parse_constant=_reject_constant, parse_int=_number,
            parse_float=_number,
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InvalidDockerConfig(f"not valid JSON: {exc.msg} ({where})") from None
    except _NotJSON as exc:
        raise InvalidDockerConfig(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidDockerConfig("not valid JSON: nested too deeply") from None


def _kind(value: object) -> str:
    """JSON type name for messages (never the value itself)."""
    if isinstance(value, _Object):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _fold(name: str) -> str:
    """Go encoding/json's case folding of field names (ASCII and simple Unicode uppercase)."""
    return "".join(up if len(up := ch.upper()) == 1 else ch for ch in name)


def _go_json_string(value: str) -> str:
    """Go decodes a lone surrogate escape to U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", value)


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


def _go_b64decode(src: bytes, padded: bool) -> bytes:
    """Go's base64.StdEncoding (padded) / RawStdEncoding (unpadded) DecodeString."""
    out, i = bytearray(), 0
    while i < len(src):
        i, chunk = _decode_quantum(src, i, padded)
        out += chunk
    return bytes(out)


def decode_auth(auth: str) -> tuple[str, str]:
    """The kubelet's decodeDockerConfigFieldAuth: (username, password); errors never echo the value."""
    padded = auth.strip(_GO_SPACE).endswith("=")
    try:
        decoded = _go_b64decode(_go_bytes(auth), padded)
    except ValueError as exc:
        kind = "padded" if padded else "unpadded"
        raise InvalidDockerConfig(f"the auth field is not valid {kind} base64: {exc}") from None
    except UnicodeEncodeError:
        raise InvalidDockerConfig("the auth field is not valid base64") from None
    username, colon, password = _go_str(decoded).partition(":")
    if not colon:
        raise InvalidDockerConfig("the auth field must be base64 of 'username:password' (no ':' found)")
    return username, password


def _decode_entry(value: object, loc: str) -> Entry:
    """DockerConfigEntry.UnmarshalJSON; `null` gives an empty entry."""
    where = f"entry {_redact(loc)!r}"
    if value is None:
        return Entry("", "", "")
    if not isinstance(value, _Object):
        raise InvalidDockerConfig(f"{where}: expected an object, got {_kind(value)}")
    fields = {"USERNAME": "", "PASSWORD": "", "EMAIL": "", "AUTH": ""}
    for name, item in value:
        folded = _fold(name)
        if folded not in fields or item is None:
            continue
        if not isinstance(item, str):
            raise InvalidDockerConfig(f"{where}: field {name!r} must be a string, got {_kind(item)}")
        fields[folded] = _go_json_string(item)
    username, password = fields["USERNAME"], fields["PASSWORD"]
    if fields["AUTH"]:
        try:
            username, password = decode_auth(fields["AUTH"])
        except InvalidDockerConfig as exc:
            raise InvalidDockerConfig(f"{where}: {exc}") from None
    return Entry(username, password, fields["EMAIL"])


def _decode_entries(pairs: _Object, into: dict[str, Entry]) -> None:
    """A DockerConfig map: every key decoded, a duplicate key replaces the earlier entry."""
    for loc, value in pairs:
        into[loc] = _decode_entry(value, loc)


def _check_headers(value: object) -> None:
    """`HttpHeaders` (map[string]string) is decoded, so a wrong type is an error, then ignored."""
    if value is None:
        return
    if not isinstance(value, _Object):
        raise InvalidDockerConfig(f"HttpHeaders must be an object, got {_kind(value)}")
    for name, item in value:
        if item is not None and not isinstance(item, str):
            raise InvalidDockerConfig(f"HttpHeaders[{name!r}] must be a string, got {_kind(item)}")


def _top_object(data: bytes, what: str) -> _Object | None:
    """The top-level object, or None for JSON `null`."""
    document = _load_json(data)
    if document is None:
        return None
    if not isinstance(document, _Object):
        raise InvalidDockerConfig(f"a {what} body must be a JSON object, got {_kind(document)}")
    return document


def parse_dockerconfigjson(data: bytes) -> dict[str, Entry]:
    """`{"auths": {...}}` as the kubelet reads it: only `auths` (any case) is used; repeated `auths`
    objects merge, `"auths": null` resets; no `auths` at all gives no entries."""
    document = _top_object(data, ".dockerconfigjson")
    auths: dict[str, Entry] | None = None
    for name, value in document or ():
        folded = _fold(name)
        if folded == "HTTPHEADERS":
            _check_headers(value)
        elif folded == "AUTHS":
            if value is None:
                auths = None
                continue
            if not isinstance(value, _Object):
                raise InvalidDockerConfig(f"auths must be an object, got {_kind(value)}")
            if auths is None:
                auths = {}
            _decode_entries(value, auths)
    return auths or {}


def parse_dockercfg(data: bytes) -> dict[str, Entry]:
    """The legacy `.dockercfg` flat map `{<key>: <entry>}`."""
    entries: dict[str, Entry] = {}
    document = _top_object(data, ".dockercfg")
    if document is not None:
        _decode_entries(document, entries)
    return entries


def entries_from_secret(secret_type: str, data: Mapping[str, bytes]) -> dict[str, Entry] | None:
    """The entries a pull secret contributes, or None when the kubelet silently ignores the secret."""
    if secret_type == "kubernetes.io/dockerconfigjson" and data.get(".dockerconfigjson"):
        return parse_dockerconfigjson(data[".dockerconfigjson"])
    if secret_type == "kubernetes.io/dockercfg" and data.get(".dockercfg"):
        return parse_dockercfg(data[".dockercfg"])
    return None


def make_docker_keyring(
    secrets: Sequence[tuple[str, Mapping[str, Entry]]],
    default: KeyringLike[SourcedEntry] | None = None,
) -> KeyringLike[SourcedEntry]:
    """secrets.MakeDockerKeyring: ALL counted secrets in one keyring (in imagePullSecrets order),
    then `default` (node config, then plugins); just `default` when there is no secret."""
    fallback: KeyringLike[SourcedEntry] = default if default is not None else Keyring()
    if not secrets:
        return fallback
    merged: Keyring[SourcedEntry] = Keyring()
    for source, entries in secrets:
        merged.add_config({loc: SourcedEntry(source, entry) for loc, entry in entries.items()})
    return union(merged, fallback)
