"""The `genpolicy audit` command: wiring and exit codes only; the work lives in genpolicy.audit."""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path
from typing import NoReturn, cast

import click

from genpolicy.audit.expiry import parse_duration, parse_time
from genpolicy.errors import ExitCode, GenpolicyError, Problem, UsageError
from genpolicy.reporting import format_problems
from genpolicy.secrets import redact


def _echo(message: str, *, err: bool = False) -> None:
    click.echo(redact(message), err=err)


def _fail(exc: GenpolicyError, json_output: bool) -> NoReturn:
    problems = exc.problems or [Problem("genpolicy", message=exc.message)]
    _echo(format_problems(problems, "json" if json_output else "text"), err=not json_output)
    if not json_output:
        _echo(f"genpolicy: {exc.message}", err=True)
    sys.exit(int(exc.exit_code))


def _options(now: str | None, window: str) -> tuple[datetime.datetime, datetime.timedelta]:
    moment = parse_time(now) if now else datetime.datetime.now(datetime.UTC)
    if moment is None:
        raise UsageError("invalid --now", [Problem("--now", message=f"{now!r} is not an RFC 3339 time")])
    days = re.fullmatch(r"(\d{1,6})d", window)
    span = datetime.timedelta(days=int(days.group(1))) if days else parse_duration(window)
    if span is None:
        raise UsageError("invalid --expiry-window", [Problem("--expiry-window", message=(
            f"{window!r} is not a duration (7d, 12h, 90m)"))])
    return moment, span


@click.command("audit")
@click.argument("spec", required=False, type=click.Path(path_type=Path))
@click.option("--live", "paths", multiple=True, required=False, type=click.Path(path_type=Path),
              help="`kubectl get serviceaccounts,secrets,pods -A -o yaml` (or events, ExternalSecrets) export "
                   "file (repeatable).")
@click.option("--cluster", help="The spec's cluster the export is from (required when the spec has several).")
@click.option("--format", "fmt", type=click.Choice(["text", "github", "json", "sarif", "policyreport"]),
              default="text", show_default=True, help="How findings are printed.")
@click.option("--ignore", multiple=True, metavar="RULE", help="Skip a rule, by code or name (repeatable).")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too, not only on errors.")
@click.option("--now", help="Judge expiry at this RFC 3339 time (default: now).")
@click.option("--expiry-window", "window", default="7d", show_default=True,
              help="Report credentials expiring within this duration (7d, 12h).")
@click.option("--list-rules", is_flag=True, help="Print the rules (code, name, severity, summary) and exit.")
def audit_command(spec: Path | None, paths: tuple[Path, ...], cluster: str | None, fmt: str, ignore: tuple[str, ...],
                  strict: bool, now: str | None, window: str, list_rules: bool) -> None:
    """Compare a cluster's exported objects (--live) with what SPEC renders; never connects to a cluster.

    Exit 0 no errors (with --strict: no warnings either), 1 findings that fail, 2 usage or an unreadable
    export, 3 the spec is invalid.
    """
    from genpolicy.audit import RULES, audit_export, read_live
    from genpolicy.audit.report import AuditFormat, render_audit
    from genpolicy.specfile import load_spec

    if list_rules:
        for rule in RULES.values():
            _echo(f"{rule.code}  {rule.name:<24} {rule.severity:<8} {rule.summary}")
        return
    structured = fmt in ("json", "sarif")
    try:
        if spec is None:
            raise UsageError("audit needs SPEC (or --list-rules)")
        if not paths:
            raise UsageError("audit needs --live FILE", [Problem("--live", message=(
                "give the export: kubectl get serviceaccounts,secrets,pods -A -o yaml > live.yaml"))])
        moment, span = _options(now, window)
        resolved = load_spec(spec)
        report = audit_export(resolved, read_live(list(paths)), cluster, now=moment, window=span, ignore=ignore)
    except GenpolicyError as exc:
        _fail(exc, structured)
    text = render_audit(report, cast(AuditFormat, fmt), moment)
    if text or structured:
        _echo(text.rstrip("\n"))
    _echo(f"genpolicy: audit of cluster {report.cluster!r}: {report.summary()}", err=True)
    failing = report.count("error") + (report.count("warning") if strict else 0)
    sys.exit(int(ExitCode.CHANGES if failing else ExitCode.OK))
