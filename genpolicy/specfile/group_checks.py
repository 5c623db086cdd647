"""Namespace groups resolved into targets: inherited settings, static namespaces, Kyverno selectors."""

from __future__ import annotations

import re

from genpolicy.record import Frozen, set_field
from genpolicy.specfile.checker import _check_secret_names, _Checker, _duplicates
from genpolicy.specfile.credential_checks import _check_backends
from genpolicy.specfile.loader import Path
from genpolicy.specfile.model import Cluster, HelmValues, Registry, SecretMode
from genpolicy.specfile.targets import KyvernoTarget, NamespaceTarget, Resolved


class GroupSettings(Frozen):
    """A namespace group with every default applied."""

    __slots__ = ("index", "name", "distribution", "registries", "clusters", "service_accounts", "secret_mode",
                 "merged_secret_name", "helm_values", "external_secret_kind")
    index: int
    name: str
    distribution: str
    registries: tuple[Registry, ...]
    clusters: tuple[Cluster, ...]
    service_accounts: tuple[str, ...]
    secret_mode: SecretMode
    merged_secret_name: str
    helm_values: HelmValues
    external_secret_kind: str

    def __init__(self, index: int, name: str, distribution: str, registries: tuple[Registry, ...],
                 clusters: tuple[Cluster, ...], service_accounts: tuple[str, ...], secret_mode: SecretMode,
                 merged_secret_name: str, helm_values: HelmValues, external_secret_kind: str) -> None:
        set_field(self, "index", index)
        set_field(self, "name", name)
        set_field(self, "distribution", distribution)
        set_field(self, "registries", registries)
        set_field(self, "clusters", clusters)
        set_field(self, "service_accounts", service_accounts)
        set_field(self, "secret_mode", secret_mode)
        set_field(self, "merged_secret_name", merged_secret_name)
        set_field(self, "helm_values", helm_values)
        set_field(self, "external_secret_kind", external_secret_kind)


def _resolve_groups(checker: _Checker, resolved: Resolved) -> None:
    owner: dict[tuple[str, str], tuple[str, Path]] = {}
    for gi in range(len(checker.spec.namespace_groups)):
        settings = _group_settings(checker, gi)
        if settings.distribution == "kyverno":
            _resolve_kyverno_group(checker, resolved, settings)
        else:
            _resolve_static_group(checker, resolved, settings, owner)
    _exclude_static_namespaces(resolved)
    _check_backends(checker, resolved)


def _group_settings(checker: _Checker, gi: int) -> GroupSettings:
    spec = checker.spec
    group = spec.namespace_groups[gi]
    registries = {r.name: r for r in spec.registries}
    clusters = {c.name: c for c in spec.clusters}
    base: Path = ("namespaceGroups", gi)
    reg_path = (*base, "registries") if group.registries is not None else ("defaults", "registries")
    reg_names = group.registries if group.registries is not None else spec.defaults.registries
    cl_path = (*base, "clusters") if group.clusters is not None else ("defaults", "clusters")
    cl_names = group.clusters if group.clusters is not None else spec.defaults.clusters
    sa_path = (*base, "serviceAccounts") if group.service_accounts is not None else ("defaults", "serviceAccounts")
    sas = group.service_accounts if group.service_accounts is not None else spec.defaults.service_accounts
    if not reg_names:
        checker.error(reg_path if group.registries is not None else base, "group has no registries")
    chosen = [registries[n] for i, n in enumerate(reg_names)
              if checker.reference((*reg_path, i), n, list(registries), "registry")]
    _duplicates(checker, reg_path, reg_names, "registry")
    targets = [clusters[n] for i, n in enumerate(cl_names or list(clusters))
               if cl_names is None or checker.reference((*cl_path, i), n, list(clusters), "cluster")]
    for i, sa in enumerate(sas):
        checker.dns_name((*sa_path, i), sa, "service account name", label=False)
    _duplicates(checker, sa_path, sas, "service account")
    settings = GroupSettings(
        index=gi, name=group.name, distribution=group.distribution or spec.defaults.distribution,
        registries=tuple(chosen), clusters=tuple(targets), service_accounts=tuple(dict.fromkeys(sas)),
        secret_mode=group.secret_mode or spec.defaults.secret_mode,
        merged_secret_name=group.merged_secret_name or spec.defaults.merged_secret_name,
        helm_values=group.helm_values or spec.defaults.helm_values,
        external_secret_kind=group.external_secret_kind or spec.defaults.external_secret_kind,
    )
    _check_secret_names(checker, base, chosen, settings.secret_mode, settings.merged_secret_name)
    if settings.helm_values.config_map is not None and not settings.helm_values.enabled:
        where = (*base, "helmValues") if group.helm_values is not None else ("defaults", "helmValues")
        checker.error(where, "`configMap` holds the Helm values file: it needs `enabled: true`")
    return settings


def _resolve_static_group(
    checker: _Checker, resolved: Resolved, settings: GroupSettings, owner: dict[tuple[str, str], tuple[str, Path]]
) -> None:
    group = checker.spec.namespace_groups[settings.index]
    base: Path = ("namespaceGroups", settings.index)
    for field_name, value in (("namespaceSelector", group.namespace_selector),
                              ("excludeNamespaces", group.exclude_namespaces),
                              ("includeSystemNamespaces", group.include_system_namespaces)):
        if value:
            checker.error((*base, field_name), "only applies to `distribution: kyverno` groups")
    if not group.namespaces:
        checker.error(base, "a static group needs at least one namespace in `namespaces`")
    _duplicates(checker, (*base, "namespaces"), group.namespaces, "namespace")
    for ni, namespace in enumerate(group.namespaces):
        ns_path: Path = (*base, "namespaces", ni)
        if any(ch in namespace for ch in "*?"):
            checker.error(ns_path, "wildcards need `distribution: kyverno` (static output names each namespace)")
            continue
        checker.dns_name(ns_path, namespace, "namespace name", label=True)
        for cluster in settings.clusters:
            claim = owner.get((cluster.name, namespace))
            if claim is not None and claim[0] != group.name:
                checker.error(ns_path, f"namespace {namespace!r} on cluster {cluster.name!r} is already "
                                       f"covered by group {claim[0]!r} ({checker.where(claim[1])})")
                continue
            owner[(cluster.name, namespace)] = (group.name, ns_path)
            resolved.targets.append(NamespaceTarget(
                cluster=cluster, group=group.name, namespace=namespace, registries=settings.registries,
                service_accounts=settings.service_accounts, secret_mode=settings.secret_mode,
                merged_secret_name=settings.merged_secret_name, helm_values=settings.helm_values,
                external_secret_kind=settings.external_secret_kind,
            ))


_NAMESPACE_PATTERN = re.compile(r"^[a-z0-9*?]([-a-z0-9*?]*[a-z0-9*?])?$")
SYSTEM_NAMESPACES = ("kube-node-lease", "kube-public", "kube-system")


def _resolve_kyverno_group(checker: _Checker, resolved: Resolved, settings: GroupSettings) -> None:
    group = checker.spec.namespace_groups[settings.index]
    base: Path = ("namespaceGroups", settings.index)
    if not group.namespaces and group.namespace_selector is None:
        checker.error(base, "a kyverno group needs `namespaces` (names or wildcards) or `namespaceSelector`")
    if settings.secret_mode == "merged":
        checker.error((*base, "secretMode"), "`merged` is not supported with `distribution: kyverno` yet")
    if group.helm_values is not None and group.helm_values.config_map is not None:  # inherited: ignored here
        checker.error((*base, "helmValues", "configMap"), "a values ConfigMap is written into each named "
                                                           "namespace: static groups only")
    for registry in settings.registries:
        if "[" in registry.server:
            checker.error((*base, "registries"), f"registry {registry.name!r}: a character class in a host glob "
                                                 "cannot be matched by the Kyverno policies; use `*`")
    if group.external_secret_kind == "ClusterExternalSecret":
        checker.error((*base, "externalSecretKind"), "a kyverno group clones one source Secret; "
                                                     "ClusterExternalSecret applies to static groups")
    for key, items in (("namespaces", group.namespaces), ("excludeNamespaces", group.exclude_namespaces)):
        _duplicates(checker, (*base, key), items, "namespace")
        for i, pattern in enumerate(items):
            if len(pattern) > 63 or not _NAMESPACE_PATTERN.fullmatch(pattern):
                checker.error((*base, key, i), f"invalid namespace name or wildcard {pattern!r}")
    for cluster in settings.clusters:
        if cluster.kyverno is None:
            index = checker.spec.clusters.index(cluster)
            checker.error(("clusters", index), f"cluster {cluster.name!r} needs `kyverno` settings: group "
                                               f"{group.name!r} uses `distribution: kyverno`")
            continue
        system = () if group.include_system_namespaces else SYSTEM_NAMESPACES
        excludes = {*group.exclude_namespaces, *system, cluster.kyverno.namespace, cluster.kyverno.source_namespace}
        resolved.kyverno_targets.append(KyvernoTarget(
            cluster=cluster, group=group.name, names=tuple(group.namespaces), selector=group.namespace_selector,
            excludes=tuple(sorted(excludes)), registries=settings.registries, helm_values=settings.helm_values,
        ))


def _exclude_static_namespaces(resolved: Resolved) -> None:
    """A namespace rendered statically is excluded from every Kyverno policy on that cluster."""
    for i, target in enumerate(resolved.kyverno_targets):
        static = {t.namespace for t in resolved.targets_for(target.cluster.name)}
        if static:
            excludes = tuple(sorted({*target.excludes, *static}))
            resolved.kyverno_targets[i] = target.replace(excludes=excludes)
