"""`genpolicy init`: scaffold a GitOps repository (or a folder in one) from the cookiecutter template.

The template renders into a private temporary folder (cookiecutter's config, cache and replay files
live there too, never under $HOME); the starter spec is validated with genpolicy's own loader; only
then are the files copied into the target, which must be empty unless `--force`.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import click
import yaml

import genpolicy
from genpolicy.cli_support import exit_with, write_file
from genpolicy.errors import GenpolicyError, OutputValidationError, Problem, UsageError, WriteError
from genpolicy.install_source import installed_source
from genpolicy.specfile.checks import SUPPORTED_KUBERNETES

SPEC_FILE = "genpolicy.yaml"
GITOPS_ENGINES = ("argocd", "flux")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_VERSION = re.compile(r"^v?(1\.[0-9]+)(\.[0-9]+)?$")
_SERVER = re.compile(r"^[A-Za-z0-9*][A-Za-z0-9._:/*-]*$")
_DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
_GENERIC_LABELS = {"registry", "index", "www", "docker", "cr", "*"}
_IGNORED_ENTRIES = {".git"}  # a fresh `git init` or clone still counts as empty


class ScaffoldError(OutputValidationError):
    """The built-in scaffold template is missing or failed to render (exit 5)."""


@dataclass(frozen=True)
class Answers:
    """Everything the scaffold template needs; names match scaffold/cookiecutter.json."""

    cluster: str = "prod"
    kubernetes_version: str = "1.33"
    gitops: str = "argocd"
    registry_server: str = "ghcr.io"
    registry_name: str = ""
    secret_store: str = "vault"
    namespace: str = "default"
    genpolicy_package: str = ""  # pip requirement CI installs genpolicy with; "" = how this one was installed

    def context(self, repo_dir: str, ci_workdir: str) -> dict[str, str]:
        """The cookiecutter `extra_context`."""
        values = asdict(self)
        values["registry_name"] = self.registry_name or derive_registry_name(self.registry_server)
        return {**values, "repo_dir": repo_dir, "ci_workdir": ci_workdir,
                "genpolicy_package": self.genpolicy_package or installed_source().requirement,
                "_genpolicy_version": genpolicy.__version__}


# -- input checks (shared by the options and the prompts) ---------------------------------------------------------


if TYPE_CHECKING:
    _StrType: TypeAlias = click.ParamType[str]
else:  # click < 8.2: ParamType is not generic at runtime
    _StrType = click.ParamType


class _Checked(_StrType):
    """A string checked by a function that returns the normalised value or raises ValueError."""

    def __init__(self, name: str, check: Callable[[str], str]) -> None:
        self.name = name
        self._check = check

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return self._check(str(value).strip())
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _check_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError(f"{value!r} is not a DNS label (lowercase letters, digits and '-', at most 63)")
    return value


def _check_subdomain(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value):
        raise ValueError(f"{value!r} is not a DNS subdomain (lowercase letters, digits, '-' and '.')")
    return value


def _check_version(value: str) -> str:
    match = _VERSION.fullmatch(value)
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes minor version such as 1.33")
    version = match.group(1)
    low, high = (tuple(int(x) for x in v.split(".")) for v in SUPPORTED_KUBERNETES)
    if not low <= tuple(int(x) for x in version.split(".")) <= high:
        raise ValueError(f"Kubernetes {version} is not supported ({SUPPORTED_KUBERNETES[0]} to "
                         f"{SUPPORTED_KUBERNETES[1]})")
    return version


def _check_server(value: str) -> str:
    if len(value) > 253 or not _SERVER.fullmatch(value):
        raise ValueError(f"{value!r} is not a registry server such as ghcr.io or harbor.example.com:8443/team")
    return value


LABEL = _Checked("name", _check_label)
SUBDOMAIN = _Checked("name", _check_subdomain)
VERSION = _Checked("version", _check_version)
SERVER = _Checked("server", _check_server)


def derive_registry_name(server: str) -> str:
    """A short DNS-label name for a registry server: ghcr.io -> ghcr, harbor.example.com:8443 -> harbor."""
    host = server.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    if host in _DOCKER_HUB:
        return "dockerhub"
    if ".dkr.ecr." in host:
        return "ecr"
    labels = [label for label in host.split(".") if label]
    while len(labels) > 2 and labels[0] in _GENERIC_LABELS:
        labels.pop(0)
    candidate = re.sub(r"[^a-z0-9-]+", "-", labels[0] if labels else "").strip("-")[:63].strip("-")
    return candidate or "registry"


# -- the scaffold itself -------------------------------------------------------------------------------------------


def template_dir() -> Path:
    """The cookiecutter template: packaged in the wheel, or `scaffold/` in a source checkout."""
    package = Path(genpolicy.__file__).parent
    for candidate in (package / "scaffold_template", package.parent / "scaffold"):
        if (candidate / "cookiecutter.json").is_file():
            return candidate
    raise ScaffoldError("scaffold template not found", [Problem(
        str(package / "scaffold_template"), message="the built-in scaffold template is missing (broken install?)")])


def existing_entries(target: Path) -> list[str]:
    """What is already in `target` (besides `.git`); raise WriteError if it is not a folder."""
    if not target.exists() and not target.is_symlink():
        return []
    if not target.is_dir():
        raise WriteError("target is not a folder", [Problem(str(target), message="exists and is not a folder")])
    return sorted(entry.name for entry in target.iterdir() if entry.name not in _IGNORED_ENTRIES)


def ci_workdir(target: Path) -> str:
    """`target`'s path relative to the root of the git repository holding it ("." when none or the root)."""
    absolute = target.resolve()
    for folder in (absolute, *absolute.parents):
        if (folder / ".git").exists():
            relative = absolute.relative_to(folder).as_posix()
            return relative or "."
    return "."


def check_target(target: Path, force: bool) -> None:
    """Refuse a non-empty target unless `force` (exit 6, naming what is there)."""
    entries = existing_entries(target)
    if entries and not force:
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise WriteError("target folder is not empty", [Problem(
            str(target), message=f"is not empty ({shown}); choose a new folder or pass --force to write the "
                                 "scaffold's files into it (overwriting files with the same names)")])


@dataclass(frozen=True)
class Result:
    """What `scaffold` wrote: every file, and those that replaced an existing file (`--force`)."""

    written: list[Path]
    replaced: list[Path]
    package: str = ""  # the pip requirement CI installs genpolicy with

    @property
    def local_install(self) -> bool:
        """CI would install genpolicy from a path on this machine."""
        return " @ file:" in self.package


def scaffold(target: Path, answers: Answers, *, force: bool = False) -> Result:
    """Render the scaffold for `answers` into `target`."""
    check_target(target, force)
    repo_dir = target.resolve().name or "genpolicy"
    with tempfile.TemporaryDirectory(prefix="genpolicy-init-") as tmp:
        context = answers.context(repo_dir, ci_workdir(target))
        project = _run_cookiecutter(context, Path(tmp))
        _check_spec(project / SPEC_FILE, target / SPEC_FILE)
        written = _install(project, target)
        return dataclasses.replace(written, package=context["genpolicy_package"])


def _run_cookiecutter(context: dict[str, str], workdir: Path) -> Path:
    """Run cookiecutter quietly, with its config, cache and replay files inside `workdir`."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.main import cookiecutter
    from jinja2 import TemplateError

    config = workdir / "cookiecutter.yaml"
    config.write_text(yaml.safe_dump({"cookiecutters_dir": str(workdir / "cache"),
                                      "replay_dir": str(workdir / "replay")}), encoding="utf-8")
    try:
        project = cookiecutter(str(template_dir()), no_input=True, extra_context=context,
                               output_dir=str(workdir / "out"), config_file=str(config), accept_hooks=False)
    except (CookiecutterException, TemplateError, ValueError) as exc:
        raise ScaffoldError("scaffold template failed", [Problem(
            str(template_dir()), message=f"{type(exc).__name__}: {exc}")]) from None
    except OSError as exc:
        raise WriteError("cannot write the scaffold", [Problem(
            str(workdir), message=f"cannot write a temporary file: {exc.strerror}")]) from None
    return Path(project)


def _check_spec(rendered: Path, shown_as: Path) -> None:
    """The starter spec must load with the installed genpolicy (problems name the target path)."""
    from genpolicy.specfile import parse_spec

    parse_spec(rendered.read_text(encoding="utf-8"), str(shown_as))


def _install(project: Path, target: Path) -> Result:
    """Copy the rendered files into `target`, replacing (never writing through) files in the way."""
    pairs = [(source, target / source.relative_to(project)) for source in sorted(project.rglob("*"))
             if source.is_file()]
    blocked = [dest for _, dest in pairs if dest.is_dir() and not dest.is_symlink()]
    if blocked:
        raise WriteError("cannot write the scaffold", [Problem(str(p), message="is a folder") for p in blocked])
    replaced = [dest for _, dest in pairs if dest.exists() or dest.is_symlink()]
    for source, destination in pairs:
        write_file(destination, source.read_bytes())
    return Result([dest for _, dest in pairs], replaced)


# -- prompts -------------------------------------------------------------------------------------------------------


def _ask(text: str, default: str, kind: click.ParamType[str]) -> str:
    """One prompt; a closed stdin (CI without --no-input) is a usage error, not a hang or a traceback."""
    try:
        return str(click.prompt(text, default=default, type=kind))
    except click.exceptions.Abort:
        if sys.stdin is not None and sys.stdin.isatty():
            raise
        click.echo()  # end the unanswered prompt's line
        raise UsageError("no answer on standard input", [Problem(
            "genpolicy init", message="standard input ended while prompting; pass --no-input (and options "
                                      "such as --cluster) to scaffold without prompts")]) from None


def collect_answers(given: dict[str, str | None], *, interactive: bool) -> Answers:
    """Fill what the options did not give: from prompts when `interactive`, else from the defaults."""
    defaults = Answers()
    questions: list[tuple[str, str, click.ParamType[str]]] = [
        ("cluster", "Cluster name", LABEL),
        ("kubernetes_version", "Kubernetes version of the cluster", VERSION),
        ("gitops", "GitOps engine", click.Choice(GITOPS_ENGINES)),
        ("registry_server", "Registry server", SERVER),
        ("registry_name", "Short name for the registry", LABEL),
        ("secret_store", "External Secrets ClusterSecretStore holding the credential", SUBDOMAIN),
        ("namespace", "First namespace to give pull credentials", LABEL),
    ]
    values: dict[str, str] = {}
    for key, text, kind in questions:
        default = getattr(defaults, key)
        if key == "registry_name":
            default = derive_registry_name(values["registry_server"])
        given_value = given.get(key)
        values[key] = given_value if given_value is not None else (
            _ask(text, default, kind) if interactive else default)
    return Answers(**values, genpolicy_package=given.get("genpolicy_package") or "")


def _report(target: Path, result: Result) -> None:
    for path in result.written:
        click.echo(str(path))
    if result.replaced:
        names = ", ".join(str(p) for p in result.replaced)
        click.echo(f"genpolicy: replaced {len(result.replaced)} existing file(s): {names}", err=True)
    if result.local_install:
        click.echo(f"genpolicy: warning: CI installs genpolicy from {result.package!r}, a path on this machine; "
                   "pass --genpolicy-package (e.g. a git URL) for CI runners that do not have it", err=True)
    spec = target / SPEC_FILE
    click.echo(f"genpolicy: scaffolded {target} ({len(result.written)} files). Next:\n"
               f"  genpolicy render {spec}          # writes {target / 'out'}\n"
               f"  genpolicy render {spec} --check  # what CI runs\n"
               "  git add the folder and commit; put the registry credential in your secret store", err=True)


@click.command("init")
@click.argument("directory", default=".", type=click.Path(path_type=Path, file_okay=False))
@click.option("--no-input", is_flag=True, help="Do not prompt: use the options and the defaults.")
@click.option("--gitops", type=click.Choice(GITOPS_ENGINES), help="GitOps engine.  [default: argocd]")
@click.option("--cluster", type=LABEL, help="Cluster name.  [default: prod]")
@click.option("--kubernetes-version", type=VERSION, help="Kubernetes version of the cluster.  [default: 1.33]")
@click.option("--registry-server", type=SERVER, help="Registry server.  [default: ghcr.io]")
@click.option("--registry-name", type=LABEL, help="Short name for the registry.  [default: from the server]")
@click.option("--secret-store", type=SUBDOMAIN, help="ClusterSecretStore holding the credential.  [default: vault]")
@click.option("--namespace", type=LABEL, help="First namespace to give pull credentials.  [default: default]")
@click.option("--genpolicy-package", metavar="REQUIREMENT",
              help="pip requirement CI installs genpolicy with (`genpolicy @ git+https://...@v0.1.0`).  "
                   "[default: how this genpolicy was installed]")
@click.option("--force", is_flag=True, help="Write into a non-empty folder, replacing files with the same names.")
def init_command(directory: Path, no_input: bool, force: bool, **given: str | None) -> None:
    """Scaffold a GitOps repository (or a folder in one) for genpolicy in DIRECTORY (default: here).

    Writes a starter genpolicy.yaml (External Secrets credentials: nothing secret in git), a .gitignore,
    CI for GitHub Actions and GitLab, a pre-commit config and a README. Prompts for what the options do
    not give, unless --no-input.
    """
    try:
        check_target(directory, force)  # before prompting: fail fast
        answers = collect_answers(given, interactive=not no_input)
        result = scaffold(directory, answers, force=force)
    except GenpolicyError as exc:
        exit_with(exc)
    _report(directory, result)
