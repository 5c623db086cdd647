"""CRD schemas shipped with genpolicy, one catalog per Kyverno minor (see NOTICE and index.json).

Every custom resource kind genpolicy emits has a schema here, converted from the upstream CRD
(scripts/build-crd-schemas.py regenerates them). Kyverno's schemas differ per minor: a cluster's
`kyverno.version` picks the newest shipped minor not newer than it (1.16 is not in the Go module
proxy, so 1.16 uses 1.15); a cluster without Kyverno settings uses the newest. Other projects ship
one release each.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema_rs

from genpolicy.record import Frozen, set_field

FOLDER = Path(__file__).parent


class Release(Frozen):
    """One upstream release: where its CRDs came from and the schema file of each (apiVersion, kind)."""

    __slots__ = ("project", "version", "source", "licence", "schemas")
    project: str
    version: str
    source: str
    licence: str
    schemas: dict[str, str]  # compared, not hashed (a dict is not hashable)

    def __init__(self, project: str, version: str, source: str, licence: str, schemas: dict[str, str]) -> None:
        set_field(self, "project", project)
        set_field(self, "version", version)
        set_field(self, "source", source)
        set_field(self, "licence", licence)
        set_field(self, "schemas", schemas)

    def __hash__(self) -> int:
        return hash((self.project, self.version, self.source, self.licence))


@functools.cache
def _index() -> dict[str, Any]:
    index: dict[str, Any] = json.loads((FOLDER / "index.json").read_text(encoding="utf-8"))
    return index


def _release(entry: dict[str, Any]) -> Release:
    return Release(entry["project"], entry["version"], entry["source"], entry["licence"], dict(entry["schemas"]))


def kyverno_minors() -> list[str]:
    """Kyverno minors with shipped schemas, oldest first."""
    return sorted(_index()["kyverno"], key=_minor_key)


def _minor_key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def kyverno_minor_for(version: str | None) -> str:
    """The shipped minor for a declared Kyverno version: the newest not newer than it (None: the newest)."""
    minors = kyverno_minors()
    if version is None:
        return minors[-1]
    older = [m for m in minors if _minor_key(m) <= _minor_key(version)]
    return older[-1] if older else minors[0]


class ShippedCrds(Frozen):
    """The shipped schemas for one Kyverno minor plus every other project's."""

    __slots__ = ("kyverno", "releases")
    kyverno: str
    releases: tuple[Release, ...]

    def __init__(self, kyverno: str, releases: tuple[Release, ...]) -> None:
        set_field(self, "kyverno", kyverno)
        set_field(self, "releases", releases)

    def release(self, api_version: str, kind: str) -> Release | None:
        key = f"{api_version} {kind}"
        return next((r for r in self.releases if key in r.schemas), None)

    def validator(self, api_version: str, kind: str) -> Any | None:
        release = self.release(api_version, kind)
        return None if release is None else compiled(release.schemas[f"{api_version} {kind}"])

    def origin(self, api_version: str, kind: str) -> str:
        release = self.release(api_version, kind)
        return "" if release is None else f"{release.project} {release.version}"


@functools.cache
def shipped_crds(kyverno_version: str | None = None) -> ShippedCrds:
    """The catalog a cluster declaring `kyverno_version` validates against (cached per minor)."""
    minor = kyverno_minor_for(kyverno_version)
    index = _index()
    releases = (_release(index["kyverno"][minor]), *(_release(p) for p in index["projects"]))
    return ShippedCrds(minor, releases)


def load_schema(digest: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(gzip.decompress((FOLDER / f"{digest}.json.gz").read_bytes()))
    return schema


@functools.lru_cache(maxsize=64)
def compiled(digest: str) -> Any:
    """A compiled draft-4 validator for one shipped schema, once per process."""
    return jsonschema_rs.Draft4Validator(load_schema(digest))
