"""Image references as the kubelet reads them: distribution/reference ParseNormalizedNamed and the
kubelet's parsers.ParseImageName (`nginx` -> docker.io/library/nginx:latest).
"""

from __future__ import annotations

import re

from genpolicy.record import Frozen, set_field
from genpolicy.registry.common import DEFAULT_REGISTRY_HOST, DOCKER_HUB, InvalidImage

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


class ImageRef(Frozen):
    """A normalised image reference; `lookup_key` is what the kubelet hands to Lookup."""

    __slots__ = ("domain", "path", "tag", "digest")
    domain: str
    path: str
    tag: str
    digest: str

    def __init__(self, domain: str, path: str, tag: str = "", digest: str = "") -> None:
        set_field(self, "domain", domain)
        set_field(self, "path", path)
        set_field(self, "tag", tag)
        set_field(self, "digest", digest)

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
