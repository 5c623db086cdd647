"""The field types the audit reads, checked before any check runs: a hand-edited or hostile export
is refused at the object (`file:line: Kind ns/name: field must be ...`), never a crash mid-audit."""

from __future__ import annotations

from typing import Any

_META = (
    ("metadata", dict), ("metadata.name", str), ("metadata.namespace", str), ("metadata.labels", dict),
    ("metadata.labels.*", str), ("metadata.annotations", dict), ("metadata.annotations.*", str),
    ("metadata.managedFields", list), ("metadata.managedFields[]", dict),
    ("metadata.managedFields[].fieldsV1", dict),
)
_CONTAINERS = tuple((f"spec.{key}{suffix}", kind) for key in ("containers", "initContainers")
                    for suffix, kind in (("", list), ("[]", dict), ("[].name", str), ("[].image", str),
                                         ("[].imagePullPolicy", str)))
_STATUSES = tuple((f"status.{key}{suffix}", kind) for key in ("containerStatuses", "initContainerStatuses")
                  for suffix, kind in (("", list), ("[]", dict), ("[].name", str), ("[].image", str),
                                       ("[].state", dict), ("[].state.waiting", dict),
                                       ("[].state.waiting.reason", str)))
SHAPES: dict[str, tuple[tuple[str, type], ...]] = {
    "Namespace": (),  # only its metadata (labels: Kyverno groups' namespaceSelector)
    "Secret": (("type", str), ("data", dict), ("data.*", str), ("stringData", dict), ("stringData.*", str)),
    "ServiceAccount": (("imagePullSecrets", list), ("imagePullSecrets[]", dict), ("imagePullSecrets[].name", str)),
    "Pod": (("spec", dict), ("status", dict), ("spec.imagePullSecrets", list), ("spec.imagePullSecrets[]", dict),
            ("spec.imagePullSecrets[].name", str), *_CONTAINERS, *_STATUSES),
    "Event": (("involvedObject", dict), ("involvedObject.kind", str), ("involvedObject.name", str),
              ("reason", str), ("message", str), ("lastTimestamp", str)),
    "ExternalSecret": (("spec", dict), ("status", dict), ("spec.dataFrom", list), ("spec.dataFrom[]", dict),
                       ("spec.dataFrom[].sourceRef", dict), ("spec.dataFrom[].sourceRef.generatorRef", dict),
                       ("spec.dataFrom[].sourceRef.generatorRef.kind", str), ("spec.refreshInterval", str),
                       ("status.refreshTime", str), ("status.conditions", list), ("status.conditions[]", dict),
                       ("status.conditions[].type", str), ("status.conditions[].status", str),
                       ("status.conditions[].reason", str), ("status.conditions[].message", str)),
}
_POD_TEMPLATE = tuple((f"spec.template.spec.{path}", kind) for path, kind in (
    ("containers", list), ("containers[]", dict), ("containers[].env", list), ("containers[].env[]", dict),
    ("containers[].args", list), ("containers[].command", list), ("containers[].volumeMounts", list),
    ("containers[].volumeMounts[]", dict), ("volumes", list), ("volumes[]", dict), ("volumes[].secret", dict)))
_RULE = tuple((f"spec.rules[].{path}", kind) for path, kind in (
    ("generate", dict), ("generate.clone", dict), ("match", dict), ("exclude", dict), ("match.any", list),
    ("match.any[]", dict), ("match.any[].resources", dict), ("match.any[].resources.names", list),
    ("exclude.any", list), ("exclude.any[]", dict), ("exclude.any[].resources", dict), ("mutate", dict),
    ("mutate.patchStrategicMerge", dict), ("mutate.patchStrategicMerge.spec", dict),
    ("mutate.patchStrategicMerge.spec.containers", list), ("mutate.patchStrategicMerge.spec.containers[]", dict),
    ("mutate.patchStrategicMerge.spec.initContainers", list),
    ("mutate.patchStrategicMerge.spec.initContainers[]", dict),
    ("mutate.patchStrategicMerge.spec.imagePullSecrets", list),
    ("mutate.patchStrategicMerge.spec.imagePullSecrets[]", dict), ("preconditions", dict),
    ("preconditions.any", list), ("preconditions.any[]", dict), ("preconditions.all", list),
    ("preconditions.all[]", dict)))
_POLICY = (("spec", dict), ("spec.rules", list), ("spec.rules[]", dict), *_RULE)
IMPORT_SHAPES: dict[str, tuple[tuple[str, type], ...]] = {
    "Namespace": (),  # only its metadata (labels: Kyverno groups' namespaceSelector)
    **SHAPES,
    "Deployment": (("spec", dict), ("spec.template", dict), ("spec.template.spec", dict), *_POD_TEMPLATE),
    "ClusterPullSecret": (("spec", dict), ("spec.secretRef", dict), ("spec.secretRef.name", str),
                          ("spec.secretRef.namespace", str)),
    "ClusterPolicy": _POLICY,
    "Policy": _POLICY,
}
_NAMES: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}


def shape_problem(obj: dict[str, Any], shapes: dict[str, tuple[tuple[str, type], ...]] = SHAPES) -> str | None:
    """The first field (of those the audit, or with IMPORT_SHAPES the import, reads) with the wrong type."""
    for path, kind in (*_META, *shapes.get(str(obj.get("kind")), ())):
        for where, value in _values(obj, path.replace("[]", ".[]").split(".")):
            if value is not None and not isinstance(value, kind):
                return f"{where} must be {_NAMES[kind]}, not {type(value).__name__}"
    return None


def _values(node: Any, parts: list[str], where: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every node at `parts` (`*`: each mapping value, `[]`: each list item)."""
    if not parts:
        return [(where, node)]
    head, rest = parts[0], parts[1:]
    if head == "[]":
        items = list(enumerate(node)) if isinstance(node, list) else []
        return [v for i, item in items for v in _values(item, rest, f"{where}[{i}]")]
    if not isinstance(node, dict):
        return []
    if head == "*":
        return [v for k, item in node.items() for v in _values(item, rest, _child(where, str(k)))]
    return _values(node.get(head), rest, _child(where, head)) if head in node else []


def _child(where: str, key: str) -> str:
    """`data[".dockerconfigjson"]` for keys with dots, `metadata.name` otherwise."""
    return f'{where}["{key}"]' if "." in key else f"{where}.{key}".lstrip(".")
