"""One reader per tool teams run today; each turns that tool's objects into Deliveries.

Semantics follow the tools' own documentation and code (docs/import.md cites them):
imagepullsecret-patcher's CONFIG_* env / flags, registry-creds' ClusterPullSecret, Reflector and
Replicator annotations on Secrets, Kyverno's sync-secrets / add-imagepullsecrets sample policies.
"""

from __future__ import annotations

import re
from typing import Any

from genpolicy.importer.inputs import Manifest, registry_keys
from genpolicy.importer.model import ALL, Delivery, Imported, namespace_pattern

PATCHER_DEFAULTS = {"secretname": "image-pull-secret", "serviceaccounts": "default", "allserviceaccount": "false",
                    "excluded-namespaces": "", "dockerconfigjsonpath": "", "dockerconfigjson": ""}
REFLECTOR = "reflector.v1.k8s.emberstack.com/"
REPLICATOR = "replicator.v1.mittwald.de/"
REGISTRY_CREDS_IGNORE = "alexellis.io/registry-creds.ignore"


def index_secrets(manifests: list[Manifest], result: Imported) -> None:
    """Registry keys of every readable pull Secret, by namespace/name and by name; who lists them."""
    for item in manifests:
        if item.kind == "Secret":
            keys = registry_keys(item.obj)
            if keys:
                result.keys_by_secret[f"{item.namespace}/{item.name}"] = keys
                result.keys_by_name.setdefault(item.name, keys)
                result.namespaces_by_name.setdefault(item.name, set()).add(item.namespace)
        elif item.kind == "ServiceAccount":
            for ref in item.obj.get("imagePullSecrets") or []:
                if isinstance(ref, dict) and ref.get("name"):
                    result.accounts_by_secret.setdefault((item.namespace, str(ref["name"])), set()).add(item.name)


# --- imagepullsecret-patcher -------------------------------------------------------------------

def patcher(manifests: list[Manifest], result: Imported) -> None:
    for item in manifests:
        if item.kind not in ("Deployment", "CronJob", "Pod"):
            continue
        for container in _containers(item.obj):
            if "imagepullsecret-patcher" in str(container.get("image", "")):
                result.deliveries.append(_patcher_delivery(item, container, manifests))


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    for path in (("template", "spec"), ("jobTemplate", "spec", "template", "spec")):
        node: Any = spec
        for key in path:
            node = (node or {}).get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            spec = node
            break
    return [c for c in spec.get("containers") or [] if isinstance(c, dict)]


def patcher_config(container: dict[str, Any]) -> dict[str, str]:
    """CONFIG_* env first, then `-flag=value` / `-flag value` args, over the documented defaults."""
    config = dict(PATCHER_DEFAULTS)
    for env in container.get("env") or []:
        name = str(env.get("name", "")) if isinstance(env, dict) else ""
        if name.startswith("CONFIG_") and "value" in env:
            config[name.removeprefix("CONFIG_").lower().replace("_", "-")] = str(env["value"])
    command, given = container.get("command"), container.get("args")
    args = [str(a) for a in [*(command[1:] if isinstance(command, list) else []),
                             *(given if isinstance(given, list) else [])]]
    for i, arg in enumerate(args):
        flag, eq, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and flag in config | {"force": "", "runonce": ""}:
            config[flag] = value if eq else (args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("-")
                                             else "true")
    return config


def _patcher_delivery(item: Manifest, container: dict[str, Any], manifests: list[Manifest]) -> Delivery:
    config = patcher_config(container)
    name = config["secretname"]
    delivery = Delivery("imagepullsecret-patcher", item.ref, name, item.where, [ALL],
                        stop=f"scale it to zero first: kubectl -n {item.namespace or 'default'} scale "
                             f"{item.kind.lower()}/{item.name} --replicas=0, then delete it")
    delivery.excludes = [n.strip() for n in config["excluded-namespaces"].split(",") if n.strip()]
    if config["allserviceaccount"].lower() == "true":
        delivery.service_accounts = ["default"]
        delivery.notes.append("it patched every ServiceAccount (CONFIG_ALLSERVICEACCOUNT): list the ones your "
                              "Pods use in the group's serviceAccounts")
    else:
        delivery.service_accounts = sorted({s.strip() for s in config["serviceaccounts"].split(",") if s.strip()})
    source = _mounted_secret(item, config["dockerconfigjsonpath"])
    if source:
        delivery.source = source
    elif config["dockerconfigjson"]:
        delivery.notes.append("its credential is passed inline (CONFIG_DOCKERCONFIGJSON): not read by the import; "
                              "set the registry below by hand")
    return delivery


def _mounted_secret(item: Manifest, path: str) -> str:
    """namespace/name of the Secret volume mounted where CONFIG_DOCKERCONFIGJSONPATH points."""
    spec = (item.obj.get("spec") or {}).get("template", {}).get("spec") or {}
    volumes = {str(v.get("name")): (v.get("secret") or {}).get("secretName") for v in spec.get("volumes") or []
               if isinstance(v, dict) and isinstance(v.get("secret") or {}, dict)}
    for container in spec.get("containers") or []:
        for mount in container.get("volumeMounts") or []:
            if path.startswith(str(mount.get("mountPath", "\0"))) and volumes.get(str(mount.get("name"))):
                return f"{item.namespace or 'default'}/{volumes[str(mount.get('name'))]}"
    return ""


# --- registry-creds ----------------------------------------------------------------------------

def registry_creds(manifests: list[Manifest], result: Imported) -> None:
    for item in manifests:
        if item.kind != "ClusterPullSecret" or not str(item.obj.get("apiVersion", "")).startswith("ops.alexellis.io/"):
            continue
        ref = (item.obj.get("spec") or {}).get("secretRef") or {}
        delivery = Delivery("registry-creds", item.ref, item.name, item.where, [ALL], service_accounts=["default"],
                            source=f"{ref.get('namespace', 'default')}/{ref.get('name', '')}",
                            stop=f"delete it (kubectl delete clusterpullsecret {item.name}), then uninstall the "
                                 "registry-creds controller")
        delivery.notes.append("registry-creds appends the Secret to every ServiceAccount of every namespace; "
                              f"namespaces annotated {REGISTRY_CREDS_IGNORE}=true were skipped: add them to "
                              "excludeNamespaces")
        result.deliveries.append(delivery)


# --- Reflector and Replicator ------------------------------------------------------------------

def reflector_replicator(manifests: list[Manifest], result: Imported) -> None:
    for item in manifests:
        if item.kind != "Secret":
            continue
        notes = item.annotations
        if notes.get(REFLECTOR + "reflection-allowed") == "true":
            result.deliveries.append(_reflector(item, notes))
        elif REPLICATOR + "replicate-to" in notes or REPLICATOR + "replicate-to-matching" in notes:
            result.deliveries.append(_replicator(item, notes))


def _names(value: str, delivery: Delivery) -> list[str]:
    found = [namespace_pattern(v, delivery.notes, delivery.writer) for v in value.split(",")]
    return [n for n in found if n]


def _reflector(item: Manifest, notes: dict[str, str]) -> Delivery:
    source = f"{item.namespace or 'default'}/{item.name}"
    delivery = Delivery("reflector", item.ref, item.name, item.where, source=source,
                        stop=f"remove the {REFLECTOR}* annotations from {item.ref} (Reflector then deletes its "
                             "automatic mirrors: apply genpolicy's Secrets right after)")
    auto = notes.get(REFLECTOR + "reflection-auto-enabled") == "true"
    listed = notes.get(REFLECTOR + ("reflection-auto-namespaces" if auto else "reflection-allowed-namespaces"), "")
    delivery.namespaces = _names(listed, delivery) or [ALL]
    selector = notes.get(REFLECTOR + ("reflection-auto-namespaces-selector" if auto
                                      else "reflection-allowed-namespaces-selector"), "")
    _selector(selector, delivery)
    if not auto:
        delivery.notes.append("reflection is allowed but not automatic: only namespaces holding a mirror "
                              f"({REFLECTOR}reflects) got it; the group lists every allowed namespace")
    return delivery


def _replicator(item: Manifest, notes: dict[str, str]) -> Delivery:
    source = f"{item.namespace or 'default'}/{item.name}"
    delivery = Delivery("replicator", item.ref, item.name, item.where, source=source,
                        stop=f"remove the {REPLICATOR}replicate-to* annotations from {item.ref} (and delete the "
                             "copies it made once genpolicy's Secrets are applied)")
    delivery.namespaces = _names(notes.get(REPLICATOR + "replicate-to", ""), delivery)
    _selector(notes.get(REPLICATOR + "replicate-to-matching", ""), delivery)
    if delivery.selector and not delivery.namespaces:
        delivery.namespaces = [ALL]
    return delivery


def _selector(text: str, delivery: Delivery) -> None:
    """`k=v,k2=v2` as matchLabels; anything richer is left to the checklist."""
    text = text.strip()
    if not text:
        return
    pairs = [p.strip() for p in text.split(",")]
    if all(re.fullmatch(r"[A-Za-z0-9./_-]+==?[A-Za-z0-9._-]*", p) for p in pairs):
        delivery.selector = dict(p.replace("==", "=").split("=", 1) for p in pairs)
    else:
        delivery.notes.append(f"namespace selector {text!r} is not a plain k=v list: write it as the group's "
                              "namespaceSelector by hand")
