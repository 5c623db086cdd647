"""Kyverno distribution: source Secrets, RBAC, clone+sync and Pod-mutation policies per group.

Field sets follow the Kyverno version the cluster runs (see docs/kyverno.md), each checked by that
version's CRD and by its real CLI (tests/test_kyverno_cli.py):
- 1.10-1.12: ClusterPolicy, `spec.generateExisting`, `spec.failurePolicy`, RBAC aggregation by
  `app.kubernetes.io/{component,instance,part-of}` labels (`spec.admission` from 1.11);
- 1.13-1.16: ClusterPolicy, `rules[].generate.generateExisting`, `spec.webhookConfiguration`,
  `spec.emitWarning`, `rbac.kyverno.io/aggregate-to-*` labels, and read access for the admission
  controller;
- 1.17-1.18: ClusterPolicy as before. Their CEL GeneratingPolicy copies a source's `ownerReferences`
  into every clone, and the garbage collector then deletes the clones of a Secret owned by its
  ExternalSecret or SealedSecret (Kyverno issue 15444, fixed in 1.19): `policyKind: CEL` is refused.
- 1.19+: GeneratingPolicy + MutatingPolicy (`policies.kyverno.io/v1`) unless `policyKind: ClusterPolicy`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from genpolicy.render import metadata
from genpolicy.render.image_match import excludes_localhost, image_regex, namespace_regex
from genpolicy.specfile import NamespaceTarget, Resolved
from genpolicy.specfile.checks import KyvernoTarget
from genpolicy.specfile.model import Cluster, KyvernoSettings, LabelSelector, Registry, Spec

TARGET_NAMESPACE = "{{request.object.metadata.name}}"
# Ephemeral containers cannot be set when a Pod is created (only through the ephemeralcontainers
# subresource, which the policies do not match): they never trigger a mutation.
CONTAINER_KINDS = ("containers", "initContainers")


@dataclass(frozen=True)
class RenderedObject:
    """A template name and its context (rendered and validated by the caller)."""

    template: str
    context: dict[str, Any]


def waves(cluster: Cluster) -> dict[str, dict[str, str]]:
    """Argo CD sync waves: RBAC, then the source, then policies (Kyverno issue #10715)."""
    if cluster.gitops != "argocd":
        return {"rbac": {}, "source": {}, "policy": {}}
    return {
        "rbac": {metadata.ARGOCD_SYNC_WAVE: "-3"},
        "source": {metadata.ARGOCD_SYNC_WAVE: "-2"},
        "policy": {metadata.ARGOCD_SYNC_WAVE: "-1",
                   metadata.ARGOCD_SYNC_OPTIONS: "SkipDryRunOnMissingResource=true"},
    }


def with_secret_registries(targets: list[KyvernoTarget]) -> list[KyvernoTarget]:
    """Targets restricted to the registries that need a pull Secret (a node credential provider serves
    the others: no source, no clone rule, no mutation); groups left with none get no policies."""
    restricted = [t.replace(registries=tuple(r for r in t.registries if r.credentials.node is None))
                  for t in targets]
    return [t for t in restricted if t.registries]


def source_target(cluster: Cluster, registries: list[Registry]) -> NamespaceTarget:
    """A pseudo-target for the source namespace so pull Secrets render the usual way."""
    from genpolicy.specfile.model import HelmValues

    assert cluster.kyverno is not None
    return NamespaceTarget(cluster=cluster, group="kyverno-source", namespace=cluster.kyverno.source_namespace,
                           registries=tuple(registries), service_accounts=(), secret_mode="per-registry",
                           merged_secret_name="", helm_values=HelmValues(enabled=False))


def source_namespace(spec: Spec, cluster: Cluster) -> RenderedObject:
    assert cluster.kyverno is not None
    return RenderedObject("kyverno/namespace.yaml.j2", {
        "name": cluster.kyverno.source_namespace,
        "labels": metadata.labels(spec),
        "annotations": dict(sorted({**waves(cluster)["rbac"],
                                    **({metadata.ARGOCD_SYNC_OPTIONS: "Prune=false"}
                                       if cluster.gitops == "argocd" else {metadata.FLUX_PRUNE: "disabled"})}.items())),
    })


def cluster_roles(spec: Spec, cluster: Cluster) -> list[RenderedObject]:
    """Least-privilege aggregated ClusterRoles for the controllers that clone Secrets."""
    settings = cluster.kyverno
    assert settings is not None
    roles = [("background-controller", ["get", "list", "watch", "create", "update", "patch", "delete"])]
    if settings.minor >= 13:
        roles.append(("admission-controller", ["get", "list", "watch"]))
    return [RenderedObject("kyverno/clusterrole.yaml.j2", {
        "name": f"genpolicy:kyverno:{component}",
        "labels": metadata.labels(spec, _aggregation_labels(settings, component)),
        "annotations": waves(cluster)["rbac"],
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": verbs}],
    }) for component, verbs in roles]


def _aggregation_labels(settings: KyvernoSettings, component: str) -> dict[str, str]:
    if settings.minor >= 13:
        return {f"rbac.kyverno.io/aggregate-to-{component}": "true"}
    return {"app.kubernetes.io/component": component, "app.kubernetes.io/instance": settings.helm_release,
            "app.kubernetes.io/part-of": settings.helm_release}


def policies(resolved: Resolved, target: KyvernoTarget) -> list[RenderedObject]:
    settings = target.cluster.kyverno
    assert settings is not None
    if settings.uses_cel:
        return [_generating_policy(resolved, target, settings), _mutating_policy(resolved, target, settings)]
    return [_clone_cluster_policy(resolved, target, settings), _mutate_cluster_policy(resolved, target, settings)]


def policy_names(target: KyvernoTarget) -> tuple[str, str]:
    return f"genpolicy-{target.group}-clone", f"genpolicy-{target.group}-pull-secrets"


def _policy_meta(resolved: Resolved, target: KyvernoTarget, name: str, title: str, description: str,
                 extra: dict[str, str] | None = None) -> dict[str, Any]:
    annotations = {
        **resolved.spec.common_annotations,
        "policies.kyverno.io/title": title,
        "policies.kyverno.io/description": description,
        **waves(target.cluster)["policy"],
        **(extra or {}),
    }
    return {"name": name, "labels": metadata.labels(resolved.spec), "annotations": dict(sorted(annotations.items()))}


def _namespace_filter(target: KyvernoTarget, kind: str) -> dict[str, Any]:
    """A Kyverno resource filter selecting the group's namespaces (as triggers or as Pod namespaces)."""
    resources: dict[str, Any] = {"kinds": [kind]}
    if kind == "Namespace":
        if target.names:
            resources["names"] = list(target.names)
        if target.selector is not None:
            resources["selector"] = _selector(target.selector)
    else:
        resources["operations"] = ["CREATE"]
        if target.names:
            resources["namespaces"] = list(target.names)
        if target.selector is not None:
            resources["namespaceSelector"] = _selector(target.selector)
    return {"any": [{"resources": resources}]}


def _exclude(target: KyvernoTarget, kind: str) -> dict[str, Any]:
    key = "names" if kind == "Namespace" else "namespaces"
    return {"any": [{"resources": {"kinds": [kind], key: list(target.excludes)}}]}


def _selector(selector: LabelSelector) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if selector.match_labels:
        out["matchLabels"] = dict(sorted(selector.match_labels.items()))
    if selector.match_expressions:
        out["matchExpressions"] = [
            {"key": e.key, "operator": e.operator, **({"values": list(e.values)} if e.values else {})}
            for e in selector.match_expressions
        ]
    return out


def _clone_cluster_policy(resolved: Resolved, target: KyvernoTarget, settings: KyvernoSettings) -> RenderedObject:
    name, _ = policy_names(target)
    spec = _cluster_policy_spec(settings, background=True)
    if settings.minor < 13:
        spec["generateExisting"] = True
    rules = []
    for registry in target.registries:
        secret = registry.effective_secret_name
        generate: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "name": secret,
                                    "namespace": TARGET_NAMESPACE, "synchronize": True}
        if settings.minor >= 13:
            generate["generateExisting"] = True
        if settings.minor >= 12:
            generate["orphanDownstreamOnPolicyDelete"] = False
        generate["clone"] = {"namespace": settings.source_namespace, "name": secret}
        rule: dict[str, Any] = {"name": f"clone-{registry.name}", "match": _namespace_filter(target, "Namespace"),
                                "exclude": _exclude(target, "Namespace"), "generate": generate}
        if settings.minor >= 12:
            rule["skipBackgroundRequests"] = True
        rules.append(rule)
    spec["rules"] = rules
    meta = _policy_meta(resolved, target, name, f"genpolicy: pull Secrets for group {target.group}",
                        f"Clones and synchronizes the pull Secrets of group {target.group} from namespace "
                        f"{settings.source_namespace} into every matching namespace, existing ones included.")
    return RenderedObject("kyverno/clusterpolicy.yaml.j2", {**meta, "spec": spec})


def _mutate_cluster_policy(resolved: Resolved, target: KyvernoTarget, settings: KyvernoSettings) -> RenderedObject:
    _, name = policy_names(target)
    spec = _cluster_policy_spec(settings, background=False)
    rules = []
    for registry in target.registries:
        key = resolved.server_keys[registry.name]
        rule: dict[str, Any] = {
            "name": f"add-{registry.name}",
            "match": _namespace_filter(target, "Pod"),
            "exclude": _exclude(target, "Pod"),
            "preconditions": {"any": [
                {"key": _matching_images(kind, key), "operator": "GreaterThan", "value": 0}
                for kind in CONTAINER_KINDS
            ]},
            "mutate": {"patchStrategicMerge": {"spec": {"imagePullSecrets": [
                {"name": registry.effective_secret_name}]}}},
        }
        if settings.minor >= 12:
            rule["skipBackgroundRequests"] = True
        rules.append(rule)
    spec["rules"] = rules
    meta = _policy_meta(
        resolved, target, name, f"genpolicy: imagePullSecrets for group {target.group}",
        MUTATION_DESCRIPTION, {"pod-policies.kyverno.io/autogen-controllers": "none"},
    )
    return RenderedObject("kyverno/clusterpolicy.yaml.j2", {**meta, "spec": spec})


MUTATION_DESCRIPTION = (
    "Adds a registry's pull Secret to a Pod when one of its containers or init containers uses an image "
    "from that registry. Only on CREATE; not auto-generated for controllers."
)


def _cluster_policy_spec(settings: KyvernoSettings, background: bool) -> dict[str, Any]:
    """The spec-level fields every ClusterPolicy gets, as the declared version's CRD knows them.

    Kyverno defaults `admission` (1.11+) and `emitWarning` (1.13+): emitting them keeps Argo CD in
    sync; emitting them for an older version would be rejected by that version's CRD.
    """
    spec: dict[str, Any] = {"background": background}
    if settings.minor >= 11:
        spec["admission"] = True
    if settings.minor >= 13:
        spec["emitWarning"] = False
        spec["webhookConfiguration"] = {"failurePolicy": settings.failure_policy}
    else:
        spec["failurePolicy"] = settings.failure_policy
    spec["validationFailureAction"] = "Audit"
    return dict(sorted(spec.items()))


def _matching_images(kind: str, key: str) -> str:
    """JMESPath: how many of the Pod's `kind` containers use an image the kubelet matches to `key`.

    It reads the raw `image` strings with the same RE2 regex as the CEL policies, so the answer does
    not depend on Kyverno's `defaultRegistry` / `enableDefaultRegistryMutation` settings (which
    rewrite the `images` variable that wildcard patterns would read).
    """
    test = f"regex_match('{image_regex(key)}', image)"
    if excludes_localhost(key):
        test += " && !starts_with(image, 'localhost/')"
    return f"{{{{ length((request.object.spec.{kind} || `[]`)[?{test}]) }}}}"


def _cel_string(value: str) -> str:
    return json.dumps(value)


def _cel_match(target: KyvernoTarget, resource: str, operations: list[str], selector_key: str,
               namespace_expr: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """matchConstraints and matchConditions selecting the group's namespaces (names, selector, exclusions)."""
    constraints: dict[str, Any] = {"resourceRules": [{
        "apiGroups": [""], "apiVersions": ["v1"], "operations": operations, "resources": [resource]}]}
    if target.selector is not None:
        constraints[selector_key] = _selector(target.selector)
    conditions = []
    if target.names:
        regex = _cel_string(namespace_regex(target.names))
        conditions.append({"name": "selected-namespace", "expression": f"{namespace_expr}.matches({regex})"})
    excluded = _cel_string(namespace_regex(target.excludes))
    conditions.append({"name": "not-excluded", "expression": f"!{namespace_expr}.matches({excluded})"})
    return constraints, conditions


def _generating_policy(resolved: Resolved, target: KyvernoTarget, settings: KyvernoSettings) -> RenderedObject:
    name, _ = policy_names(target)
    # For a Namespace trigger, its own labels select it (objectSelector), and its name is object.metadata.name.
    constraints, conditions = _cel_match(target, "namespaces", ["CREATE", "UPDATE"], "objectSelector",
                                         "object.metadata.name")
    spec = {
        "evaluation": {"generateExisting": {"enabled": True}, "orphanDownstreamOnPolicyDelete": {"enabled": False},
                       "synchronize": {"enabled": True}},
        "matchConstraints": constraints,
        "matchConditions": conditions,
        "variables": [
            {"name": "targetNamespace", "expression": "object.metadata.name"},
            {"name": "sources", "expression": sources_expression(settings, target)},
        ],
        "generate": [{"expression": "generator.Apply(variables.targetNamespace, variables.sources)"}],
    }
    meta = _policy_meta(resolved, target, name, f"genpolicy: pull Secrets for group {target.group}",
                        f"Clones and synchronizes the pull Secrets of group {target.group} from namespace "
                        f"{settings.source_namespace} into every matching namespace, existing ones included.")
    return RenderedObject("kyverno/celpolicy.yaml.j2", {**meta, "kind": "GeneratingPolicy", "spec": spec})


def sources_expression(settings: KyvernoSettings, target: KyvernoTarget) -> str:
    """CEL: the group's source Secrets that exist (a missing one is skipped, not fatal for the others).

    `resource.Get` of a missing Secret is an error that aborts every generation of the policy for the
    namespace; listing the source namespace and filtering by name keeps the others working.
    """
    names = ", ".join(_cel_string(r.effective_secret_name) for r in target.registries)
    return (f"dyn(resource.List(\"v1\", \"secrets\", {_cel_string(settings.source_namespace)}).items)"
            f".filter(s, s.metadata.name in [{names}])")


def clone_labels(resolved: Resolved, settings: KyvernoSettings) -> dict[str, str]:
    """A clone's labels as the declared version's CLI reports them: the source's, with `managed-by` set
    to Kyverno by the ClusterPolicy clone of 1.13+ (in a cluster every version relabels its clones)."""
    labels = metadata.labels(resolved.spec)
    if not settings.uses_cel and settings.minor >= 13:
        labels["app.kubernetes.io/managed-by"] = "kyverno"
    return labels


def wanted_secrets_expression(resolved: Resolved, registries: tuple[Registry, ...]) -> str:
    """CEL: the group's Secret names whose registry one of the Pod's images comes from."""
    parts = []
    for registry in registries:
        key = resolved.server_keys[registry.name]
        test = f"i.matches({_cel_string(image_regex(key))})"
        if excludes_localhost(key):
            test += " && !i.startsWith('localhost/')"
        parts.append(f"(variables.images.exists(i, {test}) ? [{_cel_string(registry.effective_secret_name)}] : [])")
    return "\n+ ".join(parts)


def _mutating_policy(resolved: Resolved, target: KyvernoTarget, settings: KyvernoSettings) -> RenderedObject:
    _, name = policy_names(target)
    constraints, conditions = _cel_match(target, "pods", ["CREATE"], "namespaceSelector", "request.namespace")
    images = "\n+ ".join(
        [f"object.spec.{kind}.map(c, c.image)" if kind == "containers"
         else f"(has(object.spec.{kind}) ? object.spec.{kind}.map(c, c.image) : [])" for kind in CONTAINER_KINDS])
    variables = [
        {"name": "images", "expression": images},
        {"name": "existing", "expression":
            "has(object.spec.imagePullSecrets) ? object.spec.imagePullSecrets.map(s, s.name) : []"},
        {"name": "wanted", "expression": wanted_secrets_expression(resolved, target.registries)},
        {"name": "missing", "expression": "variables.wanted.filter(n, !(n in variables.existing))"},
    ]
    patch = (
        "variables.missing.size() == 0 ? [] :\n"
        "has(object.spec.imagePullSecrets) ?\n"
        '  variables.missing.map(n, JSONPatch{op: "add", path: "/spec/imagePullSecrets/-", value: {"name": n}}) :\n'
        '  [JSONPatch{op: "add", path: "/spec/imagePullSecrets", value: variables.missing.map(n, {"name": n})}]'
    )
    spec: dict[str, Any] = {
        "failurePolicy": settings.failure_policy,
        "autogen": {"podControllers": {"controllers": []}},
        # Pods exist only at admission; background scans of existing Pods would only report.
        "evaluation": {"admission": {"enabled": True}, "background": {"enabled": False}},
        "matchConstraints": constraints,
        "matchConditions": conditions,
        "variables": variables,
        "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": patch}}],
    }
    meta = _policy_meta(
        resolved, target, name, f"genpolicy: imagePullSecrets for group {target.group}",
        MUTATION_DESCRIPTION,
    )
    return RenderedObject("kyverno/celpolicy.yaml.j2", {**meta, "kind": "MutatingPolicy", "spec": spec})
