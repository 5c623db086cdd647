"""`genpolicy coverage`: which workload images get a pull credential from the spec, and how.

For every Pod a workload creates (genpolicy/workloads.py) and every cluster, the Pod's keyring is
built by explain.pod_keyring (ServiceAccount rule, pod-level Secrets, Kyverno mutation, node
providers) and each image is looked up with the kubelet model (explain.explain, registry.py).
Without workloads it lists, per cluster, how each namespace gets each registry. Nothing here
reads credentials: the report never contains a password or a username.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from genpolicy.errors import ExitCode, GenpolicyError, Problem
from genpolicy.explain import (
    HELM_VALUES,
    KYVERNO,
    NODE,
    POD,
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
from genpolicy.spec import NamespaceTarget, Resolved
from genpolicy.spec.checks import KyvernoTarget
from genpolicy.spec.model import Registry
from genpolicy.workloads import Container, PodSpec, Workloads

JSON_VERSION = 1
COVERED, ASSUMED, PUBLIC, UNCOVERED, INVALID = "covered", "assumed", "public", "uncovered", "invalid"
STATUSES = (UNCOVERED, INVALID, ASSUMED, PUBLIC, COVERED)  # report order: problems first
FAILING = (UNCOVERED, INVALID)
_GENERIC_NOTE = "the kubelet tries these in order"


@dataclass
class CredentialTried:
    """One credential the kubelet would try for an image, in order (never a username or password)."""

    order: int
    key: str
    source: str
    path: str
    fallback: bool = False


@dataclass
class ImageCoverage:
    """One container image of one workload on one cluster."""

    status: str
    namespace: str
    workload: str
    file: str
    line: int
    source: str
    service_account: str
    pod_secrets: list[str]
    container: str
    container_field: str
    image: str
    lookup_key: str = ""
    paths: list[str] = field(default_factory=list)
    credentials: list[CredentialTried] = field(default_factory=list)
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def failing(self) -> bool:
        return self.status in FAILING


@dataclass
class Delivery:
    """How one namespace (or a Kyverno group's namespaces) gets one registry on a cluster."""

    namespaces: str
    group: str
    distribution: str
    registry: str
    key: str
    secret: str
    paths: list[str]
    detail: str
    assumed: bool = False
    excludes: list[str] = field(default_factory=list)


@dataclass
class ClusterCoverage:
    name: str
    images: list[ImageCoverage] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts = {"images": len(self.images)} | {s: 0 for s in reversed(STATUSES)}
        for image in self.images:
            counts[image.status] += 1
        return counts


@dataclass
class CoverageReport:
    """The result: per cluster, image rows (with workloads) and the delivery inventory."""

    clusters: list[ClusterCoverage]
    problems: list[Problem]
    workloads_given: bool
    files: int = 0
    pods: int = 0

    @property
    def failing(self) -> int:
        """Images without a credential (or that the kubelet rejects), over all clusters."""
        return sum(image.failing for c in self.clusters for image in c.images)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.CHANGES if self.failing or self.errors else ExitCode.OK

    def summary(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for cluster in self.clusters:
            for name, count in cluster.summary().items():
                total[name] = total.get(name, 0) + count
        return total or ClusterCoverage("").summary()


# --- analysis ------------------------------------------------------------------------------------

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


# --- reporters -----------------------------------------------------------------------------------

PATH_LABELS = {SERVICE_ACCOUNT: "ServiceAccount", HELM_VALUES: "Helm values", POD: "Pod (Helm values)",
               KYVERNO: "Kyverno", NODE: "node provider"}
_MARKS = {COVERED: "✅", ASSUMED: "⚠️", PUBLIC: "🌐", UNCOVERED: "❌", INVALID: "❌"}
_TABLE_STATUS = {COVERED: "ok", ASSUMED: "assumed", PUBLIC: "public", UNCOVERED: "MISSING", INVALID: "INVALID"}


def to_json(report: CoverageReport) -> str:
    """The stable JSON shape (docs/coverage.md), `version: 1`."""
    payload: dict[str, Any] = {
        "version": JSON_VERSION,
        "workloads": {"given": report.workloads_given, "files": report.files, "pods": report.pods},
        "summary": report.summary(),
        "clusters": [{"name": c.name, "summary": c.summary(), "images": [_image_json(i) for i in c.images],
                      "deliveries": [asdict(d) for d in c.deliveries]} for c in report.clusters],
        "problems": [{"file": p.file, "line": p.line, "col": p.col, "path": p.path, "message": p.message,
                      "severity": p.severity} for p in report.problems],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def _image_json(image: ImageCoverage) -> dict[str, Any]:
    return asdict(image)


def _summary_text(summary: dict[str, int]) -> str:
    parts = [f"{summary[s]} {'without credential' if s == UNCOVERED else s}" for s in reversed(STATUSES)
             if summary.get(s)]
    return f"{summary['images']} image{'s' if summary['images'] != 1 else ''}" + (": " + ", ".join(parts)
                                                                                  if parts else "")


def _via(image: ImageCoverage) -> str:
    if image.credentials:
        return "; ".join(dict.fromkeys(c.source for c in image.credentials))
    if image.status == PUBLIC:
        return "public (--public)"
    return "none"


def _table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    return [indent + "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
            for row in [headers, *rows]]


def _footnotes(images: list[ImageCoverage]) -> tuple[list[list[str]], list[str]]:
    """Per image the numbers of its notes (reason first), and the numbered notes in first-use order."""
    notes: dict[str, int] = {}
    refs = []
    for image in images:
        texts = ([image.reason] if image.reason else []) + image.notes
        refs.append([f"[{notes.setdefault(t, len(notes) + 1)}]" for t in dict.fromkeys(texts)])
    return refs, list(notes)


def to_table(report: CoverageReport) -> str:
    """Terminal output: one table per cluster, numbered notes, problems, a summary line."""
    lines: list[str] = []
    for cluster in report.clusters:
        if report.workloads_given:
            lines += [f"cluster {cluster.name}: {_summary_text(cluster.summary())}"]
            refs, notes = _footnotes(cluster.images)
            rows = [[_TABLE_STATUS[i.status], i.namespace, i.workload, i.container, i.image,
                     " ".join([_via(i), *r])] for i, r in zip(cluster.images, refs, strict=True)]
            lines += _table(["STATUS", "NAMESPACE", "WORKLOAD", "CONTAINER", "IMAGE", "CREDENTIAL"], rows) if rows \
                else ["  no workload images"]
            lines += [f"  [{n}] {text}" for n, text in enumerate(notes, start=1)]
        else:
            lines += [f"cluster {cluster.name}: {len(cluster.deliveries)} namespace x registry deliveries"]
            rows = [[d.namespaces, d.group, d.registry, d.key, d.detail] for d in cluster.deliveries]
            lines += _table(["NAMESPACES", "GROUP", "REGISTRY", "KEY", "DELIVERY"], rows) if rows \
                else ["  no namespace gets a pull credential on this cluster"]
        lines.append("")
    lines += [f"problem: {p}" for p in report.problems]
    lines.append(_verdict(report))
    return "\n".join(lines)


def _verdict(report: CoverageReport) -> str:
    if not report.workloads_given:
        return "no workloads given (--workloads PATH): showing how each namespace gets each registry"
    errors = f"; {len(report.errors)} workload problem(s)" if report.errors else ""
    if report.failing:
        return (f"{report.failing} image(s) have no pull credential{errors}: those Pods fail to pull, or only "
                "run from an image already on the node, which Kubernetes 1.35 starts refusing "
                "(\"ensure secret pulled images\")")
    return f"every image has a pull credential or is public{errors}"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """A code span in a table cell (GFM splits cells at '|' even inside code spans)."""
    return f"`{_md(text.replace('`', ''))}`" if text else ""


def to_markdown(report: CoverageReport) -> str:
    """A pull-request comment: a verdict, then a table and notes per cluster."""
    mark = "❌" if report.exit_code != ExitCode.OK else "✅"
    lines = [f"### {mark} genpolicy coverage", "", _md(_verdict(report)), ""]
    for cluster in report.clusters:
        if report.workloads_given:
            lines += _markdown_images(cluster)
        else:
            lines += _markdown_deliveries(cluster)
    if report.problems:
        lines += ["**Problems**", ""] + [f"- `{_md(p.location())}`: {_md(p.message)}" for p in report.problems] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_images(cluster: ClusterCoverage) -> list[str]:
    lines = [f"#### Cluster `{cluster.name}`: {_summary_text(cluster.summary())}", ""]
    if not cluster.images:
        return [*lines, "No workload images.", ""]
    refs, notes = _footnotes(cluster.images)
    lines += ["| | Namespace | Workload | Container | Image | Credential |", "|---|---|---|---|---|---|"]
    for image, ref in zip(cluster.images, refs, strict=True):
        cells = [_MARKS[image.status], _code(image.namespace), _code(image.workload), _code(image.container),
                 _code(image.image), " ".join([_md(_via(image)), *ref])]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, "", *[f"{n}. {_md(text)}" for n, text in enumerate(notes, start=1)], ""]


def _markdown_deliveries(cluster: ClusterCoverage) -> list[str]:
    lines = [f"#### Cluster `{cluster.name}`", ""]
    if not cluster.deliveries:
        return [*lines, "No namespace gets a pull credential on this cluster.", ""]
    lines += ["| Namespaces | Group | Registry | Key | Delivery |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join([_code(d.namespaces), _code(d.group), _code(d.registry), _code(d.key),
                                 _md(d.detail)]) + " |" for d in cluster.deliveries]
    return [*lines, ""]


def render_report(report: CoverageReport, fmt: str) -> str:
    """The report in `table`, `markdown` or `json`."""
    if fmt == "json":
        return to_json(report)
    return to_markdown(report) if fmt == "markdown" else to_table(report)
