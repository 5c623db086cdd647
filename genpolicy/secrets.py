"""Credential values: a wrapper that never prints itself, and a last-line output redactor."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field

_lock = threading.Lock()
_registered: set[str] = set()
MIN_REDACT_LENGTH = 4


class Sensitive:
    """A credential value. str(), repr() and f-strings show `***`; use reveal() to get it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Sensitive('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sensitive) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Sensitive", self._value))

    def __reduce__(self) -> str:
        raise TypeError("Sensitive values cannot be pickled")


@dataclass(frozen=True)
class Credential:
    """A username/password pair read at render time."""

    username: str
    password: Sensitive = field(repr=False)
    source: str = ""

    def basic_auth(self) -> str:
        """base64("user:password"), the dockerconfigjson `auth` field."""
        raw = f"{self.username}:{self.password.reveal()}".encode()
        return base64.b64encode(raw).decode("ascii")


def register(value: str) -> None:
    """Remember a value (and its base64 forms) so redact() removes it from any output."""
    if len(value) < MIN_REDACT_LENGTH:
        return
    with _lock:
        _registered.add(value)
        encoded = base64.b64encode(value.encode()).decode("ascii")
        _registered.add(encoded.rstrip("="))


def register_derived(value: str) -> None:
    """Register a value derived from credentials (a base64 auth string, a whole config)."""
    register(value)


def redact(text: str) -> str:
    """Replace every registered credential value in text with `***`."""
    with _lock:
        values = sorted(_registered, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, "***")
    return text
