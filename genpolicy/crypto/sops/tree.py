"""The tree walk shared by encryption, decryption and the MAC: document order, one rule decision per key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeAlias

from genpolicy.crypto.sops.common import Node, Scalar, SopsError
from genpolicy.crypto.sops.rules import Rule, path_text

LeafFn: TypeAlias = Callable[[Scalar, tuple[str, ...], bool], Scalar]


def walk(node: Node, path: tuple[str, ...], encrypted: bool, rule: Rule, leaf: LeafFn) -> Node:
    """Rebuild ``node`` in document order, passing each leaf to ``leaf(value, path, encrypted)``."""
    if isinstance(node, Mapping):
        out: dict[str, Node] = {}
        for key, child in node.items():
            if not isinstance(key, str):
                raise SopsError(f"{path_text(path)}: mapping keys must be strings")
            out[key] = walk(child, (*path, key), rule.decide(encrypted, key), rule, leaf)
        return out
    if isinstance(node, list | tuple):
        return [walk(child, path, encrypted, rule, leaf) for child in node]
    return leaf(node, path, encrypted)
