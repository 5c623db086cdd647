"""The Jinja2 environment: user template dirs first, strict undefined, YAML-safe output.

Every `{{ expression }}` is passed through `finalize`, which writes it as a YAML scalar (plain when
every YAML 1.1 and 1.2 reader reads the same string back, else quoted) unless a filter already
produced YAML text. So a value with quotes, colons, newlines, `{{ }}` or `#` always round-trips
exactly and can never inject YAML structure.
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


WIDTH = 80  # fold long text with spaces into `>-` blocks so lines stay within yamllint's default
_FLOW_OR_TAB = re.compile(r"[,?\[\]{}\t]")  # PyYAML ends a flow-context plain scalar at `?` too
_FIRST_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_YAML12_NOT_STR = re.compile(
    r"null|Null|NULL|~|true|True|TRUE|false|False|FALSE"  # YAML 1.2 core schema: null, bool
    r"|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"  # int
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"  # float
)
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}  # YAML 1.1 bools (go-yaml too)
_RESOLVER = yaml.resolver.Resolver()
_NAME_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+/=._-]*")  # a letter first: no number, date, .inf or indicator


@functools.lru_cache(maxsize=8192)
def _printable_ascii(value: str) -> bool:
    """Every character in 0x20-0x7E (for ASCII text, `isprintable` is exactly that range; C speed)."""
    return value.isascii() and value.isprintable()


def is_plain(value: str) -> bool:
    """Whether `value` can be written unquoted: every YAML 1.1 and 1.2 reader reads back this exact
    string, in block and flow context alike (so flow indicators `,[]{}` are quoted too)."""
    if _NAME_LIKE.fullmatch(value) is not None:  # names, keys, base64: only the bool/null words resolve
        return value.lower() not in _YAML_WORDS
    return _plain_shape(value) and not _reads_as_other_type(value)


def _reads_as_other_type(value: str) -> bool:
    """Unquoted, a YAML 1.1 or 1.2 reader would take it for a null, bool, number, date or merge key."""
    return (value.lower() in _YAML_WORDS or _YAML12_NOT_STR.fullmatch(value) is not None
            or _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str")  # type: ignore[no-untyped-call]


def _plain_shape(value: str) -> bool:
    if not value or value[0] in _FIRST_INDICATORS or value != value.strip(" ") or value.startswith("..."):
        return False
    if not _printable_ascii(value) or _FLOW_OR_TAB.search(value):
        return False
    return ": " not in value and " #" not in value and not value.endswith(":")


def quote(value: str) -> str:
    """A quoted YAML scalar for any string, as kubectl (go-yaml) quotes: double quotes for text that
    would otherwise read as another type (`"true"`, `"1.30"`, `""`) and for text that needs escapes
    (non-ASCII, control characters), single quotes for any other printable ASCII text."""
    if _printable_ascii(value) and not _reads_as_other_type(value):
        return "'" + value.replace("'", "''") + "'"
    out = ['"']
    for ch in value:
        out.append(_escape(ch))
    out.append('"')
    return "".join(out)


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch in '"\\':
        return "\\" + ch
    if 0x20 <= code < 0x7F:
        return ch
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def string(value: str) -> str:
    """A string scalar: plain when that is safe (see `is_plain`), else quoted."""
    # names, labels, hosts repeat across objects (cached); ciphertext is long and unique (not cached)
    return _short_string(value) if len(value) <= 64 else _plain_or_quoted(value)


def _plain_or_quoted(value: str) -> str:
    return value if is_plain(value) else quote(value)


_short_string = functools.lru_cache(maxsize=16384)(_plain_or_quoted)


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
        return YamlText(string(value))
    raise TypeError(f"cannot emit a {type(value).__name__} as a YAML scalar; use the to_yaml filter")


def to_yaml(value: Any, indent: int = 0) -> YamlText:
    """Block-style YAML for mappings and lists, indented by `indent`: sequences at their parent key's
    indentation (as `kubectl get -o yaml` prints), `apiVersion`, `kind`, `metadata` first."""
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        return _flat_mapping(tuple(value.items()), indent)  # labels, annotations: cached
    lines = _block(value, indent)
    return YamlText("\n".join(lines))


@functools.lru_cache(maxsize=4096)
def _flat_mapping(items: tuple[tuple[Any, str], ...], indent: int) -> YamlText:
    return YamlText("\n".join(_block(dict(items), indent)))


@functools.lru_cache(maxsize=4096)
def _key(key: Any) -> str:
    """A mapping key: plain when every YAML 1.1 and 1.2 reader takes it as that exact string, else quoted."""
    return string(str(key))


def _literal_ok(value: Any) -> bool:
    """Multi-line text that a `|-` block scalar (or `|`, with exactly one final newline) carries exactly."""
    if isinstance(value, str) and value.endswith("\n") and not value.endswith("\n\n"):
        value = value[:-1]
    if not isinstance(value, str) or "\n" not in value or value.endswith("\n") or value.startswith((" ", "\n")):
        return False
    if "\n\n\n\n" in value:  # three blank lines: yamllint's empty-lines allows two
        return False
    lines = value.split("\n")
    return _printable_ascii(value.replace("\n", "")) and all(
        (line.strip() or not line) and not line.endswith(" ") for line in lines
    )


def _literal(value: str, indent: int) -> list[str]:
    return [(" " * indent + line) if line else "" for line in value.removesuffix("\n").split("\n")]


def _fits(lines: list[str]) -> bool:
    """Lines within WIDTH, or one word longer than it (which yamllint lets pass)."""
    return all(len(line) <= WIDTH or " " not in line.strip() for line in lines)


def _chomp(value: str) -> str:
    return "|" if value.endswith("\n") else "|-"


def _fold(value: Any, column: int, indent: int) -> list[str] | None:
    """`>-` lines for one-line text that would pass WIDTH starting at `column`, broken only at single
    spaces between two visible characters (a folded block reads each such break back as that space)."""
    if not isinstance(value, str) or column + len(string(value)) <= WIDTH or not _foldable(value):
        return None
    lines, current = [], ""
    for word in re.split(r"(?<=\S) (?=\S)", value):
        if current and indent + len(current) + 1 + len(word) > WIDTH:
            lines.append(" " * indent + current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(" " * indent + current)
    if any(len(line) > WIDTH and " " in line.strip() for line in lines):
        return None  # a long run with double spaces: `_wrap_quoted` can break it anywhere
    return lines if len(lines) > 1 else None


def _foldable(value: str) -> bool:
    return (value == value.strip(" ") and _printable_ascii(value)
            and re.search(r"\S \S", value) is not None)


def _ordered(value: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """A Kubernetes object's `apiVersion`, `kind`, `metadata` first (as kubectl prints), the rest in order."""
    items = list(value.items())
    if "apiVersion" not in value or "kind" not in value:
        return items
    first = [(k, value[k]) for k in ("apiVersion", "kind", "metadata") if k in value]
    return first + [(k, v) for k, v in items if k not in ("apiVersion", "kind", "metadata")]


def _block(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        lines: list[str] = []
        for key, item in _ordered(value):
            lines.extend(_entry(f"{pad}{_key(key)}:", item, indent, indent + 2))
        return lines
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            sub = _block(item, indent + 2) if _is_collection(item) and item else \
                _entry(pad + " ", item, indent + 2, indent + 2)
            lines.append(pad + "- " + sub[0][indent + 2:])
            lines.extend(sub[1:])
        return lines
    return [pad + _inline(value)]


def _entry(head: str, item: Any, indent: int, content: int) -> list[str]:
    """`head` (a `key:` or the space after a `-`) followed by the item: nested block, literal,
    folded or inline. `content` is the indentation of a block scalar's lines."""
    kind = type(item)
    if kind is str and "\n" not in item:  # the usual scalar: no literal block; folded or wrapped only if long
        text = string(item)
        if len(head) + 1 + len(text) <= WIDTH or " " not in text:
            return [f"{head} {text}"]
    elif kind is int or kind is bool or item is None:
        return [f"{head} {scalar(item)}"]
    if _is_collection(item) and item:
        return [head, *_block(item, indent + 2 if isinstance(item, Mapping) else indent)]
    if _literal_ok(item) and _fits(_literal(item, content)):
        return [f"{head} {_chomp(item)}", *_literal(item, content)]
    folded = _fold(item, len(head) + 1, content)
    if folded is not None:
        return [f"{head} >-", *folded]
    wrapped = _wrap_quoted(item, len(head) + 1, content)
    if wrapped is not None:
        return [f"{head} {wrapped[0]}", *wrapped[1:]]
    return [f"{head} {_inline(item)}"]


def _wrap_quoted(value: Any, column: int, indent: int) -> list[str] | None:
    """A long string with spaces that cannot be folded: double-quoted, its lines ended by an escaped
    line break (`\\`, which adds nothing) and a space that opens a line escaped (`\\ `, as it would
    otherwise be stripped)."""
    if not isinstance(value, str) or column + len(string(value)) <= WIDTH or " " not in string(value):
        return None  # short enough, or one word that yamllint lets pass (base64, ciphertext)
    lines, current, width = [], '"', WIDTH - column
    for ch in value:
        unit = _escape(ch)
        if len(current) + len(unit) + 1 > width and current.strip('"'):
            lines.append(current + "\\")
            current, width = " " * indent, WIDTH
            unit = "\\ " if ch == " " else unit
        current += unit
    lines.append(current + '"')
    return lines if len(lines) > 1 else None


def _is_collection(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return False  # the scalars every object is made of, without the (slow) abstract-class checks
    if kind is dict or kind is list or kind is tuple:
        return True
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

    def __init__(self, user_dirs: Sequence[Path] = (), code_cache: Path | None = None) -> None:
        """`code_cache`: a private folder for compiled templates (`RenderCache.template_code`), checked against
        each template's source by Jinja2; without it every render compiles the templates it uses again."""
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
            bytecode_cache=None if code_cache is None else jinja2.FileSystemBytecodeCache(str(code_cache)),
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


__all__ = [
    "GenpolicyError", "TemplateError", "Templates", "YamlText", "is_plain", "quote", "scalar", "string", "to_yaml",
]
