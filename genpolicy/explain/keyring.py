"""The kubelet keyring walk for one image: the credentials tried in order, near misses and notes.

The matching is genpolicy.registry's model of the kubelet keyring. Passwords are never shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from genpolicy.errors import Problem, UsageError
from genpolicy.explain.pull_secrets import NoCredentials
from genpolicy.registry import (
    Entry,
    InvalidImage,
    InvalidKey,
    SourcedEntry,
    credentials_for_image,
    filepath_match,
    is_default_registry_match,
    make_docker_keyring,
    normalize_image,
    parse_key,
    urls_match,
)

JSON_VERSION = 1


@dataclass
class Attempt:
    """One credential the kubelet tries, in order."""

    order: int
    key: str
    username: str
    source: str
    fallback: bool = False


@dataclass
class NearMiss:
    key: str
    source: str
    reason: str


@dataclass
class Explanation:
    image: str
    lookup_key: str
    attempts: list[Attempt] = field(default_factory=list)
    near_misses: list[NearMiss] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"version": JSON_VERSION, **asdict(self)}, indent=2)

    def to_text(self) -> str:
        lines = [f"image {self.image} -> lookup key {self.lookup_key}"]
        if not self.attempts:
            lines.append("no credential matches: the kubelet pulls anonymously")
        for a in self.attempts:
            via = " (Docker Hub fallback)" if a.fallback else ""
            lines.append(f"  {a.order}. {a.key}{via}  user {a.username or '-'}  from {a.source}")
        for miss in self.near_misses:
            lines.append(f"  not used: {miss.key} from {miss.source}: {miss.reason}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def why_not(key: str, lookup_key: str) -> str:
    """A human reason why a registry key does not match an image's lookup key: the first part that differs."""
    k_host, _, k_path = key.partition("/")
    i_host, _, i_path = lookup_key.partition("/")
    (k_name, k_port), (i_name, i_port) = _host_port(k_host), _host_port(i_host)
    host = _host_difference(k_name, i_name)
    if host:
        return host
    if k_port != i_port:
        return f"port {k_port or '(none)'} differs from the image's {i_port or '(none)'}"
    if k_path and not i_path.startswith(k_path):
        return f"the image path does not start with /{k_path}"
    return "the host does not match"


def _host_port(hostport: str) -> tuple[str, str]:
    """`host[:port]` or `[v6][:port]` -> (host, port)."""
    if hostport.startswith("["):
        end = hostport.find("]")
        return hostport[: end + 1], hostport[end + 2 :] if hostport[end + 1 : end + 2] == ":" else ""
    name, _, port = hostport.partition(":")
    return name, port


def _host_difference(key_host: str, image_host: str) -> str | None:
    """Why the hosts differ, in wildcard terms only when the key has a glob; None when they match."""
    if key_host.startswith("[") or not set("*?[") & set(key_host):  # an IPv6 literal has no glob
        return None if key_host == image_host else f"host {key_host} differs from the image's {image_host}"
    key_labels, image_labels = key_host.split("."), image_host.split(".")
    if len(key_labels) != len(image_labels):
        return (f"host pattern {key_host} has {len(key_labels)} DNS labels and the image's host {image_host} "
                f"{len(image_labels)} (a `*` matches exactly one label)")
    try:
        matched = all(filepath_match(k, i) for k, i in zip(key_labels, image_labels, strict=True))
    except ValueError:
        matched = False
    return None if matched else f"host pattern {key_host} does not match the image's host {image_host}"


def explain(keyring_secrets: list[tuple[str, Mapping[str, Entry]]], image: str,
            extra: list[tuple[str, str, str]] | None = None) -> Explanation:
    """Run the kubelet's lookup over pull secrets (in Pod order); `extra`: (key, username, source) after them."""
    try:
        lookup_key = normalize_image(image).lookup_key
    except InvalidImage as exc:
        raise UsageError("invalid image", [Problem(image, message=f"the kubelet rejects this image: {exc}")]) from None
    keyring = make_docker_keyring(keyring_secrets)
    result = Explanation(image, lookup_key)
    for i, match in enumerate(credentials_for_image(keyring, image), start=1):
        cred: SourcedEntry = match.credential
        result.attempts.append(Attempt(i, match.key, cred.entry.username, cred.source, match.fallback))
    used = {(a.key, a.source) for a in result.attempts}
    for source, entries in keyring_secrets:
        for loc in entries:
            try:
                key = parse_key(loc)
            except InvalidKey:
                result.near_misses.append(NearMiss(loc, source, "the kubelet cannot parse this key and skips it"))
                continue
            if (key, source) not in used:
                reason = why_not(key, lookup_key)
                if key == "index.docker.io" and is_default_registry_match(lookup_key):
                    reason = "index.docker.io only applies as a fallback, and another key already matched"
                result.near_misses.append(NearMiss(key, source, reason))
    result.notes += [f"{source}: {entries.reason}" for source, entries in keyring_secrets
                     if isinstance(entries, NoCredentials)]
    for key, username, source in extra or []:
        if urls_match(key, lookup_key):
            result.attempts.append(Attempt(len(result.attempts) + 1, key, username, source))
    _notes(result)
    return result


def _notes(result: Explanation) -> None:
    for attempt in result.attempts:
        _, _, path = attempt.key.partition("/")
        if path and not result.lookup_key.partition("/")[2].startswith(path + "/") and \
                result.lookup_key.partition("/")[2] != path:
            result.notes.append(f"key {attempt.key} matches by plain string prefix (/{path} also matches "
                                f"/{path}mate): check it is meant for this image")
        if attempt.fallback:
            result.notes.append("Docker Hub credentials were found only through the index.docker.io fallback; "
                                "a `docker.io` key in any other pull secret would silently replace them")
    if len(result.attempts) > 1:
        result.notes.append("the kubelet tries these in order and stops at the first pull that succeeds; "
                            "there is no anonymous attempt after they all fail")
