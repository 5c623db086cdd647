"""`genpolicy coverage`: which workload images get a pull credential from the spec, and how.

For every Pod a workload creates (genpolicy/workloads.py) and every cluster, the Pod's keyring is
built by genpolicy.explain.pod_keyring (ServiceAccount rule, pod-level Secrets, Kyverno mutation,
node providers) and each image is looked up with the kubelet model (genpolicy.explain.explain,
genpolicy.registry): `scan`. Without workloads it lists, per cluster, how each namespace gets each
registry. `model` holds the report, `report` its JSON, table and Markdown forms. Nothing here
reads credentials: the report never contains a password or a username.
"""

from __future__ import annotations

from genpolicy.coverage.model import (
    ASSUMED,
    COVERED,
    FAILING,
    INVALID,
    JSON_VERSION,
    PUBLIC,
    STATUSES,
    UNCOVERED,
    ClusterCoverage,
    CoverageReport,
    CredentialTried,
    Delivery,
    ImageCoverage,
)
from genpolicy.coverage.report import PATH_LABELS, render_report, to_json, to_markdown, to_table
from genpolicy.coverage.scan import coverage, deliveries, normalize_public, pod_coverage

__all__ = ["ASSUMED", "COVERED", "FAILING", "INVALID", "JSON_VERSION", "PATH_LABELS", "PUBLIC", "STATUSES",
           "UNCOVERED", "ClusterCoverage", "CoverageReport", "CredentialTried", "Delivery", "ImageCoverage",
           "coverage", "deliveries", "normalize_public", "pod_coverage", "render_report", "to_json", "to_markdown",
           "to_table"]
