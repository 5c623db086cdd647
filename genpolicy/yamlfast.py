"""Load a YAML document whose scalars are all strings without PyYAML's Python constructor.

PyYAML's C parser and composer build the node tree; turning nodes into objects is Python
(`SafeConstructor`, about half of the load). The encrypted Secrets genpolicy reads back to reuse
their ciphertext (`genpolicy.render.encrypted`) hold only mappings, sequences and strings, so their
nodes are turned into dicts, lists and strs directly. Anything else (a number, bool or null, a
timestamp, a merge key, an explicit tag, a recursive alias) loads the standard way, so the result
always equals `yaml.load(text, Loader=CSafeLoader)`; an alias is built once and shared, as there.
"""

from __future__ import annotations

from typing import Any

import yaml

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MAX_DEPTH = 64


class _NotPlain(Exception):
    """A node that only the standard constructor builds."""


def load(text: str) -> Any:
    """`yaml.load(text, Loader=CSafeLoader)` for one document; raises `yaml.YAMLError` as it does."""
    node = yaml.compose(text, Loader=_Loader)
    if node is None:
        return None
    try:
        return _build(node, {}, ())
    except _NotPlain:
        return yaml.load(text, Loader=_Loader)


def _build(node: yaml.Node, built: dict[int, Any], path: tuple[int, ...]) -> Any:
    if node.tag == _STR and isinstance(node, yaml.ScalarNode):
        return node.value
    done = built.get(id(node))
    if done is not None:
        return done
    if id(node) in path or len(path) > _MAX_DEPTH:  # a recursive alias, or deep: the constructor's business
        raise _NotPlain
    inner = (*path, id(node))
    if node.tag == _MAP and isinstance(node, yaml.MappingNode):
        result: Any = {}
        for key, value in node.value:
            if key.tag != _STR or not isinstance(key, yaml.ScalarNode):
                raise _NotPlain  # `<<` (merge), a number or null key
            result[key.value] = _build(value, built, inner)
    elif node.tag == _SEQ and isinstance(node, yaml.SequenceNode):
        result = [_build(item, built, inner) for item in node.value]
    else:
        raise _NotPlain
    built[id(node)] = result
    return result
