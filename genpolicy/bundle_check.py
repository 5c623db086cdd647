"""Validation of a rendered bundle as it is rendered: each file's objects against its cluster's schemas."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from genpolicy.crds import shipped_crds
from genpolicy.errors import OutputValidationError, Problem, SpecError
from genpolicy.origins import spec_problem
from genpolicy.render import NAMESPACE_SENTINEL
from genpolicy.render.documents import Document, MemoDocument, OutputFile, ShapedDocuments
from genpolicy.specfile import Resolved
from genpolicy.validate import CrdSchemas, Outcome, Validator, kubernetes_schemas


class BundleValidator:
    """Validates rendered files as they come (per cluster) and frees their parsed objects."""

    def __init__(self, resolved: Resolved, crds: CrdSchemas) -> None:
        self.validators = {c.name: Validator(kubernetes_schemas(c.major_minor), crds,
                                             shipped_crds(c.kyverno.version if c.kyverno else None))
                           for c in resolved.spec.clusters}
        self.shapes: dict[tuple[tuple[str, str], str], tuple[Outcome, str]] = {}  # outcome, "Kind (apiVersion)"
        self.errors: list[Problem] = []
        self.spec_errors: list[Problem] = []  # invalid values the user wrote in the spec
        self.spec_paths: set[str] = set()
        self.loaded = resolved.loaded
        self.unvalidated: dict[str, int] = {}
        self.count = 0

    def validate_files(self, files: Iterable[OutputFile]) -> None:
        for file in files:
            for doc in file.documents:
                if file.is_manifest:
                    self._validate(file, doc)
                doc.obj = None  # keep only the text: memory stays bounded by one cluster's objects
            if file.shaped is not None and file.is_manifest:
                self._validate_shaped(file, file.shaped)

    def _validate_shaped(self, file: OutputFile, shaped: ShapedDocuments) -> None:
        """A file rendered from a shape: each document is validated once per shape, then only counted."""
        key = self.validators[file.cluster].key
        for template, shape, sensitive in shaped.documents:
            known = self.shapes.get((key, shape))
            if known is not None and known[0].validated and not known[0].findings:
                self.count += 1
                continue
            self._validate(file, MemoDocument(template, "", shape, NAMESPACE_SENTINEL, shaped.namespace, sensitive))

    def _validate(self, file: OutputFile, doc: Document) -> None:
        validator = self.validators[file.cluster]
        if doc.shape is not None:  # same shape up to a valid namespace: validate once per cluster version
            shape_key = (validator.key, doc.shape)
            if shape_key not in self.shapes:
                self.shapes[shape_key] = (validator.validate(doc.obj, sensitive=doc.sensitive), _kind(doc.obj))
            outcome, kind = self.shapes[shape_key]
        else:
            outcome, kind = validator.validate(doc.obj, sensitive=doc.sensitive), ""
        self.count += 1
        for finding in outcome.findings:
            in_spec = spec_problem(self.loaded, doc, finding, file.path)
            if in_spec is not None:
                if in_spec.path not in self.spec_paths:  # once per spec value, not once per namespace
                    self.spec_paths.add(in_spec.path)
                    self.spec_errors.append(in_spec)
                continue
            self.errors.append(Problem(file.path, 0, 0, f"{doc.describe()}: {finding.path or '(root)'}",
                                       f"{finding.message} (template {doc.template})"))
        if not outcome.validated:
            key = kind or _kind(doc.obj)
            self.unvalidated[key] = self.unvalidated.get(key, 0) + 1

    def finish(self) -> tuple[list[Problem], int]:
        """Raise on errors; return "not validated" warnings and the number of objects checked."""
        if self.spec_errors:
            raise SpecError("values in the spec make generated documents invalid", self._spec_errors())
        if self.errors:
            raise OutputValidationError("generated documents are invalid", self.errors)
        warnings = [Problem("<render>", message=f"{n} {kind} not validated: no CRD schema (pass --crds DIR)",
                            severity="warning") for kind, n in sorted(self.unvalidated.items())]
        return warnings, self.count


    def _spec_errors(self) -> list[Problem]:
        """One problem per spec value (workers may each report it), then any others."""
        return sorted({p.path: p for p in self.spec_errors}.values()) + self.errors


def _kind(obj: Any) -> str:
    return f"{obj.get('kind')} ({obj.get('apiVersion')})" if isinstance(obj, dict) else "None (None)"
