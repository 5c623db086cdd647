"""Credential values: a wrapper that never prints itself, and a last-line output redactor."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterable

from genpolicy.record import Frozen, set_field

_lock = threading.Lock()
_registered: set[str] = set()
_grams: set[str] = set()  # every GRAM-long slice of a base64 form: a slice of one decodes to credential bytes
_journal: list[tuple[str, bool]] = []  # (value, derived) since the last drain (a worker sends them to its parent)
MIN_REDACT_LENGTH = 4
GRAM = 6
_B64_RUN = re.compile(rf"[A-Za-z0-9+/]{{{GRAM},}}")


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


class Credential(Frozen):
    """A username/password pair read at render time."""

    __slots__ = ("username", "password", "source")
    _hidden = frozenset({"password"})
    username: str
    password: Sensitive
    source: str

    def __init__(self, username: str, password: Sensitive, source: str = "") -> None:
        set_field(self, "username", username)
        set_field(self, "password", password)
        set_field(self, "source", source)

    def basic_auth(self) -> str:
        """base64("user:password"), the dockerconfigjson `auth` field."""
        raw = f"{self.username}:{self.password.reveal()}".encode()
        return base64.b64encode(raw).decode("ascii")


def register(value: str) -> None:
    """Remember a value (and its base64 forms) so redact() removes it from any output."""
    if len(value) < MIN_REDACT_LENGTH:
        return
    encoded = base64.b64encode(value.encode()).decode("ascii").rstrip("=")
    with _lock:
        if value in _registered:
            return
        _registered.update((value, encoded))
        _journal.append((value, False))
        _add_grams(encoded)


def register_derived(value: str) -> None:
    """Register a value derived from credentials (a base64 auth string, a whole config); slices too."""
    register(value)
    with _lock:
        _journal.append((value, True))
        _add_grams(value)


def _add_grams(value: str) -> None:
    _grams.update(value[i:i + GRAM] for i in range(len(value) - GRAM + 1))


def drain() -> list[tuple[str, bool]]:
    """The values registered since the last call, each with whether it was derived (a forked worker hands them
    to its parent)."""
    with _lock:
        values = list(_journal)
        _journal.clear()
    return values


def register_all(values: Iterable[tuple[str, bool]]) -> None:
    """Register what a worker registered, as it did: a derived value with its slices, a credential as itself
    (registering every value as derived masked the slices of plain passwords, i.e. their words, everywhere)."""
    for value, derived in values:
        (register_derived if derived else register)(value)


def redact(text: str) -> str:
    """Replace every registered credential value, and any slice of a base64 form of one, with `***`."""
    with _lock:
        values = sorted(_registered, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, "***")
    # membership tests only (no iteration), so the live set is safe to read while others add to it
    return _B64_RUN.sub(lambda m: _redact_run(m.group(0), _grams), text) if _grams else text


def _redact_run(run: str, grams: set[str]) -> str:
    """Mask the characters of a base64-looking run that some registered slice covers."""
    covered = [False] * len(run)
    for i in range(len(run) - GRAM + 1):
        if run[i:i + GRAM] in grams:
            covered[i:i + GRAM] = [True] * GRAM
    if not any(covered):
        return run
    out: list[str] = []
    for char, hidden in zip(run, covered, strict=True):
        if not hidden:
            out.append(char)
        elif not out or out[-1] != "***":
            out.append("***")
    return "".join(out)


def leaks(text: str) -> bool:
    """Does text hold a registered credential value or a slice of a base64 form of one?"""
    return redact(text) != text
