"""The package's shape (issue 16): no import cycle, no module over 400 lines, commands never import cli.py.

Imports are read with `ast`, wherever they are (module level, inside functions, under TYPE_CHECKING):
a late import hides a cycle from Python, not from the reader.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "genpolicy"
MAX_LINES = 400
OVER_LIMIT: dict[str, str] = {}  # module -> the issue that splits it; add none: split instead
MAY_IMPORT_CLI = {"genpolicy.entry"}  # the executable's entry point starts the CLI


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of `package` (packages by their __init__.py)."""
    modules: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a `from ... import` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - node.level + 1]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _imported(node: ast.AST, module: str, is_package: bool, known: Mapping[str, Path]) -> Iterator[str]:
    """The package modules one import statement reaches (`from pkg import mod` reaches pkg.mod)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if alias.name in known)
    elif isinstance(node, ast.ImportFrom):
        base = _base(node, module, is_package)
        for alias in node.names:
            target = f"{base}.{alias.name}"
            if target in known or base in known:
                yield target if target in known else base


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its body."""
    known = module_files(package)
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        graph[module] = {t for node in ast.walk(tree) for t in _imported(node, module, is_package, known)}
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle as a path `a -> b -> ... -> a`, or None (iterative depth-first search)."""
    done: set[str] = set()
    for start in sorted(graph):
        cycle = _cycle_from(start, graph, done)
        if cycle is not None:
            return cycle
    return None


def _cycle_from(start: str, graph: Mapping[str, set[str]], done: set[str]) -> list[str] | None:
    """Depth-first from `start`; a module met again on the current path closes a cycle."""
    path: list[str] = []
    stack: list[tuple[str, Iterator[str]]] = []
    if start not in done:
        path.append(start)
        stack.append((start, iter(sorted(graph[start]))))
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            done.add(node)
            stack.pop()
            path.pop()
        elif child in path:
            return [*path[path.index(child):], child]
        elif child not in done:
            path.append(child)
            stack.append((child, iter(sorted(graph[child]))))
    return None


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_command_modules_never_import_cli() -> None:
    graph = import_graph(PACKAGE)
    importers = sorted(module for module, targets in graph.items() if "genpolicy.cli" in targets)
    assert set(importers) <= MAY_IMPORT_CLI, f"{importers} import genpolicy.cli; use genpolicy.cli_support"


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root / "pkg"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"pkg/__init__.py": "", "pkg/a.py": "def f():\n    from pkg import b\n", "pkg/b.py": "import pkg.a\n"},
         ["pkg.a", "pkg.b", "pkg.a"]),
        ({"pkg/__init__.py": "", "pkg/a.py": "from .sub.c import x\n", "pkg/sub/__init__.py": "",
          "pkg/sub/c.py": "from ..a import y\n"}, ["pkg.a", "pkg.sub.c", "pkg.a"]),
        ({"pkg/__init__.py": "", "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
          "    from pkg.b import B\n", "pkg/b.py": "from pkg import a\n"}, ["pkg.a", "pkg.b", "pkg.a"]),
        ({"pkg/__init__.py": "from pkg.a import f\n", "pkg/a.py": "import os\nfrom pkg.b import g\n",
          "pkg/b.py": "from pkg import c\n", "pkg/c.py": ""}, None),
    ],
    ids=["late-import", "relative", "type-checking", "acyclic"],
)
def test_the_cycle_check_finds_cycles(tmp_path: Path, files: dict[str, str], expected: list[str] | None) -> None:
    assert find_cycle(import_graph(_write(tmp_path, files))) == expected


def line_counts(package: Path) -> dict[str, int]:
    """Module path (relative to the package) -> its number of lines."""
    return {path.relative_to(package).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
            for path in sorted(package.rglob("*.py"))}


def test_no_module_exceeds_the_line_limit() -> None:
    over = {name: lines for name, lines in line_counts(PACKAGE).items() if lines > MAX_LINES}
    unlisted = {name: lines for name, lines in over.items() if name not in OVER_LIMIT}
    assert not unlisted, f"modules over {MAX_LINES} lines (split them by concern): {unlisted}"


def test_the_over_limit_list_only_names_modules_still_over() -> None:
    counts = line_counts(PACKAGE)
    fixed = sorted(name for name in OVER_LIMIT if counts.get(name, 0) <= MAX_LINES)
    assert not fixed, f"no longer over {MAX_LINES} lines (or gone): remove {fixed} from OVER_LIMIT"


def test_the_line_limit_check_counts_lines(tmp_path: Path) -> None:
    package = _write(tmp_path, {"pkg/__init__.py": "", "pkg/big.py": "x = 1\n" * (MAX_LINES + 1)})
    assert line_counts(package) == {"__init__.py": 0, "big.py": MAX_LINES + 1}


def unknown_modules(readme: str, package: Path) -> list[str]:
    """Modules and packages the README's Development section names that the package does not have."""
    section = readme.split("\n## Development\n", 1)[-1].split("\n### ", 1)[0]
    names = {path.name for path in package.rglob("*")}
    named = re.findall(r"`([a-z_/]+(?:\.py|/))`", section)
    return [name for name in named if not _exists(name, package, names)]


def _exists(name: str, package: Path, names: set[str]) -> bool:
    """A repository path (`genpolicy/registry/`, `tests/x.py`) exists, or a bare name is in the package."""
    if "/" in name.rstrip("/"):
        return (package.parent / name).exists()
    return name.rstrip("/") in names


def test_the_readme_map_names_only_existing_modules() -> None:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    assert "\n## Development\n" in readme
    assert unknown_modules(readme, PACKAGE) == []


def test_the_readme_map_check_finds_unknown_modules() -> None:
    readme = "# x\n## Development\n`genpolicy/registry/` `cli.py` `sops/` `gone.py` `genpolicy/nope/`\n### Tests\n"
    assert unknown_modules(readme, PACKAGE) == ["gone.py", "genpolicy/nope/"]
