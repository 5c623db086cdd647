"""A rule with a stable code, as `lint` (GPnnn, docs/lint.md) and `audit` (AUnnn, docs/audit.md) list them."""

from __future__ import annotations

from genpolicy.record import Frozen, set_field


class Rule(Frozen):
    __slots__ = ("code", "name", "severity", "summary")
    code: str
    name: str
    severity: str  # error, warning or info
    summary: str

    def __init__(self, code: str, name: str, severity: str, summary: str) -> None:
        set_field(self, "code", code)
        set_field(self, "name", name)
        set_field(self, "severity", severity)
        set_field(self, "summary", summary)
