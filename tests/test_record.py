"""genpolicy.record: the plain value classes a render imports behave as the dataclasses they replace."""

from __future__ import annotations

import copy
import importlib
import inspect
import pickle
import pkgutil
from pathlib import Path

import pytest

import genpolicy
from genpolicy.errors import Problem
from genpolicy.record import Frozen, Record, set_field


class Pair(Frozen):
    __slots__ = ("name", "token", "note")
    _hidden = frozenset({"token"})
    _compared = ("name", "token")

    def __init__(self, name: str, token: str, note: str = "") -> None:
        set_field(self, "name", name)
        set_field(self, "token", token)
        set_field(self, "note", note)


class Box(Record):
    __slots__ = ("items", "_memo")

    def __init__(self, items: list[int]) -> None:
        self.items = items
        self._memo: int | None = None


def test_a_frozen_record_compares_and_hashes_its_compared_fields_only() -> None:
    assert Pair("a", "t", "one") == Pair("a", "t", "two")
    assert hash(Pair("a", "t", "one")) == hash(Pair("a", "t", "two"))
    assert Pair("a", "t") != Pair("a", "u")
    assert len({Pair("a", "t"), Pair("a", "t", "x"), Pair("b", "t")}) == 2


def test_records_of_different_classes_are_never_equal() -> None:
    class Other(Frozen):
        __slots__ = ("name", "token", "note")

        def __init__(self, name: str, token: str, note: str = "") -> None:
            set_field(self, "name", name)
            set_field(self, "token", token)
            set_field(self, "note", note)

    assert Pair("a", "t") != Other("a", "t")
    assert Pair("a", "t").__eq__(object()) is NotImplemented


def test_the_repr_leaves_out_hidden_and_private_fields() -> None:
    assert repr(Pair("a", "s3cret", "n")) == "Pair(name='a', note='n')"
    assert "s3cret" not in str(Pair("a", "s3cret"))
    assert repr(Box([1])) == "Box(items=[1])"


def test_a_frozen_record_refuses_assignment_and_deletion() -> None:
    pair = Pair("a", "t")
    with pytest.raises(AttributeError, match="frozen Pair"):
        pair.name = "b"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen Pair"):
        del pair.name
    assert pair.name == "a"


def test_a_mutable_record_is_unhashable_and_assignable() -> None:
    box = Box([1])
    box.items = [2]
    assert box == Box([2])
    with pytest.raises(TypeError, match="unhashable"):
        hash(box)


def test_records_survive_pickling_and_copying() -> None:
    pair = Pair("a", "t", "n")
    for again in (pickle.loads(pickle.dumps(pair)), copy.copy(pair), copy.deepcopy(pair)):
        assert again == pair and again.note == "n"
        with pytest.raises(AttributeError):
            again.name = "b"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(Box([3]))) == Box([3])


def test_replace_changes_the_named_fields_and_keeps_the_rest() -> None:
    assert Pair("a", "t", "n").replace(note="m").note == "m"
    assert Pair("a", "t", "n").replace(note="m").token == "t"
    assert Box([1]).replace(items=[4]) == Box([4])
    assert Pair("a", "t", "n").as_dict() == {"name": "a", "token": "t", "note": "n"}
    assert Pair(**Pair("a", "t", "n").as_dict()) == Pair("a", "t", "n")
    with pytest.raises(TypeError):
        Pair("a", "t").replace(unknown=1)


def test_a_record_must_list_its_fields_in_slots() -> None:
    with pytest.raises(TypeError, match="__slots__"):
        class NoSlots(Record):
            pass


def test_a_record_refuses_what_it_would_silently_get_wrong() -> None:
    """A string of slots, inherited fields, a __dict__ and a misspelt hidden field are refused at class creation."""
    with pytest.raises(TypeError, match="tuple of names"):
        class Letters(Record):
            __slots__ = "name"
    with pytest.raises(TypeError, match="no fields inherited"):
        class More(Box):
            __slots__ = ("extra",)

    class Plain:
        pass

    with pytest.raises(TypeError, match="no __dict__"):
        class Mixed(Frozen, Plain):
            __slots__ = ("a",)
    with pytest.raises(TypeError, match="tokn"):
        class Typo(Frozen):
            __slots__ = ("token",)
            _hidden = frozenset({"tokn"})


def test_problems_sort_and_compare_without_their_code() -> None:
    late, early = Problem("b.yaml", 1, 1, "x", "m"), Problem("a.yaml", 9, 9, "x", "m")
    assert sorted([late, early]) == [early, late]
    assert early < late and early <= late and late > early and late >= early
    assert Problem("a", 1, 2, "p", "m", code="GP001") == Problem("a", 1, 2, "p", "m", code="GP002")
    with pytest.raises(TypeError):
        assert Problem("a") < 1  # type: ignore[operator]


def _records() -> list[type[Record]]:
    for info in pkgutil.walk_packages(genpolicy.__path__, "genpolicy."):
        if not info.name.endswith(".__main__"):  # that one runs the command line
            importlib.import_module(info.name)
    found, todo = [], [Record]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("genpolicy.") and sub is not Frozen:
                found.append(sub)
    return found


def test_every_record_in_genpolicy_takes_its_public_slots_as_parameters_in_order() -> None:
    """What `replace` and the repr rely on: a hand-written `__init__` that drifted from its slots fails here."""
    records = _records()
    assert len(records) > 20, "the records were found"
    for cls in records:
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        assert params == list(cls.field_names), cls.__qualname__


CANARY = "canary-s3cret-value"


def test_the_reprs_of_records_that_hold_credentials_or_file_bytes_never_show_them(tmp_path: Path) -> None:
    """`field(repr=False)` became a name in `_hidden`: each class that holds secret material is checked here."""
    from genpolicy.parallel import _Share
    from genpolicy.render.backends.base import RepoJob, SecretJob
    from genpolicy.render.context import RenderContext
    from genpolicy.render.documents import OutputFile
    from genpolicy.render.encrypted import FingerprintKey
    from genpolicy.secrets import Credential, Sensitive
    from genpolicy.writer import Plan, Planned

    plan = Plan(tmp_path)
    plan.old["a"] = CANARY.encode()
    shown = [Planned(CANARY.encode()), plan, OutputFile("a", "", raw=CANARY.encode()),
             FingerprintKey(CANARY.encode(), tmp_path), Credential("user", Sensitive(CANARY))]
    for record in shown:
        assert CANARY not in repr(record) and CANARY not in str(record), type(record).__name__
    hidden = {SecretJob: set(SecretJob.field_names), RepoJob: set(RepoJob.field_names),
              RenderContext: {"memo", "credentials"}, _Share: {"files", "derived"}}
    for cls, fields in hidden.items():
        assert fields <= cls._hidden, cls.__name__
