"""The problem collector every check reports to, and the name checks they share."""

from __future__ import annotations

import re
from collections.abc import Iterable

from genpolicy.errors import Problem
from genpolicy.specfile.loader import LoadedYaml, Path, format_path
from genpolicy.specfile.model import READ_SOURCES, Registry, SecretMode, Spec

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class _Checker:
    def __init__(self, spec: Spec, loaded: LoadedYaml) -> None:
        self.spec = spec
        self.loaded = loaded
        self.problems: list[Problem] = []

    def error(self, path: Path, message: str, *, at_key: bool = False) -> None:
        pos = self.loaded.positions
        line, col = pos.of_key(path) if at_key else pos.of_value(path)
        self.problems.append(Problem(self.loaded.filename, line, col, format_path(path), message))

    def where(self, path: Path) -> str:
        return f"line {self.loaded.positions.of_value(path)[0]}"

    def unique(self, names: Iterable[str], base: Path, what: str) -> None:
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in seen:
                self.error((*base, i, "name"), f"duplicate {what} {name!r} (also at {self.where((*base, seen[name]))})")
            else:
                seen[name] = i

    def reference(self, path: Path, name: str, known: list[str], what: str) -> bool:
        if name in known:
            return True
        import difflib  # suggestions only, for a spec with an error

        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (defined: {', '.join(known) or 'none'})"
        self.error(path, f"unknown {what} {name!r}{hint}")
        return False

    def dns_name(self, path: Path, value: str, what: str, *, label: bool) -> None:
        regex, limit = (DNS1123_LABEL, 63) if label else (DNS1123_SUBDOMAIN, 253)
        if len(value) > limit or not regex.fullmatch(value):
            kind = "RFC 1123 label" if label else "RFC 1123 subdomain"
            self.error(path, f"invalid {what} {value!r}: must be a lowercase {kind} of at most {limit} characters")


def _duplicates(checker: _Checker, base: Path, values: list[str], what: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            checker.error((*base, i), f"duplicate {what} {value!r}")
        seen.add(value)


def _check_secret_names(
    checker: _Checker, base: Path, chosen: list[Registry], mode: SecretMode, merged_name: str
) -> None:
    if mode == "merged":
        checker.dns_name((*base, "mergedSecretName"), merged_name, "Secret name", label=False)
        kinds = {"eso" if r.credentials.external_secret else "read" if r.credentials.kind in READ_SOURCES
                 else r.credentials.kind for r in chosen if r.credentials.node is None}
        if len(kinds) > 1 or "generator" in kinds:
            checker.error((*base, "secretMode"), "a merged Secret needs registries of one kind: all externalSecret, "
                                                 "or all read at render time (generators cannot be merged)")
        return
    seen: dict[str, str] = {}
    for registry in chosen:
        name = registry.effective_secret_name
        if name in seen:
            checker.error((*base, "registries"),
                          f"registries {seen[name]!r} and {registry.name!r} use the same Secret name {name!r}")
        seen[name] = registry.name
