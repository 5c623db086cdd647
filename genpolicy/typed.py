"""The spec's typed-model kernel: frozen classes declared like dataclasses, validated from YAML data.

A `Model` subclass declares camelCase-aliased fields with annotations and `Field(...)`; validation
reports every error at once as `ErrorDetails` (`loc`, `type`, `msg`, `ctx`), the shape the
positioned problems are built from (`genpolicy.specfile.errors`). It imports nothing of genpolicy but its
fields (`genpolicy.typed_fields`) and `genpolicy.record`.
It replaces pydantic, whose import and schema building were over a third of every render's
start-up, with the small subset the spec uses: str (length, pattern), bool, Literal, `X | None`,
list, dict, Any, nested models, `SecretStr`, before/after field validators and after-model
validators. Error types and messages are pydantic's, so the problems users see did not change.
Unknown keys are errors; input values never appear in an error. The JSON Schema is built in
`genpolicy.typed_schema`.
"""
from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, ClassVar, TypedDict, TypeVar, dataclass_transform

from genpolicy.record import Frozen, set_field
from genpolicy.typed_fields import MISSING, Field, FieldInfo, SecretStr, to_camel

__all__ = ["ErrorDetails", "Field", "FieldInfo", "Model", "SecretStr", "ValidationError", "field_validator",
           "fields_of", "model_validator", "to_camel"]

_T = TypeVar("_T")
_BOOL_WORDS = {"0": False, "off": False, "f": False, "false": False, "n": False, "no": False,
               "1": True, "on": True, "t": True, "true": True, "y": True, "yes": True}


class ErrorDetails(TypedDict):
    loc: tuple[str | int, ...]
    type: str
    msg: str
    ctx: dict[str, Any]


class ValidationError(ValueError):
    """Every error of one validation; the message names counts and places, never input values."""

    def __init__(self, title: str, details: list[ErrorDetails]) -> None:
        self.title = title
        self._details = details
        super().__init__(f"{len(details)} validation error(s) for {title}: "
                         + "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details))

    def errors(self) -> list[ErrorDetails]:
        return list(self._details)


class _Marker(Frozen):
    __slots__ = ("kind", "function", "fields")
    kind: str  # "before", "after" (a field) or "model"
    function: Any
    fields: tuple[str, ...]

    def __init__(self, kind: str, function: Any, fields: tuple[str, ...] = ()) -> None:
        set_field(self, "kind", kind)
        set_field(self, "function", function)
        set_field(self, "fields", fields)


def field_validator(*names: str, mode: str = "after") -> Callable[[Any], Any]:
    return lambda function: _Marker(mode, function, names)


def model_validator(*, mode: str) -> Callable[[Any], Any]:
    assert mode == "after", "only after-model validators are supported"
    return lambda function: _Marker("model", function)


class _Invalid(Exception):
    def __init__(self, details: list[ErrorDetails]) -> None:
        self.details = details


def _error(loc: tuple[str | int, ...], kind: str, msg: str, **ctx: Any) -> _Invalid:
    return _Invalid([{"loc": loc, "type": kind, "msg": msg, "ctx": ctx}])


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(Field, FieldInfo))
class Model:
    """A frozen, keyword-constructed, validated record; fields are camelCase in YAML."""

    __fields_declared__: ClassVar[dict[str, FieldInfo]] = {}
    __validators__: ClassVar[tuple[_Marker, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: dict[str, FieldInfo] = {}
        for base in reversed(cls.__mro__[1:]):
            declared.update(getattr(base, "__fields_declared__", {}))
        markers = [m for base in cls.__mro__[1:] for m in getattr(base, "__validators__", ())]
        for name in inspect.get_annotations(cls):
            if name.startswith("_"):
                continue
            value = cls.__dict__.get(name, MISSING)
            info = value if isinstance(value, FieldInfo) else FieldInfo(default=value)
            declared[name] = info.replace(alias=info.alias or to_camel(name))
            if name in cls.__dict__:
                delattr(cls, name)
        for key, value in list(cls.__dict__.items()):
            if isinstance(value, _Marker):
                markers.append(value)
                delattr(cls, key)
        cls.__fields_declared__ = declared
        cls.__validators__ = tuple(markers)

    @classmethod
    def model_validate(cls: type[_M], data: Any) -> _M:
        try:
            return _validate_model(cls, data, ())
        except _Invalid as exc:
            raise ValidationError(cls.__name__, exc.details) from None

    def __init__(self, **values: Any) -> None:
        fields = fields_of(type(self))
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown field(s) {', '.join(unknown)}")
        data = {fields[name].alias: value for name, value in values.items()}
        try:
            built = _validate_model(type(self), data, ())
        except _Invalid as exc:
            raise ValidationError(type(self).__name__, exc.details) from None
        object.__setattr__(self, "__dict__", built.__dict__)

    def model_copy(self: _M, *, update: dict[str, Any]) -> _M:
        """A copy with some fields replaced (by Python name), validated as the constructor validates."""
        return type(self)(**{**self.__dict__, **update})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


_M = TypeVar("_M", bound=Model)


_RESOLVED: dict[type, dict[str, FieldInfo]] = {}


def fields_of(cls: type[Model]) -> dict[str, FieldInfo]:
    """A model's fields by Python name, annotations evaluated (at first use: names may be defined later)."""
    found = _RESOLVED.get(cls)
    if found is None:
        found = _RESOLVED[cls] = _resolve(cls)
    return found


def _resolve(cls: type[Model]) -> dict[str, FieldInfo]:
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        module = vars(sys.modules[klass.__module__])
        for name, text in inspect.get_annotations(klass).items():
            if name in cls.__fields_declared__:
                hints[name] = eval(text, module) if isinstance(text, str) else text
    return {name: info.replace(annotation=hints[name])
            for name, info in cls.__fields_declared__.items()}


def _validate_model(cls: type[_M], data: Any, loc: tuple[str | int, ...]) -> _M:
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise _error(loc, "model_type", f"Input should be a valid dictionary or instance of {cls.__name__}")
    fields = fields_of(cls)
    values: dict[str, Any] = {}
    details: list[ErrorDetails] = []
    for name, info in fields.items():
        key = info.alias or name
        if key not in data:
            if info.required:
                details.extend(_error((*loc, key), "missing", "Field required").details)
            else:
                values[name] = info.value_default()
            continue
        try:
            values[name] = _validate_field(cls, name, info, data[key], (*loc, key))
        except _Invalid as exc:
            details.extend(exc.details)
    aliases = {info.alias for info in fields.values()}
    for key in data:
        if key not in aliases:
            where = key if isinstance(key, str | int) else repr(key)
            details.extend(_error((*loc, where), "extra_forbidden", "Extra inputs are not permitted").details)
    if details:
        raise _Invalid(details)
    instance = cls.__new__(cls)
    object.__setattr__(instance, "__dict__", values)
    for marker in cls.__validators__:
        if marker.kind == "model":
            _run(loc, marker.function, instance)
    return instance


def _validate_field(cls: type[Model], name: str, info: FieldInfo, value: Any, loc: tuple[str | int, ...]) -> Any:
    for marker in cls.__validators__:
        if marker.kind == "before" and name in marker.fields:
            value = _run(loc, _call, marker.function, cls, value)
    value = _validate(info.annotation, value, loc, info.constraints())
    for marker in cls.__validators__:
        if marker.kind == "after" and name in marker.fields:
            value = _run(loc, _call, marker.function, cls, value)
    return value


def _call(function: Any, cls: type[Model], value: Any) -> Any:
    return function.__func__(cls, value) if isinstance(function, classmethod) else function(cls, value)


def _run(loc: tuple[str | int, ...], action: Callable[..., _T], *args: Any) -> _T:
    try:
        return action(*args)
    except ValueError as exc:
        raise _error(loc, "value_error", f"Value error, {exc}") from None


def _validate(annotation: Any, value: Any, loc: tuple[str | int, ...], constraints: dict[str, Any]) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        merged = {**constraints}
        for item in metadata:
            if isinstance(item, FieldInfo):
                merged.update(item.constraints())
        return _validate(inner, value, loc, merged)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"unsupported union {annotation!r}")
        return None if value is None else _validate(options[0], value, loc, constraints)
    if origin is typing.Literal:
        return _literal(typing.get_args(annotation), value, loc)
    if origin is list:
        return _list(typing.get_args(annotation)[0], value, loc, constraints)
    if origin is dict:
        key_type, value_type = typing.get_args(annotation)
        return _dict(key_type, value_type, value, loc)
    return _scalar(annotation, value, loc, constraints)


def _scalar(annotation: Any, value: Any, loc: tuple[str | int, ...], constraints: dict[str, Any]) -> Any:
    if annotation is Any:
        return value
    if annotation is str or annotation is SecretStr:
        text = _string(value, loc, constraints)
        return SecretStr(text) if annotation is SecretStr else text
    if annotation is bool:
        return _boolean(value, loc)
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return _validate_model(annotation, value, loc)
    raise TypeError(f"unsupported annotation {annotation!r}")


def _string(value: Any, loc: tuple[str | int, ...], constraints: dict[str, Any]) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        raise _error(loc, "string_type", "Input should be a valid string")
    low, high, pattern = (constraints.get(k) for k in ("min_length", "max_length", "pattern"))
    if low is not None and len(value) < low:
        raise _error(loc, "string_too_short", f"String should have at least {_count(low, 'character')}",
                     min_length=low)
    if high is not None and len(value) > high:
        raise _error(loc, "string_too_long", f"String should have at most {_count(high, 'character')}",
                     max_length=high)
    if pattern is not None and not _compiled(pattern).search(value):
        raise _error(loc, "string_pattern_mismatch", f"String should match pattern '{pattern}'", pattern=pattern)
    return value


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """`$` at the end means the end of the text (as in the patterns' JSON Schema), not before a newline."""
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _boolean(value: Any, loc: tuple[str | int, ...]) -> bool:
    """As pydantic's lax booleans: true/false, 0/1 and the words yes/no, on/off, t/f, y/n (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if value.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.lower()]
        raise _error(loc, "bool_parsing", "Input should be a valid boolean, unable to interpret input")
    raise _error(loc, "bool_type", "Input should be a valid boolean")


def _literal(choices: tuple[Any, ...], value: Any, loc: tuple[str | int, ...]) -> Any:
    for choice in choices:
        if type(value) is type(choice) and value == choice:
            return choice
    names = [repr(c) for c in choices]
    expected = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    raise _error(loc, "literal_error", f"Input should be {expected}", expected=expected)


def _list(item: Any, value: Any, loc: tuple[str | int, ...], constraints: dict[str, Any]) -> list[Any]:
    if not isinstance(value, list):
        raise _error(loc, "list_type", "Input should be a valid list")
    result, details = [], []
    for index, element in enumerate(value):
        try:
            result.append(_validate(item, element, (*loc, index), {}))
        except _Invalid as exc:
            details.extend(exc.details)
    if details:
        raise _Invalid(details)
    low = constraints.get("min_length")
    if low is not None and len(result) < low:
        raise _error(loc, "too_short", f"List should have at least {_count(low, 'item')} after validation, "
                     f"not {len(result)}", min_length=low, actual_length=len(result))
    return result


def _dict(key_type: Any, value_type: Any, value: Any, loc: tuple[str | int, ...]) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise _error(loc, "dict_type", "Input should be a valid dictionary")
    result, details = {}, []
    for key, element in value.items():
        where = (*loc, key if isinstance(key, str | int) else repr(key))
        checked = []
        for kind, item in ((key_type, key), (value_type, element)):  # a bad key and a bad value: both reported
            try:
                checked.append(_validate(kind, item, where, {}))
            except _Invalid as exc:
                details.extend(exc.details)
        if len(checked) == 2:
            result[checked[0]] = checked[1]
    if details:
        raise _Invalid(details)
    return result

