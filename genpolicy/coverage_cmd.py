"""The `genpolicy coverage` command: wiring and exit codes only; the work lives in genpolicy.coverage."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from genpolicy.cli_support import echo, fail
from genpolicy.errors import GenpolicyError
from genpolicy.specfile import load_spec


@click.command("coverage")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("-w", "--workloads", "paths", multiple=True,
              type=click.Path(path_type=Path, exists=True, allow_dash=True),
              help="File or folder of workload manifests, `helm template` output, or - for stdin (repeatable).")
@click.option("-n", "--namespace", default="default", show_default=True,
              help="Namespace of workloads without metadata.namespace (e.g. `helm template` output).")
@click.option("--cluster", help="Only this cluster (default: every cluster of the spec).")
@click.option("--public", "public", multiple=True, metavar="PREFIX",
              help="Image prefix that needs no credential, e.g. docker.io/library/ or registry.k8s.io/ (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table",
              show_default=True, help="Terminal table, Markdown (a PR comment) or JSON (version 1).")
def coverage_command(spec: Path, paths: tuple[Path, ...], namespace: str, cluster: str | None,
                     public: tuple[str, ...], fmt: str) -> None:
    """Which workload images get a pull credential from SPEC, through which path, and which get none.

    Exit 1 when an image has no credential (or a workload file cannot be parsed), 0 otherwise.
    Without --workloads: how each managed namespace gets each registry.
    """
    from genpolicy.coverage import coverage, render_report
    from genpolicy.workloads import read_workloads

    try:
        resolved = load_spec(spec)
        workloads = read_workloads(list(paths), namespace) if paths else None
        report = coverage(resolved, workloads, cluster, public)
    except GenpolicyError as exc:
        fail(exc, "json" if fmt == "json" else "text")
    echo(render_report(report, fmt))
    if fmt != "json" and report.workloads_given:
        summary = report.summary()
        echo(f"genpolicy: coverage: {summary['images']} images, {report.failing} without credential, "
             f"{len(report.errors)} workload problems", err=True)
    sys.exit(int(report.exit_code))
