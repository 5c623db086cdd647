"""The spec's typed-model kernel (genpolicy.typed): errors, validators, records, schema."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from genpolicy.specfile import json_schema
from genpolicy.specfile.model import HelmKey, HelmValues, Spec
from genpolicy.typed import Field, Model, SecretStr, ValidationError, field_validator, fields_of, model_validator
from genpolicy.typed_schema import dump


class Leaf(Model):
    """A leaf."""

    name: str = Field(pattern=r"^[a-z]+$", max_length=5)
    flag: bool = True
    kind: Literal["a", "b", "c"] = "a"


class Root(Model):
    leaves: list[Leaf] = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    gates: dict[Literal["x", "y"], bool] = Field(default_factory=dict)
    note: str | None = Field(default=None, min_length=2)
    token: SecretStr | None = None
    anything: dict[str, Any] = Field(default_factory=dict)


class Checked(Model):
    low: int | None = None  # type: ignore[assignment]  # never validated: only the kinds below are
    first: str = "a"
    second: str = "b"

    _upper = field_validator("first")(classmethod(lambda cls, v: v.upper()))

    @field_validator("second", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _different(self) -> Checked:
        if self.first.lower() == self.second:
            raise ValueError("first and second must differ")
        return self


def errors(model: type[Model], data: Any) -> list[tuple[tuple[str | int, ...], str, str]]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return [(e["loc"], e["type"], e["msg"]) for e in info.value.errors()]


@pytest.mark.parametrize(("data", "expected"), [
    ({"leaves": [{"name": 1}]}, [(("leaves", 0, "name"), "string_type", "Input should be a valid string")]),
    ({"leaves": [{"name": "abcdef"}]},
     [(("leaves", 0, "name"), "string_too_long", "String should have at most 5 characters")]),
    ({"leaves": [{"name": "A"}]},
     [(("leaves", 0, "name"), "string_pattern_mismatch", "String should match pattern '^[a-z]+$'")]),
    ({"leaves": [{"name": "ab\n"}]},  # `$` is the end of the text, not before a final newline
     [(("leaves", 0, "name"), "string_pattern_mismatch", "String should match pattern '^[a-z]+$'")]),
    ({"leaves": [{"name": "a", "flag": "maybe"}]},
     [(("leaves", 0, "flag"), "bool_parsing", "Input should be a valid boolean, unable to interpret input")]),
    ({"leaves": [{"name": "a", "flag": 2}]}, [(("leaves", 0, "flag"), "bool_type", "Input should be a valid boolean")]),
    ({"leaves": [{"name": "a", "kind": "d"}]},
     [(("leaves", 0, "kind"), "literal_error", "Input should be 'a', 'b' or 'c'")]),
    ({"leaves": []}, [(("leaves",), "too_short", "List should have at least 1 item after validation, not 0")]),
    ({"leaves": {}}, [(("leaves",), "list_type", "Input should be a valid list")]),
    ({"leaves": ["x"]}, [(("leaves", 0), "model_type", "Input should be a valid dictionary or instance of Leaf")]),
    ({}, [(("leaves",), "missing", "Field required")]),
    ({"leaves": [{"name": "a", "nmae": 1}]}, [(("leaves", 0, "nmae"), "extra_forbidden",
                                               "Extra inputs are not permitted")]),
    ({"leaves": [{"name": "a"}], "labels": {"k": 1}}, [(("labels", "k"), "string_type",
                                                        "Input should be a valid string")]),
    ({"leaves": [{"name": "a"}], "labels": []}, [(("labels",), "dict_type", "Input should be a valid dictionary")]),
    ({"leaves": [{"name": "a"}], "gates": {"z": "no"}},
     [(("gates", "z"), "literal_error", "Input should be 'x' or 'y'")]),
    ({"leaves": [{"name": "a"}], "note": "x"},
     [(("note",), "string_too_short", "String should have at least 2 characters")]),
])
def test_each_error_kind_is_located_and_worded(data: dict[str, Any], expected: list[Any]) -> None:
    assert errors(Root, data) == expected


def test_every_error_is_reported_at_once() -> None:
    found = errors(Root, {"leaves": [{"name": 1, "flag": "x"}, {"kind": "z"}], "bogus": 1, "gates": {"q": 3}})
    assert sorted(loc for loc, _, _ in found) == sorted([
        ("leaves", 0, "name"), ("leaves", 0, "flag"), ("leaves", 1, "name"), ("leaves", 1, "kind"), ("bogus",),
        ("gates", "q"), ("gates", "q")])  # a bad key and its bad value: both


def test_lax_booleans_and_defaults() -> None:
    root = Root.model_validate({"leaves": [{"name": "a", "flag": "No"}, {"name": "b", "flag": 1}]})
    assert [leaf.flag for leaf in root.leaves] == [False, True]
    assert root.labels == {} and root.note is None and root.leaves[0].kind == "a"
    assert Root.model_validate({"leaves": [{"name": "a"}]}).labels is not root.labels  # a fresh default each time


def test_validators_run_in_order_and_the_model_check_last() -> None:
    assert Checked.model_validate({"first": "x", "second": 7}).first == "X"
    assert Checked.model_validate({"second": 7}).second == "7"
    assert errors(Checked, {"first": "b"}) == [((), "value_error", "Value error, first and second must differ")]
    assert [t for _, t, _ in errors(Checked, {"first": 1, "second": "a"})] == ["string_type"]  # no model check


def test_records_are_frozen_comparable_hashable_and_picklable() -> None:
    leaf = Leaf(name="abc")
    with pytest.raises(AttributeError):
        leaf.name = "x"  # type: ignore[misc]
    assert leaf == Leaf.model_validate({"name": "abc"}) and hash(leaf) == hash(Leaf(name="abc"))
    assert leaf != Leaf(name="abd") and pickle.loads(pickle.dumps(leaf)) == leaf
    assert repr(leaf) == "Leaf(name='abc', flag=True, kind='a')"


def test_the_constructor_validates_by_python_name() -> None:
    assert HelmValues(enabled=False).keys == [HelmKey(path="imagePullSecrets"), HelmKey(path="global.imagePullSecrets")]
    with pytest.raises(TypeError, match="unknown field"):
        HelmKey(paht="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="format"):
        HelmKey(path="a", format="lists")  # type: ignore[arg-type]


def test_a_secret_shows_nowhere() -> None:
    secret = "s3cr3t-VALUE"
    root = Root.model_validate({"leaves": [{"name": "a"}], "token": secret})
    assert root.token is not None and root.token.get_secret_value() == secret
    assert secret not in repr(root) and secret not in str(root.token)
    assert pickle.loads(pickle.dumps(root)) == root
    with pytest.raises(ValidationError) as info:
        Root.model_validate({"leaves": [{"name": secret}], "note": secret + "\n", "labels": {"k": [secret]}})
    assert secret not in str(info.value) and secret not in repr(info.value.errors())


def test_fields_are_camel_case_and_python_names_are_unknown_keys() -> None:
    assert [f.alias for f in fields_of(Spec).values()][:4] == ["apiVersion", "kind", "outputDir", "allowPlaintext"]
    assert ("output_dir",) in [loc for loc, _, _ in errors(Spec, {"output_dir": "x"})]


def _examples() -> list[Path]:
    return sorted(ROOT.glob("examples/*/spec.yaml"))


@pytest.mark.parametrize("spec", _examples(), ids=lambda p: p.parent.name)
def test_each_example_round_trips_and_passes_the_printed_schema(spec: Path) -> None:
    data = yaml.safe_load(spec.read_text())
    model = Spec.model_validate(data)
    assert Spec.model_validate(dump(model)) == model
    validator = jsonschema_rs.validator_for(json_schema())
    assert validator.is_valid(data)
    assert not validator.is_valid({**data, "bogusKey": 1}), "the schema can fail"
    assert not validator.is_valid({**data, "clusters": [{**data["clusters"][0], "gitops": "jenkins"}]})


def test_the_schema_is_deterministic_and_describes_the_model() -> None:
    schema = json_schema()
    assert json.dumps(schema) == json.dumps(json_schema())
    cluster = schema["$defs"]["Cluster"]
    assert cluster["required"] == ["name", "kubernetesVersion"] and cluster["additionalProperties"] is False
    assert cluster["properties"]["gitops"] == {"default": "argocd", "enum": ["argocd", "flux"], "title": "Gitops",
                                               "type": "string"}
    assert schema["$defs"]["InlineSource"]["properties"]["password"]["writeOnly"] is True


_NAMES = st.text(alphabet="abcAB1_-\n", max_size=7)
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), _NAMES, st.lists(_NAMES, max_size=2))
_LEAF = st.dictionaries(st.sampled_from(["name", "flag", "kind", "other"]), _VALUES, max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["leaves", "labels", "note", "gates"]),
                       st.one_of(_VALUES, st.lists(_LEAF, max_size=3), st.dictionaries(_NAMES, _VALUES, max_size=2)),
                       max_size=4))
def test_any_input_validates_or_fails_inside_itself(data: dict[str, Any]) -> None:
    """Either a record that validates again to itself, or errors whose locations exist in the input."""
    try:
        root = Root.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            node: Any = data
            for part in error["loc"][:-1] if error["type"] == "missing" else error["loc"]:
                node = node[part]
        return
    assert Root.model_validate(dump(root)) == root
    assert all(leaf.name.isalpha() and leaf.name.islower() for leaf in root.leaves)


def test_a_copy_is_validated() -> None:
    leaf = Leaf(name="abc")
    assert leaf.model_copy(update={"kind": "b"}) == Leaf(name="abc", kind="b") and leaf.kind == "a"
    with pytest.raises(ValidationError):
        leaf.model_copy(update={"name": "ABC"})
