"""Audit output: text (`file:line:col: object: message [code name]`), GitHub annotations, JSON (version 1),
SARIF 2.1.0 (code scanning) and wg-policy `PolicyReport`s (wgpolicyk8s.io/v1alpha2). Everything passes
the credential redactor last."""

from __future__ import annotations

import datetime
import json
from typing import Any, Literal

import yaml

from genpolicy import __version__
from genpolicy.audit import AuditReport
from genpolicy.audit.rules import RULES, Finding
from genpolicy.errors import Problem
from genpolicy.reporting import format_problems
from genpolicy.secrets import redact

AuditFormat = Literal["text", "github", "json", "sarif", "policyreport"]
FORMATS = ("text", "github", "json", "sarif", "policyreport")
JSON_VERSION = 1
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
POLICY_RESULT = {"error": "fail", "warning": "warn", "info": "warn"}
POLICY_SEVERITY = {"error": "high", "warning": "medium", "info": "low"}
API_VERSIONS = {"ExternalSecret": "external-secrets.io/v1"}
INFO_URI = "https://github.com/genpolicy/genpolicy/blob/main/docs/audit.md"


def problem(finding: Finding) -> Problem:
    rule = finding.rule
    return Problem(finding.file, finding.line, finding.col, finding.ref,
                   f"{finding.message} [{rule.code} {rule.name}]", rule.severity, rule.code)


def render_audit(report: AuditReport, fmt: AuditFormat, now: datetime.datetime) -> str:
    if fmt in ("text", "github"):
        return format_problems([problem(f) for f in report.findings], fmt)
    if fmt == "json":
        return redact(json.dumps(to_json(report), indent=2))
    if fmt == "sarif":
        return redact(json.dumps(to_sarif(report), indent=2))
    return redact(to_policy_reports(report, now))


def to_json(report: AuditReport) -> dict[str, Any]:
    return {
        "version": JSON_VERSION, "cluster": report.cluster,
        "summary": {s: report.count(s) for s in ("error", "warning", "info")},
        "objects": report.objects,
        "findings": [{"code": f.code, "rule": f.rule.name, "severity": f.rule.severity, "file": f.file,
                      "line": f.line, "col": f.col,
                      "object": {"kind": f.kind, "namespace": f.namespace, "name": f.name},
                      "message": f.message} for f in report.findings],
    }


def to_sarif(report: AuditReport) -> dict[str, Any]:
    codes = list(RULES)
    rules = [{"id": r.code, "name": r.name, "shortDescription": {"text": r.summary},
              "helpUri": f"{INFO_URI}#{r.code.lower()}-{r.name}",
              "defaultConfiguration": {"level": SARIF_LEVEL[r.severity]}} for r in RULES.values()]
    return {
        "$schema": SARIF_SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "genpolicy", "version": __version__, "informationUri": INFO_URI,
                                "rules": rules}},
            "automationDetails": {"id": f"genpolicy-audit/{report.cluster}/"},
            "results": [_sarif_result(f, codes.index(f.code)) for f in report.findings],
        }],
    }


def _sarif_result(finding: Finding, index: int) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": finding.file}}
    if finding.line:
        physical["region"] = {"startLine": finding.line, "startColumn": max(finding.col, 1)}
    logical = {"fullyQualifiedName": finding.ref, "kind": "resource"}
    return {"ruleId": finding.code, "ruleIndex": index, "level": SARIF_LEVEL[finding.rule.severity],
            "message": {"text": finding.message},
            "locations": [{"physicalLocation": physical, "logicalLocations": [logical]}]}


def to_policy_reports(report: AuditReport, now: datetime.datetime) -> str:
    """One PolicyReport per namespace with findings, one ClusterPolicyReport for cluster-scoped ones."""
    by_namespace: dict[str, list[Finding]] = {}
    for finding in report.findings:
        by_namespace.setdefault(finding.namespace, []).append(finding)
    seconds = int(now.timestamp())
    documents = [_policy_report(report.cluster, ns, items, seconds) for ns, items in sorted(by_namespace.items())]
    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False, default_flow_style=False, width=10_000)
                   for d in documents)


def _policy_report(cluster: str, namespace: str, findings: list[Finding], seconds: int) -> dict[str, Any]:
    results = [_policy_result(f, seconds) for f in findings]
    summary = {k: sum(r["result"] == k for r in results) for k in ("pass", "fail", "warn", "error", "skip")}
    meta: dict[str, Any] = {"name": f"genpolicy-audit-{cluster}",
                            "labels": {"app.kubernetes.io/managed-by": "genpolicy"}}
    if namespace:
        meta["namespace"] = namespace
    kind = "PolicyReport" if namespace else "ClusterPolicyReport"
    return {"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": kind, "metadata": meta, "results": results,
            "summary": summary}


def _policy_result(finding: Finding, seconds: int) -> dict[str, Any]:
    rule = finding.rule
    resource = {"apiVersion": API_VERSIONS.get(finding.kind, "v1"), "kind": finding.kind, "name": finding.name}
    if finding.namespace:
        resource["namespace"] = finding.namespace
    return {"source": "genpolicy", "policy": "genpolicy-audit", "rule": f"{rule.code}-{rule.name}",
            "category": "registry pull credentials", "result": POLICY_RESULT[rule.severity],
            "severity": POLICY_SEVERITY[rule.severity], "scored": True, "message": finding.message,
            "resources": [resource], "properties": {"code": rule.code, "location": problem(finding).location()},
            "timestamp": {"seconds": seconds, "nanos": 0}}
