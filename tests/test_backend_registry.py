"""The Backend interface (issue 16): every backend the spec can name has one module, and renderers never branch.

`backend_for` is asked for every credential source and every `backend:` value the spec model
allows; the names it can return are exactly the registered backends (so a new `Backend` literal
without a module, or a module nobody can select, fails here).
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_args

import pytest

from genpolicy.render.backends import BACKENDS, backend_named
from genpolicy.specfile.checks import backend_for
from genpolicy.specfile.model import CREDENTIAL_SOURCES
from genpolicy.specfile.model import Backend as BackendLiteral

RENDER = Path(__file__).resolve().parent.parent / "genpolicy" / "render"
MAY_BRANCH: set[str] = set()  # every renderer hands Secrets to a backend (engine credentials included)


def _selectable() -> set[str]:
    """Every name backend_for returns over the spec model's credential sources and backend values."""
    names = set()
    for source in CREDENTIAL_SOURCES:
        for chosen in (*get_args(BackendLiteral), None):
            registry: Any = SimpleNamespace(credentials=SimpleNamespace(kind=source), backend=chosen)
            cluster: Any = SimpleNamespace(backend=None)
            names.add(backend_for(SimpleNamespace(allow_plaintext=True), cluster, registry))  # type: ignore[arg-type]
    return names


def test_every_selectable_backend_is_registered_and_vice_versa() -> None:
    selectable = _selectable()
    assert set(get_args(BackendLiteral)) <= selectable
    assert selectable == set(BACKENDS), (selectable ^ set(BACKENDS))


def test_registered_backends_implement_the_protocol() -> None:
    for name, backend in BACKENDS.items():
        assert callable(getattr(backend, "pull_secret", None)), name
        assert backend_named(name) is backend


def test_an_unknown_backend_is_not_silently_plain() -> None:
    with pytest.raises(KeyError):
        backend_named("vault")
    assert backend_named("missing") is BACKENDS["plain"]  # rejected by the checks before any render


def _branches_on_backend(tree: ast.AST) -> list[int]:
    """Lines comparing a name `backend` with a string literal (`backend == "sops"`, `backend in (...)`)."""
    lines = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "backend"
                and any(isinstance(c, ast.Constant | ast.Tuple | ast.Set | ast.List) for c in node.comparators)):
            lines.append(node.lineno)
    return lines


def test_renderers_never_branch_on_a_backend_name() -> None:
    found = {}
    for path in sorted(RENDER.glob("*.py")):
        if path.name not in MAY_BRANCH:
            lines = _branches_on_backend(ast.parse(path.read_text(encoding="utf-8")))
            if lines:
                found[path.name] = lines
    assert found == {}


def test_the_branch_finder_finds_a_branch() -> None:
    assert _branches_on_backend(ast.parse('if backend == "sops":\n    pass\n')) == [1]
    assert _branches_on_backend(ast.parse('x = backend in ("sops", "plain")\n')) == [1]

