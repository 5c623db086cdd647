"""A deterministic writer for the small TOML documents genpolicy emits (containerd hosts.toml).

Only strings, booleans, lists of strings and one level of `[host."..."]` tables: the output is
parsed back with tomllib before it is written (render.py), so a writer bug cannot ship a file
containerd reads differently.
"""

from __future__ import annotations

from collections.abc import Mapping

Value = str | bool | list[str]


def toml_string(text: str) -> str:
    """A TOML basic string (escapes backslash, quote and control characters)."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    return "[" + ", ".join(toml_string(v) for v in value) + "]"


def dumps(root: Mapping[str, Value], tables: Mapping[str, Mapping[str, Value]], table_key: str) -> str:
    """`key = value` lines, then one `[table_key."name"]` table per entry, in the given order."""
    lines = [f"{key} = {_value(value)}" for key, value in root.items()]
    for name, table in tables.items():
        lines += ["", f"[{table_key}.{toml_string(name)}]"]
        lines += [f"  {key} = {_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"
