"""Turn the model's validation errors into positioned problems with did-you-mean hints."""

from __future__ import annotations

import types
import typing
from typing import Any

from genpolicy.errors import Problem
from genpolicy.specfile.loader import LoadedYaml, Path, format_path
from genpolicy.specfile.model import FILE_PATH
from genpolicy.typed import ErrorDetails, Model, ValidationError, fields_of


def problems_from_validation(exc: ValidationError, loaded: LoadedYaml, root: type[Model]) -> list[Problem]:
    """One problem per validation error, positioned at the offending key or value."""
    problems = [_problem(err, loaded, root) for err in exc.errors()]
    return sorted(set(problems))


def _problem(err: ErrorDetails, loaded: LoadedYaml, root: type[Model]) -> Problem:
    path: Path = tuple(p for p in err["loc"] if isinstance(p, str | int))
    kind = err["type"]
    if kind == "extra_forbidden":
        line, col = loaded.positions.of_key(path)
        message = f"unknown key {path[-1]!r}" + _did_you_mean(root, path)
    elif kind == "missing":
        line, col = loaded.positions.of_value(path[:-1])
        message = f"missing required key {path[-1]!r}"
        path_for_display = path
        return Problem(loaded.filename, line, col, format_path(path_for_display), message)
    else:
        line, col = loaded.positions.of_value(path)
        message = _message(err)
    return Problem(loaded.filename, line, col, format_path(path), message)


def _message(err: ErrorDetails) -> str:
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] == "string_pattern_mismatch":
        pattern = (err.get("ctx") or {}).get("pattern", "")
        if pattern == FILE_PATH:
            return "invalid path: must be non-empty, without NUL or control characters"
        return f"invalid value: must match {pattern}"
    if err["type"] == "literal_error":
        return f"invalid value: {msg[0].lower()}{msg[1:]}"
    return msg[0].lower() + msg[1:] if msg else msg


def _did_you_mean(root: type[Model], path: Path) -> str:
    model = _model_at(root, path[:-1])
    if model is None:
        return ""
    allowed = [f.alias or name for name, f in fields_of(model).items()]
    import difflib  # suggestions only, for a spec with an error

    close = difflib.get_close_matches(str(path[-1]), allowed, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (allowed: {', '.join(sorted(allowed))})"


def _model_at(root: type[Model], path: Path) -> type[Model] | None:
    current: Any = root
    for part in path:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
            continue
        if not (isinstance(current, type) and issubclass(current, Model)):
            return None
        field = next((f for n, f in fields_of(current).items() if (f.alias or n) == part), None)
        if field is None:
            return None
        current = field.annotation
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, Model) else None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so a model or list type remains."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            candidates = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = candidates[0] if len(candidates) == 1 else annotation
            if len(candidates) != 1:
                return annotation
        else:
            return annotation
