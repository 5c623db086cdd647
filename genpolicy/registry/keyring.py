"""Keys, matching and keyrings exactly as the kubelet does it (pkg/credentialprovider/keyring.go).

The kubelet derives a match key from every `.dockerconfigjson` key (`BasicDockerKeyring.Add`),
turns the image into a lookup key (`distribution/reference`), matches with `URLsMatch` (Go
`net/url`, `net.SplitHostPort`, `path/filepath.Match`) and orders by key in descending byte order.
`make_docker_keyring` is secrets.MakeDockerKeyring (pkg/credentialprovider/secrets/secrets.go).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Generic, Protocol, TypeVar

from genpolicy.record import Frozen, set_field
from genpolicy.registry.common import DEFAULT_REGISTRY_HOST, DOCKER_HUB, InvalidKey, go_bytes, redact
from genpolicy.registry.config import Entry, SourcedEntry
from genpolicy.registry.gomatch import filepath_match
from genpolicy.registry.gourl import URLError, parse_url, split_url
from genpolicy.registry.reference import normalize_image


def parse_key(loc: str) -> str:
    """The kubelet's key for a docker config `loc` (BasicDockerKeyring.Add), quirks included.

    Raises InvalidKey where Go's url.Parse fails (the kubelet logs and skips that entry).
    """
    value = loc if loc.startswith(("https://", "http://")) else "https://" + loc
    try:
        url = parse_url(value)
    except URLError as exc:
        raise InvalidKey(f"the kubelet cannot parse docker config key {redact(loc)!r} ({exc})") from None
    path = url.path
    if path.startswith(("/v2/", "/v1/")):
        path = path[3:]
    return url.host + path if path not in ("", "/") else url.host


def urls_match(key: str, lookup_key: str) -> bool:
    """The kubelet's URLsMatchStr(key, lookup_key); any parse or pattern error is no match."""
    try:
        glob_url, target_url = parse_url("https://" + key), parse_url("https://" + lookup_key)
    except URLError:
        return False
    glob_labels, glob_port = split_url(glob_url.host)
    target_labels, target_port = split_url(target_url.host)
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


class Match(Frozen, Generic[C]):
    """One credential a lookup returned, with the key that matched (the fallback key for a fallback)."""

    __slots__ = ("key", "credential", "fallback")
    key: str
    credential: C
    fallback: bool

    def __init__(self, key: str, credential: C, fallback: bool = False) -> None:
        set_field(self, "key", key)
        set_field(self, "credential", credential)
        set_field(self, "fallback", fallback)


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
        self._index = sorted(self._creds, key=go_bytes, reverse=True)
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
    short_path = parse_url("https://" + shorter).path
    long_path = parse_url("https://" + longer).path
    if not short_path or short_path.endswith("/") or len(long_path) <= len(short_path):
        return False
    return long_path[len(short_path)] != "/"


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
