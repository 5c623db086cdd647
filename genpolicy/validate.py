"""Offline validation of Kubernetes objects: built-in kinds and custom resources.

Built-in kinds use kubernetes-validate's strict schemas (unknown fields are errors); the large
shared definitions file is loaded once per Kubernetes version and each kind's validator is
compiled once (jsonschema-rs) and reused, instead of kubernetes-validate's per-call reload.
Custom resources use the openAPIV3Schema of CRDs the user points at, converted the way the
API server treats them (unknown fields rejected, nullable, int-or-string, defaults), and else the
schemas shipped in genpolicy.crds (converted the same way, per Kyverno minor).
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from genpolicy.crds import ShippedCrds
from genpolicy.inputs import MAX_MANIFEST_BYTES, read_text, yaml_documents
from genpolicy.nodes.schema import is_node_object, node_findings
from genpolicy.nodes.versions import cache_type_required, parse_version
from genpolicy.record import Frozen, Record, set_field
from genpolicy.specfile.checks import DNS1123_LABEL, DNS1123_SUBDOMAIN


def _package_folder(name: str) -> Path:
    """An installed package's folder, found without importing it (kubernetes-validate imports jsonschema:
    a tenth of a render's start-up, for nothing but its schema files)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{name} is not installed", name=name)
    return Path(spec.origin).parent


_SCHEMA_ROOT = _package_folder("kubernetes_validate") / "kubernetes-json-schema"
_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
MAX_ANNOTATIONS_BYTES = 256 * 1024
_PATH_SEGMENT_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


class Finding(Frozen):
    """A problem with one object; `path` is a JSON path inside it."""

    __slots__ = ("path", "message", "parts", "unexpected")
    path: str
    message: str
    parts: tuple[str | int, ...]  # the same path, as keys and indexes
    unexpected: tuple[str, ...]  # unknown field names reported at `path`

    def __init__(self, path: str, message: str, parts: tuple[str | int, ...] = (),
                 unexpected: tuple[str, ...] = ()) -> None:
        set_field(self, "path", path)
        set_field(self, "message", message)
        set_field(self, "parts", parts)
        set_field(self, "unexpected", unexpected)


class Outcome(Record):
    """The result of validating one object."""

    __slots__ = ("findings", "validated", "schema")
    findings: list[Finding]
    validated: bool  # False: no schema was available ("not validated")
    schema: str

    def __init__(self, findings: list[Finding] | None = None, validated: bool = True, schema: str = "") -> None:
        self.findings = [] if findings is None else findings
        self.validated = validated
        self.schema = schema


def available_versions() -> list[str]:
    """Kubernetes minor versions kubernetes-validate ships schemas for, oldest first."""
    names = {p.name.split("-")[0].lstrip("v") for p in _SCHEMA_ROOT.iterdir() if p.name.endswith("-local-strict")}
    return sorted(({".".join(n.split(".")[:2]) for n in names}), key=lambda v: tuple(int(x) for x in v.split(".")))


def schema_version_for(version: str) -> str:
    """The newest shipped schema version not newer than `version` (major.minor)."""
    wanted = tuple(int(x) for x in version.lstrip("v").split(".")[:2])
    candidates = [v for v in available_versions() if tuple(int(x) for x in v.split(".")) <= wanted]
    if not candidates:
        raise ValueError(f"no Kubernetes schemas for {version} (oldest: {available_versions()[0]})")
    return candidates[-1]


class KubernetesSchemas:
    """Strict schemas of one Kubernetes version; validators compiled on first use and cached."""

    def __init__(self, version: str) -> None:
        self.version = schema_version_for(version)
        self.folder = _SCHEMA_ROOT / f"v{self.version}.0-local-strict"

    @functools.cached_property
    def _registry(self) -> Any:
        definitions = json.loads((self.folder / "_definitions.json").read_text())
        return jsonschema_rs.Registry([(_DEFINITIONS_ID, definitions)])

    @functools.cache  # noqa: B019 - one instance per version, lives for the process
    def validator(self, api_version: str, kind: str) -> Any | None:
        group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        path = self.folder / f"{kind.lower()}-{group_version}.json"
        if not path.is_file():
            return None
        schema = json.loads(path.read_text())
        return jsonschema_rs.validator_for(schema, registry=self._registry)


class CrdSchemas:
    """Custom resource schemas from CRD YAML files, keyed by (apiVersion, kind)."""

    def __init__(self) -> None:
        self.schemas: dict[tuple[str, str], dict[str, Any]] = {}
        self.cel_rules: dict[tuple[str, str], int] = {}

    @classmethod
    def from_paths(cls, paths: Iterable[Path]) -> CrdSchemas:
        crds = cls()
        for path in paths:
            files = sorted(path.rglob("*.y*ml")) + sorted(path.rglob("*.json")) if path.is_dir() else [path]
            for file in files:
                crds.add_file(file)
        return crds

    def add_file(self, file: Path) -> None:
        text = read_text(file, what="CRD file", limit=MAX_MANIFEST_BYTES)
        for _, doc in yaml_documents(text, str(file)):
            for item in doc.get("items", [doc]) if isinstance(doc, dict) else []:
                if isinstance(item, dict) and item.get("kind") == "CustomResourceDefinition":
                    self.add_crd(item)

    def add_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        if not isinstance(group, str) or not isinstance(kind, str):
            return
        for version in spec.get("versions") or []:
            schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
            if not version.get("served") or schema is None:
                continue
            key = (f"{group}/{version['name']}", kind)
            self.schemas[key] = schema
            self.cel_rules[key] = json.dumps(schema).count('"x-kubernetes-validations"')

    @functools.cache  # noqa: B019 - lives as long as the catalog
    def validator(self, api_version: str, kind: str) -> Any | None:
        schema = self.schemas.get((api_version, kind))
        if schema is None:
            return None
        return _compiled_crd_validator((api_version, kind), json.dumps(schema, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _crd_documents(path: str, mtime_ns: int, size: int) -> tuple[dict[str, Any], ...]:
    """The CRDs in a file, parsed once per process (keyed by path, mtime and size)."""
    found: list[dict[str, Any]] = []
    text = read_text(Path(path), what="CRD file", limit=MAX_MANIFEST_BYTES)
    for _, doc in yaml_documents(text, path):
        for item in doc.get("items", [doc]) if isinstance(doc, dict) else []:
            if isinstance(item, dict) and item.get("kind") == "CustomResourceDefinition":
                found.append(item)
    return tuple(found)


@functools.lru_cache(maxsize=256)
def _compiled_crd_validator(key: tuple[str, str], schema_json: str) -> Any:
    return jsonschema_rs.Draft4Validator(crd_to_json_schema(json.loads(schema_json)))


def crd_to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Convert a structural openAPIV3Schema to JSON Schema draft 4 as the API server applies it."""
    root = _convert(copy.deepcopy(schema))
    props = root.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props["metadata"] = {"type": "object"}
    props.setdefault("status", {})
    return root


def _convert(node: dict[str, Any]) -> dict[str, Any]:
    node.pop("x-kubernetes-validations", None)
    if node.get("format") not in (None, "byte", "date-time"):
        node.pop("format")
    if node.get("nullable"):
        kind = node.get("type")
        if isinstance(kind, str):
            node["type"] = [kind, "null"]
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
    for key in ("properties", "patternProperties"):
        for name, child in (node.get(key) or {}).items():
            node[key][name] = _convert(child)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            node[key] = _convert(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        node[key] = [_convert(c) for c in node[key]] if key in node else None
        if node[key] is None:
            del node[key]
    props = node.get("properties")
    if node.get("x-kubernetes-embedded-resource"):
        props = node.setdefault("properties", {})
        for name, kind in (("apiVersion", "string"), ("kind", "string"), ("metadata", "object")):
            props.setdefault(name, {"type": kind})
    if props is not None and "additionalProperties" not in node and not node.get(
        "x-kubernetes-preserve-unknown-fields"
    ):
        node["additionalProperties"] = False
    if "required" in node and props:
        node["required"] = [r for r in node["required"] if "default" not in props.get(r, {})] or None
        if node["required"] is None:
            del node["required"]
    return node


class Validator:
    """Validates objects for one Kubernetes version plus a CRD catalog (user CRDs, then the shipped ones)."""

    def __init__(self, kubernetes: KubernetesSchemas, crds: CrdSchemas, shipped: ShippedCrds | None = None) -> None:
        self.kubernetes = kubernetes
        self.crds = crds
        self.shipped = shipped

    @property
    def key(self) -> tuple[str, str]:
        """What decides an outcome besides the object: the Kubernetes version and the shipped Kyverno minor."""
        return self.kubernetes.version, self.shipped.kyverno if self.shipped else ""

    def _custom(self, api_version: str, kind: str) -> tuple[Any | None, str]:
        validator = self.crds.validator(api_version, kind)
        if validator is not None or self.shipped is None:
            return validator, f"CRD {kind}.{api_version}"
        origin = self.shipped.origin(api_version, kind)
        return self.shipped.validator(api_version, kind), f"CRD {kind}.{api_version} (shipped, {origin})"

    def validate(self, obj: Any, *, sensitive: bool = False) -> Outcome:
        if not isinstance(obj, dict):
            return Outcome([Finding("", "document is not a mapping")])
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            return Outcome([Finding("", "apiVersion and kind must be strings")])
        if is_node_object(obj):  # kubelet config files (docs/nodes.md): no ObjectMeta, schemas in genpolicy.nodes
            return self._node(obj)
        findings = list(check_object_meta(obj))
        builtin = "." not in api_version.split("/")[0] or api_version.split("/")[0].endswith(".k8s.io")
        validator = self.kubernetes.validator(api_version, kind) if "/" not in api_version or builtin else None
        schema = f"kubernetes {self.kubernetes.version}"
        if validator is None:
            validator, schema = self._custom(api_version, kind)
        if validator is None:
            return Outcome(findings, validated=False, schema="")
        findings.extend(_schema_findings(validator, _jsonable(obj), sensitive))
        return Outcome(findings, True, schema)


    def _node(self, obj: dict[str, Any]) -> Outcome:
        alpha = not cache_type_required(parse_version(self.kubernetes.version))
        found = node_findings(obj, alpha_tokens=alpha)
        if found is None:
            return Outcome([], validated=False, schema="")
        return Outcome([Finding(path, message) for path, message in found], True, "genpolicy node schemas")


def _schema_findings(validator: Any, obj: Any, sensitive: bool) -> Iterator[Finding]:
    for error in validator.iter_errors(obj):
        path = _json_path(error.instance_path)
        message = error.message
        if sensitive and path.startswith(("data", "stringData")):
            message = f"invalid value ({type(error.kind).__name__.lower()} check failed)"
        unexpected = tuple(str(u) for u in getattr(error.kind, "unexpected", None) or ())
        if unexpected:  # the library's message abbreviates long lists of names
            message = f"unknown field{'s' if len(unexpected) > 1 else ''} {', '.join(map(repr, unexpected))}"
        yield Finding(path, message, tuple(error.instance_path), unexpected)


def _json_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _jsonable(obj: Any) -> Any:
    """YAML can produce dates or non-string keys; JSON (and the API server) cannot."""
    kind = type(obj)
    if kind is str or kind is int or kind is bool or obj is None:
        return obj
    if kind is dict and all(type(k) is str for k in obj):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)


def check_object_meta(obj: dict[str, Any]) -> Iterator[Finding]:
    """What the API server checks in ObjectMeta that JSON schemas do not."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        yield Finding("metadata", "metadata must be a mapping")
        return
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        yield Finding("metadata.name", "a name is required")
    elif obj.get("kind") in _PATH_SEGMENT_KINDS and str(obj.get("apiVersion", "")).startswith("rbac."):
        if name in (".", "..") or "/" in name or "%" in name:
            yield Finding("metadata.name", f"invalid name {name!r}: may not be '.', '..' or contain '/' or '%'")
    else:
        regex = DNS1123_LABEL if obj.get("kind") == "Namespace" else DNS1123_SUBDOMAIN
        if len(name) > 253 or not regex.fullmatch(name):
            yield Finding("metadata.name", f"invalid name {name!r}: must be a lowercase RFC 1123 name")
    namespace = meta.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or len(namespace) > 63
                                  or not DNS1123_LABEL.fullmatch(namespace)):
        yield Finding("metadata.namespace", f"invalid namespace {namespace!r}")
    yield from _check_map(meta.get("labels"), "metadata.labels", values_are_labels=True)
    yield from _check_map(meta.get("annotations"), "metadata.annotations", values_are_labels=False)
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
        for key in list(obj.get("data") or {}) + list(obj.get("stringData") or {}):
            if not _SECRET_KEY.fullmatch(str(key)):
                yield Finding(f"data.{key}", "invalid Secret key: use alphanumerics, '-', '_' or '.'")


def _check_map(value: Any, path: str, *, values_are_labels: bool) -> Iterator[Finding]:
    if value is None:
        return
    if not isinstance(value, dict):
        yield Finding(path, "must be a mapping of strings")
        return
    for key, item in value.items():
        prefix, _, name = str(key).rpartition("/")
        if ((prefix and not DNS1123_SUBDOMAIN.fullmatch(prefix)) or len(name) > 63
                or not _QUALIFIED_NAME.fullmatch(name)):
            yield Finding(f"{path}.{key}", "invalid key: must be [DNS prefix/]name (name at most 63 characters)")
        if not isinstance(item, str):
            yield Finding(f"{path}.{key}", "value must be a string")
        elif values_are_labels and (len(item) > 63 or not _LABEL_VALUE.fullmatch(item)):
            yield Finding(f"{path}.{key}", f"invalid label value {item!r}")
    if not values_are_labels and len(json.dumps(value)) > MAX_ANNOTATIONS_BYTES:
        yield Finding(path, "annotations exceed 256 KiB")


@functools.cache
def kubernetes_schemas(version: str) -> KubernetesSchemas:
    """One schema catalog per Kubernetes minor version for the whole process."""
    return KubernetesSchemas(schema_version_for(version))
