"""The declarations of the spec's records (genpolicy.typed): `Field(...)`, its `FieldInfo`, `SecretStr`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genpolicy.record import Frozen, set_field

__all__ = ["MISSING", "Field", "FieldInfo", "SecretStr", "to_camel"]

MISSING: Any = object()


class SecretStr:
    """A string whose value shows in no repr or str (`get_secret_value()` reads it)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (SecretStr, (self._value,))


class FieldInfo(Frozen):
    __slots__ = ("default", "default_factory", "alias", "description", "pattern", "min_length", "max_length",
                 "annotation", "accepts")
    default: Any
    default_factory: Callable[[], Any] | None
    alias: str | None
    description: str | None
    pattern: str | None
    min_length: int | None
    max_length: int | None
    annotation: Any
    accepts: Any  # the schema's type when a before-validator takes more than `annotation` (None: the same)

    def __init__(self, default: Any = MISSING, default_factory: Callable[[], Any] | None = None,
                 alias: str | None = None, description: str | None = None, pattern: str | None = None,
                 min_length: int | None = None, max_length: int | None = None, annotation: Any = None,
                 accepts: Any = None) -> None:
        set_field(self, "default", default)
        set_field(self, "default_factory", default_factory)
        set_field(self, "alias", alias)
        set_field(self, "description", description)
        set_field(self, "pattern", pattern)
        set_field(self, "min_length", min_length)
        set_field(self, "max_length", max_length)
        set_field(self, "annotation", annotation)
        set_field(self, "accepts", accepts)

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.default_factory is None

    def value_default(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default

    def constraints(self) -> dict[str, Any]:
        names = ("pattern", "min_length", "max_length")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def Field(default: Any = MISSING, *, default_factory: Callable[[], Any] | None = None,
          alias: str | None = None, description: str | None = None, pattern: str | None = None,
          min_length: int | None = None, max_length: int | None = None, accepts: Any = None) -> Any:
    return FieldInfo(default, default_factory, alias, description, pattern, min_length, max_length, accepts=accepts)


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
