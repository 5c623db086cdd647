"""Semantic checks and resolution of `clusters[].engineCredentials` (model: genpolicy.specfile.engines)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from genpolicy.record import Frozen, set_field
from genpolicy.specfile.engines import ARGOCD_KINDS, DEFAULT_INTERVAL, FLUX_KINDS, EngineCredential
from genpolicy.specfile.loader import Path
from genpolicy.specfile.model import Cluster, Registry, Spec

ErrorFn = Callable[[Path, str], None]
GENERATOR_CLOUD = {"ECRAuthorizationToken": "aws", "GCRAccessToken": "gcp", "ACRAccessToken": "azure"}
_CLOUD_HOSTS = (
    ("aws", re.compile(r"\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")),
    ("gcp", re.compile(r"(^|\.)gcr\.io$|-docker\.pkg\.dev$")),
    ("azure", re.compile(r"\.azurecr\.(io|cn|us)$")),
)
# Docker Hub's `auths` key is `docker.io`; its OCI endpoint (charts, artifacts) is registry-1.docker.io
_DOCKER_HUB_OCI = "registry-1.docker.io"
_NEEDS_URL = ("OCIRepository", "ImageRepository")  # a repository, not a host: no sensible default


class EngineUse(Frozen):
    """One resolved engine credential: where it renders and what it points at."""

    __slots__ = ("cluster", "entry", "index", "registry", "namespace", "url", "provider")
    cluster: Cluster
    entry: EngineCredential
    index: int  # position in the cluster's engineCredentials
    registry: Registry
    namespace: str
    url: str  # without scheme
    provider: str  # Flux: generic/aws/azure/gcp; Argo CD: ""

    def __init__(self, cluster: Cluster, entry: EngineCredential, index: int, registry: Registry, namespace: str,
                 url: str, provider: str) -> None:
        set_field(self, "cluster", cluster)
        set_field(self, "entry", entry)
        set_field(self, "index", index)
        set_field(self, "registry", registry)
        set_field(self, "namespace", namespace)
        set_field(self, "url", url)
        set_field(self, "provider", provider)

    @property
    def needs_secret(self) -> bool:
        """Argo CD always; Flux only with a `secretRef` (`provider: generic`)."""
        return self.entry.kind in ARGOCD_KINDS or self.provider == "generic"

    @property
    def secret_name(self) -> str:
        """The Secret it renders (when `needs_secret`): Argo CD's repository Secret is the entry's object;
        a Flux source's `secretRef` is the registry's pull Secret, one per (namespace, registry)."""
        return self.entry.object_name() if self.entry.kind in ARGOCD_KINDS else self.registry.effective_secret_name

    @property
    def interval(self) -> str:
        return self.entry.interval or DEFAULT_INTERVAL


def engine_namespace(spec: Spec, cluster: Cluster, entry: EngineCredential) -> str:
    """The entry's namespace, else the namespace of the cluster's engine."""
    if entry.namespace is not None:
        return entry.namespace
    if cluster.gitops == "argocd":
        return cluster.argocd.namespace or (spec.gitops.argocd.namespace if spec.gitops else "argocd")
    return spec.gitops.flux.namespace if spec.gitops else "flux-system"


def default_url(server_key: str) -> str:
    """The registry's OCI endpoint: its `auths` key, Docker Hub's registry host for `docker.io`."""
    return _DOCKER_HUB_OCI if server_key == "docker.io" else server_key


def cloud_of(host: str) -> str | None:
    return next((cloud for cloud, pattern in _CLOUD_HOSTS if pattern.search(host)), None)


def flux_provider(entry: EngineCredential, registry: Registry, url: str) -> str:
    """`provider` of a Flux object: explicit, else the cloud identity for node/generator sources."""
    if entry.provider != "auto":
        return entry.provider
    creds = registry.credentials
    if creds.generator is not None:
        return GENERATOR_CLOUD[creds.generator.kind]
    if creds.node is not None:
        return cloud_of(url.partition("/")[0].partition(":")[0]) or "generic"
    return "generic"


def engine_uses(spec: Spec, server_keys: dict[str, str]) -> Iterator[EngineUse]:
    """Every engine credential whose registry exists (unknown ones are reported by the checks)."""
    registries = {r.name: r for r in spec.registries}
    for cluster in spec.clusters:
        for i, entry in enumerate(cluster.engine_credentials):
            registry = registries.get(entry.registry)
            if registry is None or registry.name not in server_keys:
                continue
            url = entry.bare_url(default_url(server_keys[registry.name]))
            provider = "" if entry.kind in ARGOCD_KINDS else flux_provider(entry, registry, url)
            yield EngineUse(cluster, entry, i, registry, engine_namespace(spec, cluster, entry), url, provider)


def check_engine_credentials(spec: Spec, server_keys: dict[str, str], error: ErrorFn) -> None:
    """Report every engine credential that cannot render as the engine reads it."""
    names = [r.name for r in spec.registries]
    for ci, cluster in enumerate(spec.clusters):
        for ei, entry in enumerate(cluster.engine_credentials):
            base: Path = ("clusters", ci, "engineCredentials", ei)
            if entry.registry not in names:
                error((*base, "registry"), f"unknown registry {entry.registry!r} (defined: {', '.join(names)})")
            _check_kind(cluster, entry, base, error)
    uses = list(engine_uses(spec, server_keys))
    for use in uses:
        _check_use(use, server_keys[use.registry.name], ("clusters", spec.clusters.index(use.cluster),
                                                         "engineCredentials", use.index), error)
    _check_unique(spec, uses, error)


def _check_kind(cluster: Cluster, entry: EngineCredential, base: Path, error: ErrorFn) -> None:
    allowed = ARGOCD_KINDS if cluster.gitops == "argocd" else FLUX_KINDS
    if entry.kind not in allowed:
        error((*base, "kind"), f"cluster {cluster.name!r} runs {cluster.gitops}, whose kinds are "
                               f"{', '.join(allowed)}")
    elif entry.kind in ARGOCD_KINDS and (entry.interval is not None or entry.provider != "auto"):
        error(base, "`interval` and `provider` are Flux settings; Argo CD repositories have neither")
    if entry.kind in _NEEDS_URL and entry.url is None:
        error(base, f"{entry.kind} needs `url`: the repository under the registry (e.g. `ghcr.io/acme/app`)")


def _check_use(use: EngineUse, server_key: str, base: Path, error: ErrorFn) -> None:
    creds = use.registry.credentials
    if use.entry.kind in ARGOCD_KINDS and creds.node is not None:
        error((*base, "registry"), f"registry {use.registry.name!r} is served by the nodes' identity; Argo CD's "
                                   "repo-server cannot use it: give the registry a generator, externalSecret or "
                                   "read credential source")
    if use.entry.kind in FLUX_KINDS and use.provider == "generic" and creds.node is not None:
        error(base, f"registry {use.registry.name!r} is served by the nodes' identity and its host names no "
                    "cloud: set `provider: aws`, `azure` or `gcp` (Flux then uses the controller's identity)")
    if "://" in use.url:
        error((*base, "url"), "write the repository as `oci://host/path` or `host/path`: engines reach OCI "
                              "registries over their own protocol, not http(s)")
    elif not _under(use.url, server_key):
        error((*base, "url"), f"{use.url!r} is not under registry {use.registry.name!r} ({default_url(server_key)})"
                              ": its credentials would not be sent there")
    if use.entry.kind == "ImageRepository" and ("@" in use.url or ":" in use.url.rpartition("/")[2]):
        error((*base, "url"), "an ImageRepository scans an image's tags: give the image without tag or digest")


def _under(url: str, server_key: str) -> bool:
    bases = {server_key, default_url(server_key)}
    return any(url == b or url.startswith(b.rstrip("/") + "/") for b in bases)


def _check_unique(spec: Spec, uses: list[EngineUse], error: ErrorFn) -> None:
    """Object names per (cluster, kind, namespace); Argo CD repository URLs per cluster and namespace."""
    seen: dict[tuple[str, ...], int] = {}
    for use in uses:
        base: Path = ("clusters", spec.clusters.index(use.cluster), "engineCredentials", use.index)
        kind = "Secret" if use.entry.kind in ARGOCD_KINDS else use.entry.kind
        for key, what in (((use.cluster.name, kind, use.namespace, use.entry.object_name()), "name"),
                          ((use.cluster.name, use.entry.kind, use.namespace, use.url), "url")):
            if what == "url" and use.entry.kind not in ARGOCD_KINDS:
                continue
            if key in seen:
                error((*base, what), f"{kind} {what} {key[-1]!r} in namespace {use.namespace!r} is already used by "
                                     f"engineCredentials[{seen[key]}] (set a different `{what}`)")
            seen.setdefault(key, use.index)


class PullTarget(Protocol):
    """What a static namespace target (genpolicy.specfile.checks.NamespaceTarget) tells about its Secrets."""

    @property
    def cluster(self) -> Cluster: ...
    @property
    def group(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def registries(self) -> tuple[Registry, ...]: ...
    @property
    def secret_mode(self) -> str: ...
    @property
    def merged_secret_name(self) -> str: ...


def _pull_secret_names(target: PullTarget) -> list[str]:
    served = [r for r in target.registries if r.credentials.node is None]
    if target.secret_mode == "merged":
        return [target.merged_secret_name] if served else []
    return [r.effective_secret_name for r in served]


def check_pull_secret_collisions(spec: Spec, server_keys: dict[str, str], targets: Iterable[PullTarget],
                                 error: ErrorFn) -> None:
    """An engine Secret named like a namespace group's pull Secret in its namespace would be one object twice."""
    pulls = {(t.cluster.name, t.namespace, n): t.group for t in targets for n in _pull_secret_names(t)}
    for use in engine_uses(spec, server_keys):
        if not use.needs_secret:
            continue
        argo = use.entry.kind in ARGOCD_KINDS
        name = use.secret_name
        group = pulls.get((use.cluster.name, use.namespace, name))
        if group is not None:
            fix = "`name`" if argo else "`namespace` (or the registry's `secretName`)"
            error(("clusters", spec.clusters.index(use.cluster), "engineCredentials", use.index),
                  f"namespace group {group!r} already renders Secret {name!r} in namespace {use.namespace!r}; "
                  f"set another {fix}")
