"""Reading `kubectl get ... -o yaml|json` exports: List objects or plain documents, with their positions.

Nothing here connects to a cluster. Every object keeps the file and line it starts at, so a finding
points at the object in the export. Secret data is decoded here once, and every credential found
in it is registered with the redactor (genpolicy.secrets) before anything can print it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genpolicy import secrets
from genpolicy.audit.shapes import shape_problem
from genpolicy.errors import Problem, UsageError
from genpolicy.inputs import MAX_MANIFEST_BYTES, read_text, yaml_documents
from genpolicy.registry import Entry, InvalidDockerConfig, entries_from_secret

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
KINDS = ("ServiceAccount", "Secret", "Pod", "Event", "ExternalSecret", "Namespace")


@dataclass(frozen=True)
class LiveObject:
    """One object of the export, where it is."""

    kind: str
    namespace: str
    name: str
    obj: dict[str, Any] = field(repr=False, compare=False)
    file: str = ""
    line: int = 0

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def meta(self, key: str) -> dict[str, Any]:
        value = (self.obj.get("metadata") or {}).get(key)
        return value if isinstance(value, dict) else {}


@dataclass
class LiveExport:
    objects: dict[str, dict[tuple[str, str], LiveObject]] = field(default_factory=dict)

    def of(self, kind: str) -> list[LiveObject]:
        return [self.objects.get(kind, {})[k] for k in sorted(self.objects.get(kind, {}))]

    def get(self, kind: str, namespace: str, name: str) -> LiveObject | None:
        return self.objects.get(kind, {}).get((namespace, name))

    def add(self, item: LiveObject) -> None:
        self.objects.setdefault(item.kind, {}).setdefault((item.namespace, item.name), item)


def read_live(paths: list[Path]) -> LiveExport:
    """Every ServiceAccount, Secret, Pod, Event and ExternalSecret of the files (other kinds are ignored)."""
    export = LiveExport()
    for path in paths:
        text = read_text(path, what="live export", limit=MAX_MANIFEST_BYTES)
        for item in _objects(text, str(path)):
            export.add(item)
    if paths and not any(export.objects.get(kind) for kind in _AUDITED):
        raise UsageError("nothing to audit", [Problem(str(paths[0]), message=(
            "the export holds no ServiceAccount, Secret or Pod (an empty or wrong `kubectl get` output?): "
            "export them with `kubectl get serviceaccounts,secrets,pods -A -o yaml`"))])
    return export


def _objects(text: str, filename: str) -> Iterator[LiveObject]:
    try:
        documents = [doc for _, doc in yaml_documents(text, filename)]  # bounded: refuses alias bombs first
        nodes = [n for n in yaml.compose_all(text, Loader=_Loader) if n is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        reason = f"not YAML or JSON: {getattr(exc, 'problem', exc)}"
        raise UsageError("invalid live export", [Problem(filename, line, col, "", reason)]) from None
    for doc, node in zip(documents, nodes, strict=False):
        yield from _flatten(doc, node, filename)


def _flatten(doc: Any, node: yaml.Node, filename: str) -> Iterator[LiveObject]:
    if not isinstance(doc, dict):
        return
    if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
        item_nodes = _items_node(node)
        for i, item in enumerate(doc["items"]):
            line = item_nodes[i].start_mark.line + 1 if i < len(item_nodes) else node.start_mark.line + 1
            yield from _one(item, filename, line)
        return
    yield from _one(doc, filename, node.start_mark.line + 1)


def _items_node(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
                return list(value.value)
    return []


# Argo CD repository Secret keys that describe, not authenticate (argo-cd declarative-setup.md)
_ARGOCD_SECRET_TYPE = "argocd.argoproj.io/secret-type"
_ARGOCD_PUBLIC = frozenset({"url", "type", "name", "project", "enableOCI", "insecure", "enableLfs",
                            "forceHttpBasicAuth", "proxy", "noProxy", "username", "githubAppID",
                            "githubAppInstallationID", "githubAppEnterpriseBaseUrl"})


_AUDITED = ("ServiceAccount", "Secret", "Pod")  # an export with none of them audits nothing
# a service-account token Secret's namespace and CA are public; its token is not
_TOKEN_PUBLIC = frozenset({"namespace", "ca.crt"})
_PLAIN_WORD = re.compile(r"[a-z][a-z0-9.-]{0,15}")  # e.g. true, error, a namespace or host name


def _one(item: Any, filename: str, line: int) -> Iterator[LiveObject]:
    if not isinstance(item, dict) or item.get("kind") not in KINDS:
        return
    meta = item.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    problem = shape_problem(item)
    if problem is not None:
        ref = f"{item['kind']} {namespace}/{name}" if namespace else f"{item['kind']} {name}"
        raise UsageError("invalid live export", [Problem(filename, line, 1, ref, f"{problem} (kubectl never "
                                                                              "writes this)")])
    if item["kind"] == "Secret":
        register_secret(item)
    yield LiveObject(str(item["kind"]), namespace, name, item, filename, line)


def register_secret(secret: dict[str, Any]) -> None:
    """Teach the redactor every value of a Secret (raw base64 and decoded) before anything prints.

    An Argo CD repository Secret's descriptive keys (url, type, name...) are not secret: masking them would
    mask every registry host they name, so only its other keys are registered."""
    public = _public_keys(secret)
    for key, value in (secret.get("data") or {}).items():
        if key in public:
            continue
        decoded = _b64(str(value))
        if decoded is None:  # not base64 (the API server would refuse it): the value itself, not its slices
            _register_value(str(value))
            continue
        secrets.register_derived(str(value))  # any slice of a base64 value decodes to credential bytes
        _register_value(decoded.decode("utf-8", "replace"))
    for key, value in (secret.get("stringData") or {}).items():
        if key not in public:
            _register_value(str(value))
    try:
        for entry in (pull_entries(secret) or {}).values():
            secrets.register(entry.password)
            secrets.register(f"{entry.username}:{entry.password}")
    except InvalidDockerConfig:
        return


def _public_keys(secret: dict[str, Any]) -> frozenset[str]:
    if _labels(secret).get(_ARGOCD_SECRET_TYPE):
        return _ARGOCD_PUBLIC
    return _TOKEN_PUBLIC if secret.get("type") == "kubernetes.io/service-account-token" else frozenset()


def _register_value(value: str) -> None:
    """Register a decoded value (exact match: its words stay printable), unless it is a short plain word.

    The redactor masks every occurrence in the finished report, so an Opaque `true`, `error` or a
    namespace name would corrupt every report (and make PolicyReport YAML unparseable). Audit never
    prints Secret data; the redactor is the last line of defence, so plain words of a Secret that is not
    a pull secret (whose passwords are always registered) are not registered."""
    if _PLAIN_WORD.fullmatch(value):
        return
    secrets.register(value)


def _labels(secret: dict[str, Any]) -> dict[str, Any]:
    meta = secret.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return labels if isinstance(labels, dict) else {}


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def secret_data(secret: dict[str, Any]) -> dict[str, bytes] | None:
    """The decoded data (stringData wins, as the API server merges it); None if a value is not base64."""
    data: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        decoded = _b64(str(value))
        if decoded is None:
            return None
        data[str(key)] = decoded
    data.update({str(k): str(v).encode() for k, v in (secret.get("stringData") or {}).items()})
    return data


def pull_entries(secret: dict[str, Any]) -> dict[str, Entry] | None:
    """The auths entries the kubelet reads from a Secret (None: it reads none); raises InvalidDockerConfig."""
    data = secret_data(secret)
    if data is None:
        return None
    return entries_from_secret(str(secret.get("type") or "Opaque"), data)
