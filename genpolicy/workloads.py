"""Workload manifests -> the Pods they create: namespace, ServiceAccount, pull secrets, images.

Reads files and folders of YAML (multi-document, `kind: List`, `kubectl get -o yaml`, `helm
template` output with its `# Source:` comments). Kinds that do not create Pods are ignored; a
document that cannot be parsed is a Problem at `file:line`, and the other documents of the file
are still read (documents are split at `---` lines first).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genpolicy.errors import GenpolicyError, Problem
from genpolicy.inputs import MAX_MANIFEST_BYTES, read_text
from genpolicy.manifests import manifest_files

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

STDIN = "-"
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
# kind -> (API groups it is served from, path of the Pod spec inside the object)
POD_SPEC_PATHS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Pod": (("",), ("spec",)),
    "PodTemplate": (("",), ("template", "spec")),
    "ReplicationController": (("",), ("spec", "template", "spec")),
    "Deployment": (("apps", "extensions"), ("spec", "template", "spec")),
    "ReplicaSet": (("apps", "extensions"), ("spec", "template", "spec")),
    "StatefulSet": (("apps",), ("spec", "template", "spec")),
    "DaemonSet": (("apps", "extensions"), ("spec", "template", "spec")),
    "Job": (("batch",), ("spec", "template", "spec")),
    "CronJob": (("batch",), ("spec", "jobTemplate", "spec", "template", "spec")),
}
_DOCUMENT_START = re.compile(r"^---(?:[ \t]|$)")
_SOURCE_COMMENT = re.compile(r"^#\s*Source:\s*(\S.*?)\s*$")


@dataclass(frozen=True)
class Container:
    """One container of a Pod: its field (`containers`, `initContainers`, ...), name and image."""

    field: str
    name: str
    image: str


@dataclass(frozen=True)
class PodSpec:
    """The Pod a workload creates, where it was read, and what matters for image pulls."""

    file: str
    line: int
    kind: str
    name: str
    namespace: str
    service_account: str
    pull_secrets: tuple[str, ...]
    containers: tuple[Container, ...]
    source: str = ""  # the `# Source:` template of `helm template` output

    @property
    def workload(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def images(self) -> tuple[str, ...]:
        return tuple(c.image for c in self.containers)

    @property
    def admission_images(self) -> tuple[str, ...]:
        """The images a Pod has when it is created: what a Kyverno mutation sees. Ephemeral containers
        are only ever added later (ephemeralcontainers subresource), so they never trigger one."""
        return tuple(c.image for c in self.containers if c.field != "ephemeralContainers")


@dataclass
class Workloads:
    """Everything read from the workload paths."""

    pods: list[PodSpec] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0


def read_workloads(paths: list[Path], default_namespace: str = "default") -> Workloads:
    """Pod specs of every workload in `paths` (files, folders searched for *.yaml/*.yml/*.json, `-`)."""
    result = Workloads()
    for path in manifest_files([p for p in paths if str(p) != STDIN]):
        result.files += 1
        try:
            text = read_text(path, what="workload file", limit=MAX_MANIFEST_BYTES)
        except GenpolicyError as exc:  # missing, not a regular file (FIFO, device), too large, not UTF-8
            result.problems += exc.problems
            continue
        _read_text(result, text, str(path), default_namespace)
    if any(str(p) == STDIN for p in paths):
        result.files += 1
        _read_text(result, sys.stdin.read(), "<stdin>", default_namespace)
    return result


def _read_text(result: Workloads, text: str, filename: str, default_namespace: str) -> None:
    for first_line, chunk, source in _chunks(text):
        for line, obj in _documents(result, chunk, filename, first_line):
            _collect(result, obj, filename, line, source, default_namespace)


def _chunks(text: str) -> Iterator[tuple[int, str, str]]:
    """(0-based first line, text, `# Source:` path) per `---`-separated part, so one bad document
    does not hide the others."""
    lines = text.splitlines(keepends=True)
    start = 0
    for i, line in enumerate([*lines, "---"]):
        if i < len(lines) and not _DOCUMENT_START.match(line):
            continue
        if i > start:
            chunk = "".join(lines[start:i])
            sources = [m.group(1) for m in map(_SOURCE_COMMENT.match, lines[start:i]) if m]
            yield start, chunk, sources[-1] if sources else ""
        start = i


def _documents(result: Workloads, chunk: str, filename: str, offset: int) -> Iterator[tuple[int, Any]]:
    """(1-based line, object) of each document in a chunk; a parse error becomes a Problem."""
    loader = _Loader(chunk)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield offset + node.start_mark.line + 1, loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (offset + mark.line + 1, mark.column + 1) if mark is not None else (offset + 1, 0)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None:
            reason += f" ({context} started at line {offset + context_mark.line + 1})"
        result.problems.append(Problem(filename, line, col, "", f"invalid YAML: {reason}"))
    except RecursionError:
        result.problems.append(Problem(filename, offset + 1, 0, "", "invalid YAML: nested too deeply"))
    finally:
        loader.dispose()


def _collect(result: Workloads, obj: Any, filename: str, line: int, source: str, default_namespace: str) -> None:
    """One object: a List's items, a workload's Pod spec, or nothing."""
    if not isinstance(obj, dict):
        return
    kind = obj.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
        for item in obj["items"]:
            _collect(result, item, filename, line, source, default_namespace)
        return
    if not isinstance(kind, str) or kind not in POD_SPEC_PATHS or not _served(obj, kind):
        return
    pod = _dig(obj, POD_SPEC_PATHS[kind][1])
    meta: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    name = str(meta.get("name") or meta.get("generateName") or "?")
    if not isinstance(pod, dict):
        result.problems.append(Problem(filename, line, 0, f"{kind}/{name}", "no Pod spec at "
                                       + ".".join(POD_SPEC_PATHS[kind][1])))
        return
    containers = list(_containers(result, pod, filename, line, f"{kind}/{name}"))
    result.pods.append(PodSpec(
        file=filename, line=line, kind=kind, name=name,
        namespace=_text(meta.get("namespace")) or default_namespace,
        service_account=_text(pod.get("serviceAccountName")) or _text(pod.get("serviceAccount")) or "default",
        pull_secrets=tuple(_pull_secret_names(pod.get("imagePullSecrets"))),
        containers=tuple(containers), source=source,
    ))


def _served(obj: dict[str, Any], kind: str) -> bool:
    """Is the object's apiVersion one that serves this kind (no apiVersion: assume it is)?"""
    api_version = obj.get("apiVersion")
    if not isinstance(api_version, str):
        return True
    group = api_version.rpartition("/")[0]
    return group in POD_SPEC_PATHS[kind][0]


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _pull_secret_names(value: Any) -> Iterator[str]:
    """`imagePullSecrets` names in order; the kubelet skips entries with an empty name."""
    for item in value if isinstance(value, list) else []:
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name:
            yield name


def _containers(result: Workloads, pod: dict[str, Any], filename: str, line: int,
                workload: str) -> Iterator[Container]:
    for field_name in CONTAINER_FIELDS:
        items = pod.get(field_name)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            name = _text(item.get("name")) or f"{field_name}[{i}]"
            image = item.get("image")
            if not isinstance(image, str) or not image:
                result.problems.append(Problem(filename, line, 0, workload,
                                               f"{field_name} {name!r} has no image", severity="warning"))
                continue
            yield Container(field_name, name, image)
