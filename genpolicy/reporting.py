"""Problem reporters: text (`file:line:col: path: message`), GitHub annotations, JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Literal

from genpolicy.errors import Problem
from genpolicy.secrets import redact

Format = Literal["text", "github", "json"]


def _escape_github(value: str, *, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def format_problems(problems: Iterable[Problem], fmt: Format) -> str:
    """Render problems in the chosen format; every line passes the credential redactor."""
    items = list(problems)
    if fmt == "json":
        payload = [
            {"file": p.file, "line": p.line, "col": p.col, "path": p.path, "message": p.message,
             "severity": p.severity, "code": p.code}
            for p in items
        ]
        return redact(json.dumps({"problems": payload}, indent=2))
    lines = []
    for p in items:
        if fmt == "github":
            level = {"error": "error", "info": "notice"}.get(p.severity, "warning")
            props = f"file={_escape_github(p.file, prop=True)}"
            if p.line:
                props += f",line={p.line},col={p.col}"
            title = f"genpolicy {p.path}" if p.path else "genpolicy"
            lines.append(f"::{level} {props},title={_escape_github(title, prop=True)}::{_escape_github(p.message)}")
        else:
            prefix = "" if p.severity == "error" else f"{p.severity}: "
            lines.append(f"{prefix}{p}")
    return redact("\n".join(lines))
