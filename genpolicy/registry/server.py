"""Server normalisation: genpolicy's own, stricter step from what a user writes to the bare key it emits.

It refuses spellings the kubelet would misread; every result is a fixed point of the kubelet's
key parsing (`keyring.parse_key`), so the kubelet reads exactly the key genpolicy writes.
"""

from __future__ import annotations

import ipaddress
import re

from genpolicy.registry.common import DOCKER_HUB, HUB_HOSTS, SCHEME_RE, InvalidServer, redact
from genpolicy.registry.gomatch import filepath_match

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
    shown = redact(server)
    _check_characters(server, shown)
    rest = _strip_scheme(server, shown)
    if "?" in rest or "#" in rest:
        raise _bad(shown, "contains '?' or '#': the kubelet reads a URL query or fragment (no '?' glob)")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        raise _bad(shown, "contains userinfo ('user@'); put credentials elsewhere")
    host = _normalize_host(authority, shown)
    hub = host in HUB_HOSTS
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
    match = SCHEME_RE.match(server)
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

