"""A Pod's keyring from the spec: ServiceAccount, pod-level Secrets, Kyverno's mutation, node providers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from genpolicy.errors import Problem, UsageError
from genpolicy.explain.keyring import Explanation, explain
from genpolicy.nodes.answers import node_notes, pool_sources
from genpolicy.registry import (
    Entry,
    InvalidImage,
    normalize_image,
    urls_match,
)
from genpolicy.render.image_match import namespace_regex
from genpolicy.render.pullsecrets import pull_secrets
from genpolicy.specfile import NamespaceTarget, Resolved
from genpolicy.specfile.checks import KyvernoTarget
from genpolicy.specfile.model import Registry

SERVICE_ACCOUNT, HELM_VALUES, POD, KYVERNO, NODE = "service-account", "helm-values", "pod", "kyverno", "node"
"""Delivery paths: the patched ServiceAccount, the Helm values (explain's assumption when the account is not
patched), a Secret the Pod lists itself, Kyverno's Pod mutation, a node credential provider."""


@dataclass
class PodKeyring:
    """What a Pod gets from the spec: pull secrets in Pod order, then node credential sources."""

    secrets: list[tuple[str, Mapping[str, Entry]]] = field(default_factory=list)
    extra: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)  # source -> delivery path
    assumed: set[str] = field(default_factory=set)  # sources that exist only if a label selector matches
    unknown: list[str] = field(default_factory=list)  # Pod-level Secret names the spec does not render there
    static_groups: list[str] = field(default_factory=list)
    kyverno_groups: list[str] = field(default_factory=list)

    @property
    def managed(self) -> bool:
        """Does any group of the spec cover the namespace on this cluster?"""
        return bool(self.static_groups or self.kyverno_groups)

    def add(self, source: str, entries: Mapping[str, Entry], path: str, *, assumed: bool = False) -> None:
        self.secrets.append((source, entries))
        self._tag(source, path, assumed)

    def add_node(self, key: str, source: str) -> None:
        self.extra.append((key, "", source))
        self._tag(source, NODE, False)

    def _tag(self, source: str, path: str, assumed: bool) -> None:
        """A source is assumed only if every way it arrives is assumed."""
        seen = source in self.paths
        self.paths[source] = path
        if not assumed:
            self.assumed.discard(source)
        elif not seen:
            self.assumed.add(source)


def _username(resolved: Resolved, registry_name: str) -> str:
    registry = next(r for r in resolved.spec.registries if r.name == registry_name)
    creds = registry.credentials
    return creds.username or f"<{creds.kind.replace('_', ' ')}>"


def _entries(resolved: Resolved, registries: tuple[Registry, ...]) -> dict[str, Entry]:
    """A Secret's auths as the kubelet reads them (the spec's literal usernames, never a password)."""
    return {resolved.server_keys[r.name]: Entry(_username(resolved, r.name), "") for r in registries}


def check_cluster(resolved: Resolved, cluster: str | None) -> str:
    """The cluster's name (default: the spec's first); a UsageError for an unknown one."""
    clusters = [c.name for c in resolved.spec.clusters]
    name = cluster or clusters[0]
    if name not in clusters:
        raise UsageError("unknown cluster", [Problem("--cluster", message=f"unknown cluster {name!r}")])
    return name


def pod_keyring(resolved: Resolved, cluster: str, namespace: str, service_account: str | None = None,
                pod_secrets: Sequence[str] | None = None, images: Sequence[str] | None = None) -> PodKeyring:
    """The ordered pull-secret keyring a new Pod gets from the spec.

    `pod_secrets`: the Pod's own `imagePullSecrets` names (None: unknown, explain's view: the
    ServiceAccount's or the Helm values' Secrets). `images`: every image of the Pod (Kyverno adds
    only the Secrets of registries they come from; None: all of the group's registries).
    """
    ring = PodKeyring()
    account = service_account or "default"
    static = [t for t in resolved.targets_for(cluster) if t.namespace == namespace]
    selector_notes: list[str] = []
    groups = [g for g in resolved.kyverno_targets_for(cluster)
              if _kyverno_selects(g.names, g.excludes, namespace, g.selector is not None, selector_notes, g.group)]
    ring.static_groups = [t.group for t in static]
    ring.kyverno_groups = [g.group for g in groups]
    listed = [name for name in pod_secrets or () if name]
    if pod_secrets is None:
        _explain_static(ring, resolved, static, account)
    else:
        _pod_level(ring, resolved, namespace, listed, _known_secrets(static, groups))
        _service_account(ring, resolved, static, account, listed)
    ring.notes += selector_notes
    for group in groups:
        _kyverno(ring, resolved, namespace, group, images, listed)
    # a kubelet credential provider runs on the nodes: it serves every namespace of the cluster
    pools = pool_sources(next(c for c in resolved.spec.clusters if c.name == cluster))
    node_served = tuple(r for c, r in resolved.registry_uses() if c.name == cluster and r.credentials.node
                        and r.credentials.node.provider not in {s.name for s in pools})  # the pools say how
    _node_sources(ring, resolved, node_served)
    for source in pools:
        ring.add_node(source.pattern, source.source)  # node pools' plugins: tried after the pull secrets
    return ring


def _explain_static(ring: PodKeyring, resolved: Resolved, static: list[NamespaceTarget], account: str) -> None:
    """Explain's view: the Secrets reach the Pod through the patched ServiceAccount, else the Helm values."""
    for target in static:
        for secret in pull_secrets(target):
            patched = account in target.service_accounts
            how = "ServiceAccount " + account if patched else "Helm values"
            ring.add(f"Secret {target.namespace}/{secret.name} (attached by {how})",
                     _entries(resolved, secret.registries), SERVICE_ACCOUNT if patched else HELM_VALUES)
        if account not in target.service_accounts:
            ring.notes.append(f"ServiceAccount {account!r} is not patched by group {target.group!r}: only Pods "
                              "whose chart sets the Helm values get these Secrets")
        ring.notes.append("ServiceAccount secrets are copied into a Pod only if the Pod lists none of its own, "
                          "and only when the Pod is created")


def _known_secrets(static: list[NamespaceTarget],
                   groups: list[KyvernoTarget]) -> dict[str, tuple[tuple[Registry, ...], bool]]:
    """Secret name -> (registries, exists only if a label selector matches) for what the spec puts there."""
    known: dict[str, tuple[tuple[Registry, ...], bool]] = {}
    for target in static:
        known.update({s.name: (s.registries, False) for s in pull_secrets(target)})
    for group in groups:
        for registry in group.registries:
            if registry.credentials.node is None:
                known.setdefault(registry.effective_secret_name, ((registry,), group.selector is not None))
    return known


def _pod_level(ring: PodKeyring, resolved: Resolved, namespace: str, listed: list[str],
               known: dict[str, tuple[tuple[Registry, ...], bool]]) -> None:
    """The Pod's own imagePullSecrets, in order; names the spec does not render are unknown content."""
    for name in listed:
        if name not in known:
            ring.unknown.append(name)
            ring.notes.append(unknown_secret_note(namespace, name))
            continue
        registries, assumed = known[name]
        ring.add(f"Secret {namespace}/{name} (listed by the Pod: Helm values)", _entries(resolved, registries),
                 POD, assumed=assumed)


def unknown_secret_note(namespace: str, name: str) -> str:
    return (f"Secret {namespace}/{name} is listed by the Pod but not rendered by the spec in this namespace: "
            "its content is unknown and not counted")


def _service_account(ring: PodKeyring, resolved: Resolved, static: list[NamespaceTarget], account: str,
                     listed: list[str]) -> None:
    """The ServiceAccount admission plugin copies the account's list only into a Pod that lists none."""
    for target in static:
        secrets = pull_secrets(target)
        if not secrets:
            continue
        patched = account in target.service_accounts
        if listed and patched:
            ring.notes.append(f"the Pod lists its own imagePullSecrets, so the Secrets of ServiceAccount "
                              f"{account!r} ({', '.join(s.name for s in secrets)}) are not copied into it")
        elif not listed and not patched:
            ring.notes.append(f"ServiceAccount {account!r} is not patched by group {target.group!r} and the Pod "
                              "lists no imagePullSecrets: add the account to `serviceAccounts` or set the "
                              "chart's Helm values")
        elif not listed:
            for secret in secrets:
                ring.add(f"Secret {target.namespace}/{secret.name} (attached by ServiceAccount {account})",
                         _entries(resolved, secret.registries), SERVICE_ACCOUNT)


def _kyverno(ring: PodKeyring, resolved: Resolved, namespace: str, group: KyvernoTarget,
             images: Sequence[str] | None, listed: list[str]) -> None:
    """Kyverno's Pod mutation appends the missing Secrets of the registries the Pod's images come from."""
    for registry in group.registries:
        key = resolved.server_keys[registry.name]
        if registry.credentials.node is not None or registry.effective_secret_name in listed:
            continue
        if images is not None and not _any_image_from(key, images):
            continue
        ring.add(f"Secret {namespace}/{registry.effective_secret_name} (added by Kyverno group {group.group!r})",
                 _entries(resolved, (registry,)), KYVERNO, assumed=group.selector is not None)


def _any_image_from(key: str, images: Sequence[str]) -> bool:
    for image in images:
        try:
            if urls_match(key, normalize_image(image).lookup_key):
                return True
        except InvalidImage:
            continue
    return False


def _node_sources(ring: PodKeyring, resolved: Resolved, registries: tuple[Registry, ...]) -> None:
    for registry in registries:
        node = registry.credentials.node
        if node is not None:
            ring.add_node(resolved.server_keys[registry.name], f"node credential provider {node.provider}")


def explain_spec(resolved: Resolved, image: str, namespace: str, service_account: str | None,
                 cluster: str | None) -> Explanation:
    """What a new Pod in `namespace` (using `service_account`) would get from the spec."""
    name = check_cluster(resolved, cluster)
    ring = pod_keyring(resolved, name, namespace, service_account)
    notes = list(ring.notes)
    if not ring.static_groups and not ring.secrets:
        notes.append(f"namespace {namespace!r} gets no pull Secret from this spec on cluster {name!r}")
    result = explain(ring.secrets, image, ring.extra)
    attempts = [(a.key, a.source) for a in result.attempts]
    result.notes = notes + result.notes + node_notes(resolved.spec, resolved.server_keys, name, result.lookup_key,
                                                     attempts, service_account or "default")[1]
    return result


def _kyverno_selects(names: tuple[str, ...], excludes: tuple[str, ...], namespace: str, has_selector: bool,
                     notes: list[str], group: str) -> bool:
    if re.fullmatch(namespace_regex(excludes), namespace):
        return False
    if names and not re.fullmatch(namespace_regex(names), namespace):
        return False
    if has_selector:
        notes.append(f"Kyverno group {group!r} selects namespaces by label: assumed to match {namespace!r} "
                     "(labels cannot be known offline)")
    return True
