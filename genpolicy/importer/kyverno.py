"""Kyverno policies teams copied from the samples: `sync-secrets` (clone a Secret into every Namespace)
and `add-imagepullsecrets` (add a Secret to Pods whose images come from a registry)."""

from __future__ import annotations

import re
from typing import Any

from genpolicy.importer.inputs import Manifest
from genpolicy.importer.model import ALL, Delivery, Imported

KINDS = ("ClusterPolicy", "Policy")


def kyverno(manifests: list[Manifest], result: Imported) -> None:
    """Clone rules become deliveries; mutation rules say which registry the Secret they add is for."""
    registries: dict[str, list[str]] = {}
    for item in manifests:
        if item.kind not in KINDS or not str(item.obj.get("apiVersion", "")).startswith("kyverno.io/"):
            continue
        for rule in (item.obj.get("spec") or {}).get("rules") or []:
            if not isinstance(rule, dict):
                continue
            if isinstance(rule.get("generate"), dict):
                _clone(item, rule, result)
            for secret, registry in _adds(rule):
                registries.setdefault(secret, [])
                if registry not in registries[secret]:
                    registries[secret].append(registry)
                _mutation(item, rule, secret, result)
    for secret, keys in registries.items():
        result.keys_by_name.setdefault(secret, sorted(keys))


def _clone(item: Manifest, rule: dict[str, Any], result: Imported) -> None:
    generate = rule["generate"]
    clone = generate.get("clone") or {}
    if generate.get("kind") != "Secret" or not clone:
        return
    name = str(generate.get("name") or clone.get("name"))
    delivery = Delivery("kyverno", f"{item.ref} rule {rule.get('name')}", name, item.where,
                        source=f"{clone.get('namespace', 'default')}/{clone.get('name', name)}",
                        stop=f"delete {item.ref} (with synchronize: true Kyverno then deletes the clones: "
                             "apply genpolicy's policies first, or set synchronize: false before deleting)")
    delivery.namespaces, delivery.excludes = _match_namespaces(rule)
    result.deliveries.append(delivery)


def _match_namespaces(rule: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Namespace names a rule matches (its Namespace `names`), and those it excludes."""
    def names(block: Any) -> list[str]:
        block = block if isinstance(block, dict) else {}
        entries = block.get("any") or block.get("all") or [block]
        found: list[str] = []
        for entry in entries if isinstance(entries, list) else []:
            resources = entry.get("resources") if isinstance(entry, dict) else None
            resources = resources if isinstance(resources, dict) else {}
            for key in ("names", "namespaces"):
                values = resources.get(key)
                found += [str(n) for n in values] if isinstance(values, list) else []
        return found

    return names(rule.get("match")) or [ALL], names(rule.get("exclude"))


def _adds(rule: dict[str, Any]) -> list[tuple[str, str]]:
    """(Secret name, registry key) pairs a mutate rule adds: `<(image): "reg/*"` anchors or registry preconditions."""
    patch = ((rule.get("mutate") or {}).get("patchStrategicMerge") or {}).get("spec") or {}
    secrets = [str(s.get("name")) for s in patch.get("imagePullSecrets") or [] if isinstance(s, dict)]
    if not secrets:
        return []
    hosts: list[str] = []
    for key in ("containers", "initContainers"):
        for container in patch.get(key) or []:
            image = str((container or {}).get("<(image)", ""))
            if image:
                # `reg/*`, `reg/org/app:*`, `reg/org/app@*`: the registry (and path) before the first wildcard
                hosts.append(re.sub(r"[/:@]?\*.*$", "", image).rstrip(":@/"))
    for condition in (rule.get("preconditions") or {}).get("any") or (rule.get("preconditions") or {}).get("all") or []:
        if isinstance(condition, dict) and "registry" in str(condition.get("value", "")):
            hosts.append(str(condition.get("key")))
    return [(s, h) for s in secrets for h in dict.fromkeys(hosts) if h]


def _mutation(item: Manifest, rule: dict[str, Any], secret: str, result: Imported) -> None:
    """A mutation without a clone rule for its Secret still needs the Secret everywhere it runs."""
    stop = f"delete {item.ref} once genpolicy's Pod-mutation policy is applied"
    for existing in result.deliveries:
        if existing.secret_name == secret and existing.tool == "kyverno":
            if item.where not in (existing.where, *(w for _, w, _ in existing.also)):
                existing.also.append((f"{item.ref} rule {rule.get('name')}", item.where, stop))
            return
    delivery = Delivery("kyverno", f"{item.ref} rule {rule.get('name')}", secret, item.where, [ALL], stop=stop)
    delivery.notes.append(f"the policy adds Secret {secret!r} to Pods but does not create it: whatever creates it "
                          "today (find it with kubectl get secret -A | grep " + secret + ") is a writer to stop too")
    result.deliveries.append(delivery)


def plain_secrets(manifests: list[Manifest], result: Imported) -> None:
    """Pull Secrets no other reader claimed: one static group per Secret name, over the namespaces holding it."""
    claimed = {d.secret_name for d in result.deliveries} | {d.source.partition("/")[2] for d in result.deliveries}
    by_name: dict[str, list[Manifest]] = {}
    for item in manifests:
        if item.kind == "Secret" and f"{item.namespace}/{item.name}" in result.keys_by_secret \
                and item.name not in claimed and item.namespace:
            by_name.setdefault(item.name, []).append(item)
    for name, items in sorted(by_name.items()):
        namespaces = sorted({i.namespace for i in items})
        accounts = sorted({a for ns in namespaces for a in result.accounts_by_secret.get((ns, name), set())})
        delivery = Delivery("secrets", f"Secret {name} ({len(namespaces)} namespaces)", name, items[0].where,
                            namespaces, service_accounts=accounts,
                            stop="whoever created these by hand or in CI (kubectl create secret docker-registry): "
                                 "stop that job; genpolicy's Secrets replace them in place (same name)")
        delivery.keys = sorted({k for i in items for k in result.keys_by_secret[f'{i.namespace}/{i.name}']})
        result.deliveries.append(delivery)
