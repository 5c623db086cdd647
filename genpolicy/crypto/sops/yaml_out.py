"""YAML out: 4-space indent, indented sequences, literal blocks, exactly as sops (go-yaml v3) writes.
"""

from __future__ import annotations

import math
import re

import yaml
from yaml.emitter import Emitter

from genpolicy.crypto.sops.common import Node, Scalar, SopsError
from genpolicy.crypto.sops.yaml_in import CoreLoader

INDENT = 4


class DoubleQuoted(str):
    """A string always written in double quotes."""

    __slots__ = ()


# YAML-printable characters minus NEL, LS, PS (line breaks in YAML 1.1) and the BOM: escape those.
_PRINTABLE = re.compile(
    "[\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*"
)
_ANALYZER = Emitter(None)  # type: ignore[arg-type]
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}


def _double_quote(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif _PRINTABLE.fullmatch(char):
            out.append(char)
        else:
            code = ord(char)
            out.append(
                f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
            )
    return '"' + "".join(out) + '"'


_RESOLVERS = (yaml.SafeLoader(""), CoreLoader(""))


def _resolves_as_str(text: str) -> bool:
    """True when both YAML 1.1 (PyYAML) and YAML 1.2 (go-yaml v3) read ``text`` as a string."""
    implicit = (True, False)
    tags = [r.resolve(yaml.ScalarNode, text, implicit) for r in _RESOLVERS]  # type: ignore[no-untyped-call]
    return all(tag == "tag:yaml.org,2002:str" for tag in tags)


def _plain_ok(text: str) -> bool:
    """Whether ``text`` can be written as a plain block scalar and read back as the same string."""
    if not text or not _PRINTABLE.fullmatch(text):
        return False
    analysis = _ANALYZER.analyze_scalar(text)
    return bool(analysis.allow_block_plain and not analysis.multiline) and _resolves_as_str(text)


def _format_str(text: str) -> str:
    if not isinstance(text, DoubleQuoted) and _plain_ok(text):
        return text
    return _double_quote(text)


def _format_scalar(value: Scalar, where: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, str):
        return _format_str(value)
    raise SopsError(f"{where}: cannot write a value of type {type(value).__name__}")


def _format_float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    mantissa, e, exponent = repr(value).partition("e")
    if "." not in mantissa:
        mantissa += ".0"  # YAML 1.1 needs the dot to read a float (1.0e-05, not 1e-05)
    return mantissa + e + exponent


def _literal(text: str) -> str | None:
    """Block indicator for a literal (``|``) scalar, or None when one would not round-trip."""
    if "\n" not in text or "\r" in text or not _PRINTABLE.fullmatch(text) or text[0] in " \t\n":
        return None
    body = text.rstrip("\n")
    if any(line != line.rstrip(" \t") for line in body.split("\n")):
        return None
    trailing = len(text) - len(body)
    return "|-" if trailing == 0 else "|" if trailing == 1 else "|+"


def _scalar_lines(head: str, value: Node, child_col: int, where: str) -> list[str]:
    """``head`` followed by a scalar or empty collection (literal block when it fits)."""
    if isinstance(value, dict | list):
        return [f"{head} {'{}' if isinstance(value, dict) else '[]'}"]
    indicator = _literal(value) if isinstance(value, str) and not isinstance(value, DoubleQuoted) else None
    if indicator is None or not isinstance(value, str):
        return [f"{head} {_format_scalar(value, where)}"]
    body = value if indicator == "|-" else value[:-1]  # the last line break ends the last line
    pad = " " * child_col
    return [f"{head} {indicator}", *(pad + line if line else "" for line in body.split("\n"))]


def _mapping_lines(node: dict[str, Node], key_col: int, child_col: int, where: str) -> list[str]:
    """Block mapping: keys at ``key_col``, nested values and literal bodies at ``child_col``."""
    lines: list[str] = []
    for key, value in node.items():
        head = " " * key_col + _format_str(key) + ":"
        here = f"{where}.{key}"
        if isinstance(value, dict | list) and value:
            lines += [head, *_block_lines(value, child_col, here)]
        else:
            lines += _scalar_lines(head, value, child_col, here)
    return lines


def _sequence_lines(node: list[Node], col: int, where: str) -> list[str]:
    """Block sequence with dashes at ``col``; collections start on the dash line (``- key: v``)."""
    lines: list[str] = []
    for item in node:
        head = " " * col + "-"
        if isinstance(item, dict) and item:
            nested = _mapping_lines(item, col + 2, col + INDENT, where)
        elif isinstance(item, list) and item:
            nested = _sequence_lines(item, col + 2, where)
        else:
            lines += _scalar_lines(head, item, col + INDENT, where)
            continue
        lines += [head + " " + nested[0].lstrip(" "), *nested[1:]]
    return lines


def _block_lines(node: Node, col: int, where: str) -> list[str]:
    """A non-empty block mapping or sequence whose entries start at column ``col``."""
    if isinstance(node, dict):
        return _mapping_lines(node, col, col + INDENT, where)
    return _sequence_lines(list(node), col, where)


def dump(doc: dict[str, Node]) -> str:
    return "\n".join(_block_lines(doc, 0, "")) + "\n"
