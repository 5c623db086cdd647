"""Semantic checks of node pools and mirrors: references, kubelet validation rules, version rules.

Each problem is reported through `error(path, message)`, the spec checker's positioned reporter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from genpolicy.nodes.model import TOKEN_GATE, VERIFY_GATE, CredentialProvider, FeatureGate, Mirror, NodePool
from genpolicy.nodes.providers import effective
from genpolicy.nodes.versions import (
    Stage,
    Version,
    cache_type_required,
    cpc_api_version,
    parse_version,
    token_stage,
    verification_stage,
)
from genpolicy.registry import InvalidKey, InvalidServer, normalize_server, parse_key

if TYPE_CHECKING:
    from genpolicy.specfile.model import Spec

Path = tuple[str | int, ...]
Report = Callable[[Path, str], None]


def check_nodes(spec: Spec, error: Report) -> None:
    """Every node-pool and mirror rule, reported at the offending spec value."""
    registries = [r.name for r in spec.registries]
    _unique(error, [m.name for m in spec.mirrors], ("mirrors",), "mirror")
    for mi, mirror in enumerate(spec.mirrors):
        _check_mirror(error, mirror, ("mirrors", mi), registries)
        _check_mirror_keys(error, spec, mirror, ("mirrors", mi))
    mirrors = {m.name: m for m in spec.mirrors}
    for ci, cluster in enumerate(spec.clusters):
        version = parse_version(cluster.major_minor)
        _unique(error, [p.name for p in cluster.node_pools], ("clusters", ci, "nodePools"), "node pool")
        for pi, pool in enumerate(cluster.node_pools):
            _check_pool(error, pool, ("clusters", ci, "nodePools", pi), version, mirrors)


def _unique(error: Report, names: list[str], base: Path, what: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            error((*base, i, "name"), f"duplicate {what} {name!r}")
        seen.add(name)


def _check_mirror(error: Report, mirror: Mirror, base: Path, registries: list[str]) -> None:
    if mirror.kind in ("harbor-proxy-cache", "ecr-pull-through-cache") and mirror.path is None:
        what = "proxy-cache project" if mirror.kind == "harbor-proxy-cache" else "pull-through cache rule prefix"
        error(base, f"a {mirror.kind} mirror needs `path` (its {what}): containerd addresses it as "
                    f"{mirror.endpoint.rstrip('/')}/v2/<path>")
    if mirror.kind == "spegel" and mirror.credentials:
        error((*base, "credentials"), "Spegel serves images from the nodes' own content stores and takes no "
                                      "credentials")
    for i, name in enumerate(mirror.credentials):
        if name not in registries:
            error((*base, "credentials", i), f"unknown registry {name!r} (defined: {', '.join(registries)})")
    if "push" in mirror.capabilities and mirror.kind != "registry":
        error((*base, "capabilities"), f"a {mirror.kind} mirror is read-only: use pull and resolve")
    for i, server in enumerate(mirror.serves):
        _check_served(error, (*base, "serves", i), server)
    if len(set(mirror.serves)) != len(mirror.serves):
        error((*base, "serves"), "lists a registry twice")


def _check_mirror_keys(error: Report, spec: Spec, mirror: Mirror, base: Path) -> None:
    """The classic failure: a mirror credential keyed on the mirror's host is never looked up."""
    keys = {r.name: r.server for r in spec.registries}
    for i, name in enumerate(mirror.credentials):
        try:
            key = normalize_server(keys[name]) if name in keys else None
        except InvalidServer:
            continue  # reported at the registry
        host = key.partition("/")[0] if key else None
        if host is not None and host not in mirror.serves:
            error((*base, "credentials", i), f"registry {name!r} is keyed on {key}, but the kubelet looks credentials "
                  f"up by the image's own registry ({', '.join(mirror.serves)}) and containerd sends those to the "
                  f"mirror: key the mirror's credential on the upstream registry it serves")


def _check_served(error: Report, path: Path, server: str) -> None:
    try:
        key = normalize_server(server)
    except InvalidServer as exc:
        error(path, str(exc))
        return
    if key != server or "/" in key or ":" in key or set("*?[") & set(key):
        error(path, f"must be a bare registry host as containerd names its certs.d folder (e.g. {key.split('/')[0]!r}"
                    "): no scheme, port, path or glob")


def _check_pool(error: Report, pool: NodePool, base: Path, version: Version, mirrors: dict[str, Mirror]) -> None:
    for i, name in enumerate(pool.mirrors):
        if name not in mirrors:
            error((*base, "mirrors", i), f"unknown mirror {name!r} (defined: {', '.join(mirrors) or 'none'})")
    if len(set(pool.mirrors)) != len(pool.mirrors):
        error((*base, "mirrors"), "lists a mirror twice")
    if pool.credential_providers and cpc_api_version(version) is None:
        error((*base, "credentialProviders"), "CredentialProviderConfig needs Kubernetes 1.24 or newer")
    names = [effective(p).name for p in pool.credential_providers]
    _unique(error, names, (*base, "credentialProviders"), "credential provider")
    for i, provider in enumerate(pool.credential_providers):
        _check_provider(error, pool, provider, (*base, "credentialProviders", i), version)
    if pool.pull_verification is not None:
        _check_verification(error, pool, (*base, "pullVerification"), version)
    _check_gates(error, pool, base, version)


def _check_provider(error: Report, pool: NodePool, provider: CredentialProvider, base: Path, version: Version) -> None:
    if provider.kind == "custom":
        for key in ("name", "match_images", "default_cache_duration"):
            if getattr(provider, key) is None:
                error(base, f"a custom provider needs `{_camel(key)}`")
    for i, pattern in enumerate(effective(provider).match_images):
        try:
            parse_key(pattern)
        except InvalidKey as exc:
            error((*base, "matchImages", i), str(exc).replace("docker config key", "matchImages pattern"))
    token = provider.service_account_token
    if token is not None:
        _check_token(error, pool, provider, (*base, "serviceAccountToken"), version)


def _check_token(error: Report, pool: NodePool, provider: CredentialProvider, base: Path, version: Version) -> None:
    token = provider.service_account_token
    assert token is not None
    stage = token_stage(version)
    if not _feature_available(error, pool, base, version, stage, TOKEN_GATE, "KEP-4412 service-account tokens"):
        return
    if cache_type_required(version) and token.cache_type is None:
        error(base, f"Kubernetes {_shown(version)} requires `cacheType` (Token or ServiceAccount)")
    if not cache_type_required(version) and token.cache_type is not None:
        error((*base, "cacheType"), f"the Kubernetes {_shown(version)} kubelet (KEP-4412 alpha) has no `cacheType`: "
                                    "it arrived in 1.34")
    required, optional = token.required_service_account_annotation_keys, token.optional_service_account_annotation_keys
    if required and not token.require_service_account:
        error((*base, "requireServiceAccount"), "must be true when requiredServiceAccountAnnotationKeys is set")
    if set(required) & set(optional):
        error((*base, "optionalServiceAccountAnnotationKeys"), "must not repeat a required annotation key")
    for key, keys in (("requiredServiceAccountAnnotationKeys", required), ("optionalServiceAccountAnnotationKeys",
                                                                             optional)):
        if len(set(keys)) != len(keys):
            error((*base, key), "keys must be unique")


def _feature_available(error: Report, pool: NodePool, base: Path, version: Version, stage: Stage, gate: FeatureGate,
                       what: str) -> bool:
    """The feature exists on this minor, and an alpha (default-off) gate is switched on explicitly."""
    if not stage.exists:
        error(base, f"{what} need a newer kubelet than Kubernetes {_shown(version)} (gate {gate})")
        return False
    enabled = pool.feature_gates.get(gate, stage.default_on)
    if not enabled:
        how = f"set `featureGates: {{{gate}: true}}`" if not stage.default_on else f"remove `{gate}: false`"
        error(base, f"{what} are {stage.stage} and off on Kubernetes {_shown(version)}: {how}")
        return False
    return True


def _check_verification(error: Report, pool: NodePool, base: Path, version: Version) -> None:
    settings = pool.pull_verification
    assert settings is not None
    _feature_available(error, pool, base, version, verification_stage(version), VERIFY_GATE,
                       "KEP-2535 pull-credential verification settings")
    if settings.allowlist and settings.policy != "NeverVerifyAllowlistedImages":
        error((*base, "allowlist"), "applies only with policy NeverVerifyAllowlistedImages")
    if len(set(settings.allowlist)) != len(settings.allowlist):
        error((*base, "allowlist"), "lists an image twice (the kubelet's list is a set)")
    for i, image in enumerate(settings.allowlist):
        problem = _allowlist_problem(image)
        if problem:
            error((*base, "allowlist", i), problem)


def _allowlist_problem(image: str) -> str | None:
    """The kubelet's rule: an image name without tag or digest, a `/*` suffix as the only wildcard."""
    name = image[:-2] if image.endswith("/*") else image
    last = name.rsplit("/", 1)[-1]
    if "@" in name or ":" in last:
        return "must be an image name without tag or digest"
    if "*" in name or "/" not in name:
        return "must be a full image name (registry host and path); the only wildcard is a `/*` suffix"
    return None


def _check_gates(error: Report, pool: NodePool, base: Path, version: Version) -> None:
    for gate, stage in ((TOKEN_GATE, token_stage(version)), (VERIFY_GATE, verification_stage(version))):
        if gate in pool.feature_gates and not stage.exists:
            error((*base, "featureGates", gate), f"the Kubernetes {_shown(version)} kubelet has no gate {gate}")


def _shown(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)
