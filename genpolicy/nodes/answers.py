"""Mirror- and node-pool-aware facts for `explain` and `coverage` (docs/nodes.md).

Two facts drive it. The kubelet looks credentials up by the image's own registry (pull secrets,
then credential provider plugins whose `matchImages` match) and hands them to the CRI without a
server address; containerd then sends them to every host it tries for that registry: the
`hosts.toml` mirrors first, the upstream last. So a mirror sees the credentials keyed on the
*image's* registry, and a credential keyed on the mirror's own host is never used for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genpolicy.nodes.model import Mirror, NodePool, ServiceAccountToken
from genpolicy.nodes.providers import effective
from genpolicy.nodes.render import mirror_url

if TYPE_CHECKING:
    from genpolicy.specfile.model import Cluster, Spec

POOL_PREFIX = "node pool "


@dataclass(frozen=True)
class PoolSource:
    """A credential provider plugin of one node pool: a credential path with its own matchImages."""

    pool: str
    kind: str
    name: str
    pattern: str
    source: str
    token: ServiceAccountToken | None


@dataclass(frozen=True)
class MirrorCheck:
    pool: str
    mirror: str
    ok: bool
    note: str


def pool_sources(cluster: Cluster) -> list[PoolSource]:
    """Every (pool, provider, matchImages pattern), in pool and config order (the kubelet's order)."""
    found = []
    for pool in cluster.node_pools:
        for provider in pool.credential_providers:
            settings = effective(provider)
            source = f"{POOL_PREFIX}{pool.name}: credential provider {settings.name} ({provider.kind})"
            token = provider.service_account_token
            found += [PoolSource(pool.name, provider.kind, settings.name, pattern, source, token)
                      for pattern in settings.match_images]
    return found


def token_notes(cluster: Cluster, used_sources: Sequence[str], service_account: str) -> list[str]:
    """KEP-4412: what a service-account-token provider needs from the Pod's ServiceAccount."""
    notes = []
    for source in dict.fromkeys(s.source for s in pool_sources(cluster) if s.token and s.source in used_sources):
        token = next(s.token for s in pool_sources(cluster) if s.source == source and s.token)
        note = f"{source} exchanges the Pod's ServiceAccount token (audience {token.audience})"
        if token.required_service_account_annotation_keys:
            keys = ", ".join(token.required_service_account_annotation_keys)
            note += (f"; the kubelet invokes it only if ServiceAccount {service_account!r} carries the annotations "
                     f"{keys}, and fails the pull with an error otherwise")
        elif token.require_service_account:
            note += "; only for Pods with a ServiceAccount"
        notes.append(note)
    return notes


def node_notes(spec: Spec, server_keys: Mapping[str, str], cluster: str, lookup_key: str,
               attempts: Sequence[tuple[str, str]], account: str) -> tuple[str | None, list[str]]:
    """(why a mirror rejects the pull or None, notes): mirrors and KEP-4412 providers on the node pools.

    `attempts`: (key, source) of the credentials the kubelet tries, in order."""
    spec_cluster = next(c for c in spec.clusters if c.name == cluster)
    checks = mirror_checks(spec, spec_cluster, server_keys, lookup_key, attempts)
    notes = token_notes(spec_cluster, [s for _, s in attempts], account) + [c.note for c in checks]
    pools = sorted({s.partition(":")[0] for _, s in attempts if s.startswith(POOL_PREFIX)})
    if len(pools) > 1:
        notes.append(f"{', '.join(pools)}: a Pod runs on one pool and gets only that pool's provider credentials")
    return next((c.note for c in checks if not c.ok), None), notes


def mirror_checks(spec: Spec, cluster: Cluster, server_keys: Mapping[str, str], lookup_key: str,
                  attempts: Sequence[tuple[str, str]]) -> list[MirrorCheck]:
    """Per pool whose mirrors serve the image's registry: does each mirror get a credential it accepts?

    `attempts`: (key, source) of the credentials the kubelet found, in order."""
    host = lookup_key.partition("/")[0]
    mirrors = {m.name: m for m in spec.mirrors}
    checks = []
    for pool in cluster.node_pools:
        mine = [(k, s) for k, s in attempts if not s.startswith(POOL_PREFIX) or s.startswith(f"{POOL_PREFIX}"
                                                                                              f"{pool.name}:")]
        for mirror in (mirrors[n] for n in pool.mirrors if n in mirrors):
            if host in mirror.serves:
                checks.append(_check(pool, mirror, host, server_keys, mine))
    return checks


def _check(pool: NodePool, mirror: Mirror, host: str, server_keys: Mapping[str, str],
           attempts: list[tuple[str, str]]) -> MirrorCheck:
    where = f"node pool {pool.name}: containerd tries mirror {mirror.name} ({mirror_url(mirror)}) for {host}"
    if mirror.kind == "spegel":
        return MirrorCheck(pool.name, mirror.name, True, f"{where} first: a Spegel peer needs no credential; on a "
                                                         "miss containerd moves on to the next host")
    sent = (f"and sends it the credentials the kubelet found for {host} ("
            f"{', '.join(k for k, _ in attempts) or 'none: anonymous'})")
    if mirror.credentials:
        wanted = {server_keys[n]: n for n in mirror.credentials if n in server_keys}
        accepted = [k for k, _ in attempts if k in wanted]
        if accepted:
            return MirrorCheck(pool.name, mirror.name, True, f"{where} {sent}; {accepted[0]} is the mirror's "
                                                             f"credential (registry {wanted[accepted[0]]})")
        return MirrorCheck(pool.name, mirror.name, False, f"{where} {sent}; none is the mirror's credential "
                           f"({', '.join(mirror.credentials)}): the mirror rejects the pull and containerd moves on "
                           "to the next host (the cache is bypassed, or the pull fails)")
    if mirror.kind == "ecr-pull-through-cache":
        ecr = [s for _, s in attempts if s.startswith(f"{POOL_PREFIX}{pool.name}:") and s.endswith("(ecr)")]
        if not ecr:
            return MirrorCheck(pool.name, mirror.name, False, f"{where} {sent}; an ECR pull-through cache needs an "
                               f"ECR token and no ECR credential provider of the pool matches {host} images "
                               "(the kubelet runs a plugin only for images its matchImages match)")
        return MirrorCheck(pool.name, mirror.name, True, f"{where} {sent}, including the ECR token of {ecr[0]}")
    return MirrorCheck(pool.name, mirror.name, True, f"{where} {sent}; the mirror lists no `credentials`: "
                                                     "assumed to allow anonymous pulls")
