"""docs/spec.md documents every field of the model; the README keeps its two-command quick start."""

from __future__ import annotations

import re

from pydantic import BaseModel

from conftest import ROOT
from genpolicy.spec.model import Spec


def field_names(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for candidate in _models(info.annotation):
            names |= field_names(candidate, seen)
    return names


def _models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models(arg)]


def test_every_spec_field_is_documented() -> None:
    doc = (ROOT / "docs/spec.md").read_text()
    missing = sorted(n for n in field_names(Spec) if f"`{n}" not in doc and f".{n}`" not in doc)
    assert missing == []


def test_readme_quick_start_has_exactly_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(commands) == 2
    assert "genpolicy render examples/" in commands[0]
    assert "pytest" in commands[1]
    assert commands[1].strip() in (ROOT / ".ci/run").read_text()
