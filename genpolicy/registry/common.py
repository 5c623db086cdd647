"""The registry package's shared vocabulary: Docker Hub names, its errors, Go strings, redaction.

Nothing here ever puts a password into a repr or an error message: `redact` removes userinfo
from anything a message shows.
"""

from __future__ import annotations

import re

DOCKER_HUB = "docker.io"
"""The domain every Docker Hub image normalises to, and so the key that matches Hub images directly."""

DEFAULT_REGISTRY_HOST = "index.docker.io"
"""The key the kubelet falls back to for Hub-looking images when nothing matched."""

HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})


class InvalidServer(ValueError):
    """A registry server genpolicy cannot turn into a key the kubelet reads as intended."""


class InvalidKey(ValueError):
    """A docker config key Go's `net/url` rejects; the kubelet logs it and skips the entry."""


class InvalidImage(ValueError):
    """An image reference the kubelet rejects (`InvalidImageName`) before any lookup."""


class InvalidDockerConfig(ValueError):
    """A docker config body the kubelet fails on; messages never contain credential values."""



def go_bytes(text: str) -> bytes:
    """The bytes of a Go string (invalid UTF-8 is carried as surrogate escapes)."""
    return text.encode("utf-8", "surrogateescape")


def go_str(data: bytes) -> str:
    """Inverse of `go_bytes`."""
    return data.decode("utf-8", "surrogateescape")


SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def redact(loc: str) -> str:
    """Replace any userinfo (`user:password@`) so it never reaches a message."""
    match = SCHEME_RE.match(loc)
    prefix, rest = (match.group(0), loc[match.end() :]) if match else ("", loc)
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return prefix + authority + slash + tail
