"""Exit codes, problems and the exceptions every user-facing failure is expressed as."""

from __future__ import annotations

import enum
import operator
import os
from collections.abc import Callable
from typing import Any

from genpolicy.record import Frozen, set_field


def where(exc: BaseException) -> str:
    """`KeyError at shapes.py:42`: a bug's type and innermost line, never its message (it may hold a value)."""
    location, tb = "", exc.__traceback__
    while tb is not None:
        location = f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return f"{type(exc).__name__} at {location}"


class ExitCode(enum.IntEnum):
    """Documented process exit codes (see README "Exit codes")."""

    OK = 0
    CHANGES = 1  # --check found changes, or `validate` found invalid manifests
    USAGE = 2  # bad command line
    SPEC = 3  # the spec is invalid (syntax, schema or semantics)
    CREDENTIALS = 4  # a credential source could not be read
    INVALID_OUTPUT = 5  # a generated document failed validation (e.g. a custom template)
    WRITE = 6  # the output could not be written (conflict, lock, permissions, disk)
    INTERNAL = 70  # a bug in genpolicy


class Problem(Frozen):
    """One finding, positioned where the user can fix it; compared and ordered without its code."""

    __slots__ = ("file", "line", "col", "path", "message", "severity", "code")
    _compared = ("file", "line", "col", "path", "message", "severity")
    file: str
    line: int
    col: int
    path: str
    message: str
    severity: str
    code: str

    def __init__(self, file: str, line: int = 0, col: int = 0, path: str = "", message: str = "",
                 severity: str = "error", code: str = "") -> None:
        set_field(self, "file", file)
        set_field(self, "line", line)
        set_field(self, "col", col)
        set_field(self, "path", path)
        set_field(self, "message", message)
        set_field(self, "severity", severity)
        set_field(self, "code", code)

    def __lt__(self, other: object) -> bool:
        return self._order(other, operator.lt)

    def __le__(self, other: object) -> bool:
        return self._order(other, operator.le)

    def __gt__(self, other: object) -> bool:
        return self._order(other, operator.gt)

    def __ge__(self, other: object) -> bool:
        return self._order(other, operator.ge)

    def _order(self, other: object, compare: Callable[[Any, Any], bool]) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented  # type: ignore[no-any-return]  # as in the dunder that returns this
        return bool(compare(self._key(self), self._key(other)))

    def location(self) -> str:
        """`file:line:col` (or just `file` when the position is unknown)."""
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file

    def __str__(self) -> str:
        path = f" {self.path}:" if self.path else ""
        return f"{self.location()}:{path} {self.message}"


class GenpolicyError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class SpecError(GenpolicyError):
    exit_code = ExitCode.SPEC


class CredentialError(GenpolicyError):
    exit_code = ExitCode.CREDENTIALS


class OutputValidationError(GenpolicyError):
    exit_code = ExitCode.INVALID_OUTPUT


class WriteError(GenpolicyError):
    exit_code = ExitCode.WRITE


class UsageError(GenpolicyError):
    exit_code = ExitCode.USAGE
