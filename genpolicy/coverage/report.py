"""The coverage reporters: JSON (stable, `version: 1`), text table and Markdown."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from genpolicy.coverage.model import (
    ASSUMED,
    COVERED,
    INVALID,
    JSON_VERSION,
    PUBLIC,
    STATUSES,
    UNCOVERED,
    ClusterCoverage,
    CoverageReport,
    ImageCoverage,
)
from genpolicy.errors import ExitCode
from genpolicy.explain import (
    HELM_VALUES,
    KYVERNO,
    NODE,
    POD,
    SERVICE_ACCOUNT,
)

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
