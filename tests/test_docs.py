"""docs/spec.md documents every field of the model; the README keeps its two-command quick start."""

from __future__ import annotations

import re

from conftest import ROOT, run_cli
from genpolicy.specfile.model import Spec
from genpolicy.typed import Model as BaseModel
from genpolicy.typed import fields_of


def field_names(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names: set[str] = set()
    for name, info in fields_of(model).items():
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


# --- README and docs claims hold for a user of a fresh clone -----------------------------------------------------

SHIPPED = ["README.md", "SECURITY.md", "docs", "genpolicy", "templates", "scaffold", "examples", "pyproject.toml"]


def _texts(*names: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in names:
        path = ROOT / name
        suffixes = (".md", ".py", ".j2", ".yaml", ".yml", ".json", ".toml")
        files = [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if p.is_file()
                                                 and p.suffix in suffixes]
        found.update({str(f.relative_to(ROOT)): f.read_text(encoding="utf-8") for f in files})
    return found


def test_nothing_shipped_points_at_the_projects_shared_folder() -> None:
    offenders = [name for name, text in _texts(*SHIPPED).items() if "../shared" in text]
    assert offenders == [], "users do not have ../shared"


def test_repository_paths_named_in_readme_and_docs_exist() -> None:
    missing = []
    for name, text in _texts("README.md", "docs").items():
        for path in re.findall(r"`((?:examples|docs|out|templates|scaffold|\.ci|tests)/[^`\s]*)`", text):
            if "<" in path or "*" in path or "{" in path:
                continue  # a placeholder such as out/<spec>/<cluster>
            if not (ROOT / path.rstrip("/")).exists() and not (ROOT / path.split(":")[0]).exists():
                missing.append(f"{name}: {path}")
    links = {f"{n}: {link}" for n, text in _texts("README.md", "docs").items()
             for link in re.findall(r"\]\(((?!https?://|#)[^)]+)\)", text)
             if not ((ROOT / n).parent / link.split("#")[0]).exists()}
    assert missing == [] and sorted(links) == []


def test_readme_does_not_call_existing_features_unrendered() -> None:
    readme = (ROOT / "README.md").read_text()
    unrendered = " ".join(re.findall(r"Not rendered yet:([^.]*)\.", readme))
    from genpolicy.specfile.model import HelmValues

    assert unrendered, "the README says what is not rendered yet"
    if "config_map" in fields_of(HelmValues):
        assert "ConfigMap" not in unrendered, "helmValues.configMap renders ConfigMaps of the Helm values"


def test_every_command_in_the_readme_table_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = sorted(set(re.findall(r"^\| `genpolicy ([a-z]+)", readme, re.M)))
    assert {"render", "validate", "explain", "lint", "coverage", "init"} <= set(commands)
    for command in commands:
        result = run_cli(command, "--help")
        assert result.code == 0, (command, result.output)


def test_readme_quick_start_output_is_committed_and_current() -> None:
    """"that output is committed, so a second run reports 0 created, 0 updated, 0 deleted"."""
    result = run_cli("render", "examples/quickstart/spec.yaml", "--check")
    assert result.code == 0 and "up to date" in result.stderr, result.output
