"""Command line: wiring and exit codes only; the work lives in pipeline/writer/validate."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import click

from genpolicy import __version__, quick, writer
from genpolicy.cli_support import FORMAT_OPTION, LazyGroup
from genpolicy.cli_support import echo as _echo
from genpolicy.cli_support import fail as _fail
from genpolicy.errors import ExitCode, GenpolicyError, Problem, UsageError, WriteError, where
from genpolicy.pipeline import RenderOptions, RenderResult, render
from genpolicy.reporting import Format, format_problems
from genpolicy.specfile import json_schema, load_spec

KEPT_TREE = ("another program wrote into the output folder at the very moment of the swap: the old tree, with "
             "that change, is kept here (genpolicy never removes it); take what it needs, then delete it")
_LAZY_COMMANDS = {  # imported when run or listed by --help, never by a render
    "init": "genpolicy.scaffold:init_command",
    "templates": "genpolicy.templates_cmd:templates_group",
    "coverage": "genpolicy.coverage_cmd:coverage_command",
    "audit": "genpolicy.audit.command:audit_command",
    "import": "genpolicy.importer.command:import_command",
}


@click.group(cls=LazyGroup, lazy=_LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="genpolicy")
def cli() -> None:
    """Render registry pull credentials for Kubernetes as a validated GitOps bundle."""


@cli.command("render")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output root (default: the spec's outputDir).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the output is not up to date.")
@click.option("--diff", "show_diff", is_flag=True, help="Show a unified diff (Secret data redacted).")
@click.option("--crds", multiple=True, type=click.Path(path_type=Path, exists=True),
              help="Folder or file of CRD YAML to validate custom resources against (repeatable).")
@click.option("--templates", "template_dirs", multiple=True, type=click.Path(path_type=Path, file_okay=False),
              help="Template folder searched before the built-ins (repeatable).")
@click.option("--no-cache", is_flag=True, help="Always render in full (skip the no-change fast path).")
@FORMAT_OPTION
def render_command(spec: Path, output: Path | None, check: bool, show_diff: bool, crds: tuple[Path, ...],
                   template_dirs: tuple[Path, ...], no_cache: bool, fmt: Format) -> None:
    """Render SPEC into per-cluster folders that kubectl kustomize, Argo CD and Flux apply."""
    options = RenderOptions(spec, output, list(crds), list(template_dirs), check=check, cache=not no_cache,
                            quick=quick.plain_render(sys.argv[1:]))
    try:
        with _progress() as tick:
            options.progress = tick
            result = render(options)
        for warning in result.warnings:
            _echo(format_problems([warning], fmt), err=True)
        plan = result.plan
        if plan.conflicts:
            raise WriteError("output conflicts", plan.conflicts)
        if show_diff:
            _echo(writer.unified_diff(plan).rstrip("\n")) if plan.changed else None
        if check:
            _report_verification(result)
            _report_check(plan)
            return
        kept = writer.apply(plan)
        if kept is not None:
            _echo(format_problems([Problem(str(kept), message=KEPT_TREE, severity="warning")], fmt), err=True)
        result.after_write()
        how = "unchanged inputs and output, render skipped; " if result.cached else ""
        _echo(f"genpolicy: {how}{result.objects} objects validated; {plan.root}: {plan.summary()}", err=True)
    except GenpolicyError as exc:
        _fail(exc, fmt)


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[int], None] | None]:
    """A namespace counter on stderr when it is a terminal (large renders); silent otherwise."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        yield None
        return
    count = 0

    def tick(step: int) -> None:
        nonlocal count
        count += step
        if count % 100 == 0:
            click.echo(f"\rgenpolicy: {count} namespaces rendered", nl=False, err=True)

    try:
        yield tick
    finally:
        if count >= 100:
            click.echo("\r" + " " * 60 + "\r", nl=False, err=True)


def _report_verification(result: RenderResult) -> None:
    """Which encrypted objects `--check` verified, and how (stderr, one line per object)."""
    if result.cached:
        if _encrypts(result):
            _echo("genpolicy: encrypted Secrets not re-checked: inputs and output unchanged since the last local "
                  "render (no-change cache); use --no-cache to verify them", err=True)
        return
    for how, what in result.verification:
        _echo(f"genpolicy: {what}: {how}", err=True)


def _encrypts(result: RenderResult) -> bool:
    return any(c.sealed_secrets is not None or c.sops is not None for c in result.resolved.spec.clusters)


def _report_check(plan: writer.Plan) -> None:
    if not plan.changed:
        _echo(f"genpolicy: {plan.root} is up to date ({len(plan.unchanged)} files)", err=True)
        return
    for label, paths in (("create", plan.create), ("update", plan.update), ("delete", plan.delete)):
        for rel in paths:
            _echo(f"would {label} {plan.root / rel}")
    _echo(f"genpolicy: {plan.root} is out of date: {plan.summary()}; run `genpolicy render`", err=True)
    sys.exit(int(ExitCode.CHANGES))


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--kubernetes-version", default="1.33", show_default=True, help="Kubernetes version of the schemas.")
@click.option("--crds", multiple=True, type=click.Path(path_type=Path, exists=True),
              help="Folder or file of CRD YAML (repeatable).")
@click.option("--strict-crds", is_flag=True, help="Fail on custom resources with no CRD schema.")
@FORMAT_OPTION
def validate_command(paths: tuple[Path, ...], kubernetes_version: str, crds: tuple[Path, ...],
                     strict_crds: bool, fmt: Format) -> None:
    """Validate Kubernetes manifests (files or folders) the way `render` validates its output."""
    from genpolicy.manifests import validate_paths

    try:
        report = validate_paths(list(paths), kubernetes_version, list(crds))
    except GenpolicyError as exc:
        _fail(exc, fmt)
    problems = report.problems + ([] if not strict_crds else [
        Problem(p.file, p.line, p.col, p.path, p.message) for p in report.unvalidated])
    shown = problems + ([] if strict_crds else report.unvalidated_by_kind())
    if shown:
        _echo(format_problems(shown, fmt), err=fmt != "json")
    for reason, count in sorted(report.skip_reasons.items()):
        _echo(f"genpolicy: skipped {count} document(s): {reason}", err=True)
    skipped = f", {report.skipped} non-Kubernetes documents skipped" if report.skipped else ""
    _echo(f"genpolicy: {report.checked} objects checked, {len(problems)} errors, "
          f"{len(report.unvalidated)} not validated{skipped}", err=True)
    sys.exit(int(ExitCode.CHANGES if problems else ExitCode.OK))


@cli.command("explain")
@click.argument("image")
@click.argument("spec", required=False, type=click.Path(path_type=Path))
@click.option("-n", "--namespace", help="Namespace of the Pod (with SPEC).")
@click.option("--service-account", help="ServiceAccount of the Pod (default: default).")
@click.option("--cluster", help="Cluster of the spec (default: the first).")
@click.option("--dockerconfig", multiple=True, type=click.Path(path_type=Path),
              help="A pull secret in Pod order: .dockerconfigjson/.dockercfg body or Secret manifest (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain_command(image: str, spec: Path | None, namespace: str | None, service_account: str | None,
                    cluster: str | None, dockerconfig: tuple[Path, ...], fmt: str) -> None:
    """Which credentials the kubelet would try for IMAGE, in order, and why others do not apply."""
    from genpolicy.explain import explain, explain_spec, load_pull_secrets

    try:
        if dockerconfig:
            result = explain([secret for p in dockerconfig for secret in load_pull_secrets(p)], image)
        elif spec is not None and namespace:
            result = explain_spec(load_spec(spec), image, namespace, service_account, cluster)
        else:
            raise UsageError("explain needs SPEC with --namespace, or --dockerconfig FILE")
    except GenpolicyError as exc:
        _fail(exc, "json" if fmt == "json" else "text")
    _echo(result.to_json() if fmt == "json" else result.to_text())


@cli.command("lint")
@click.argument("spec", required=False, type=click.Path(path_type=Path))
@click.option("--ignore", multiple=True, metavar="RULE", help="Skip a rule, by code or name (repeatable).")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too, not only on errors.")
@click.option("--list-rules", is_flag=True, help="Print the rules (code, name, severity, summary) and exit.")
@FORMAT_OPTION
def lint_command(spec: Path | None, ignore: tuple[str, ...], strict: bool, list_rules: bool, fmt: Format) -> None:
    """Check SPEC against the lint rules (docs/lint.md); `render` runs them too."""
    from genpolicy.lint import RULES, lint

    if list_rules:
        for rule in RULES.values():
            _echo(f"{rule.code}  {rule.name:<26} {rule.severity:<8} {rule.summary}")
        return
    try:
        if spec is None:
            raise UsageError("lint needs SPEC (or --list-rules)")
        report = lint(load_spec(spec), ignore=ignore)
    except GenpolicyError as exc:
        _fail(exc, fmt)
    if report.problems or fmt == "json":
        _echo(format_problems(report.problems, fmt))
    _echo(f"genpolicy: lint: {report.summary()}", err=True)
    failing = report.count("error") + (report.count("warning") if strict else 0)
    sys.exit(int(ExitCode.CHANGES if failing else ExitCode.OK))


@cli.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the spec (for editors and CI)."""
    click.echo(json.dumps(json_schema(), indent=2))


def _internal_error(exc: BaseException) -> NoReturn:
    _echo(f"genpolicy: internal error ({where(exc)}); please report it. "
          "Set GENPOLICY_DEBUG=1 for details.", err=True)
    if os.environ.get("GENPOLICY_DEBUG") == "1":
        import traceback

        _echo("".join(traceback.format_exception(exc)), err=True)
    sys.exit(int(ExitCode.INTERNAL))


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: one top-level handler, documented exit codes, never a traceback for user mistakes."""
    try:
        code = cli.main(args=argv, prog_name="genpolicy", standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            raise KeyboardInterrupt from None  # genpolicy.entry reports it
        _echo("genpolicy: aborted", err=True)
        sys.exit(int(ExitCode.USAGE))
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.USAGE))
    except SystemExit:
        raise
    except Exception as exc:
        _internal_error(exc)
    sys.exit(int(code or 0) if isinstance(code, int) else 0)

