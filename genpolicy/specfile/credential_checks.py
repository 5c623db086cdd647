"""Registry and credential checks: servers, credential sources, generators, and each (cluster, registry) backend."""

from __future__ import annotations

import re

from genpolicy.registry import InvalidServer, normalize_server
from genpolicy.specfile.checker import _Checker
from genpolicy.specfile.loader import Path
from genpolicy.specfile.model import READ_SOURCES, Cluster, Registry, Spec
from genpolicy.specfile.targets import Resolved


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
