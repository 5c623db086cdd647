"""A YAML loader that keeps the line and column of every key and value.

It composes the node graph with a private SafeLoader subclass (PyYAML's global loaders are
never modified), then builds plain Python data itself so that it can reject duplicate keys,
unknown tags and multiple documents, and cap alias expansion ("billion laughs").
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from genpolicy.errors import Problem, SpecError
from genpolicy.record import Record

Path = tuple[str | int, ...]

MAX_SPEC_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader with YAML 1.2-style booleans and no timestamps (on this subclass only)."""


_BOOL = "tag:yaml.org,2002:bool"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _SpecLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, (_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
    )

_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class Positions(Record):
    """Where each path's value (and, for mapping entries, its key) starts; 1-based."""

    __slots__ = ("values", "keys", "containers")
    values: dict[Path, tuple[int, int]]
    keys: dict[Path, tuple[int, int]]
    containers: set[Path]

    def __init__(self, values: dict[Path, tuple[int, int]] | None = None,
                 keys: dict[Path, tuple[int, int]] | None = None, containers: set[Path] | None = None) -> None:
        self.values = {} if values is None else values
        self.keys = {} if keys is None else keys
        self.containers = set() if containers is None else containers

    def of_value(self, path: Path) -> tuple[int, int]:
        """The value's position (a mapping's or list's key, if it has one), else the nearest ancestor's."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.containers and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)

    def of_key(self, path: Path) -> tuple[int, int]:
        """The key's position when there is one, else the value's."""
        return self.keys.get(path) or self.of_value(path)


class LoadedYaml(Record):
    __slots__ = ("data", "positions", "filename", "text")
    data: Any
    positions: Positions
    filename: str
    text: str  # what was parsed (the no-change cache hashes exactly this)

    def __init__(self, data: Any, positions: Positions, filename: str, text: str = "") -> None:
        self.data = data
        self.positions = positions
        self.filename = filename
        self.text = text


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed node graph into plain data plus positions."""

    def __init__(self, loader: _SpecLoader, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.positions = Positions()
        self.problems: list[Problem] = []
        self.visited = 0
        self.stack: set[int] = set()

    def problem(self, node: yaml.Node, path: Path, message: str) -> None:
        line, col = _mark(node)
        self.problems.append(Problem(self.filename, line, col, format_path(path), message))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise SpecError(
                "spec too large",
                [Problem(self.filename, *_mark(node), format_path(path),
                         f"more than {MAX_NODES} YAML nodes after alias expansion; refusing to load")],
            )
        self.positions.values.setdefault(path, _mark(node))
        if id(node) in self.stack or len(path) > MAX_DEPTH:
            self.problem(node, path, "recursive alias or nesting deeper than "
                                     f"{MAX_DEPTH} levels; refusing to load")
            return None
        if node.tag not in _STANDARD_TAGS:
            self.problem(node, path, f"unsupported YAML tag {node.tag!r}")
            return None
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            self.positions.containers.add(path)
            self.stack.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self.build_mapping(node, path)
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            finally:
                self.stack.discard(id(node))
        return self.loader.construct_object(node, deep=True)

    def build_mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problem(key_node, path, "YAML merge keys (<<) are not supported; use `defaults`")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "mapping keys must be plain strings")
                continue
            key = str(key_node.value)
            child = (*path, key)
            if key in result:
                first = self.positions.keys.get(child, (0, 0))
                self.problem(key_node, child, f"duplicate key {key!r} (first defined at line {first[0]})")
                continue
            self.positions.keys[child] = _mark(key_node)
            result[key] = self.build(value_node, child)
        return result


def format_path(path: Path) -> str:
    """`registries[1].server` style."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_yaml(text: str, filename: str) -> LoadedYaml:
    """Parse one YAML document with positions; raise SpecError listing every problem."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise SpecError("spec too large", [Problem(filename, 0, 0, "", f"larger than {MAX_SPEC_BYTES} bytes")])
    loader = _SpecLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        raise SpecError("invalid YAML", [_yaml_problem(filename, exc, "expected a single YAML document")]) from None
    except yaml.MarkedYAMLError as exc:
        raise SpecError("invalid YAML", [_yaml_problem(filename, exc)]) from None
    except yaml.YAMLError as exc:
        raise SpecError("invalid YAML", [Problem(filename, 0, 0, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if node is None:
        return LoadedYaml(None, Positions(), filename, text)
    builder = _Builder(loader, filename)
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        raise SpecError("invalid YAML", [_yaml_problem(filename, exc)]) from None
    if builder.problems:
        raise SpecError("invalid YAML", builder.problems)
    return LoadedYaml(data, builder.positions, filename, text)


def _yaml_problem(filename: str, exc: yaml.MarkedYAMLError, extra: str = "") -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    message = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
    if extra and "single document" in message:
        message = extra
    return Problem(filename, line, col, "", f"invalid YAML: {message}")
