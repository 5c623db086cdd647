"""`genpolicy templates list|export`: show the built-in templates and copy them out for customising."""

from __future__ import annotations

import re
from pathlib import Path

import click

from genpolicy.cli_support import exit_with, write_file
from genpolicy.errors import GenpolicyError, Problem, WriteError
from genpolicy.templating import builtin_template_dir

DESCRIPTIONS = {
    "header.yaml.j2": "comment line opening every generated file (spec_name)",
    "secret.yaml.j2": "plaintext kubernetes.io/dockerconfigjson pull Secret (needs allowPlaintext)",
    "sealedsecret.yaml.j2": "Bitnami SealedSecret (sealed-secrets backend), sealed per namespace and name",
    "generator.yaml.j2": "External Secrets Operator generator (ECR/GCR/ACR short-lived tokens)",
    "gitops/application.yaml.j2": "Argo CD Application deploying one cluster folder (spec.gitops)",
    "gitops/flux.yaml.j2": "Flux GitRepository and Kustomizations with dependsOn (spec.gitops)",
    "externalsecret-generator.yaml.j2": "ExternalSecret building the .dockerconfigjson from a generator's token",
    "clusterexternalsecret.yaml.j2": "ClusterExternalSecret fanning one ExternalSecret out to many namespaces",
    "externalsecret.yaml.j2": "External Secrets Operator ExternalSecret building the .dockerconfigjson in-cluster",
    "serviceaccount.yaml.j2": "ServiceAccount patch with the complete, sorted imagePullSecrets list",
    "helm-values.yaml.j2": "per-namespace Helm values file (imagePullSecrets at the configured key paths)",
    "kustomization.yaml.j2": "kustomization.yaml listing every manifest of a cluster folder",
    "object.yaml.j2": "any object genpolicy builds as data, emitted with to_yaml",
    "kyverno/celpolicy.yaml.j2": "Kyverno CEL policy (policies.kyverno.io) adding imagePullSecrets to pods",
    "kyverno/clusterpolicy.yaml.j2": "Kyverno ClusterPolicy (kyverno.io/v1) adding imagePullSecrets to pods",
    "kyverno/clusterrole.yaml.j2": "ClusterRole granting Kyverno what its generate/mutate rules need",
    "kyverno/kyverno-test.yaml.j2": "Kyverno CLI Test (`kyverno test`) for the generated policies",
    "kyverno/namespace.yaml.j2": "Namespace holding the source pull Secrets for Kyverno",
}
_JINJA_COMMENT = re.compile(r"^\s*\{#-?\s*(.+?)\s*(?:-?#\}|$)", re.MULTILINE)


def builtin_templates() -> dict[str, Path]:
    """The built-in `*.j2` templates (subfolders included) by their name in the loader, e.g. `kyverno/x.yaml.j2`."""
    root = builtin_template_dir()
    return {path.relative_to(root).as_posix(): path for path in sorted(root.rglob("*.j2")) if path.is_file()}


def describe(name: str, template: Path) -> str:
    """One line about a template: the known description, else its leading `{# ... #}` comment."""
    if name in DESCRIPTIONS:
        return DESCRIPTIONS[name]
    try:
        match = _JINJA_COMMENT.match(template.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        match = None
    return match.group(1) if match else "(no description)"


def export_templates(directory: Path, *, force: bool = False) -> list[Path]:
    """Copy every built-in template into `directory`; refuse (writing nothing) to replace files unless `force`."""
    templates = builtin_templates()
    if directory.exists() and not directory.is_dir():
        raise WriteError("cannot export templates", [Problem(str(directory), message="exists and is not a folder")])
    pairs = [(source, directory / name) for name, source in templates.items()]
    existing = [target for _, target in pairs if target.exists() or target.is_symlink()]
    if existing and not force:
        raise WriteError("templates already exported", [
            Problem(str(p), message="already exists; pass --force to replace it") for p in existing])
    for source, target in pairs:
        write_file(target, source.read_bytes())
    return [target for _, target in pairs]


@click.group("templates")
def templates_group() -> None:
    """List or export the built-in templates (customise them with `render --templates DIR`)."""


@templates_group.command("list")
def list_command() -> None:
    """List the built-in templates with a one-line description each."""
    templates = builtin_templates()
    width = max(map(len, templates), default=0)
    for name, template in templates.items():
        click.echo(f"{name:<{width}}  {describe(name, template)}")


@templates_group.command("export")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--force", is_flag=True, help="Replace templates already in DIRECTORY.")
def export_command(directory: Path, force: bool) -> None:
    """Copy the built-in templates into DIRECTORY to customise them.

    Keep only the ones you change (an override can start with {% extends "builtin/NAME" %}), then render
    with `genpolicy render SPEC --templates DIRECTORY`.
    """
    try:
        written = export_templates(directory, force=force)
    except GenpolicyError as exc:
        exit_with(exc)
    for path in written:
        click.echo(str(path))
    click.echo(f"genpolicy: exported {len(written)} templates; render with --templates {directory}", err=True)
