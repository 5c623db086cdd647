"""Audit checks over ServiceAccounts and Secrets: drift, missing, wrong type/shape/key, orphans."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from genpolicy.audit.expected import ExpectedSecret
from genpolicy.audit.live import LiveObject, pull_entries, secret_data
from genpolicy.audit.rules import AuditContext, Finding
from genpolicy.registry import InvalidDockerConfig, InvalidKey, parse_key
from genpolicy.render.metadata import MANAGED_BY

DOCKERCONFIGJSON = "kubernetes.io/dockerconfigjson"


def namespaces_not_exported(ctx: AuditContext) -> Iterator[Finding]:
    wanted = sorted({ns for ns, _ in ctx.expected.secrets} | {ns for ns, _ in ctx.expected.accounts})
    for namespace in wanted:
        if namespace not in ctx.namespaces:
            yield ctx.at_spec("AU012", "Namespace", "", namespace, (
                f"namespace {namespace!r} has no object in the export: it does not exist yet, or the export "
                "was limited to other namespaces (`kubectl get ... -A`); it is not audited"))


def service_accounts(ctx: AuditContext) -> Iterator[Finding]:
    for (namespace, name), wanted in sorted(ctx.expected.accounts.items()):
        if namespace not in ctx.namespaces:
            continue
        live = ctx.live.get("ServiceAccount", namespace, name)
        if live is None:
            yield ctx.at_spec("AU002", "ServiceAccount", namespace, name, (
                f"ServiceAccount {namespace}/{name} is patched by the spec but not in the export"))
            continue
        listed = _listed(live.obj.get("imagePullSecrets"))
        if set(listed) != set(wanted):
            yield ctx.at("AU001", live, _drift_message(live, listed, wanted))


def _listed(value: Any) -> list[str]:
    return [str(item.get("name")) for item in value or [] if isinstance(item, dict) and item.get("name")]


def _drift_message(live: LiveObject, listed: list[str], wanted: tuple[str, ...]) -> str:
    extra = [n for n in listed if n not in wanted]
    missing = [n for n in wanted if n not in listed]
    parts = [f"imagePullSecrets is [{', '.join(listed)}] but the spec renders [{', '.join(wanted)}]"]
    if extra:
        parts.append(f"not in the spec: {', '.join(extra)}")
    if missing:
        parts.append(f"missing: {', '.join(missing)}")
    managers = field_managers(live.obj, "f:imagePullSecrets")
    if managers:
        parts.append(f"the list is written by {', '.join(managers)} (managedFields): the field is an atomic list, "
                     "so two writers replace each other's list; stop the other writer or add its Secrets to "
                     "the spec")
    else:
        parts.append("no managedFields in the export name the writer (export with --show-managed-fields)")
    return "; ".join(parts)


def field_managers(obj: dict[str, Any], field: str) -> list[str]:
    """`manager (operation[, time])` of every managedFields entry that owns the top-level field."""
    found = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, dict) or field not in (entry.get("fieldsV1") or {}):
            continue
        details = ", ".join(str(entry[k]) for k in ("operation", "time") if entry.get(k))
        found.append(f"{entry.get('manager', '?')!r} ({details})" if details else repr(entry.get("manager", "?")))
    return sorted(set(found))


def pull_secrets(ctx: AuditContext) -> Iterator[Finding]:
    for (namespace, name), wanted in sorted(ctx.expected.secrets.items()):
        if namespace not in ctx.namespaces:
            continue
        live = ctx.live.get("Secret", namespace, name)
        if live is None:
            yield ctx.at_spec("AU003", "Secret", namespace, name, _missing_message(wanted) + _eso_status(ctx, wanted))
            continue
        yield from _check_secret(ctx, live, wanted)


def _missing_message(wanted: ExpectedSecret) -> str:
    how = {
        "ExternalSecret": "External Secrets creates it from the rendered ExternalSecret: check that object's status",
        "Kyverno clone": f"Kyverno group {wanted.group!r} clones it here: check the policy and Kyverno's logs",
        "Kyverno source": "it is the source Kyverno clones from: every copy is missing too",
    }.get(wanted.how, "apply the rendered bundle (Argo CD / Flux sync)")
    return (f"Secret {wanted.namespace}/{wanted.name} ({', '.join(wanted.keys)}) is rendered by the spec "
            f"(group {wanted.group!r}) but not in the export; {how}")


def _eso_status(ctx: AuditContext, wanted: ExpectedSecret) -> str:
    """The ExternalSecret's Ready condition, when the export has it and it is not True."""
    external = ctx.live.get("ExternalSecret", wanted.namespace, wanted.name)
    if wanted.how != "ExternalSecret" or external is None:
        return ""
    for condition in (external.obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") != "True":
            detail = ": ".join(str(condition[k]) for k in ("reason", "message") if condition.get(k))
            return f"; its ExternalSecret is not Ready ({detail[:300] or 'no reason given'})"
    return ""


def _check_secret(ctx: AuditContext, live: LiveObject, wanted: ExpectedSecret) -> Iterator[Finding]:
    kind = str(live.obj.get("type") or "Opaque")
    if kind != DOCKERCONFIGJSON:
        yield ctx.at("AU004", live, (
            f"type is {kind}, not {DOCKERCONFIGJSON}: the kubelet ignores it as a pull secret"
            f"{' (it reads .dockercfg too, but the rendered Secret cannot replace it)' if 'dockercfg' in kind else ''}"
            "; the type is immutable, so applying the rendered Secret fails until this one is deleted"))
        return
    problem, keys = _auth_keys(live.obj)
    if problem:
        yield ctx.at("AU005", live, problem)
    elif set(keys) != set(wanted.keys):
        missing = sorted(set(wanted.keys) - set(keys))
        extra = sorted(set(keys) - set(wanted.keys))
        yield ctx.at("AU006", live, (
            f"registry keys are [{', '.join(sorted(keys))}] but the spec renders [{', '.join(wanted.keys)}]"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; not in the spec {', '.join(extra)}" if extra else "")
            + ": Pods pulling from a missing key get no credential from this Secret"))


def _auth_keys(secret: dict[str, Any]) -> tuple[str, list[str]]:
    """(problem, kubelet keys) of a dockerconfigjson Secret; problem is '' when it is well-formed."""
    data = secret_data(secret)
    if data is None:
        return "a data value is not valid base64: the API server would not have stored it", []
    if not data.get(".dockerconfigjson"):
        return "no .dockerconfigjson key in data: the kubelet reads no credential from it", []
    try:
        entries = pull_entries(secret) or {}
    except InvalidDockerConfig as exc:
        return f".dockerconfigjson is not what the kubelet reads: {exc}", []
    if not entries:
        return ".dockerconfigjson has no (or an empty) `auths` object: the kubelet reads no credential from it", []
    keys = []
    for loc in entries:
        try:
            keys.append(parse_key(loc))
        except InvalidKey as exc:
            return f"{exc}", []
    return "", keys


def orphans(ctx: AuditContext) -> Iterator[Finding]:
    ((label, value),) = MANAGED_BY.items()
    for live in ctx.live.of("Secret"):
        key = (live.namespace, live.name)
        if live.meta("labels").get(label) != value or key in ctx.expected.secrets:
            continue
        if key in ctx.expected.engine_secrets:
            continue
        yield ctx.at("AU007", live, (
            f"labelled {label}={value} but the spec no longer renders it on cluster {ctx.cluster!r}: Pods "
            "listing it still get its credential; delete it (the GitOps engine prunes it only if it applied "
            "it), or add it back to the spec"))
