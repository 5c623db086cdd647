"""The coverage report's model: statuses, one row per image, deliveries, the per-cluster and whole report."""

from __future__ import annotations

from dataclasses import dataclass, field

from genpolicy.errors import ExitCode, Problem

JSON_VERSION = 1
COVERED, ASSUMED, PUBLIC, UNCOVERED, INVALID = "covered", "assumed", "public", "uncovered", "invalid"
STATUSES = (UNCOVERED, INVALID, ASSUMED, PUBLIC, COVERED)  # report order: problems first
FAILING = (UNCOVERED, INVALID)


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
