"""How this genpolicy was installed, as a pip requirement a scaffolded repository's CI can reuse.

genpolicy is not on a package index, so `genpolicy==<version>` only works where the user's own index
serves it. PEP 610's `direct_url.json` (written by pip for installs from a URL, a VCS or a local
path) says where this copy came from; without it the distribution came from an index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from typing import Any

DISTRIBUTION = "genpolicy"


@dataclass(frozen=True)
class InstallSource:
    requirement: str  # what `pip install` takes
    local: bool  # a path on this machine: CI elsewhere cannot reach it


def installed_source() -> InstallSource:
    """The requirement that installs the running genpolicy the way it was installed here."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return InstallSource(DISTRIBUTION, local=False)
    text = dist.read_text("direct_url.json")
    if not text:
        return InstallSource(f"{DISTRIBUTION}=={dist.version}", local=False)
    try:
        direct = json.loads(text)
    except ValueError:
        return InstallSource(f"{DISTRIBUTION}=={dist.version}", local=False)
    return from_direct_url(direct, dist.version)


def from_direct_url(direct: dict[str, Any], version: str) -> InstallSource:
    """PEP 610 `direct_url.json` -> a PEP 508 direct reference (VCS pinned to the installed commit)."""
    url = str(direct.get("url", ""))
    if not url:
        return InstallSource(f"{DISTRIBUTION}=={version}", local=False)
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs"):
        url = f"{vcs['vcs']}+{url}"
        revision = vcs.get("commit_id") or vcs.get("requested_revision")
        if revision:
            url += f"@{revision}"
    subdirectory = direct.get("subdirectory")
    if subdirectory:
        url += f"#subdirectory={subdirectory}"
    return InstallSource(f"{DISTRIBUTION} @ {url}", local=url.startswith("file:"))
