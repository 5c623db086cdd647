"""A `kyverno test` suite rendered next to the policies, in the layout the declared version's CLI reads.

For every Kyverno group: a Namespace the group selects and one it excludes (both labelled for
label-selected groups, so exclusion is what keeps the second out), the source Secrets (a
`cloneSourceResource` per ClusterPolicy rule, a `context` file for GeneratingPolicies), and Pods
whose images come from each registry (containers and init containers), from two registries, from
none, that already list a Secret of their own or the registry's own Secret, and one in the excluded
namespace; with the expected patched Pods (merge order as that engine produces it) and generated
Secrets (data and labels).

Spellings by CLI version (cmd/cli/kubectl-kyverno/apis/v1alpha1 at each tag): `patchedResource`
until 1.13 (CLIs before 1.13.2 reject `patchedResources`, 1.15+ reject `patchedResource`),
`patchedResources` from 1.14; a `context` file of sources for the GeneratingPolicies of 1.19+.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

from genpolicy.render import metadata
from genpolicy.render.image_match import DOCKER_HUB, namespace_regex, split_key
from genpolicy.render.kyverno import clone_labels
from genpolicy.specfile import Resolved
from genpolicy.specfile.checks import SYSTEM_NAMESPACES, KyvernoTarget
from genpolicy.specfile.model import KyvernoSettings, LabelSelector, Registry

UNMATCHED_IMAGE = "unmatched.invalid/genpolicy/none:1"
OWN_SECRET = "own-pull-secret"
SAMPLE_AUTH = base64.b64encode(b"genpolicy-sample:not-a-credential").decode()


@dataclass
class TestSuite:
    """Objects for resources.yaml, expected results, extra files, sources and namespace labels."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    namespace_labels: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class PodCase:
    name: str
    namespace: str
    images: list[str]
    init: list[str] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)
    excluded: bool = False


def sample_image(key: str, name: str) -> str:
    """An image reference the kubelet would match against a registry key."""
    if key == DOCKER_HUB:
        return f"{name}:1.0"
    host, port, path = split_key(key)
    host = ".".join("sample" if label == "*" else label.replace("*", "x") for label in host.split("."))
    prefix = host + (f":{port}" if port else "")
    if path.endswith("/"):
        return f"{prefix}{path}{name}:1.0"
    return f"{prefix}{path}/{name}:1.0" if path else f"{prefix}/{name}:1.0"


def patched_key(minor: int) -> str:
    return "patchedResource" if minor <= 13 else "patchedResources"


def _namespace(name: str, target: KyvernoTarget) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    labels = _labels_for(target.selector)
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def sample_namespace(target: KyvernoTarget) -> dict[str, Any]:
    """A Namespace the group's policies select."""
    literal = next((n for n in target.names if n not in target.excludes), None)
    name = re.sub(r"[*?]", "x", literal) if literal else f"genpolicy-sample-{target.group}"
    return _namespace(name.strip("-")[:63] or "genpolicy-sample", target)


def excluded_namespace(target: KyvernoTarget, settings: KyvernoSettings) -> dict[str, Any]:
    """A Namespace the group would select but excludes: a user's exclusion (one the names match first),
    else the source namespace, which every group excludes."""
    selected = re.compile(namespace_regex(target.names)) if target.names else None
    automatic = {*SYSTEM_NAMESPACES, settings.namespace, settings.source_namespace}
    literals = [n for n in target.excludes if not re.search(r"[*?]", n) and n not in automatic]
    name = next((n for n in literals if selected is None or selected.fullmatch(n)),
                next(iter(literals), settings.source_namespace))
    return _namespace(name, target)


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


def _pod(case: PodCase) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(case.images)]}
    if case.init:
        spec["initContainers"] = [{"name": f"init{i}", "image": image} for i, image in enumerate(case.init)]
    if case.listed:
        spec["imagePullSecrets"] = [{"name": n} for n in case.listed]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": case.name, "namespace": case.namespace},
            "spec": spec}


def pod_cases(target: KyvernoTarget, keys: dict[str, str], ns: str, excluded_ns: str) -> list[PodCase]:
    """Every shape of Pod the mutation must handle, named `<group>.<shape>`."""
    g, registries = target.group, target.registries
    first = sample_image(keys[registries[0].name], "app")
    cases = []
    for registry in registries:  # `.` cannot occur in group or registry names: names never collide
        image = sample_image(keys[registry.name], "app")
        cases += [PodCase(f"{g}.reg-{registry.name}", ns, [image]),
                  PodCase(f"{g}.init-{registry.name}", ns, [UNMATCHED_IMAGE], [image])]
    if len(registries) > 1:
        second = sample_image(keys[registries[1].name], "b")
        cases.append(PodCase(f"{g}.two-registries", ns, [sample_image(keys[registries[0].name], "a"), second]))
        cases.append(PodCase(f"{g}.already-listed", ns, [first, second], listed=[registries[0].effective_secret_name]))
    else:
        cases.append(PodCase(f"{g}.already-listed", ns, [first], listed=[registries[0].effective_secret_name]))
    cases += [PodCase(f"{g}.own-secret", ns, [first], listed=[OWN_SECRET]),
              PodCase(f"{g}.no-registry", ns, [UNMATCHED_IMAGE]),
              PodCase(f"{g}.excluded", excluded_ns, [first], excluded=True)]
    return cases


def build_suite(resolved: Resolved, target: KyvernoTarget, clone_policy: str, mutate_policy: str) -> TestSuite:
    """Sample resources and expectations for one group, for the cluster's Kyverno version."""
    settings = target.cluster.kyverno
    assert settings is not None
    suite = TestSuite()
    namespace, excluded = sample_namespace(target), excluded_namespace(target, settings)
    ns, excluded_ns = namespace["metadata"]["name"], excluded["metadata"]["name"]
    suite.resources += [namespace, excluded]
    if target.selector is not None:
        labels = namespace["metadata"].get("labels", {})
        suite.namespace_labels += [{"name": ns, "labels": labels}, {"name": excluded_ns, "labels": labels}]
    keys = {r.name: resolved.server_keys[r.name] for r in target.registries}
    for case in pod_cases(target, keys, ns, excluded_ns):
        _add_pod_case(suite, resolved, target, settings, case, mutate_policy)
    _add_generate_cases(suite, resolved, target, settings, clone_policy, ns, excluded_ns)
    return suite


def _add_pod_case(suite: TestSuite, resolved: Resolved, target: KyvernoTarget, settings: KyvernoSettings,
                  case: PodCase, policy: str) -> None:
    pod = _pod(case)
    suite.resources.append(pod)
    wanted = [] if case.excluded else expected_secrets(resolved, target, case.images + case.init)
    patched_file = f"patched-{case.name}.yaml"
    suite.files[patched_file] = [_patched(pod, merged_pull_secrets(case.listed, wanted, settings))]
    base = {"policy": policy, "resources": [f"{case.namespace}/{case.name}"], "kind": "Pod",
            patched_key(settings.minor): patched_file}
    if settings.uses_cel:
        suite.results.append({**base, "isMutatingPolicy": True, "result": "skip" if case.excluded else "pass"})
        return
    for registry in target.registries:  # a rule whose Secret the Pod already lists patches nothing: skip
        applies = registry.effective_secret_name in wanted and registry.effective_secret_name not in case.listed
        suite.results.append({**base, "rule": f"add-{registry.name}", "result": "pass" if applies else "skip"})


def merged_pull_secrets(listed: list[str], wanted: list[str], settings: KyvernoSettings) -> list[str]:
    """The Pod's imagePullSecrets after the mutation, in the order the engine writes them.

    CEL (JSON patch): the Pod's own list, then the missing names in registry order. ClusterPolicy
    (one strategic-merge patch per rule, in rule order): Kyverno's merge puts each new name first
    (checked with the real CLIs, see docs/kyverno.md), so the last rule's Secret leads.
    """
    merged = list(listed)
    for name in wanted:
        if name in merged:
            continue
        if settings.uses_cel:
            merged.append(name)
        else:
            merged.insert(0, name)
    return merged


def _add_generate_cases(suite: TestSuite, resolved: Resolved, target: KyvernoTarget, settings: KyvernoSettings,
                        policy: str, ns: str, excluded_ns: str) -> None:
    sources = [source_secret(resolved, settings, r) for r in target.registries]
    if settings.uses_cel:
        generated_file = f"generated-{target.group}.yaml"  # one file: the CLI compares all of a policy's clones
        suite.files[generated_file] = [cel_clone(resolved, settings, s, ns) for s in sources]
        suite.sources += sources
        suite.results.append({"policy": policy, "resources": [ns], "kind": "Namespace", "result": "pass",
                              "isGeneratingPolicy": True, "generatedResource": generated_file})
        return
    # No row for the excluded Namespace: a policy that does not match it gives the CLI no response,
    # which it reports as "Not found" (tests/test_kyverno_cli.py checks exclusion with `kyverno apply`).
    for registry, source in zip(target.registries, sources, strict=True):
        source_file = f"source-{target.group}.{registry.name}.yaml"
        generated_file = f"generated-{target.group}.{registry.name}.yaml"
        suite.files[source_file] = [source]
        suite.files[generated_file] = [{**source, "metadata": {**source["metadata"], "namespace": ns,
                                                               "labels": clone_labels(resolved, settings)}}]
        suite.results.append({"policy": policy, "rule": f"clone-{registry.name}", "kind": "Namespace",
                              "resources": [ns], "result": "pass", "generatedResource": generated_file,
                              "cloneSourceResource": source_file})


def source_secret(resolved: Resolved, settings: KyvernoSettings, registry: Registry) -> dict[str, Any]:
    """A stand-in for the source Secret the backend creates (a sample auth, never a credential)."""
    config = {"auths": {resolved.server_keys[registry.name]: {"auth": SAMPLE_AUTH}}}
    encoded = base64.b64encode(json.dumps(config, separators=(",", ":")).encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": registry.effective_secret_name, "namespace": settings.source_namespace,
                         "labels": metadata.labels(resolved.spec)},
            "data": {".dockerconfigjson": encoded}}


def cel_clone(resolved: Resolved, settings: KyvernoSettings, source: dict[str, Any], namespace: str,
              ) -> dict[str, Any]:
    """What the GeneratingPolicy generates from a source: the source itself in the target namespace."""
    return {"apiVersion": "v1", "kind": "Secret", "type": source["type"],
            "metadata": {"name": source["metadata"]["name"], "namespace": namespace,
                         "labels": clone_labels(resolved, settings)},
            "data": source["data"]}


def _patched(pod: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    patched = {**pod, "spec": {k: v for k, v in pod["spec"].items() if k != "imagePullSecrets"}}
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
