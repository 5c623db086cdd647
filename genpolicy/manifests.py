"""`genpolicy validate`: check arbitrary manifest files with the same validators as `render`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genpolicy.crds import shipped_crds
from genpolicy.errors import GenpolicyError, Problem, UsageError
from genpolicy.inputs import MAX_MANIFEST_BYTES, read_text, yaml_documents
from genpolicy.nodes.schema import HOSTS_TOML_NAME as HOSTS_TOML
from genpolicy.nodes.schema import hosts_toml_problems
from genpolicy.validate import CrdSchemas, Validator, kubernetes_schemas


@dataclass
class ValidationReport:
    checked: int = 0
    skipped: int = 0  # documents that are not Kubernetes objects (Helm values files, say)
    problems: list[Problem] = field(default_factory=list)
    unvalidated: list[Problem] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)  # why documents were skipped -> how many

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1

    def unvalidated_by_kind(self) -> list[Problem]:
        """One warning per kind, as `render` prints them, at the first object of that kind."""
        groups: dict[str, list[Problem]] = {}
        for problem in self.unvalidated:
            groups.setdefault(problem.path.partition("/")[0], []).append(problem)
        return [Problem(first.file, first.line, first.col, kind, f"{len(group)} {kind} not validated: no schema for "
                        f"this kind (pass --crds DIR){' (first here)' if len(group) > 1 else ''}", severity="warning")
                for kind, group in sorted(groups.items()) for first in group[:1]]


NOT_KUBERNETES = "not a Kubernetes object (no apiVersion or kind)"
KYVERNO_CLI = ("Kyverno CLI files (cli.kyverno.io): `kyverno test` reads them, they are never applied to a "
               "cluster")


def manifest_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if (p.suffix in (".yaml", ".yml", ".json")
                              or p.name == HOSTS_TOML) and p.is_file() and not p.name.startswith("."))
        else:
            yield path


def documents(path: Path) -> Iterator[tuple[int, Any]]:
    """(first line, object) for each non-empty YAML document of a file."""
    text = read_text(path, what="manifest file", limit=MAX_MANIFEST_BYTES)
    yield from yaml_documents(text, str(path))


def validate_paths(paths: list[Path], kubernetes_version: str, crd_paths: list[Path]) -> ValidationReport:
    try:
        validator = Validator(kubernetes_schemas(kubernetes_version), CrdSchemas.from_paths(crd_paths),
                              shipped_crds(None))  # genpolicy's own kinds (Kyverno: the newest shipped minor)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    report = ValidationReport()
    for path in manifest_files(paths):
        if path.name == HOSTS_TOML:  # containerd registry hosts (docs/nodes.md)
            report.checked += 1
            report.problems += hosts_toml_problems(path)
            continue
        try:
            for line, obj in documents(path):
                _validate_one(report, validator, str(path), line, obj)
        except GenpolicyError as exc:  # not a regular file, too large, alias bomb, too deep
            report.problems += exc.problems
        except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
            mark = getattr(exc, "problem_mark", None)
            report.problems.append(Problem(str(path), mark.line + 1 if mark else 0, mark.column + 1 if mark else 0,
                                           "", f"cannot parse: {getattr(exc, 'problem', None) or exc}"))
    return report


def _validate_one(report: ValidationReport, validator: Validator, file: str, line: int, obj: Any) -> None:
    if obj is None or (isinstance(obj, dict) and obj.get("kind") == "Kustomization"
                       and str(obj.get("apiVersion", "")).startswith("kustomize.config.k8s.io")):
        return
    if isinstance(obj, dict) and "apiVersion" not in obj and "kind" not in obj:
        report.skip(NOT_KUBERNETES)
        return
    if isinstance(obj, dict) and str(obj.get("apiVersion", "")).startswith("cli.kyverno.io/"):
        report.skip(KYVERNO_CLI)
        return
    if _is_list(obj):
        for item in obj["items"]:
            _validate_one(report, validator, file, line, item)
        return
    report.checked += 1
    outcome = validator.validate(_without_sops_metadata(obj))
    name = _describe(obj)
    for finding in outcome.findings:
        report.problems.append(Problem(file, line, 1, f"{name}: {finding.path or '(root)'}", finding.message))
    if not outcome.validated:
        report.unvalidated.append(Problem(file, line, 1, name, "not validated: no schema for this kind "
                                                                 "(pass --crds DIR)", severity="warning"))


def _is_list(obj: Any) -> bool:
    """`kind: List` (or `SecretList`...) as `kubectl get -o yaml` writes it: a wrapper, not an object; its
    items are validated one by one and the wrapper needs no metadata."""
    return (isinstance(obj, dict) and str(obj.get("kind", "")).endswith("List") and obj.get("apiVersion") == "v1"
            and isinstance(obj.get("items"), list))


def _without_sops_metadata(obj: Any) -> Any:
    """A SOPS-encrypted manifest is validated as what Flux applies: without its `sops` block."""
    if isinstance(obj, dict) and isinstance(obj.get("sops"), dict) and "mac" in obj["sops"]:
        return {k: v for k, v in obj.items() if k != "sops"}
    return obj


def _describe(obj: Any) -> str:
    if not isinstance(obj, dict):
        return "document"
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return f"{obj.get('kind', '?')}/{meta.get('name', '?')}"
