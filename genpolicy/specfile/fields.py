"""The spec model's base class and the field types every part of it shares."""

from __future__ import annotations

import re
from typing import Annotated, Any

from genpolicy.typed import Field, Model

API_VERSION = "genpolicy/v1alpha1"
KIND = "PullSecretSpec"
_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
FILE_PATH = r"^[^\x00-\x1f\x7f]+$"  # no NUL or control characters: the OS cannot name such a file
_ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"
_HELM_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
Identifier = Annotated[str, Field(pattern=_NAME, max_length=63)]


def check_username(value: str | None) -> str | None:
    """The kubelet splits `auth` at the first ':', so a username may not contain one."""
    if value is not None and (":" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)):
        raise ValueError("a registry username may not contain ':' or control characters")
    return value


def quoted_version(value: Any) -> Any:
    """A version must be a string: YAML reads `1.30` as the number 1.3 (and `1.10` as 1.1)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    text = repr(value)
    major, _, minor = text.partition(".")
    guess = f"{major}.{minor}0" if len(minor) == 1 else text
    raise ValueError(f"{text} is a YAML number, not a version (trailing zeros are lost): quote it: \"{guess}\"")

__all__ = ["API_VERSION", "FILE_PATH", "KIND", "Identifier", "Model", "check_username", "quoted_version"]
