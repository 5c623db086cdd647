"""From what the import found to a starter spec (a dict, dumped as YAML) and its cut-over checklist.

Credentials are referenced, never copied: each registry reads `<NAME>_USERNAME` / `<NAME>_PASSWORD`
from the environment at render time, and the checklist says where today's values live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genpolicy.importer.model import ALL, Delivery, Imported, slug


@dataclass(frozen=True)
class Settings:
    cluster: str = "imported"
    kubernetes_version: str = "1.33"
    kyverno_version: str = "1.15"
    backend: str = "sealed-secrets"
    certificate: str = "sealed-secrets.pem"


@dataclass
class Built:
    spec: dict[str, Any]
    checklist: list[str]
    env: list[tuple[str, str]] = field(default_factory=list)  # (variable, where today's value lives)
    unresolved: list[Delivery] = field(default_factory=list)


class _Builder:
    def __init__(self, imported: Imported, settings: Settings) -> None:
        self.imported, self.settings = imported, settings
        self.registries: dict[str, dict[str, Any]] = {}  # auths key -> registry entry
        self.notes: list[str] = []
        self.groups: list[dict[str, Any]] = []
        self.env: list[tuple[str, str]] = []
        self.unresolved: list[Delivery] = []
        self.static: dict[str, list[tuple[Delivery, list[str]]]] = {}  # namespace -> what lands there

    def keys(self, delivery: Delivery) -> list[str]:
        source_name = delivery.source.partition("/")[2]
        return (delivery.keys or self.imported.keys_by_secret.get(delivery.source)
                or self.imported.keys_by_name.get(delivery.secret_name)
                or self.imported.keys_by_name.get(source_name) or [])

    def registry(self, key: str, secret_name: str | None, where: str) -> str:
        """The spec's registry for a key (one per key: the spec refuses two with the same auths key)."""
        if key in self.registries:
            existing = self.registries[key]
            current = existing.get("secretName", f"{existing['name']}-pull")
            if secret_name and secret_name != current:
                self.notes.append(f"registry {key} is delivered as Secret {secret_name!r} too ({where}); the spec "
                                  f"writes one Secret per registry, {current!r}: Pods and charts listing "
                                  f"{secret_name!r} must list {current!r} (or set secretName)")
            return str(existing["name"])
        name = self._unique(slug(key))
        variable = ("REGISTRY_" if name[0].isdigit() else "") + name.upper().replace("-", "_")
        entry: dict[str, Any] = {"name": name, "server": key}
        if secret_name and secret_name != f"{name}-pull":
            entry["secretName"] = secret_name
        entry["credentials"] = {"fromEnv": {"username": f"{variable}_USERNAME", "password": f"{variable}_PASSWORD"}}
        self.registries[key] = entry
        self.env.append((f"{variable}_USERNAME / {variable}_PASSWORD", f"registry {key}: {where}"))
        return name

    def _unique(self, name: str) -> str:
        """`name`, or `name-2`, `name-3`... when another key slugged to it (harbor.example.com, harbor-example.com)."""
        taken = {str(e["name"]) for e in self.registries.values()}
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name[:60]}-{n}"
        return candidate

    def group(self, delivery: Delivery) -> None:
        keys = self.keys(delivery)
        if not keys:
            self.unresolved.append(delivery)
            return
        where = f"Secret {delivery.source or delivery.secret_name} today"
        if delivery.everywhere:
            names = [self.registry(k, delivery.secret_name if len(keys) == 1 else f"{delivery.secret_name}-{slug(k)}",
                                   where) for k in keys]
            group: dict[str, Any] = {"name": self._group_name(delivery.tool, delivery.secret_name),
                                     "registries": sorted(set(names))}
            self._kyverno_group(group, delivery)
            self.groups.append(group)
            return
        for namespace in delivery.namespaces:
            self.static.setdefault(namespace, []).append((delivery, keys))

    def _static_groups(self) -> None:
        """One group per set of namespaces that get the same Secrets and ServiceAccounts (groups may not overlap)."""
        profiles: dict[tuple[Any, ...], list[str]] = {}
        for namespace, found in sorted(self.static.items()):
            profiles.setdefault(self._profile(namespace, found), []).append(namespace)
        for (registries, accounts, merged, label), namespaces in profiles.items():
            group: dict[str, Any] = {"name": self._group_name(*label), "namespaces": namespaces,
                                     "registries": list(registries), "serviceAccounts": list(accounts)}
            if merged:
                group.update(secretMode="merged", mergedSecretName=merged)
            self.groups.append(group)

    def _profile(self, namespace: str, found: list[tuple[Delivery, list[str]]]) -> tuple[Any, ...]:
        merged = found[0][0].secret_name if len(found) == 1 and len(found[0][1]) > 1 else None
        names: set[str] = set()
        for delivery, keys in found:
            where = f"Secret {delivery.source or delivery.secret_name} today"
            for key in keys:
                secret = None if merged else (delivery.secret_name if len(keys) == 1
                                              else f"{delivery.secret_name}-{slug(key)}")
                names.add(self.registry(key, secret, where))
        accounts = sorted({a for delivery, _ in found for a in self._accounts(namespace, delivery)})
        label = (found[0][0].tool, "-".join(sorted({d.secret_name for d, _ in found})))
        return tuple(sorted(names)), tuple(accounts), merged, label

    def _accounts(self, namespace: str, delivery: Delivery) -> set[str]:
        """Hand-made Secrets: the accounts that list them in that namespace; a controller: the ones it patched."""
        if delivery.tool == "secrets":
            return self.imported.accounts_by_secret.get((namespace, delivery.secret_name), set())
        return set(delivery.service_accounts)

    def _kyverno_group(self, group: dict[str, Any], delivery: Delivery) -> None:
        group["distribution"] = "kyverno"
        group["namespaces"] = [] if delivery.namespaces == [ALL] else sorted(delivery.namespaces)
        if not group["namespaces"]:
            del group["namespaces"]
        if delivery.excludes:
            group["excludeNamespaces"] = sorted(delivery.excludes)
        if delivery.selector:
            group["namespaceSelector"] = {"matchLabels": dict(sorted(delivery.selector.items()))}
        elif "namespaces" not in group:
            group["namespaces"] = ["*"]

    def _group_name(self, tool: str, secret_name: str) -> str:
        base = slug(f"{tool}-{secret_name}")[:55].rstrip("-")
        taken = {g["name"] for g in self.groups}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        return name

    def spec(self) -> dict[str, Any]:
        settings = self.settings
        cluster: dict[str, Any] = {"name": settings.cluster, "kubernetesVersion": settings.kubernetes_version,
                                   "backend": settings.backend}
        if settings.backend == "sealed-secrets":
            cluster["sealedSecrets"] = {"certificate": settings.certificate}
        if any(g.get("distribution") == "kyverno" for g in self.groups):
            cluster["kyverno"] = {"version": settings.kyverno_version}
        spec: dict[str, Any] = {"apiVersion": "genpolicy/v1alpha1", "kind": "PullSecretSpec", "outputDir": "out"}
        if settings.backend == "plain":
            spec["allowPlaintext"] = True
        spec["registries"] = sorted(self.registries.values(), key=lambda r: str(r["name"]))
        spec["clusters"] = [cluster]
        spec["namespaceGroups"] = self.groups
        return spec


def build(imported: Imported, settings: Settings) -> Built:
    builder = _Builder(imported, settings)
    for delivery in imported.deliveries:
        builder.group(delivery)
    builder._static_groups()
    spec = builder.spec() if builder.groups else {}
    imported.notes += builder.notes
    return Built(spec, [], builder.env, builder.unresolved)
