"""The audit's rules (stable codes, docs/audit.md), its findings, and what every check sees."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from genpolicy.audit.expected import Expected
from genpolicy.audit.live import LiveExport, LiveObject
from genpolicy.rules import Rule
from genpolicy.specfile import Resolved

RULES = {rule.code: rule for rule in (
    Rule("AU001", "service-account-drift", "error",
         "A ServiceAccount's imagePullSecrets differ from the list the spec renders (another writer?)."),
    Rule("AU002", "service-account-missing", "error",
         "A ServiceAccount the spec patches is not in the export."),
    Rule("AU003", "pull-secret-missing", "error",
         "A pull Secret the spec renders is not in the export."),
    Rule("AU004", "pull-secret-wrong-type", "error",
         "A pull Secret is not of type kubernetes.io/dockerconfigjson."),
    Rule("AU005", "pull-secret-malformed", "error",
         "A pull Secret's .dockerconfigjson is missing, not JSON, or has no auths object."),
    Rule("AU006", "pull-secret-wrong-key", "error",
         "A pull Secret's registry keys differ from the spec's."),
    Rule("AU007", "orphaned-secret", "warning",
         "A Secret labelled as managed by genpolicy that the spec no longer renders."),
    Rule("AU008", "image-pull-failure", "error",
         "A container in ErrImagePull/ImagePullBackOff, with the kubelet's credential matching explained."),
    Rule("AU009", "node-cache-only", "warning",
         "A running private image the Pod has no credential for: it runs only from the node's cache (KEP-2535)."),
    Rule("AU010", "credential-expired", "error",
         "A credential the export shows as expired (ESO refresh overdue, expiry annotation)."),
    Rule("AU011", "credential-expiring", "warning",
         "A credential the export shows expiring within the window (--expiry-window)."),
    Rule("AU012", "namespace-not-exported", "info",
         "A namespace the spec renders into has no object in the export (not created, or not exported)."),
)}
_BY_NAME = {rule.name: rule.code for rule in RULES.values()}


def rule_code(code_or_name: str) -> str | None:
    upper = code_or_name.upper()
    return upper if upper in RULES else _BY_NAME.get(code_or_name)


@dataclass(frozen=True, order=True)
class Finding:
    """One finding, at the live object it is about (or at the spec for something missing)."""

    file: str
    line: int
    col: int
    code: str
    kind: str
    namespace: str
    name: str
    message: str

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass
class AuditContext:
    resolved: Resolved
    cluster: str
    live: LiveExport
    expected: Expected
    namespaces: set[str]  # every namespace the export has an object in
    now: datetime.datetime
    window: datetime.timedelta

    def at(self, code: str, item: LiveObject, message: str) -> Finding:
        return Finding(item.file, item.line, 1 if item.line else 0, code, item.kind, item.namespace, item.name,
                       message)

    def at_spec(self, code: str, kind: str, namespace: str, name: str, message: str) -> Finding:
        """A finding about something absent: positioned at the spec's group (or the file)."""
        line, col = self.resolved.loaded.positions.of_value(self._group_path(namespace, name))
        return Finding(self.resolved.loaded.filename, line, col, code, kind, namespace, name, message)

    def _group_path(self, namespace: str, name: str) -> tuple[str | int, ...]:
        """The spec's group that renders the object (for a Namespace finding: anything in that namespace)."""
        group = self.expected.account_groups.get((namespace, name))
        secret = self.expected.secrets.get((namespace, name))
        group = group or (secret.group if secret is not None else "")
        if not group and not namespace:
            group = next((s.group for (ns, _), s in sorted(self.expected.secrets.items()) if ns == name), "")
            group = group or next((g for (ns, _), g in sorted(self.expected.account_groups.items()) if ns == name), "")
        names = [g.name for g in self.resolved.spec.namespace_groups]
        return ("namespaceGroups", names.index(group)) if group in names else ()
