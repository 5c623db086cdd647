"""What checking resolves a spec into: the namespace and Kyverno targets of every cluster."""

from __future__ import annotations

from genpolicy.record import Frozen, Record, set_field
from genpolicy.specfile.engine_checks import EngineUse, engine_uses
from genpolicy.specfile.loader import LoadedYaml
from genpolicy.specfile.model import Cluster, HelmValues, LabelSelector, Registry, SecretMode, Spec


class NamespaceTarget(Frozen):
    """Everything genpolicy renders for one namespace on one cluster."""

    __slots__ = ("cluster", "group", "namespace", "registries", "service_accounts", "secret_mode",
                 "merged_secret_name", "helm_values", "external_secret_kind")
    cluster: Cluster
    group: str
    namespace: str
    registries: tuple[Registry, ...]
    service_accounts: tuple[str, ...]
    secret_mode: SecretMode
    merged_secret_name: str
    helm_values: HelmValues
    external_secret_kind: str

    def __init__(self, cluster: Cluster, group: str, namespace: str, registries: tuple[Registry, ...],
                 service_accounts: tuple[str, ...], secret_mode: SecretMode, merged_secret_name: str,
                 helm_values: HelmValues, external_secret_kind: str = "ExternalSecret") -> None:
        set_field(self, "cluster", cluster)
        set_field(self, "group", group)
        set_field(self, "namespace", namespace)
        set_field(self, "registries", registries)
        set_field(self, "service_accounts", service_accounts)
        set_field(self, "secret_mode", secret_mode)
        set_field(self, "merged_secret_name", merged_secret_name)
        set_field(self, "helm_values", helm_values)
        set_field(self, "external_secret_kind", external_secret_kind)


class KyvernoTarget(Frozen):
    """A namespace group distributed by Kyverno policies on one cluster."""

    __slots__ = ("cluster", "group", "names", "selector", "excludes", "registries", "helm_values")
    cluster: Cluster
    group: str
    names: tuple[str, ...]  # names and wildcards; empty: every namespace (subject to the selector)
    selector: LabelSelector | None
    excludes: tuple[str, ...]
    registries: tuple[Registry, ...]
    helm_values: HelmValues

    def __init__(self, cluster: Cluster, group: str, names: tuple[str, ...], selector: LabelSelector | None,
                 excludes: tuple[str, ...], registries: tuple[Registry, ...], helm_values: HelmValues) -> None:
        set_field(self, "cluster", cluster)
        set_field(self, "group", group)
        set_field(self, "names", names)
        set_field(self, "selector", selector)
        set_field(self, "excludes", excludes)
        set_field(self, "registries", registries)
        set_field(self, "helm_values", helm_values)


class Resolved(Record):
    """A checked spec with its targets; `_uses` keeps registry_uses' answer (private: not compared, not shown)."""

    __slots__ = ("spec", "loaded", "server_keys", "targets", "kyverno_targets", "_uses")
    spec: Spec
    loaded: LoadedYaml
    server_keys: dict[str, str]  # registry name -> auths key
    targets: list[NamespaceTarget]
    kyverno_targets: list[KyvernoTarget]
    _uses: tuple[tuple[int, int], list[tuple[Cluster, Registry]]] | None

    def __init__(self, spec: Spec, loaded: LoadedYaml, server_keys: dict[str, str] | None = None,
                 targets: list[NamespaceTarget] | None = None,
                 kyverno_targets: list[KyvernoTarget] | None = None) -> None:
        self.spec = spec
        self.loaded = loaded
        self.server_keys = {} if server_keys is None else server_keys
        self.targets = [] if targets is None else targets
        self.kyverno_targets = [] if kyverno_targets is None else kyverno_targets
        self._uses = None

    def registry_uses(self) -> list[tuple[Cluster, Registry]]:
        """Every (cluster, registry) pair some group renders, static or Kyverno, in spec order.

        Asked for several times per render (lint, backends, credentials) over every target, so kept, stamped
        with the counts of targets: they are only ever appended to (genpolicy.specfile.group_checks)."""
        stamp = (len(self.targets), len(self.kyverno_targets))
        if self._uses is None or self._uses[0] != stamp:
            pairs: dict[tuple[str, str], tuple[Cluster, Registry]] = {}
            groups: list[tuple[Cluster, tuple[Registry, ...]]] = [(t.cluster, t.registries) for t in self.targets]
            groups += [(t.cluster, t.registries) for t in self.kyverno_targets]
            for cluster, registries in groups:
                for registry in registries:
                    pairs[cluster.name, registry.name] = (cluster, registry)  # as a dict display: the last wins
            self._uses = (stamp, list(pairs.values()))
        return list(self._uses[1])

    def engine_uses(self) -> list[EngineUse]:
        """The clusters' engineCredentials, resolved (genpolicy.specfile.engine_checks)."""
        return list(engine_uses(self.spec, self.server_keys))

    def credential_uses(self) -> list[tuple[Cluster, Registry]]:
        """registry_uses plus the (cluster, registry) pairs engine credentials render Secrets for."""
        pairs = self.registry_uses() + [(u.cluster, u.registry) for u in self.engine_uses() if u.needs_secret]
        return list({(c.name, r.name): (c, r) for c, r in pairs}.values())

    def used_registries(self) -> list[Registry]:
        """Registries some group or engine credential renders on some cluster, each once, in spec order of first use."""
        return list({r.name: r for _, r in self.credential_uses()}.values())

    def kyverno_targets_for(self, cluster: str) -> list[KyvernoTarget]:
        return [t for t in self.kyverno_targets if t.cluster.name == cluster]

    def targets_for(self, cluster: str) -> list[NamespaceTarget]:
        return [t for t in self.targets if t.cluster.name == cluster]
