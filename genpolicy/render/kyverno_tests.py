"""A `kyverno test` suite rendered next to the policies (run it with the Kyverno CLI in CI).

For every Kyverno group: a sample Namespace that the group selects, and Pods whose images come
from each registry (in containers and in init containers), from two registries at once, and from
no registry of the group; with the expected patched Pods and generated Secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from genpolicy.render.image_match import DOCKER_HUB, split_key
from genpolicy.spec import Resolved
from genpolicy.spec.checks import KyvernoTarget
from genpolicy.spec.model import LabelSelector

UNMATCHED_IMAGE = "unmatched.invalid/genpolicy/none:1"


@dataclass
class TestSuite:
    """Objects for resources.yaml, expected results, and the files holding expectations."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def sample_image(key: str, name: str) -> str:
    """An image reference the kubelet would match against a registry key."""
    if key == DOCKER_HUB:
        return f"{name}:1.0"
    host, port, path = split_key(key)
    host = ".".join("sample" if label == "*" else label.replace("*", "x") for label in host.split("."))
    prefix = host + (f":{port}" if port else "")
    return f"{prefix}{path}/{name}:1.0" if path else f"{prefix}/{name}:1.0"


def sample_namespace(target: KyvernoTarget) -> dict[str, Any]:
    """A Namespace the group's policies select."""
    literal = next((n for n in target.names if n not in target.excludes), None)
    name = re.sub(r"[*?]", "x", literal) if literal else f"genpolicy-sample-{target.group}"
    name = name.strip("-")[:63] or "genpolicy-sample"
    meta: dict[str, Any] = {"name": name}
    labels = _labels_for(target.selector)
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _labels_for(selector: LabelSelector | None) -> dict[str, str]:
    if selector is None:
        return {}
    labels = dict(selector.match_labels)
    for expr in selector.match_expressions:
        if expr.operator == "In" and expr.values:
            labels[expr.key] = expr.values[0]
        elif expr.operator == "Exists":
            labels[expr.key] = "genpolicy-sample"
    return dict(sorted(labels.items()))


def _pod(name: str, namespace: str, images: list[str], init: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": f"init{i}", "image": image} for i, image in enumerate(init)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def build_suite(resolved: Resolved, target: KyvernoTarget, clone_policy: str, mutate_policy: str,
                uses_cel: bool) -> TestSuite:
    """Sample resources and expectations for one group."""
    suite = TestSuite()
    namespace = sample_namespace(target)
    ns = namespace["metadata"]["name"]
    suite.resources.append(namespace)
    keys = {r.name: resolved.server_keys[r.name] for r in target.registries}
    cases: list[tuple[str, list[str], list[str]]] = []
    for registry in target.registries:
        image = sample_image(keys[registry.name], "app")
        cases.append((f"{target.group}-{registry.name}", [image], []))
        cases.append((f"{target.group}-{registry.name}-init", [UNMATCHED_IMAGE], [image]))
    if len(target.registries) > 1:
        first, second = target.registries[0], target.registries[1]
        cases.append((f"{target.group}-two-registries",
                      [sample_image(keys[first.name], "a"), sample_image(keys[second.name], "b")], []))
    cases.append((f"{target.group}-no-registry", [UNMATCHED_IMAGE], []))
    for pod_name, images, init in cases:
        pod = _pod(pod_name, ns, images, init)
        suite.resources.append(pod)
        secrets = expected_secrets(resolved, target, images + init)
        patched_file = f"patched-{pod_name}.yaml"
        suite.files[patched_file] = [_patched(pod, secrets)]
        for rule_registry in ([None] if uses_cel else list(target.registries)):
            applies = bool(secrets) if rule_registry is None else rule_registry.effective_secret_name in secrets
            result = "pass" if applies else "skip"
            entry: dict[str, Any] = {"policy": mutate_policy, "resources": [f"{ns}/{pod_name}"], "kind": "Pod",
                                     "result": result, "patchedResources": patched_file}
            if rule_registry is not None:
                entry["rule"] = f"add-{rule_registry.name}"
            else:
                entry["isMutatingPolicy"] = True
            suite.results.append(entry)
    for registry in target.registries:
        generated_file = f"generated-{target.group}-{registry.name}.yaml"
        suite.files[generated_file] = [{
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": registry.effective_secret_name, "namespace": ns},
        }]
        entry = {"policy": clone_policy, "resources": [ns], "kind": "Namespace", "result": "pass",
                 "generatedResource": generated_file}
        if uses_cel:
            entry["isGeneratingPolicy"] = True
        else:
            entry["rule"] = f"clone-{registry.name}"
        suite.results.append(entry)
    return suite


def _patched(pod: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    patched = {**pod, "spec": dict(pod["spec"])}
    if secrets:
        patched["spec"]["imagePullSecrets"] = [{"name": s} for s in secrets]
    return patched


def expected_secrets(resolved: Resolved, target: KyvernoTarget, images: list[str]) -> list[str]:
    """The Secret names the group's mutation adds for these images (registry order), kubelet semantics."""
    from genpolicy.registry import normalize_image, urls_match

    wanted = []
    for registry in target.registries:
        key = resolved.server_keys[registry.name]
        if any(urls_match(key, normalize_image(image).lookup_key) for image in images):
            wanted.append(registry.effective_secret_name)
    return wanted
