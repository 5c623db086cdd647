"""What the spec renders on one cluster, as the audit compares it: pull Secrets and ServiceAccount lists.

Computed from the resolved spec (the same targets `render` walks), so auditing needs no credentials:
Secret names and registry keys are not secret. Kyverno groups expect their source Secrets in the
source namespace and a clone in every exported namespace the group selects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from genpolicy.render.image_match import namespace_regex
from genpolicy.render.pullsecrets import pull_secrets
from genpolicy.specfile import Resolved
from genpolicy.specfile.checks import KyvernoTarget
from genpolicy.specfile.model import LabelSelector, Registry

_ESO = ("external_secret", "generator")


@dataclass(frozen=True)
class ExpectedSecret:
    namespace: str
    name: str
    keys: tuple[str, ...]  # sorted auths keys the Secret must hold
    registries: tuple[str, ...]
    group: str
    how: str  # "rendered", "ExternalSecret", "Kyverno clone", "Kyverno source"


@dataclass
class Expected:
    cluster: str
    secrets: dict[tuple[str, str], ExpectedSecret] = field(default_factory=dict)
    accounts: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # sorted names
    account_groups: dict[tuple[str, str], str] = field(default_factory=dict)
    kyverno: list[KyvernoTarget] = field(default_factory=list)
    node_keys: tuple[str, ...] = ()  # keys a node credential provider serves on this cluster
    engine_secrets: set[tuple[str, str]] = field(default_factory=set)  # engineCredentials' Secrets

    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # exported Namespace objects

    def selects(self, group: KyvernoTarget, namespace: str) -> bool:
        """Kyverno clones into `namespace`. A group with a namespaceSelector is judged by the exported
        Namespace's labels; without that Namespace object nothing is expected (it cannot be known)."""
        if re.fullmatch(namespace_regex(group.excludes), namespace):
            return False
        if group.names and not re.fullmatch(namespace_regex(group.names), namespace):
            return False
        if group.selector is None:
            return True
        labels = self.namespace_labels.get(namespace)
        return labels is not None and selector_matches(group.selector, labels)


def selector_matches(selector: LabelSelector, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics (matchLabels AND every matchExpression)."""
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for req in selector.match_expressions:
        present = req.key in labels
        ok = {"In": present and labels.get(req.key) in req.values,
              "NotIn": not present or labels.get(req.key) not in req.values,
              "Exists": present, "DoesNotExist": not present}[req.operator]
        if not ok:
            return False
    return True


def expected_state(resolved: Resolved, cluster: str, namespaces: set[str],
                   namespace_labels: dict[str, dict[str, str]] | None = None) -> Expected:
    """The cluster's expected objects; Kyverno clones only in `namespaces` (those the export shows)."""
    result = Expected(cluster, namespace_labels=dict(namespace_labels or {}))
    for target in resolved.targets_for(cluster):
        names = []
        for secret in pull_secrets(target):
            names.append(secret.name)
            how = "ExternalSecret" if secret.registries[0].credentials.kind in _ESO else "rendered"
            _add(result, resolved, target.namespace, secret.name, secret.registries, target.group, how)
        for account in target.service_accounts:
            result.accounts[(target.namespace, account)] = tuple(sorted(names))
            result.account_groups[(target.namespace, account)] = target.group
    result.kyverno = resolved.kyverno_targets_for(cluster)
    for group in result.kyverno:
        _kyverno(result, resolved, group, namespaces)
    result.node_keys = tuple(sorted({resolved.server_keys[r.name] for c, r in resolved.registry_uses()
                                     if c.name == cluster and r.credentials.node is not None}))
    result.engine_secrets = engine_secret_names(resolved, cluster)
    return result


def engine_secret_names(resolved: Resolved, cluster: str) -> set[tuple[str, str]]:
    """(namespace, name) of the Secrets the cluster's engineCredentials render (docs/engines.md)."""
    return {(use.namespace, use.secret_name) for use in resolved.engine_uses()
            if use.cluster.name == cluster and use.needs_secret}


def _kyverno(result: Expected, resolved: Resolved, group: KyvernoTarget, namespaces: set[str]) -> None:
    settings = group.cluster.kyverno
    assert settings is not None
    registries = [r for r in group.registries if r.credentials.node is None]
    for registry in registries:
        name = registry.effective_secret_name
        _add(result, resolved, settings.source_namespace, name, (registry,), group.group, "Kyverno source")
        for namespace in sorted(n for n in namespaces if result.selects(group, n)):
            if (namespace, name) not in result.secrets:
                _add(result, resolved, namespace, name, (registry,), group.group, "Kyverno clone")


def _add(result: Expected, resolved: Resolved, namespace: str, name: str, registries: tuple[Registry, ...],
         group: str, how: str) -> None:
    keys = tuple(sorted(resolved.server_keys[r.name] for r in registries))
    result.secrets[(namespace, name)] = ExpectedSecret(namespace, name, keys, tuple(r.name for r in registries),
                                                       group, how)
