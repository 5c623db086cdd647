"""Every value reaches YAML through a quoting filter: it round-trips exactly, never injects YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from test_yamllint import lint

from genpolicy.templating import TemplateError, Templates, is_plain, quote, scalar, to_yaml

YAML12 = YAML(typ="safe", pure=True)  # a YAML 1.2 reader beside PyYAML's YAML 1.1


def both(text: str) -> object:
    """The document as YAML 1.1 (PyYAML) reads it, asserted equal to what YAML 1.2 (ruamel) reads."""
    value = yaml.safe_load(text)
    assert YAML12.load(text) == value
    return value


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
    assert both(f"key: {quote(value)}\n") == {"key": value}


@settings(max_examples=600)
@example("1e3")  # a float in YAML 1.2 only
@example("0o17")
@example("1:20")  # sexagesimal in YAML 1.1 only
@given(st.one_of(TEXT, st.from_regex(r"[-+.0-9a-zA-Z:_~=<]{1,8}", fullmatch=True)))
def test_scalar_reads_back_as_the_same_string_in_yaml_1_1_and_1_2(value: str) -> None:
    text = scalar(value)
    for doc in (f"key: {text}\n", f"- {text}\n", f"[{text}, x]\n", f"{{k: {text}}}\n"):
        loaded = both(doc)
        assert loaded in ({"key": value}, [value], [value, "x"], {"k": value})
    if is_plain(value):
        assert text == value


@pytest.mark.parametrize("value", ["true", "True", "yes", "on", "y", "N", "null", "~", "1.30", "-1", "0755", "0x1F",
                                   "1e3", ".inf", "1:20", "2024-01-01", "*", "&a", "!tag", "@x", "`x", "%x", "- x",
                                   "? x", "|", ">", "' x", '"x', "#x", " lead", "trail ", "a: b", "a #b", "a:", "a,b",
                                   "[a]",
                                   "{a}", "{{ x }}", "---", "...", "\x07", "tab\t", "\u2028", "é", "<<", "=", ""])
def test_values_that_need_quotes_get_them(value: str) -> None:
    assert not is_plain(value)
    assert scalar(value) != value


@pytest.mark.parametrize("value", ["ghcr-pull", "v1", "kubernetes.io/dockerconfigjson", "1h", "Owner", "a b c",
                                   "app.kubernetes.io/managed-by", "robot$platform+puller", "ghcr.io/org/*", "a#b",
                                   "http://x.example.com:8080/v1", "1.30.2", "v1.30"])
def test_ordinary_values_are_plain(value: str) -> None:
    assert is_plain(value)
    assert scalar(value) == value


@pytest.mark.parametrize("value, text", [
    ("true", '"true"'), ("1.30", '"1.30"'), ("-1", '"-1"'), ("", '""'), ("0755", '"0755"'),  # would read as a type
    ("a,b", "'a,b'"), ("*", '"*"'), ("@x", "'@x'"), ("genpolicy: x", "'genpolicy: x'"), ("it's", "it's"),
    ('x: m("a")', "'x: m(\"a\")'"), ("a: 'b'", "'a: ''b'''"),  # other printable ASCII: single quotes
    # text that needs escapes: double quotes
    ("\u00e9", '"\\xe9"'), ("\u0100", '"\\u0100"'), ("a\tb", '"a\\x09b"'), ("x\u2028y", '"x\\u2028y"'),
])
def test_quoting_follows_kubectl(value: str, text: str) -> None:
    assert scalar(value) == text
    assert both(f"k: {text}\n") == {"k": value}


def test_kubernetes_objects_start_with_apiversion_kind_metadata_and_lists_sit_under_their_key() -> None:
    text = to_yaml({"spec": {"items": ["a", {"b": "c"}]}, "metadata": {"name": "web"}, "kind": "K", "apiVersion": "v1"})
    assert text == "apiVersion: v1\nkind: K\nmetadata:\n  name: web\nspec:\n  items:\n  - a\n  - b: c"


def test_long_text_is_folded_and_reads_back_exactly() -> None:
    value = "{{ request.object.metadata.name }} " + "long words " * 12 + "end"
    text = to_yaml({"a": {"b": value}, "l": [value]})
    assert ">-" in text and max(len(line) for line in text.split("\n")) <= 80
    assert both(text) == {"a": {"b": value}, "l": [value]}


@settings(max_examples=200)
@example({".0": ""})
@example({"on": "x", "0x1F": "y", ".inf": "z", "~": "n"})
@given(st.dictionaries(KEYS, st.one_of(TEXT, st.lists(TEXT, max_size=3), st.booleans(), st.integers())))
def test_to_yaml_round_trips_mappings(value: dict[str, object]) -> None:
    text = "root:\n" + to_yaml(value, 2) + "\n" if value else "root: {}\n"
    assert both(text) == {"root": value}


@settings(max_examples=100)
@given(st.lists(st.dictionaries(KEYS, TEXT, min_size=1, max_size=3), min_size=1, max_size=3))
def test_to_yaml_round_trips_lists_of_mappings(value: list[dict[str, str]]) -> None:
    assert both("root:\n" + to_yaml(value, 2) + "\n") == {"root": value}


LONG = st.lists(st.sampled_from(["word", " ", "  ", "é", "\t", "{{ .x }}", ": ", " #", "'", '"', "\\", "\n", "\u2028",
                                 "A" * 90]), max_size=60).map("".join)


@settings(max_examples=300)
@example("a b " * 30)  # a trailing space: not foldable, wrapped in double quotes
@example(" " * 100)
@example("word\n\n\n\nword")  # three blank lines: not a literal block (yamllint's empty-lines)
@given(LONG)
def test_long_values_round_trip_and_pass_yamllint(value: str) -> None:
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n", "annotations": {"a/b": value}},
           "data": {"k": value, "list": [value, {"deep": value}]}}
    text = "---\n" + to_yaml(doc) + "\n"
    assert both(text) == doc
    problems = [p for p in lint(text, "x.yaml") if "key-duplicates" not in p]
    assert problems == []


@pytest.mark.parametrize("value", ["a: b", "x\nkind: Secret", "{{ evil }}", "'", '"', "#c", "- item", "on", "null",
                                   "1e3", "\u2028", "\x85", "😀", "\\", "key: 'v'\"", "  lead", "trail  ", "---",
                                   "--- x", "...", "x\n---\nkind: Secret", "!!python/object:os.system", "!Secret",
                                   "&a", "*a", "? k", "k:", "a #b", "| x", "> x", "%YAML 1.1", "x\u2029kind: Secret",
                                   "tab\tx", "a, b: c", "[a]", "{a: b}", "x" * 300 + " y: z"])
def test_hostile_values_stay_one_scalar(value: str) -> None:
    templates = Templates()
    text = templates.render("serviceaccount.yaml.j2", {
        "name": value, "namespace": "ns", "labels": {"k": value}, "annotations": {value: value},
        "image_pull_secrets": [value],
    })
    obj = both(text)
    assert isinstance(obj, dict)
    assert len(list(yaml.safe_load_all(text))) == 1
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
    assert templates.render("header.yaml.j2", {"spec_name": "s"}) == "# custom header s\n"
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


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9+/=._-]{0,12}", fullmatch=True) | st.sampled_from(
    ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf", "e1", "x.inf", "a--b", "ns-1.yaml",
     "Yes", "NO", "True", "NULL", "Off", "nULL", "E1", "AgB+/x==", "a=", "Inf", "NaN", "O_o"]))
def test_the_name_fast_path_agrees_with_the_full_check(value: str) -> None:
    from genpolicy import templating

    assert templating.is_plain(value) == (templating._plain_shape(value) and not templating._reads_as_other_type(value))
