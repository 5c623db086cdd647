"""What checking resolves a spec into: the namespace and Kyverno targets of every cluster."""

from __future__ import annotations

from dataclasses import dataclass, field

from genpolicy.specfile.engine_checks import EngineUse, engine_uses
from genpolicy.specfile.loader import LoadedYaml
from genpolicy.specfile.model import Cluster, HelmValues, LabelSelector, Registry, SecretMode, Spec


@dataclass(frozen=True)
class NamespaceTarget:
    """Everything genpolicy renders for one namespace on one cluster."""

    cluster: Cluster
    group: str
    namespace: str
    registries: tuple[Registry, ...]
    service_accounts: tuple[str, ...]
    secret_mode: SecretMode
    merged_secret_name: str
    helm_values: HelmValues
    external_secret_kind: str = "ExternalSecret"


@dataclass(frozen=True)
class KyvernoTarget:
    """A namespace group distributed by Kyverno policies on one cluster."""

    cluster: Cluster
    group: str
    names: tuple[str, ...]  # names and wildcards; empty: every namespace (subject to the selector)
    selector: LabelSelector | None
    excludes: tuple[str, ...]
    registries: tuple[Registry, ...]
    helm_values: HelmValues


@dataclass
class Resolved:
    spec: Spec
    loaded: LoadedYaml
    server_keys: dict[str, str] = field(default_factory=dict)  # registry name -> auths key
    targets: list[NamespaceTarget] = field(default_factory=list)
    kyverno_targets: list[KyvernoTarget] = field(default_factory=list)
    _uses: tuple[tuple[int, int], list[tuple[Cluster, Registry]]] | None = field(
        default=None, init=False, repr=False, compare=False)

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
