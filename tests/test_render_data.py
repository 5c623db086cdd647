"""Documents of the `{{ object | to_yaml }}` templates keep the object they were rendered from (not parsed back).

Safe only while three things hold, each tested here: the built-in templates are exactly that one line, the
object is plain data (`context.plain_data`), and reading the text back gives an equal object: on every
such document of every shipped example (all backends, Kyverno, engines, node pools), and on generated data.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from genpolicy.pipeline import RenderOptions, render
from genpolicy.render import context
from genpolicy.render.documents import Document
from genpolicy.templating import Templates, YamlText, builtin_template_dir, to_yaml

ENV = {"GHCR_USER": "ci-robot", "GHCR_TOKEN": "ghp-Test-Token-4d2f", "HARBOR_TOKEN": "harbor-Test-Token-9e1c"}
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/spec.yaml"))


class _Recorded(Document):
    """A Document that remembers, when made, the object it holds and the text it was written as."""

    made: list[tuple[str, str, Any, bool]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.template in context.DATA_TEMPLATES:
            kept = self.obj is not None and not isinstance(self.obj, str)
            self.made.append((self.template, self.text, copy.deepcopy(self.obj), kept))


def _load(text: str) -> Any:  # as context.parse_document reads
    return yaml.load(text if text.endswith("\n") else text + "\n", Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def test_the_data_templates_are_exactly_object_to_yaml() -> None:
    for name in context.DATA_TEMPLATES:
        assert (builtin_template_dir() / name).read_text() == "{{ object | to_yaml }}\n", name


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_data_document_of_the_examples_reads_back_as_its_object(
        example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, folder)
    monkeypatch.setattr(context, "Document", _Recorded)
    monkeypatch.setattr(_Recorded, "made", [])
    render(RenderOptions(folder / "spec.yaml", output=tmp_path / "out", environ=ENV))
    assert _Recorded.made or example == "quickstart", "the example renders no data document"
    for template, text, obj, _ in _Recorded.made:
        assert _load(text) == obj, (example, template)


def test_a_sealed_render_keeps_the_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only correct when parsed back: the fast path is taken (a SealedSecret is plain data)."""
    folder = tmp_path / "backends"
    shutil.copytree(ROOT / "examples" / "backends", folder)
    monkeypatch.setattr(context, "Document", _Recorded)
    monkeypatch.setattr(_Recorded, "made", [])
    parsed: list[str] = []
    real_parse = context.parse_document
    monkeypatch.setattr(context, "parse_document", lambda t, text: parsed.append(t) or real_parse(t, text))
    render(RenderOptions(folder / "spec.yaml", output=tmp_path / "out", environ=ENV))
    sealed = [m for m in _Recorded.made if m[0] == "sealedsecret.yaml.j2"]
    assert sealed and all(_load(text) == obj for _, text, obj, _ in sealed)
    assert "sealedsecret.yaml.j2" not in parsed


def test_a_user_template_is_parsed_back(tmp_path: Path) -> None:
    """An override of object.yaml.j2 writes what it likes: the document holds what its text says."""
    (tmp_path / "object.yaml.j2").write_text("{{ object | to_yaml }}\nextra: {{ object.kind }}\n")
    ctx = SimpleNamespace(templates=Templates([tmp_path]), memo={})
    doc = context._document(ctx, "object.yaml.j2", {"object": {"kind": "ConfigMap"}})  # type: ignore[arg-type]
    assert doc.obj == {"kind": "ConfigMap", "extra": "ConfigMap"}
    builtin = context._document(SimpleNamespace(templates=Templates(), memo={}),  # type: ignore[arg-type]
                                "object.yaml.j2", {"object": {"kind": "ConfigMap"}})
    assert builtin.obj == {"kind": "ConfigMap"} and builtin.text == "kind: ConfigMap\n"


@pytest.mark.parametrize(("value", "plain"), [
    ({"a": [1, True, None, "x", {"b": []}]}, True),
    ({"a": 1.5}, False),  # `1e+20` would read back as a string: floats are parsed back
    ({"a": (1, 2)}, False),  # a tuple reads back as a list
    ({1: "a"}, False),  # an int key reads back as an int, but to_yaml writes keys as strings
    ({"a": YamlText("x")}, False),  # a str subclass: to_yaml may write it as it is
    ({"a": b"bytes"}, False),
    ({"k" * 257: "v"}, False),  # YAML refuses a simple key over 1,024 characters: long keys are parsed back
    ({"a": "\ud800"}, False),  # a lone surrogate cannot be written as YAML
    ({"\ud800": "a"}, False),
    ({"k" * 256: "é\u2028"}, True),
])
def test_plain_data(value: Any, plain: bool) -> None:
    assert context.plain_data(value) is plain


def test_deep_data_is_parsed_back() -> None:
    deep: Any = "leaf"
    for _ in range(100):
        deep = {"d": deep}
    assert not context.plain_data(deep)


_SCALARS = st.one_of(st.text(max_size=30), st.integers(), st.booleans(), st.none(),
                     st.sampled_from(["on", "no", "0x1F", "1e3", "~", "null", ".inf", "2001-12-14", "- a", "a: b"]))
_DATA = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(min_size=1, max_size=12), inner, max_size=3)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), _DATA, min_size=1, max_size=4))
def test_plain_data_reads_back_equal(value: dict[str, Any]) -> None:
    assert context.plain_data(value)
    assert _load(to_yaml(value)) == value
