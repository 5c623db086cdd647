"""What an import found: who writes which pull Secret where, and which registries it holds.

A `Delivery` is one old writer's job ("copy Secret regcred into every namespace and patch the
default ServiceAccounts"); each becomes a namespace group of the starter spec. Registry keys come
from Secret bodies the input shows; credential values are never kept (only registered with the
redactor, so nothing prints them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ALL = "*"


@dataclass
class Delivery:
    tool: str  # "imagepullsecret-patcher", "registry-creds", "reflector", "replicator", "kyverno", "secrets"
    writer: str  # the object that writes today, e.g. "Deployment imagepullsecret-patcher/imagepullsecret-patcher"
    secret_name: str
    where: str  # file:line of the object it was read from
    namespaces: list[str] = field(default_factory=list)  # names, globs, or [ALL]
    excludes: list[str] = field(default_factory=list)
    selector: dict[str, str] = field(default_factory=dict)  # namespace matchLabels
    service_accounts: list[str] = field(default_factory=list)  # patched accounts ([] : the writer patches none)
    source: str = ""  # "namespace/name" of the Secret it copies, if any
    keys: list[str] = field(default_factory=list)  # registry keys, once known
    stop: str = ""  # how to stop this writer
    notes: list[str] = field(default_factory=list)
    also: list[tuple[str, str, str]] = field(default_factory=list)  # further (writer, where, stop) of this job

    @property
    def everywhere(self) -> bool:
        return ALL in self.namespaces or self.selector != {} or any(_is_glob(n) for n in self.namespaces)


@dataclass
class Imported:
    deliveries: list[Delivery] = field(default_factory=list)
    keys_by_secret: dict[str, list[str]] = field(default_factory=dict)  # "namespace/name" -> registry keys
    keys_by_name: dict[str, list[str]] = field(default_factory=dict)  # Secret name -> keys (any namespace)
    namespaces_by_name: dict[str, set[str]] = field(default_factory=dict)  # Secret name -> namespaces seen
    accounts_by_secret: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (ns, secret) -> SAs
    notes: list[str] = field(default_factory=list)


def _is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def namespace_pattern(value: str, notes: list[str], what: str) -> str | None:
    """A namespace name, or a regular expression as the Kyverno wildcard genpolicy takes (`team-.*` -> `team-*`).

    A pattern that does not translate exactly is widened to its literal prefix + `*`, with a note."""
    value = value.strip().removeprefix("^").removesuffix("$")
    if not value:
        return None
    if _DNS.fullmatch(value):
        return value
    if value.endswith(".*") and _DNS.fullmatch(value[:-2].rstrip("-") or "x"):
        return value[:-2] + "*"
    prefix = re.match(r"[-a-z0-9]*", value)
    literal = prefix.group(0) if prefix else ""
    notes.append(f"{what}: namespace pattern {value!r} is a regular expression; written as {literal + '*'!r}, "
                 "which may match more namespaces: review it")
    return literal + "*"


def slug(text: str) -> str:
    """A spec identifier from a registry key or Secret name (`harbor.example.com:8443/team` ->
    `harbor-example-com-8443-team`)."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (value or "registry")[:63].rstrip("-")
