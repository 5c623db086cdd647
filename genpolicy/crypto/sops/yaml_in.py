"""YAML in: the YAML 1.2 core schema, as go-yaml v3 reads a sops file into interface{}.
"""

from __future__ import annotations

import re

import yaml

from genpolicy.crypto.sops.common import Node, SopsError


class CoreLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars: no yes/no booleans, no timestamps."""


CoreLoader.yaml_implicit_resolvers = {}
_CORE_RESOLVERS: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", "~nN"),
    ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("tag:yaml.org,2002:int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        "-+0123456789.",
    ),
]
for _tag, _pattern, _first in _CORE_RESOLVERS:
    CoreLoader.add_implicit_resolver(_tag, re.compile(rf"^(?:{_pattern})$"), list(_first))
CoreLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    base = 16 if digits.startswith("0x") else 8 if digits.startswith("0o") else 10
    return sign * int(digits[2:] if base != 10 else digits, base)


CoreLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_single(text: str) -> dict[str, Node]:
    """Parse exactly one YAML mapping document."""
    try:
        docs = [doc for doc in yaml.load_all(text, Loader=CoreLoader) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise SopsError(f"not valid YAML{at}") from None
    if len(docs) != 1:
        raise SopsError(f"expected exactly one YAML document, found {len(docs)}")
    if not isinstance(docs[0], dict):
        raise SopsError("the YAML document is not a mapping")
    return docs[0]
