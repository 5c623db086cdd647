"""Semantic checks the schema cannot express, and resolution of defaults into targets."""

from __future__ import annotations

import dataclasses
import difflib
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from genpolicy.errors import Problem
from genpolicy.nodes.checks import check_nodes
from genpolicy.registry import InvalidServer, normalize_server
from genpolicy.spec.destinations import shared_destinations
from genpolicy.spec.engine_checks import EngineUse, check_engine_credentials, check_pull_secret_collisions, engine_uses
from genpolicy.spec.loader import LoadedYaml, Path, format_path
from genpolicy.spec.model import READ_SOURCES, Cluster, HelmValues, LabelSelector, Registry, SecretMode, Spec

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SUPPORTED_KUBERNETES = ("1.25", "1.37")


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

    def registry_uses(self) -> list[tuple[Cluster, Registry]]:
        """Every (cluster, registry) pair some group renders, static or Kyverno, in spec order."""
        pairs = [(t.cluster, r) for t in self.targets for r in t.registries]
        pairs += [(t.cluster, r) for t in self.kyverno_targets for r in t.registries]
        return list({(c.name, r.name): (c, r) for c, r in pairs}.values())

    def engine_uses(self) -> list[EngineUse]:
        """The clusters' engineCredentials, resolved (genpolicy.spec.engine_checks)."""
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


class _Checker:
    def __init__(self, spec: Spec, loaded: LoadedYaml) -> None:
        self.spec = spec
        self.loaded = loaded
        self.problems: list[Problem] = []

    def error(self, path: Path, message: str, *, at_key: bool = False) -> None:
        pos = self.loaded.positions
        line, col = pos.of_key(path) if at_key else pos.of_value(path)
        self.problems.append(Problem(self.loaded.filename, line, col, format_path(path), message))

    def where(self, path: Path) -> str:
        return f"line {self.loaded.positions.of_value(path)[0]}"

    def unique(self, names: Iterable[str], base: Path, what: str) -> None:
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in seen:
                self.error((*base, i, "name"), f"duplicate {what} {name!r} (also at {self.where((*base, seen[name]))})")
            else:
                seen[name] = i

    def reference(self, path: Path, name: str, known: list[str], what: str) -> bool:
        if name in known:
            return True
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (defined: {', '.join(known) or 'none'})"
        self.error(path, f"unknown {what} {name!r}{hint}")
        return False

    def dns_name(self, path: Path, value: str, what: str, *, label: bool) -> None:
        regex, limit = (DNS1123_LABEL, 63) if label else (DNS1123_SUBDOMAIN, 253)
        if len(value) > limit or not regex.match(value):
            kind = "RFC 1123 label" if label else "RFC 1123 subdomain"
            self.error(path, f"invalid {what} {value!r}: must be a lowercase {kind} of at most {limit} characters")


def check_spec(spec: Spec, loaded: LoadedYaml) -> tuple[Resolved, list[Problem]]:
    """Run every semantic check and resolve groups into per-namespace targets."""
    checker = _Checker(spec, loaded)
    resolved = Resolved(spec, loaded)
    checker.unique((r.name for r in spec.registries), ("registries",), "registry")
    checker.unique((c.name for c in spec.clusters), ("clusters",), "cluster")
    checker.unique((g.name for g in spec.namespace_groups), ("namespaceGroups",), "namespace group")
    _check_registries(checker, resolved)
    _check_clusters(checker)
    _check_kyverno_settings(checker)
    for path, message in shared_destinations(spec):
        checker.error(path, message)
    _check_metadata(checker)
    check_nodes(spec, checker.error)
    check_engine_credentials(spec, resolved.server_keys, checker.error)
    _resolve_groups(checker, resolved)
    check_pull_secret_collisions(spec, resolved.server_keys, resolved.targets, checker.error)
    return resolved, sorted(set(checker.problems))


def _check_registries(checker: _Checker, resolved: Resolved) -> None:
    keys: dict[str, int] = {}
    for i, registry in enumerate(checker.spec.registries):
        base: Path = ("registries", i)
        try:
            key = normalize_server(registry.server)
        except InvalidServer as exc:
            checker.error((*base, "server"), str(exc))
            continue
        if key in keys:
            other = checker.spec.registries[keys[key]].name
            checker.error(
                (*base, "server"),
                f"registry {registry.name!r} and {other!r} both produce the .dockerconfigjson key {key!r}",
            )
        keys.setdefault(key, i)
        resolved.server_keys[registry.name] = key
        checker.dns_name((*base, "secretName"), registry.effective_secret_name, "Secret name", label=False)
        _check_credentials(checker, registry, base)


def _check_credentials(checker: _Checker, registry: Registry, base: Path) -> None:
    creds = registry.credentials
    path: Path = (*base, "credentials")
    if creds.inline is not None and not checker.spec.allow_plaintext:
        checker.error(path, f"registry {registry.name!r} has a plaintext password in the spec; use fromEnv/fromFile "
                            "with an encrypting backend, or opt in with top-level `allowPlaintext: true`")
    if registry.backend is not None and creds.kind not in READ_SOURCES:
        checker.error((*base, "backend"), "`backend` applies only to credentials genpolicy reads at render time")
    eso = creds.external_secret
    if eso is not None and eso.properties.username is None and creds.username is None:
        checker.error((*path, "externalSecret", "properties", "username"), "null needs a literal `username`")
    source = creds.from_env or creds.from_file
    if source is not None and source.username is None and creds.username is None:
        checker.error(path, "no username: set `username` or the source's `username`")
    if creds.generator is not None:
        _check_generator(checker, registry, (*path, "generator"))


TOKEN_LIFETIME_S = {"ECRAuthorizationToken": 12 * 3600, "GCRAccessToken": 3600, "ACRAccessToken": 3 * 3600}
DEFAULT_REFRESH = {"ECRAuthorizationToken": "1h", "GCRAccessToken": "30m", "ACRAccessToken": "1h"}


def duration_seconds(value: str) -> float:
    """Go duration text (`1h30m`, `45s`) in seconds."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", value))


def _check_generator(checker: _Checker, registry: Registry, path: Path) -> None:
    generator = registry.credentials.generator
    assert generator is not None
    if generator.refresh_interval is not None:
        lifetime = TOKEN_LIFETIME_S[generator.kind]
        if not 0 < duration_seconds(generator.refresh_interval) <= lifetime / 2:
            checker.error((*path, "refreshInterval"), f"{generator.kind} tokens live {lifetime // 60} minutes; "
                                                      f"refresh at most every {lifetime // 120} minutes")


def backend_for(spec: Spec, cluster: Cluster, registry: Registry) -> str:
    """How a registry's pull Secret is written on a cluster."""
    kind = registry.credentials.kind
    if kind == "external_secret":
        return "external-secrets"
    if kind in ("generator", "node"):
        return kind
    chosen = registry.backend or cluster.backend
    if chosen is None:
        return "plain" if spec.allow_plaintext else "missing"
    return chosen


def _check_backends(checker: _Checker, resolved: Resolved) -> None:
    """Every (cluster, registry) pair that reads values needs a usable backend."""
    spec = checker.spec
    for cluster, registry in resolved.credential_uses():
        backend = backend_for(spec, cluster, registry)
        ri = spec.registries.index(registry)
        ci = spec.clusters.index(cluster)
        if backend == "missing":
            checker.error(("registries", ri, "credentials"), f"registry {registry.name!r} would be rendered as a "
                          f"plaintext Secret on cluster {cluster.name!r}; set the cluster's `backend` to "
                          "sealed-secrets or sops, use an externalSecret source, or opt in with top-level "
                          "`allowPlaintext: true`")
        elif backend == "plain" and not spec.allow_plaintext:
            checker.error(("registries", ri, "credentials"), f"backend plain writes registry {registry.name!r} "
                          "unencrypted into git; opt in with top-level `allowPlaintext: true`")
        elif backend == "sealed-secrets" and cluster.sealed_secrets is None:
            checker.error(("clusters", ci), f"cluster {cluster.name!r} needs `sealedSecrets.certificate` for the "
                                            "sealed-secrets backend")
        elif backend == "sops" and cluster.sops is None:
            checker.error(("clusters", ci), f"cluster {cluster.name!r} needs `sops.recipients` for the sops backend")
    for ci, cluster in enumerate(spec.clusters):
        for ri, recipient in enumerate(cluster.sops.recipients if cluster.sops else []):
            if not re.fullmatch(r"age1[02-9ac-hj-np-z]{58}", recipient):
                checker.error(("clusters", ci, "sops", "recipients", ri), "not an age recipient (age1 + 58 characters)")


SUPPORTED_KYVERNO = (10, 19)  # minors whose policies, CRDs and CLI suites are checked (tests/test_kyverno_cli.py)


def _check_kyverno_settings(checker: _Checker) -> None:
    for i, cluster in enumerate(checker.spec.clusters):
        settings = cluster.kyverno
        if settings is None:
            continue
        low, high = SUPPORTED_KYVERNO
        if not low <= settings.minor <= high:
            checker.error(("clusters", i, "kyverno", "version"),
                          f"Kyverno {settings.version} is not supported (supported: 1.{low} to 1.{high})")
        elif settings.policy_kind == "CEL" and settings.minor < 17:
            checker.error(("clusters", i, "kyverno", "policyKind"),
                          f"CEL policies (policies.kyverno.io/v1) need Kyverno 1.17 or newer, not {settings.version}")
        elif settings.policy_kind == "CEL" and settings.minor < 19:
            checker.error(("clusters", i, "kyverno", "policyKind"),
                          f"CEL clone policies on Kyverno {settings.version} copy the source Secret's ownerReferences "
                          "into every clone, and the garbage collector deletes them (Kyverno issue 15444, fixed in "
                          "1.19): use `auto` (ClusterPolicy) or Kyverno 1.19")


_WIRING_FOLDERS = ("argocd", "flux")


def _check_clusters(checker: _Checker) -> None:
    outputs: dict[str, int] = {}
    low, high = (tuple(int(x) for x in v.split(".")) for v in SUPPORTED_KUBERNETES)
    for i, cluster in enumerate(checker.spec.clusters):
        version = tuple(int(x) for x in cluster.major_minor.split("."))
        if not low <= version <= high:
            checker.error(
                ("clusters", i, "kubernetesVersion"),
                f"Kubernetes {cluster.major_minor} is not supported (supported: "
                f"{SUPPORTED_KUBERNETES[0]} to {SUPPORTED_KUBERNETES[1]})",
            )
        out = cluster.output_dir or cluster.name
        problem = unsafe_relative_path(out)
        if problem:
            checker.error(("clusters", i, "outputDir"), problem)
            continue
        norm = posixpath.normpath(out)
        reserved = next((w for w in _WIRING_FOLDERS if norm == w or norm.startswith(w + "/")
                         or w.startswith(norm + "/") or norm == "."), None)
        if checker.spec.gitops is not None and reserved is not None:
            checker.error(("clusters", i, "outputDir"), f"{out!r} overlaps the GitOps wiring folder "
                          f"{reserved!r} that genpolicy writes (choose another outputDir)")
        for other, j in outputs.items():
            if norm == other or norm.startswith(other + "/") or other.startswith(norm + "/"):
                checker.error(("clusters", i, "outputDir"), f"overlaps the output of cluster {j}")
        outputs[norm] = i


def unsafe_relative_path(value: str) -> str | None:
    """Why a path from the spec may not be used inside the output root, or None."""
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        return "must be a relative path"
    parts = value.replace("\\", "/").split("/")
    if any(p == ".." for p in parts):
        return "must not contain '..'"
    if any(p.startswith(".") and p not in (".",) for p in parts):
        return "must not contain hidden path components"
    return None


def _check_metadata(checker: _Checker) -> None:
    for key, value in checker.spec.common_labels.items():
        _check_qualified_key(checker, ("commonLabels", key), key)
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            checker.error(("commonLabels", key), f"invalid label value {value!r}")
    for key in checker.spec.common_annotations:
        _check_qualified_key(checker, ("commonAnnotations", key), key)


def _check_qualified_key(checker: _Checker, path: Path, key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix))) or (
        len(name) > 63 or not _QUALIFIED_NAME.match(name)
    ):
        checker.error(path, f"invalid key {key!r}: must be [prefix/]name with a DNS prefix", at_key=True)


@dataclass(frozen=True)
class GroupSettings:
    """A namespace group with every default applied."""

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
            if len(pattern) > 63 or not _NAMESPACE_PATTERN.match(pattern):
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
            resolved.kyverno_targets[i] = dataclasses.replace(target, excludes=excludes)


def _duplicates(checker: _Checker, base: Path, values: list[str], what: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            checker.error((*base, i), f"duplicate {what} {value!r}")
        seen.add(value)


def _check_secret_names(
    checker: _Checker, base: Path, chosen: list[Registry], mode: SecretMode, merged_name: str
) -> None:
    if mode == "merged":
        checker.dns_name((*base, "mergedSecretName"), merged_name, "Secret name", label=False)
        kinds = {"eso" if r.credentials.external_secret else "read" if r.credentials.kind in READ_SOURCES
                 else r.credentials.kind for r in chosen if r.credentials.node is None}
        if len(kinds) > 1 or "generator" in kinds:
            checker.error((*base, "secretMode"), "a merged Secret needs registries of one kind: all externalSecret, "
                                                 "or all read at render time (generators cannot be merged)")
        return
    seen: dict[str, str] = {}
    for registry in chosen:
        name = registry.effective_secret_name
        if name in seen:
            checker.error((*base, "registries"),
                          f"registries {seen[name]!r} and {registry.name!r} use the same Secret name {name!r}")
        seen[name] = registry.name
