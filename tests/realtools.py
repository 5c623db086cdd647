"""The real tools that consume genpolicy's output (sops, kubeseal, helm, kyverno), built by .ci/real-tools.

`require("sops")` returns the binary of the version pinned in .ci/real-tools.tsv, or skips the test
with the reason (build it with `bash .ci/real-tools sops`); with GENPOLICY_REQUIRE_REAL_TOOLS=1 a
missing tool fails the test instead (CI builds them). Tools that ran are listed in the summary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / ".ci" / "real-tools.tsv"
USED: set[tuple[str, str]] = set()  # (name, version) of every tool handed to a test


@dataclass(frozen=True)
class Tool:
    name: str
    version: str
    path: Path


def cache_dir() -> Path:
    return Path(os.environ.get("GENPOLICY_TOOLS") or Path.home() / ".cache" / "genpolicy-tools")


def pinned(name: str) -> list[Tool]:
    """Every version of `name` the table pins, where its binary would be."""
    tools = []
    for line in TABLE.read_text().splitlines():
        fields = line.split("\t")
        if line.startswith("#") or len(fields) < 7 or fields[0] != name:
            continue
        version = fields[2].removeprefix("v")
        tools.append(Tool(name, version, cache_dir() / f"{name}-{version}" / fields[6]))
    return tools


def require(name: str, version: str | None = None) -> Tool:
    """The built tool, or skip (fail under GENPOLICY_REQUIRE_REAL_TOOLS=1) with the reason."""
    candidates = [t for t in pinned(name) if version is None or t.version == version]
    for tool in candidates:
        if os.access(tool.path, os.X_OK):
            USED.add((tool.name, tool.version))
            return tool
    where = ", ".join(str(t.path) for t in candidates) or f"no {name} {version or ''} row in {TABLE}"
    reason = f"real {name} not built ({where}); run `bash .ci/real-tools {name}`"
    if os.environ.get("GENPOLICY_REQUIRE_REAL_TOOLS") == "1":
        pytest.fail(reason + " (GENPOLICY_REQUIRE_REAL_TOOLS=1)")
    pytest.skip(reason)


def summary() -> str:
    tools = ", ".join(f"{n} {v}" for n, v in sorted(USED)) or "none"
    return f"real tools run: {tools}"
