"""Audit checks over Pods: failed pulls explained with the kubelet's matching, images alive only in a node cache.

The keyring is the Pod's own: the Secrets its `spec.imagePullSecrets` names, read from the export
(as the kubelet reads them), then the cluster's node credential providers from the spec. explain.py
does the matching, so the reasons read exactly as `genpolicy explain` prints them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from genpolicy.audit.live import LiveObject, pull_entries
from genpolicy.audit.rules import AuditContext, Finding
from genpolicy.errors import GenpolicyError
from genpolicy.explain import Explanation, explain
from genpolicy.registry import Entry, InvalidDockerConfig, InvalidImage, normalize_image, urls_match

PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff")
MAX_NEAR_MISSES = 3


@dataclass(frozen=True)
class ContainerState:
    name: str
    image: str
    waiting: str  # the waiting reason, '' if not waiting
    running: bool
    pull_policy: str


def pull_failures(ctx: AuditContext) -> Iterator[Finding]:
    for pod in ctx.live.of("Pod"):
        for container in _containers(pod.obj):
            if container.waiting in PULL_FAILURES:
                yield ctx.at("AU008", pod, _failure_message(ctx, pod, container))


def node_cache_only(ctx: AuditContext) -> Iterator[Finding]:
    private = sorted(set(ctx.resolved.server_keys.values()))
    for pod in ctx.live.of("Pod"):
        for container in _containers(pod.obj):
            if not container.running or container.pull_policy == "Always":
                continue
            key = _private_key(container.image, private)
            if key is None or explain_for(ctx, pod, container.image).attempts:
                continue
            yield ctx.at("AU009", pod, (
                f"container {container.name!r} runs {container.image} (registry key {key} of the spec) but the "
                "Pod's pull secrets hold no credential for it and no node provider serves it: it runs from "
                "the node's image cache (imagePullPolicy " + (container.pull_policy or "IfNotPresent") + "); "
                "a new node, image garbage collection, or the kubelet's KEP-2535 re-check of cached private "
                "images (KubeletEnsureSecretPulledImages, on by default from 1.35) makes the next start fail, "
                "unless the image is public"))


def _private_key(image: str, keys: list[str]) -> str | None:
    try:
        lookup = normalize_image(image).lookup_key
    except InvalidImage:
        return None
    return next((k for k in sorted(keys, key=len, reverse=True) if urls_match(k, lookup)), None)


def _containers(pod: dict[str, Any]) -> Iterator[ContainerState]:
    spec = pod.get("spec") or {}
    declared = {str(c.get("name")): c for key in ("initContainers", "containers") for c in spec.get(key) or []
                if isinstance(c, dict)}
    status = pod.get("status") or {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for item in status.get(key) or []:
            if not isinstance(item, dict):
                continue
            name = str(item.get("name"))
            container = declared.get(name, {})
            state = item.get("state") or {}
            waiting = state.get("waiting") or {}
            yield ContainerState(name, str(container.get("image") or item.get("image") or ""),
                                 str(waiting.get("reason") or ""), "running" in state,
                                 str(container.get("imagePullPolicy") or ""))


def pod_keyring(ctx: AuditContext, pod: LiveObject) -> tuple[list[tuple[str, Mapping[str, Entry]]], list[str]]:
    """(the Pod's pull secrets as the kubelet reads them, in order; notes on listed Secrets it cannot use)."""
    ring: list[tuple[str, Mapping[str, Entry]]] = []
    notes: list[str] = []
    for item in (pod.obj.get("spec") or {}).get("imagePullSecrets") or []:
        name = str(item.get("name")) if isinstance(item, dict) else ""
        secret = ctx.live.get("Secret", pod.namespace, name)
        if secret is None:
            notes.append(f"listed Secret {name!r} is not in the export (missing: the kubelet skips it)")
            continue
        try:
            entries = pull_entries(secret.obj)
        except InvalidDockerConfig:
            entries = None
        if not entries:
            notes.append(f"listed Secret {name!r} holds no credential the kubelet reads")
            continue
        ring.append((f"Secret {pod.namespace}/{name}", entries))
    return ring, notes


def explain_for(ctx: AuditContext, pod: LiveObject, image: str) -> Explanation:
    ring, notes = pod_keyring(ctx, pod)
    nodes = [(key, "", "node credential provider") for key in ctx.expected.node_keys]
    try:
        result = explain(ring, image, nodes)
    except GenpolicyError:  # an image the kubelet rejects: explained by the caller
        result = Explanation(image, "")
    result.notes = notes + result.notes
    return result


def _failure_message(ctx: AuditContext, pod: LiveObject, container: ContainerState) -> str:
    try:
        normalize_image(container.image)
    except InvalidImage as exc:
        return f"container {container.name!r}: {container.waiting}: {exc}"
    result = explain_for(ctx, pod, container.image)
    head = f"container {container.name!r}: {container.waiting} for {container.image} (lookup key {result.lookup_key})"
    if result.attempts:
        tried = ", ".join(f"{a.key} (user {a.username or '-'}, {a.source})" for a in result.attempts)
        body = (f"the kubelet sent {tried} and the pull still failed: the credential is wrong or expired, or "
                "the image does not exist")
    else:
        body = "no pull secret of the Pod has a matching key, so the kubelet pulled anonymously"
    misses = [f"{m.key} from {m.source}: {m.reason}" for m in result.near_misses[:MAX_NEAR_MISSES]]
    extra = [*result.notes[:2], *(["not used: " + "; ".join(misses)] if misses else []), *_events(ctx, pod)]
    return "; ".join([head, body, *extra])


def _events(ctx: AuditContext, pod: LiveObject) -> list[str]:
    """The newest Failed event of the Pod, if the export has events."""
    found = []
    for event in ctx.live.of("Event"):
        involved = event.obj.get("involvedObject") or {}
        if (involved.get("kind"), involved.get("name"), event.namespace) != ("Pod", pod.name, pod.namespace):
            continue
        if event.obj.get("reason") == "Failed":
            found.append((str(event.obj.get("lastTimestamp") or ""), str(event.obj.get("message") or "")))
    if not found:
        return []
    message = max(found)[1]
    return [f"event: {message[:300]}"]
