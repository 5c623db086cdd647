"""Plain value classes for what every render imports (issue 15).

`@dataclass` writes each class's methods as source text and compiles it when the module is
imported: 0.3 ms a class, and the 49 a render imported were 15-19 ms of its 110 ms start-up (a
plain class costs 6 µs: its methods are in the .pyc). A `Record` lists its fields in `__slots__`
(in constructor order) and writes its own `__init__`; equality and repr are over the slots, as a
dataclass's are over its fields. A `Frozen` record is also hashable and refuses assignment after
`__init__`, which sets its fields with `set_field` (as a frozen dataclass's `__init__` does).

Class attributes a subclass may set: `_hidden`, fields left out of the repr (a credential);
`_compared`, the fields equality and hashing use (default: every public slot). Slots with a leading
underscore are private state (a memo): not constructor parameters, not compared, not in the repr.
Modules a render does not import keep `@dataclass`; `tests/test_startup.py` asserts a plain
render never imports `dataclasses`.
"""
from __future__ import annotations

from operator import attrgetter
from typing import Any, ClassVar, TypeVar

__all__ = ["Frozen", "Record", "set_field"]

_R = TypeVar("_R", bound="Record")

set_field = object.__setattr__  # how a Frozen record's __init__ sets a field


def _getter(names: tuple[str, ...]) -> Any:
    """A function from a record to the tuple of its `names` (attrgetter returns a bare value for one name)."""
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda record: (one(record),)
    return attrgetter(*names) if names else (lambda record: ())


class Record:
    """A mutable record: equality and repr over its slots; not hashable (as a dataclass with eq)."""

    __slots__ = ()
    _hidden: ClassVar[frozenset[str]] = frozenset()
    _compared: ClassVar[tuple[str, ...] | None] = None
    field_names: ClassVar[tuple[str, ...]] = ()  # the public slots: the constructor's parameters, in order
    _key: ClassVar[Any] = staticmethod(lambda record: ())

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("__slots__")
        if declared is None or isinstance(declared, str):
            raise TypeError(f"{cls.__name__}: a record lists its fields in __slots__, a tuple of names")
        if cls.field_names or cls.__dictoffset__:  # what the parent's slots or a __dict__ hold would be ignored
            raise TypeError(f"{cls.__name__}: a record's fields are its own slots (no fields inherited, no __dict__)")
        slots: tuple[str, ...] = tuple(declared)
        cls.field_names = tuple(name for name in slots if not name.startswith("_"))
        unknown = {*cls._hidden, *(cls._compared or ())} - set(cls.field_names)
        if unknown:  # a misspelt hidden field would be printed
            raise TypeError(f"{cls.__name__}: _hidden/_compared name no field: {', '.join(sorted(unknown))}")
        cls._key = staticmethod(_getter(cls._compared if cls._compared is not None else cls.field_names))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(self._key(self) == self._key(other))

    # No __hash__: a class that defines __eq__ alone is unhashable (a mutable dataclass with eq is too).

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name, '<unset>')!r}" for name in self.field_names
                          if name not in self._hidden)
        return f"{type(self).__name__}({shown})"

    def as_dict(self) -> dict[str, Any]:
        """The public fields by name (a shallow `dataclasses.asdict`): what the constructor takes."""
        return {name: getattr(self, name) for name in self.field_names}

    def replace(self: _R, **changes: Any) -> _R:
        """A copy with some fields changed (`dataclasses.replace`); each public slot is a constructor parameter."""
        return type(self)(**{**self.as_dict(), **changes})


class Frozen(Record):
    """An immutable record: hashable over its compared fields; assignment after `__init__` is an error."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(self._key(self))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of frozen {type(self).__name__}")

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        """Unpickling and copying (a worker's results) set the slots as `__init__` does."""
        for name, value in state[1].items():
            set_field(self, name, value)
