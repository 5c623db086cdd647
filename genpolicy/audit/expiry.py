"""Audit checks for credentials close to expiry, where the export shows it.

Two signals: an ExternalSecret whose token generator (ECR 12 h, GCR 1 h, ACR 3 h) was last refreshed
longer ago than the token lives, or whose refresh is overdue; and an expiry timestamp in a Secret's
annotations (keys containing `expir`, RFC 3339 values, as token-minting tools write them).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from typing import Any

from genpolicy.audit.live import LiveObject
from genpolicy.audit.rules import AuditContext, Finding
from genpolicy.specfile.checks import TOKEN_LIFETIME_S

TOKEN_LIFETIMES = {kind: datetime.timedelta(seconds=s) for kind, s in TOKEN_LIFETIME_S.items()}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_time(value: Any) -> datetime.datetime | None:
    """An RFC 3339 timestamp (`2026-01-02T03:04:05Z`) as an aware datetime; None if it is not one."""
    if not _RFC3339.fullmatch(str(value)):
        return None  # fromisoformat alone takes dates and basic formats kubectl never writes
    try:
        return datetime.datetime.fromisoformat(str(value).upper().replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_duration(value: str) -> datetime.timedelta | None:
    """A Go duration (`1h30m`, `12h`, `45s`); None if it is not one."""
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    try:
        return datetime.timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    except OverflowError:
        return None


def expiring(ctx: AuditContext) -> Iterator[Finding]:
    for item in ctx.live.of("ExternalSecret"):
        yield from _bounded(_external_secret(ctx, item))
    for item in ctx.live.of("Secret"):
        yield from _bounded(_annotations(ctx, item))


def _bounded(findings: Iterator[Finding]) -> list[Finding]:
    """A time beyond datetime's range (year 1 or 9999 plus a lifetime) is no expiry a cluster will see."""
    try:
        return list(findings)
    except OverflowError:
        return []


def _judge(ctx: AuditContext, item: LiveObject, expires: datetime.datetime, what: str) -> Iterator[Finding]:
    stamp = expires.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if expires <= ctx.now:
        yield ctx.at("AU010", item, f"{what} expired at {stamp}: pulls with it fail")
    elif expires - ctx.now <= ctx.window:
        yield ctx.at("AU011", item, f"{what} expires at {stamp}, within the {_human(ctx.window)} window")


def _human(delta: datetime.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds}s"


def _external_secret(ctx: AuditContext, item: LiveObject) -> Iterator[Finding]:
    spec, status = item.obj.get("spec") or {}, item.obj.get("status") or {}
    refreshed = parse_time(status.get("refreshTime"))
    if refreshed is None:
        return
    generator = _generator_kind(spec)
    interval = parse_duration(str(spec.get("refreshInterval") or ""))
    if generator in TOKEN_LIFETIMES:
        yield from _token(ctx, item, refreshed, TOKEN_LIFETIMES[generator], interval, generator)
    elif interval and ctx.now - refreshed > 2 * interval:
        yield ctx.at("AU011", item, (
            f"last refreshed {status.get('refreshTime')}, more than twice its refreshInterval "
            f"{spec.get('refreshInterval')} ago: a rotated credential has not reached the Secret; check "
            "the store and this object's conditions"))


def _token(ctx: AuditContext, item: LiveObject, refreshed: datetime.datetime, lifetime: datetime.timedelta,
           interval: datetime.timedelta | None, generator: str) -> Iterator[Finding]:
    """A generated token always expires soon; it matters when the refresh falls behind its lifetime."""
    expires = refreshed + lifetime
    stamp = expires.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    what = f"the {generator} token (refreshed {refreshed.strftime('%Y-%m-%dT%H:%M:%SZ')}, lives {_human(lifetime)})"
    if expires <= ctx.now:
        yield ctx.at("AU010", item, f"{what} expired at {stamp}: External Secrets has not refreshed it; pulls "
                                    "with it fail (check the generator's credentials and this object's conditions)")
    elif interval is not None and ctx.now - refreshed > interval:
        yield ctx.at("AU011", item, f"{what} expires at {stamp} and its refresh ({_human(interval)}) is overdue")


def _generator_kind(spec: dict[str, Any]) -> str:
    for source in spec.get("dataFrom") or []:
        ref = ((source or {}).get("sourceRef") or {}).get("generatorRef") or {}
        if ref.get("kind"):
            return str(ref["kind"])
    return ""


def _annotations(ctx: AuditContext, item: LiveObject) -> Iterator[Finding]:
    for key, value in sorted(item.meta("annotations").items()):
        if "expir" not in str(key).lower():
            continue
        expires = parse_time(value)
        if expires is not None:
            yield from _judge(ctx, item, expires, f"the credential (annotation {key})")
