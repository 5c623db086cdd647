"""The `.sops.yaml` genpolicy writes next to encrypted files: one creation rule per path.
"""

from __future__ import annotations

import re

from genpolicy.crypto.sops.age import check_recipients
from genpolicy.crypto.sops.common import DEFAULT_ENCRYPTED_REGEX, SopsError
from genpolicy.crypto.sops.yaml_out import DoubleQuoted, dump


def render_sops_config(rules: list[tuple[str, list[str]]]) -> str:
    """A ``.sops.yaml`` with one creation rule per ``(path_regex, age recipients)`` pair."""
    if not rules:
        raise SopsError("at least one creation rule is required")
    entries = []
    for path_regex, recipients in rules:
        try:
            re.compile(path_regex)
        except (re.error, TypeError) as exc:
            raise SopsError(f"path_regex {path_regex!r} is not a valid regular expression") from exc
        entries.append(
            {
                "path_regex": path_regex,
                "encrypted_regex": DEFAULT_ENCRYPTED_REGEX,
                "age": DoubleQuoted(",".join(check_recipients(recipients))),
            }
        )
    return dump({"creation_rules": entries})
