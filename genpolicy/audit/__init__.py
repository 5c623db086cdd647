"""`genpolicy audit`: compare a cluster's `kubectl get -o yaml` export with what the spec renders.

Offline only: the export is read from files, never from a cluster. Rules have stable codes
(AU001...; docs/audit.md); findings point at the object in the export, or at the spec's group for
objects that are missing. No credential value is ever part of a finding.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from genpolicy.audit import expiry, objects, pods
from genpolicy.audit.expected import expected_state
from genpolicy.audit.live import LiveExport, read_live
from genpolicy.audit.rules import RULES, AuditContext, Finding, rule_code
from genpolicy.errors import Problem, UsageError
from genpolicy.specfile import Resolved

__all__ = ["RULES", "AuditReport", "Finding", "audit_export", "read_live"]
SEVERITIES = ("error", "warning", "info")
DEFAULT_WINDOW = datetime.timedelta(days=7)

_CHECKS: tuple[Callable[[AuditContext], Iterator[Finding]], ...] = (
    objects.namespaces_not_exported, objects.service_accounts, objects.pull_secrets, objects.orphans,
    pods.pull_failures, pods.node_cache_only, expiry.expiring,
)


@dataclass
class AuditReport:
    cluster: str
    findings: list[Finding]
    objects: dict[str, int]  # kind -> how many the export holds

    def count(self, severity: str) -> int:
        return sum(f.rule.severity == severity for f in self.findings)

    def summary(self) -> str:
        return ", ".join(f"{self.count(s)} {s}{'s' if self.count(s) != 1 else ''}" for s in SEVERITIES)


def choose_cluster(resolved: Resolved, cluster: str | None) -> str:
    names = [c.name for c in resolved.spec.clusters]
    if cluster is None and len(names) > 1:
        raise UsageError("which cluster?", [Problem("--cluster", message=(
            f"the spec has {len(names)} clusters ({', '.join(names)}): say which one the export is from"))])
    name = cluster or names[0]
    if name not in names:
        raise UsageError("unknown cluster", [Problem("--cluster", message=f"unknown cluster {name!r} "
                                                                          f"(the spec has {', '.join(names)})")])
    return name


def ignored_codes(ignore: Iterable[str]) -> set[str]:
    codes = set()
    for entry in ignore:
        code = rule_code(entry)
        if code is None:
            raise UsageError("unknown audit rule", [Problem("--ignore", message=(
                f"unknown audit rule {entry!r} (see `genpolicy audit --list-rules`)"))])
        codes.add(code)
    return codes


def audit_export(resolved: Resolved, live: LiveExport, cluster: str | None = None, *,
                 now: datetime.datetime | None = None, window: datetime.timedelta = DEFAULT_WINDOW,
                 ignore: Iterable[str] = ()) -> AuditReport:
    """Every finding of every rule not ignored, sorted by file, position, code."""
    name = choose_cluster(resolved, cluster)
    skipped = ignored_codes(ignore)
    namespaces = {item.namespace for kind in live.objects.values() for item in kind.values() if item.namespace}
    labels = {item.name: item.meta("labels") for item in live.of("Namespace")}
    ctx = AuditContext(resolved, name, live, expected_state(resolved, name, namespaces, labels), namespaces,
                       now or datetime.datetime.now(datetime.UTC), window)
    findings = {f for check in _CHECKS for f in check(ctx) if f.code not in skipped}
    counts = {kind: len(items) for kind, items in sorted(live.objects.items())}
    return AuditReport(name, sorted(findings), counts)
