"""What the SOPS modules share: the error, the YAML tree types and the data key size.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from genpolicy.errors import CredentialError

DEFAULT_ENCRYPTED_REGEX = "^(data|stringData)$"
DATA_KEY_BYTES = 32
Scalar: TypeAlias = str | int | float | bool | bytes | None
Node: TypeAlias = Any  # a YAML tree: dict[str, Node] | list[Node] | Scalar


class SopsError(CredentialError):
    """A SOPS file cannot be written or read. Messages name key paths, never values."""
