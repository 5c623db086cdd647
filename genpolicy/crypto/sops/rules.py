"""Which keys are encrypted: the key-based sops rules (`encrypted_regex`, `unencrypted_suffix`, ...),
read from a file's metadata, and the key path as AAD and in messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from genpolicy.crypto.sops.common import SopsError

_DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
_KEY_RULES = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex")
_COMMENT_RULES = ("unencrypted_comment_regex", "encrypted_comment_regex")


@dataclass(frozen=True)
class Rule:
    """One key-based sops rule: a matching key anywhere in the path decides the subtree."""

    kind: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, kind: str, value: str) -> Rule:
        if not isinstance(value, str) or not value:
            raise SopsError(f"{kind} must be a non-empty string")
        if not kind.endswith("_regex"):
            return cls(kind, value)
        try:
            return cls(kind, value, re.compile(value))
        except re.error as exc:
            raise SopsError(f"{kind} {value!r} is not a valid regular expression: {exc}") from exc

    @property
    def default(self) -> bool:
        """Whether a leaf is encrypted when no key in its path matches."""
        return self.kind.startswith("unencrypted")

    def decide(self, current: bool, key: str) -> bool:
        """The encryption decision after descending into ``key``."""
        hit = self._regex.search(key) is not None if self._regex else key.endswith(self.value)
        return (not self.default) if hit else current


def rule_from_metadata(meta: Mapping[str, Any]) -> Rule:
    """The rule recorded in a ``sops:`` block (default: ``unencrypted_suffix: _unencrypted``)."""
    comment_rules = [k for k in _COMMENT_RULES if meta.get(k)]
    if comment_rules:
        raise SopsError(f"sops files using {comment_rules[0]} are not supported")
    found = [k for k in _KEY_RULES if meta.get(k)]
    if len(found) > 1:
        raise SopsError(f"sops metadata sets several encryption rules: {', '.join(found)}")
    if not found:
        return Rule.make("unencrypted_suffix", _DEFAULT_UNENCRYPTED_SUFFIX)
    return Rule.make(found[0], meta[found[0]])


def path_aad(path: tuple[str, ...]) -> bytes:
    """sops AAD: mapping keys from the root joined by ``:`` with a trailing ``:``."""
    return "".join(f"{key}:" for key in path).encode("utf-8")


def path_text(path: tuple[str, ...]) -> str:
    return ".".join(path) or "<root>"
