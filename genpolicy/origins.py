"""Point a generated object's invalid value back at the spec line the user wrote it on.

Documents record which of their keys were copied from the spec (`Document.origins`, e.g. an
ESO generator's `spec` from `registries[i].credentials.generator.spec`). A validation finding
inside such a key becomes a spec problem at that key's `file:line:col`.
"""

from __future__ import annotations

from genpolicy.errors import Problem
from genpolicy.render.documents import Document, SpecPath
from genpolicy.specfile.loader import LoadedYaml, format_path
from genpolicy.validate import Finding


def spec_path(doc: Document, finding: Finding) -> SpecPath | None:
    """The spec path a finding's value came from, or None when genpolicy made the value."""
    parts = finding.parts
    for key, origin in doc.origins.items():
        if parts[:1] == (key,):
            extra = finding.unexpected[:1] if finding.unexpected else ()
            return (*origin, *parts[1:], *extra)
    return None


def spec_problem(loaded: LoadedYaml, doc: Document, finding: Finding, generated: str) -> Problem | None:
    """A problem at the spec position of the finding's value (the generated file is named in the message)."""
    path = spec_path(doc, finding)
    if path is None:
        return None
    line, col = loaded.positions.of_key(path)
    return Problem(loaded.filename, line, col, format_path(path),
                   f"{finding.message} (in the generated {doc.describe()}, {generated}; template {doc.template})")
