"""Loading a spec: position-tracking YAML, the typed model, then semantic checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genpolicy.errors import Problem, SpecError
from genpolicy.specfile.checks import NamespaceTarget, Resolved, check_spec
from genpolicy.specfile.errors import problems_from_validation
from genpolicy.specfile.loader import MAX_SPEC_BYTES, load_yaml
from genpolicy.specfile.model import Spec
from genpolicy.typed import ValidationError

__all__ = ["NamespaceTarget", "Resolved", "json_schema", "load_spec", "parse_spec"]


def load_spec(path: Path) -> Resolved:
    """Read, validate and resolve a spec file; raise SpecError with every problem found."""
    from genpolicy.inputs import read_bytes

    raw = read_bytes(path, what="spec", limit=MAX_SPEC_BYTES, error=SpecError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = Problem(str(path), message=f"not UTF-8 text (byte {exc.start})")
        raise SpecError("spec is not UTF-8", [problem]) from None
    return parse_spec(text, str(path))


def parse_spec(text: str, filename: str) -> Resolved:
    """Validate spec text; `filename` is used in problem locations only."""
    loaded = load_yaml(text, filename)
    if not isinstance(loaded.data, dict):
        raise SpecError("invalid spec", [Problem(filename, 1, 1, "", "the spec must be a YAML mapping")])
    try:
        spec = Spec.model_validate(loaded.data)
    except ValidationError as exc:
        raise SpecError("invalid spec", problems_from_validation(exc, loaded, Spec)) from None
    resolved, problems = check_spec(spec, loaded)
    if problems:
        raise SpecError("invalid spec", problems)
    return resolved


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec, for editors (`genpolicy schema`)."""
    from genpolicy.typed_schema import model_schema

    schema = model_schema(Spec)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://genpolicy.dev/schemas/v1alpha1/spec.json"
    schema["title"] = "genpolicy spec (genpolicy/v1alpha1, PullSecretSpec)"
    ordered: dict[str, Any] = json.loads(json.dumps(schema, sort_keys=True))
    return ordered
