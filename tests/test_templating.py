"""Every value reaches YAML through a quoting filter: it round-trips exactly, never injects YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from genpolicy.templating import TemplateError, Templates, quote, scalar, to_yaml

# Characters YAML cannot carry at all (surrogates) are excluded; everything else must round-trip.
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
    st.lists(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12), min_size=2, max_size=4)
    .map("\n".join),
)
KEYS = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@settings(max_examples=400)
@given(TEXT)
def test_quote_round_trips_any_string(value: str) -> None:
    assert yaml.safe_load(f"key: {quote(value)}\n") == {"key": value}


@settings(max_examples=200)
@example({".0": ""})
@example({"on": "x", "0x1F": "y", ".inf": "z", "~": "n"})
@given(st.dictionaries(KEYS, st.one_of(TEXT, st.lists(TEXT, max_size=3), st.booleans(), st.integers())))
def test_to_yaml_round_trips_mappings(value: dict[str, object]) -> None:
    text = "root:\n" + to_yaml(value, 2) + "\n" if value else "root: {}\n"
    assert yaml.safe_load(text) == {"root": value}


@settings(max_examples=100)
@given(st.lists(st.dictionaries(KEYS, TEXT, min_size=1, max_size=3), min_size=1, max_size=3))
def test_to_yaml_round_trips_lists_of_mappings(value: list[dict[str, str]]) -> None:
    assert yaml.safe_load("root:\n" + to_yaml(value, 2) + "\n") == {"root": value}


@pytest.mark.parametrize("value", ["a: b", "x\nkind: Secret", "{{ evil }}", "'", '"', "#c", "- item", "on", "null",
                                   "1e3", "\u2028", "\x85", "😀", "\\", "key: 'v'\"", "  lead", "trail  "])
def test_hostile_values_stay_one_scalar(value: str) -> None:
    templates = Templates()
    text = templates.render("serviceaccount.yaml.j2", {
        "name": value, "namespace": "ns", "labels": {"k": value}, "annotations": {value: value},
        "image_pull_secrets": [value],
    })
    obj = yaml.safe_load(text)
    assert obj["metadata"]["name"] == value
    assert obj["metadata"]["labels"] == {"k": value}
    assert obj["metadata"]["annotations"] == {value: value}
    assert obj["imagePullSecrets"] == [{"name": value}]
    assert set(obj) == {"apiVersion", "kind", "metadata", "imagePullSecrets"}


def test_scalar_refuses_structures() -> None:
    with pytest.raises(TypeError):
        scalar({"a": 1})


def test_user_templates_come_first_and_can_extend_builtins(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml.j2").write_text(
        '{% extends "builtin/kustomization.yaml.j2" %}\n'
    )
    (tmp_path / "header.yaml.j2").write_text("# custom header {{ spec_name }}\n")
    templates = Templates([tmp_path])
    assert templates.render("header.yaml.j2", {"spec_name": "s"}) == '# custom header "s"\n'
    assert "resources:" in templates.render("kustomization.yaml.j2", {"resources": ["a.yaml"]})


def test_undefined_variable_names_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "header.yaml.j2").write_text("# line one\n# {{ no_such_variable }}\n")
    with pytest.raises(TemplateError) as info:
        Templates([tmp_path]).render("header.yaml.j2", {"spec_name": "s"})
    problem = info.value.problems[0]
    assert problem.file.endswith("header.yaml.j2")
    assert problem.line == 2
    assert "'no_such_variable' is undefined" in problem.message


def test_template_syntax_error_is_positioned(tmp_path: Path) -> None:
    (tmp_path / "header.yaml.j2").write_text("# ok\n{% if %}\n")
    with pytest.raises(TemplateError) as info:
        Templates([tmp_path]).render("header.yaml.j2", {})
    assert info.value.problems[0].line == 2
