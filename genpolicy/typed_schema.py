"""The JSON Schema (draft 2020-12) of a `typed.Model`, for editors (`genpolicy schema`).

One `$defs` entry per model class, fields under their YAML names, constraints as JSON Schema
keywords (`pattern`, `minLength`/`maxLength`, `minItems`), `X | None` as `anyOf` with null, and the
default of a field when it has a plain one (a model's default is written as its YAML data).
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

from genpolicy.typed import FieldInfo, Model, SecretStr, fields_of

_KEYWORDS = {"pattern": "pattern", "min_length": "minLength", "max_length": "maxLength"}


def model_schema(root: type[Model]) -> dict[str, Any]:
    """The root model's schema, every model it uses under `$defs`."""
    defs: dict[str, Any] = {}
    schema = _object(root, defs)
    if defs:
        schema["$defs"] = defs
    return schema


def _object(model: type[Model], defs: dict[str, Any]) -> dict[str, Any]:
    fields = fields_of(model)
    schema: dict[str, Any] = {
        "additionalProperties": False, "title": model.__name__, "type": "object",
        "properties": {info.alias or name: _property(info, defs) for name, info in fields.items()},
    }
    required = [info.alias or name for name, info in fields.items() if info.required]
    if required:
        schema["required"] = required
    if model.__dict__.get("__doc__"):
        schema["description"] = inspect.cleandoc(model.__doc__ or "")
    return schema


def _property(info: FieldInfo, defs: dict[str, Any]) -> dict[str, Any]:
    schema = _type(info.accepts or info.annotation, defs, info.constraints())
    if not _is_model_field(info.annotation):  # as pydantic's schemas: a model field has no title
        schema["title"] = (info.alias or "").title()
    if info.description:
        schema["description"] = info.description
    if info.default_factory is None and not info.required:
        schema["default"] = dump(info.default)
    return schema


def dump(value: Any) -> Any:
    """A field value as YAML data (models by their YAML names)."""
    if isinstance(value, Model):
        return {(info.alias or name): dump(getattr(value, name)) for name, info in fields_of(type(value)).items()}
    if isinstance(value, list):
        return [dump(v) for v in value]
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items()}
    if isinstance(value, SecretStr):
        return "**********"
    return value


def _is_model_field(annotation: Any) -> bool:
    options = [a for a in typing.get_args(annotation) if a is not type(None)]
    target = options[0] if typing.get_origin(annotation) in (typing.Union, types.UnionType) else annotation
    return isinstance(target, type) and issubclass(target, Model)


def _type(annotation: Any, defs: dict[str, Any], constraints: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        merged = {**constraints}
        for item in args[1:]:
            merged.update(item.constraints() if isinstance(item, FieldInfo) else {})
        return _type(args[0], defs, merged)
    if origin in (typing.Union, types.UnionType):
        inner = [_type(a, defs, constraints) for a in args if a is not type(None)]
        nullable = [{"type": "null"}] if type(None) in args else []
        return {"anyOf": [*inner, *nullable]} if len(inner) + len(nullable) > 1 else inner[0]
    if origin is typing.Literal:
        return {"const": args[0], "type": "string"} if len(args) == 1 else {"enum": list(args), "type": "string"}
    if origin is list:
        schema = {"items": _type(args[0], defs, {}), "type": "array"}
        if constraints.get("min_length") is not None:
            schema["minItems"] = constraints["min_length"]
        return schema
    if origin is dict:
        return _mapping(args[0], args[1], defs)
    return _scalar(annotation, defs, constraints)


def _mapping(key: Any, value: Any, defs: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"additionalProperties": True if value is Any else _type(value, defs, {}),
                              "type": "object"}
    if typing.get_origin(key) is typing.Literal:
        schema["propertyNames"] = {"enum": list(typing.get_args(key))}
    return schema


def _scalar(annotation: Any, defs: dict[str, Any], constraints: dict[str, Any]) -> dict[str, Any]:
    if annotation is SecretStr:
        return {"format": "password", "type": "string", "writeOnly": True}
    if annotation is str:
        return {"type": "string", **{_KEYWORDS[k]: v for k, v in constraints.items()}}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is Any:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, Model):
        if annotation.__name__ not in defs:
            defs[annotation.__name__] = {}
            defs[annotation.__name__] = _object(annotation, defs)
        return {"$ref": f"#/$defs/{annotation.__name__}"}
    raise TypeError(f"no JSON Schema for {annotation!r}")
