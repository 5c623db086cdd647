"""The Jinja2 environment: user template dirs first, strict undefined, YAML-safe output.

Every `{{ expression }}` is passed through `finalize`, which quotes it as a YAML double-quoted
scalar unless a filter already produced YAML text. So a value with quotes, colons, newlines,
`{{ }}` or `#` always round-trips exactly and can never inject YAML structure.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2.loaders import split_template_path

from genpolicy.errors import GenpolicyError, OutputValidationError, Problem
from genpolicy.inputs import read_text

MAX_TEMPLATE_BYTES = 1024 * 1024

BUILTIN_PREFIX = "builtin"


def builtin_template_dir() -> Path:
    """Templates shipped in the wheel (genpolicy/templates) or, in a checkout, ./templates."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "templates"


class YamlText(str):
    """Text that is already valid YAML and must be emitted as is."""

    __slots__ = ()


_PLAIN_SAFE = re.compile(r"[A-Za-z0-9 ._/:@,=+()*~^<>!?%&|-]*")


def quote(value: str) -> str:
    """A quoted YAML scalar for any string: single-quoted when that is more readable (printable
    ASCII containing `"` or `\\`), else double-quoted with non-ASCII and control characters escaped."""
    if _PLAIN_SAFE.fullmatch(value):
        return f'"{value}"'
    if ('"' in value or "\\" in value) and all(0x20 <= ord(ch) < 0x7F for ch in value):
        return "'" + value.replace("'", "''") + "'"
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def scalar(value: Any) -> YamlText:
    """A YAML scalar for a string, number, bool or null."""
    if isinstance(value, YamlText):
        return value
    if value is None:
        return YamlText("null")
    if isinstance(value, bool):
        return YamlText("true" if value else "false")
    if isinstance(value, int):
        return YamlText(str(value))
    if isinstance(value, str):
        return YamlText(quote(value))
    raise TypeError(f"cannot emit a {type(value).__name__} as a YAML scalar; use the to_yaml filter")


def to_yaml(value: Any, indent: int = 0) -> YamlText:
    """Block-style YAML for mappings and lists (keys quoted when needed), indented by `indent`."""
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        return _flat_mapping(tuple(value.items()), indent)  # labels, annotations: cached
    lines = _block(value, indent)
    return YamlText("\n".join(lines))


@functools.lru_cache(maxsize=4096)
def _flat_mapping(items: tuple[tuple[Any, str], ...], indent: int) -> YamlText:
    return YamlText("\n".join(_block(dict(items), indent)))


_PLAIN_KEY = re.compile(r"\.?[A-Za-z][A-Za-z0-9_./-]*")
_RESOLVER = yaml.resolver.Resolver()


@functools.lru_cache(maxsize=4096)
def _key(key: Any) -> str:
    """A mapping key: plain when every YAML 1.1 reader takes it as that exact string, else quoted."""
    text = str(key)
    plain = (_PLAIN_KEY.fullmatch(text) is not None and text.lower() not in _YAML_WORDS
             and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str")  # type: ignore[no-untyped-call]
    return text if plain else quote(text)


_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _literal_ok(value: Any) -> bool:
    """Multi-line text that a `|-` block scalar (or `|`, with exactly one final newline) carries exactly."""
    if isinstance(value, str) and value.endswith("\n") and not value.endswith("\n\n"):
        value = value[:-1]
    if not isinstance(value, str) or "\n" not in value or value.endswith("\n") or value.startswith((" ", "\n")):
        return False
    lines = value.split("\n")
    return all(ch == "\n" or 0x20 <= ord(ch) < 0x7F for ch in value) and all(
        line.strip() or not line for line in lines
    )


def _literal(value: str, indent: int) -> list[str]:
    return [(" " * indent + line) if line else "" for line in value.removesuffix("\n").split("\n")]


def _chomp(value: str) -> str:
    return "|" if value.endswith("\n") else "|-"


def _block(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        lines: list[str] = []
        for key, item in value.items():
            if _is_collection(item) and item:
                lines.append(f"{pad}{_key(key)}:")
                lines.extend(_block(item, indent + 2 if isinstance(item, Mapping) else indent))
            elif _literal_ok(item):
                lines.append(f"{pad}{_key(key)}: {_chomp(item)}")
                lines.extend(_literal(item, indent + 2))
            else:
                lines.append(f"{pad}{_key(key)}: {_inline(item)}")
        return lines
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            if _is_collection(item) and item:
                sub = _block(item, indent + 2)
            elif _literal_ok(item):
                sub = [pad + "  " + _chomp(item), *_literal(item, indent + 4)]
            else:
                sub = [pad + "  " + _inline(item)]
            lines.append(pad + "- " + sub[0][indent + 2 :])
            lines.extend(sub[1:])
        return lines
    return [pad + _inline(value)]


def _is_collection(value: Any) -> bool:
    return isinstance(value, Mapping) or (isinstance(value, Sequence) and not isinstance(value, str))


def _inline(value: Any) -> str:
    if isinstance(value, Mapping) and not value:
        return "{}"
    if _is_collection(value) and not value:
        return "[]"
    return scalar(value)


def _finalize(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        return value
    return scalar(value)


class TemplateError(OutputValidationError):
    """A template failed to render; the message names the template and line."""


class Templates:
    """Renders named templates; user directories are searched before the built-ins."""

    def __init__(self, user_dirs: Sequence[Path] = ()) -> None:
        self.user_dirs = [Path(d) for d in user_dirs]
        builtin = jinja2.FileSystemLoader(str(builtin_template_dir()))
        loaders: list[jinja2.BaseLoader] = [_UserLoader([str(d) for d in user_dirs])] if user_dirs else []
        loaders += [jinja2.PrefixLoader({BUILTIN_PREFIX: builtin}), builtin]
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=_finalize,
            auto_reload=False,
        )
        self.env.filters["to_yaml"] = to_yaml
        self.env.filters["scalar"] = scalar
        self.env.filters["quote"] = lambda v: YamlText(quote(str(v)))

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one Templates per render, cache per instance is intended
    def _template(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError("template error", [_template_problem(exc.filename or name, exc.lineno, exc.message)]) \
                from None
        except jinja2.TemplateNotFound as exc:
            raise TemplateError("template error", [Problem(name, message=f"template not found: {exc.name}")]) from None

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render a template; raise TemplateError naming `template:line` and the undefined variable."""
        template = self._template(name)
        try:
            return template.render(context)
        except jinja2.UndefinedError as exc:
            raise TemplateError("template error", [_runtime_problem(name, exc)]) from None
        except (jinja2.TemplateError, TypeError, ValueError) as exc:
            raise TemplateError("template error", [_runtime_problem(name, exc)]) from None

    def is_builtin(self, name: str) -> bool:
        """Whether `name` resolves to the shipped template (no user directory overrides it)."""
        return not self.user_dirs or not any((d / name).is_file() for d in self.user_dirs)

    def list_builtin(self) -> list[str]:
        root = builtin_template_dir()
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.j2"))


class _UserLoader(jinja2.FileSystemLoader):
    """User template folders, read through genpolicy.inputs: a FIFO or huge file is refused, not opened."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)
        for folder in self.searchpath:
            path = Path(folder, *pieces)
            if os.path.lexists(path):
                text = read_text(path, what="template", limit=MAX_TEMPLATE_BYTES)
                return text, str(path), functools.partial(_unchanged, path, path.stat().st_mtime_ns)
        raise jinja2.TemplateNotFound(template)


def _unchanged(path: Path, mtime: int) -> bool:
    return path.exists() and path.stat().st_mtime_ns == mtime


def _template_problem(filename: str, line: int | None, message: str | None) -> Problem:
    return Problem(filename, line or 0, 0 if not line else 1, "", message or "template error")


def _runtime_problem(name: str, exc: Exception) -> Problem:
    """Find the template frame in the traceback to report its line (never the context values)."""
    tb = exc.__traceback__
    filename, line = name, 0
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.endswith(".j2") or code.co_filename == "<template>":
            filename = code.co_filename
            template = tb.tb_frame.f_globals.get("__jinja_template__")
            # Jinja rewrites tracebacks so template frames already carry template line numbers.
            line = template.get_corresponding_lineno(tb.tb_lineno) if template is not None else tb.tb_lineno
        tb = tb.tb_next
    message = str(exc) if isinstance(exc, jinja2.UndefinedError) else f"{type(exc).__name__}: {exc}"
    return Problem(filename, line, 1 if line else 0, "", message)


__all__ = ["GenpolicyError", "TemplateError", "Templates", "YamlText", "quote", "scalar", "to_yaml"]
