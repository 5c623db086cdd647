"""The render and validate jobs, independent of the command line."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from genpolicy import writer
from genpolicy.credentials import CredentialReader
from genpolicy.errors import OutputValidationError, Problem
from genpolicy.render import Bundle, RenderContext, render_bundle
from genpolicy.spec import Resolved, load_spec
from genpolicy.templating import Templates
from genpolicy.validate import CrdSchemas, Validator, kubernetes_schemas


@dataclass
class RenderOptions:
    spec: Path
    output: Path | None = None
    crds: list[Path] = field(default_factory=list)
    templates: list[Path] = field(default_factory=list)
    environ: Mapping[str, str] | None = None
    progress: Callable[[int], None] | None = None


@dataclass
class RenderResult:
    resolved: Resolved
    bundle: Bundle
    plan: writer.Plan
    warnings: list[Problem]
    objects: int


def output_root(options: RenderOptions, resolved: Resolved) -> Path:
    if options.output is not None:
        return options.output
    return Path(os.path.normpath(options.spec.parent / resolved.spec.output_dir))


def render(options: RenderOptions) -> RenderResult:
    """Load, render and validate in memory, then plan against the disk (nothing is written)."""
    resolved = load_spec(options.spec)
    used = {r.name: r for t in resolved.targets for r in t.registries}
    used.update({r.name: r for t in resolved.kyverno_targets for r in t.registries})
    reader = CredentialReader(resolved.spec, resolved.loaded, options.spec.parent, options.environ)
    credentials = reader.read_all(list(used.values()))
    ctx = RenderContext(resolved, Templates(options.templates), credentials, options.spec.name, options.progress)
    bundle = render_bundle(ctx)
    crds = CrdSchemas.from_paths(options.crds)
    warnings, objects = validate_bundle(resolved, bundle, crds)
    wanted = {path: writer.Planned(f.content(), f.sensitive) for path, f in bundle.files.items()}
    return RenderResult(resolved, bundle, writer.plan(output_root(options, resolved), wanted), warnings, objects)


def validate_bundle(resolved: Resolved, bundle: Bundle, crds: CrdSchemas) -> tuple[list[Problem], int]:
    """Validate every generated object; raise on errors, return "not validated" warnings."""
    errors: list[Problem] = []
    unvalidated: dict[str, int] = {}
    count = 0
    validators: dict[str, Validator] = {}
    for cluster in resolved.spec.clusters:
        validators[cluster.name] = Validator(kubernetes_schemas(cluster.major_minor), crds)
    for file, doc in bundle.documents():
        if not file.is_manifest:
            continue
        outcome = validators[file.cluster].validate(doc.obj, sensitive=doc.sensitive)
        count += 1
        for finding in outcome.findings:
            errors.append(Problem(file.path, 0, 0, f"{doc.describe()}: {finding.path or '(root)'}",
                                  f"{finding.message} (template {doc.template})"))
        if not outcome.validated:
            key = f"{doc.obj.get('kind')} ({doc.obj.get('apiVersion')})"
            unvalidated[key] = unvalidated.get(key, 0) + 1
    if errors:
        raise OutputValidationError("generated documents are invalid", errors)
    warnings = [Problem("<render>", message=f"{n} {kind} not validated: no CRD schema (pass --crds DIR)",
                        severity="warning") for kind, n in sorted(unvalidated.items())]
    return warnings, count
