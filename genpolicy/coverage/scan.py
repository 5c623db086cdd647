"""The scan: each Pod's keyring (genpolicy.explain.pod_keyring) and every image looked up in it."""

from __future__ import annotations

from collections.abc import Sequence

from genpolicy.coverage.model import (
    ASSUMED,
    COVERED,
    INVALID,
    PUBLIC,
    STATUSES,
    UNCOVERED,
    ClusterCoverage,
    CoverageReport,
    CredentialTried,
    Delivery,
    ImageCoverage,
)
from genpolicy.errors import GenpolicyError
from genpolicy.explain import (
    HELM_VALUES,
    KYVERNO,
    NODE,
    SERVICE_ACCOUNT,
    Explanation,
    PodKeyring,
    check_cluster,
    explain,
    pod_keyring,
    unknown_secret_note,
)
from genpolicy.nodes.answers import node_notes
from genpolicy.render.pullsecrets import pull_secrets
from genpolicy.specfile import NamespaceTarget, Resolved
from genpolicy.specfile.checks import KyvernoTarget
from genpolicy.specfile.model import Registry
from genpolicy.workloads import Container, PodSpec, Workloads

_GENERIC_NOTE = "the kubelet tries these in order"


def coverage(resolved: Resolved, workloads: Workloads | None, cluster: str | None = None,
             public: Sequence[str] = ()) -> CoverageReport:
    """Coverage of `workloads` (None: the delivery inventory only) on one or every cluster."""
    names = [check_cluster(resolved, cluster)] if cluster else [c.name for c in resolved.spec.clusters]
    prefixes = [normalize_public(p) for p in public]
    pods = sorted(workloads.pods, key=lambda p: (p.namespace, p.workload, p.file, p.line)) if workloads else []
    report = CoverageReport([], sorted(workloads.problems) if workloads else [], workloads is not None,
                            workloads.files if workloads else 0, len(pods))
    for name in names:
        result = ClusterCoverage(name, deliveries=deliveries(resolved, name))
        for pod in pods:
            result.images += pod_coverage(resolved, name, pod, prefixes)
        result.images.sort(key=lambda i: STATUSES.index(i.status))
        report.clusters.append(result)
    return report


def normalize_public(prefix: str) -> str:
    """A public prefix compared with normalised images: no scheme, `index.docker.io/` is `docker.io/`."""
    for scheme in ("https://", "http://"):
        prefix = prefix.removeprefix(scheme)
    return "docker.io/" + prefix[len("index.docker.io/"):] if prefix.startswith("index.docker.io/") else prefix


def pod_coverage(resolved: Resolved, cluster: str, pod: PodSpec, public: Sequence[str]) -> list[ImageCoverage]:
    """Every container image of one Pod on one cluster."""
    ring = pod_keyring(resolved, cluster, pod.namespace, pod.service_account, pod.pull_secrets,
                      pod.admission_images)
    rows = [_image(ring, cluster, pod, container, public) for container in pod.containers]
    for row in rows:
        _through_mirrors(resolved, cluster, pod, row)
    return rows


def _through_mirrors(resolved: Resolved, cluster: str, pod: PodSpec, row: ImageCoverage) -> None:
    """An image pulled through a mirror is authenticated at the mirror (docs/nodes.md)."""
    if row.status == INVALID:
        return
    failure, notes = node_notes(resolved.spec, resolved.server_keys, cluster, row.lookup_key,
                                [(c.key, c.source) for c in row.credentials], pod.service_account)
    row.notes += notes
    if failure is not None:
        row.status = UNCOVERED
        row.reason = failure


def _image(ring: PodKeyring, cluster: str, pod: PodSpec, container: Container,
           public: Sequence[str]) -> ImageCoverage:
    row = ImageCoverage(UNCOVERED, pod.namespace, pod.workload, pod.file, pod.line, pod.source,
                        pod.service_account, list(pod.pull_secrets), container.name, container.field,
                        container.image)
    try:
        result = explain(ring.secrets, container.image, ring.extra)
    except GenpolicyError as exc:
        row.status = INVALID
        row.reason = exc.problems[0].message if exc.problems else exc.message
        return row
    row.lookup_key = result.lookup_key
    row.credentials = [CredentialTried(a.order, a.key, a.source, ring.paths.get(a.source, ""), a.fallback)
                       for a in result.attempts]
    row.paths = list(dict.fromkeys(c.path for c in row.credentials))
    row.notes = [n for n in ring.notes + result.notes if not n.startswith(_GENERIC_NOTE)]
    row.status = _status(ring, row, public)
    if row.status == UNCOVERED:
        row.reason = _reason(ring, cluster, pod, result)
    return row


def _status(ring: PodKeyring, row: ImageCoverage, public: Sequence[str]) -> str:
    if any(c.source not in ring.assumed for c in row.credentials):
        return COVERED
    if row.credentials:
        return ASSUMED
    if any(row.lookup_key.startswith(prefix) for prefix in public):
        return PUBLIC
    return UNCOVERED


def _reason(ring: PodKeyring, cluster: str, pod: PodSpec, result: Explanation) -> str:
    """Why an image has no credential, in one line (the Pod's notes say more)."""
    if not ring.managed:
        return f"namespace {pod.namespace!r} is not managed by the spec on cluster {cluster!r}"
    if ring.unknown:
        return unknown_secret_note(pod.namespace, ring.unknown[0])
    misses = list(dict.fromkeys(f"{m.key} ({m.reason})" for m in result.near_misses))
    if misses:
        return f"no key matches {result.lookup_key}; nearest: {', '.join(misses)}"
    return f"no Secret of the spec reaches this Pod for {result.lookup_key}"


def deliveries(resolved: Resolved, cluster: str) -> list[Delivery]:
    """Per managed namespace (static) or namespace pattern (Kyverno) and registry: the delivery path."""
    rows: list[Delivery] = []
    for target in sorted(resolved.targets_for(cluster), key=lambda t: t.namespace):
        rows += _static_deliveries(resolved, target)
    for group in sorted(resolved.kyverno_targets_for(cluster), key=lambda g: g.group):
        rows += _kyverno_deliveries(resolved, group)
    return rows


def _static_deliveries(resolved: Resolved, target: NamespaceTarget) -> list[Delivery]:
    secret_of = {r.name: s.name for s in pull_secrets(target) for r in s.registries}
    accounts = ", ".join(target.service_accounts)
    helm = ", ".join(k.path for k in target.helm_values.keys) if target.helm_values.enabled else ""
    rows = []
    for registry in target.registries:
        key = resolved.server_keys[registry.name]
        if registry.credentials.node is not None:
            rows.append(_node_delivery(target.namespace, target.group, "static", registry, key))
            continue
        secret = secret_of[registry.name]
        paths = ([SERVICE_ACCOUNT] if accounts else []) + ([HELM_VALUES] if helm else [])
        via = ([f"ServiceAccount {accounts}"] if accounts else []) + ([f"Helm values {helm}"] if helm else [])
        detail = f"Secret {secret} via " + "; ".join(via) if via else f"Secret {secret} (attached by nothing)"
        rows.append(Delivery(target.namespace, target.group, "static", registry.name, key, secret, paths, detail))
    return rows


def _kyverno_deliveries(resolved: Resolved, group: KyvernoTarget) -> list[Delivery]:
    where = ", ".join(group.names) or "*"
    if group.selector is not None:
        labels = [f"{k}={v}" for k, v in sorted(group.selector.match_labels.items())]
        labels += [f"{e.key} {e.operator} {','.join(e.values)}".rstrip() for e in group.selector.match_expressions]
        where += f" with labels {' and '.join(labels) or '(any)'}"
    rows = []
    for registry in group.registries:
        key = resolved.server_keys[registry.name]
        if registry.credentials.node is not None:
            rows.append(_node_delivery(where, group.group, "kyverno", registry, key, list(group.excludes)))
            continue
        secret = registry.effective_secret_name
        detail = f"Kyverno adds Secret {secret} to new Pods with images from {key}"
        if group.selector is not None:
            detail += " (namespaces selected by label: assumed, labels cannot be known offline)"
        rows.append(Delivery(where, group.group, "kyverno", registry.name, key, secret, [KYVERNO], detail,
                             assumed=group.selector is not None, excludes=list(group.excludes)))
    return rows


def _node_delivery(where: str, group: str, distribution: str, registry: Registry, key: str,
                   excludes: list[str] | None = None) -> Delivery:
    node = registry.credentials.node
    assert node is not None
    return Delivery(where, group, distribution, registry.name, key, "", [NODE],
                    f"node credential provider {node.provider} (no Secret)", excludes=excludes or [])
