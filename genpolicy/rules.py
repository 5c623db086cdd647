"""A rule with a stable code, as `lint` (GPnnn, docs/lint.md) and `audit` (AUnnn, docs/audit.md) list them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str  # error, warning or info
    summary: str
