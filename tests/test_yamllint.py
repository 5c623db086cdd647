"""yamllint, with the repository's .yamllint, reports nothing on genpolicy's output.

Renders every example (and the committed out/) in memory and lints each file; the checks are
shown to fail on output that breaks the style (indented sequences, a missing `---`, a long line).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from conftest import CRDS, ROOT
from genpolicy.pipeline import RenderOptions, render
from genpolicy.templating import is_plain, quote

CONFIG = YamlLintConfig(file=str(ROOT / ".yamllint"))
EXAMPLES = sorted((ROOT / "examples").glob("*/spec.yaml"))
DUMMY_ENV = {"GHCR_USER": "me", "GHCR_TOKEN": "dummy-token", "HARBOR_TOKEN": "dummy-token"}


def lint(text: str, path: str) -> list[str]:
    """yamllint problems of one file (`path` relative to the output root decides the per-path rules)."""
    if CONFIG.is_file_ignored(path):
        return []
    return [f"{path}:{p.line}:{p.column}: {p.desc} ({p.rule})" for p in linter.run(text, CONFIG, path)]


def lint_bundle(files: dict[str, bytes]) -> list[str]:
    problems: list[str] = []
    for path, content in sorted(files.items()):
        if path.endswith((".yaml", ".yml")):
            problems += lint(content.decode("utf-8"), path)
    return problems


def rendered(spec: Path, tmp_path: Path, templates: list[Path] | None = None) -> dict[str, bytes]:
    options = RenderOptions(spec, output=tmp_path / "out", crds=[CRDS] if CRDS.is_dir() else [],
                            templates=templates or [], environ=DUMMY_ENV)
    return {p: f.content() for p, f in render(options).bundle.files.items()}


def quoting_problems(text: str, path: str) -> list[str]:
    """Scalars whose style breaks the emitter's one rule: plain when safe; else double quotes for text
    that reads as another type or needs escapes (or wraps over lines), single quotes for the rest."""
    problems = []
    for token in yaml.scan(text):
        if not isinstance(token, yaml.ScalarToken) or token.style not in (None, "'", '"'):
            continue
        value, style = token.value, token.style
        needs_double = quote(value).startswith('"') or token.start_mark.line != token.end_mark.line
        if style is None:  # plain: a string the emitter leaves plain, or a bool/number/null meant as one
            ok = is_plain(value) or (quote(value).startswith('"') and all(0x20 <= ord(c) < 0x7F for c in value))
        else:
            ok = (style == '"') == needs_double and not is_plain(value)
        if not ok:
            problems.append(f"{path}:{token.start_mark.line + 1}: {style or 'plain'} {value[:40]!r}")
    return problems


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_renders_yamllint_clean(spec: Path, tmp_path: Path) -> None:
    files = rendered(spec, tmp_path)
    assert files
    assert lint_bundle(files) == []
    assert [p for path, content in files.items() if path.endswith(".yaml") and not path.endswith("sops.yaml")
            for p in quoting_problems(content.decode(), path)] == []


def test_the_quoting_check_can_fail() -> None:
    assert quoting_problems('a: "x,y"\nb: \'1.30\'\nc: "ok"\nd: plain\ne: a, b\nf: true\n', "f.yaml") == [
        "f.yaml:1: \" 'x,y'", "f.yaml:2: ' '1.30'", "f.yaml:3: \" 'ok'", "f.yaml:5: plain 'a, b'"]


def test_committed_out_is_yamllint_clean() -> None:
    files = {p.relative_to(ROOT / "out").as_posix(): p.read_bytes() for p in (ROOT / "out").rglob("*.yaml")}
    assert files
    assert lint_bundle(files) == []


@pytest.mark.parametrize("text, rule", [
    ("---\nitems:\n  - a\n", "indentation"),  # sequences at the parent key's indentation (kubectl)
    ("items:\n- a\n", "document-start"),
    ("---\nkey: " + "word " * 20 + "\n", "line-length"),
    ("---\nkey: 'x'  \n", "trailing-spaces"),
])
def test_the_config_catches_other_styles(text: str, rule: str) -> None:
    assert any(f"({rule})" in p for p in lint(text, "ns/file.yaml"))


def test_long_unbreakable_values_and_sops_files_are_the_only_exceptions() -> None:
    assert lint("---\nkey: " + "A" * 300 + "\n", "a.yaml") == []  # base64, ciphertext
    sops = "apiVersion: v1\nmetadata:\n    labels:\n        - a\n"
    assert lint(sops, "c/ns/x.sops.yaml") == []
    assert lint(sops, "c/ns/x.yaml") != []


def test_a_user_template_with_its_own_style_is_flagged(tmp_path: Path) -> None:
    """Overrides stay free to choose a style; the repository's yamllint config then says so."""
    spec = ROOT / "examples" / "quickstart" / "spec.yaml"
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "kustomization.yaml.j2").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        "{% for resource in resources %}\n  - {{ resource }}\n{% endfor %}\n")
    problems = lint_bundle(rendered(spec, tmp_path, [tmp_path / "templates"]))
    assert problems and all("kustomization.yaml" in p and "(indentation)" in p for p in problems)
