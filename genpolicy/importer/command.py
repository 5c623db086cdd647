"""The `genpolicy import` command: wiring and exit codes only; the work lives in genpolicy.importer."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import click

from genpolicy.errors import GenpolicyError, Problem, UsageError, WriteError
from genpolicy.reporting import format_problems
from genpolicy.secrets import redact
from genpolicy.templating import to_yaml

HEADER = ("# Starter spec written by `genpolicy import` from the tools running\n"
          "# today: review it, then follow the cut-over checklist. Credentials are\n"
          "# read from the environment at render time, never stored here.\n")


def _echo(message: str, *, err: bool = False) -> None:
    click.echo(redact(message), err=err)


def _fail(exc: GenpolicyError) -> NoReturn:
    problems = exc.problems or [Problem("genpolicy", message=exc.message)]
    _echo(format_problems(problems, "text"), err=True)
    _echo(f"genpolicy: {exc.message}", err=True)
    sys.exit(int(exc.exit_code))


def spec_text(spec: dict[str, object]) -> str:
    return HEADER + "---\n" + to_yaml(spec) + "\n"


def _write(path: Path, text: str, force: bool) -> None:
    """Atomically, and never over an existing file unless --force."""
    if path.exists() and not force:
        raise WriteError("file exists", [Problem(str(path), message="exists; pass --force to replace it")])
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise WriteError("cannot write", [Problem(str(path), message=exc.strerror or str(exc))]) from None


def _writable(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise WriteError("file exists", [Problem(str(path), message="exists; pass --force to replace it")])
    if not path.resolve().parent.is_dir():
        raise WriteError("cannot write", [Problem(str(path), message="its folder does not exist")])


def _check_spec(text: str, folder: Path, shown: str) -> None:
    """The written spec must load (schema and semantics) exactly as `genpolicy render` loads it."""
    from genpolicy.specfile import load_spec

    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        candidate = Path(scratch) / "spec.yaml"
        candidate.write_text(text, encoding="utf-8")
        try:
            load_spec(candidate)
        except GenpolicyError as exc:  # point at the spec as it would have been written, not the scratch copy
            exc.problems = [p.replace(file=shown) if p.file == str(candidate) else p
                            for p in exc.problems]
            raise


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the spec here (default: stdout).")
@click.option("--checklist", "checklist_path", type=click.Path(path_type=Path),
              help="Write the cut-over checklist (Markdown) here (default: stderr).")
@click.option("--cluster", default="imported", show_default=True, help="Name of the spec's cluster.")
@click.option("--kubernetes-version", default="1.33", show_default=True)
@click.option("--kyverno-version", default="1.15", show_default=True, help="For groups that cover every namespace.")
@click.option("--backend", type=click.Choice(["sealed-secrets", "plain"]), default="sealed-secrets",
              show_default=True, help="How the rendered Secrets are written (plain sets allowPlaintext).")
@click.option("--force", is_flag=True, help="Replace existing output files.")
def import_command(paths: tuple[Path, ...], output: Path | None, checklist_path: Path | None, cluster: str,
                   kubernetes_version: str, kyverno_version: str, backend: str, force: bool) -> None:
    """A starter spec and a cut-over checklist from imagepullsecret-patcher, registry-creds, Reflector,
    Replicator, Kyverno sample policies and existing dockerconfigjson Secrets (PATHS: manifests or
    `kubectl get -o yaml` exports).

    Exit 0 written, 2 usage (or nothing importable), 3 the written spec would not load, 6 cannot write.
    """
    from genpolicy.importer import Settings, import_files

    settings = Settings(cluster, kubernetes_version, kyverno_version, backend)
    try:
        result = import_files(list(paths), settings, output.name if output else "spec.yaml")
        built = result.built
        if not built.spec:
            first = Problem(str(paths[0]), message=(
                "no pull-secret writer with a known registry found (imagepullsecret-patcher Deployment, "
                "ClusterPullSecret, Reflector/Replicator-annotated or dockerconfigjson Secrets, Kyverno policies)"))
            unknown = [Problem(d.where, message=f"{d.writer}: registry unknown") for d in built.unresolved]
            raise UsageError("nothing to import", [first, *unknown])
        text = spec_text(built.spec)
        for target in (t for t in (output, checklist_path) if t is not None):
            _writable(target, force)  # every target before anything is written
        _check_spec(text, output.resolve().parent if output else Path.cwd(), str(output or "<stdout>"))
        checklist = "\n".join(built.checklist) + "\n"
        if output:
            _write(output, text, force)
        else:
            _echo(text.rstrip("\n"))
        if checklist_path:
            _write(checklist_path, checklist, force)
        else:
            _echo(checklist.rstrip("\n"), err=True)
    except GenpolicyError as exc:
        _fail(exc)
    groups = len(built.spec["namespaceGroups"])
    _echo(f"genpolicy: import: {len(result.imported.deliveries)} writers found, {groups} groups written, "
          f"{len(built.unresolved)} with an unknown registry", err=True)
