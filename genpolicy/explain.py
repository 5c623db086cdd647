"""`genpolicy explain`: which credentials the kubelet would try for an image, in order, and why.

Two inputs: the spec (a namespace's Secrets, attached by the ServiceAccount, by Kyverno's Pod
mutation, or served by a node provider), or raw pull secrets in Pod order (`--dockerconfig`).
The matching is registry.py's model of the kubelet keyring. Passwords are never shown.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genpolicy.errors import Problem, UsageError
from genpolicy.inputs import MAX_MANIFEST_BYTES, load_json, read_bytes, yaml_documents
from genpolicy.nodes.answers import node_notes, pool_sources
from genpolicy.registry import (
    Entry,
    InvalidDockerConfig,
    InvalidImage,
    InvalidKey,
    SourcedEntry,
    credentials_for_image,
    entries_from_secret,
    filepath_match,
    is_default_registry_match,
    make_docker_keyring,
    normalize_image,
    parse_dockercfg,
    parse_dockerconfigjson,
    parse_key,
    urls_match,
)
from genpolicy.render.image_match import namespace_regex
from genpolicy.render.pullsecrets import pull_secrets
from genpolicy.spec import NamespaceTarget, Resolved
from genpolicy.spec.checks import KyvernoTarget
from genpolicy.spec.model import Registry

JSON_VERSION = 1


@dataclass
class Attempt:
    """One credential the kubelet tries, in order."""

    order: int
    key: str
    username: str
    source: str
    fallback: bool = False


@dataclass
class NearMiss:
    key: str
    source: str
    reason: str


@dataclass
class Explanation:
    image: str
    lookup_key: str
    attempts: list[Attempt] = field(default_factory=list)
    near_misses: list[NearMiss] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"version": JSON_VERSION, **asdict(self)}, indent=2)

    def to_text(self) -> str:
        lines = [f"image {self.image} -> lookup key {self.lookup_key}"]
        if not self.attempts:
            lines.append("no credential matches: the kubelet pulls anonymously")
        for a in self.attempts:
            via = " (Docker Hub fallback)" if a.fallback else ""
            lines.append(f"  {a.order}. {a.key}{via}  user {a.username or '-'}  from {a.source}")
        for miss in self.near_misses:
            lines.append(f"  not used: {miss.key} from {miss.source}: {miss.reason}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def why_not(key: str, lookup_key: str) -> str:
    """A human reason why a registry key does not match an image's lookup key: the first part that differs."""
    k_host, _, k_path = key.partition("/")
    i_host, _, i_path = lookup_key.partition("/")
    (k_name, k_port), (i_name, i_port) = _host_port(k_host), _host_port(i_host)
    host = _host_difference(k_name, i_name)
    if host:
        return host
    if k_port != i_port:
        return f"port {k_port or '(none)'} differs from the image's {i_port or '(none)'}"
    if k_path and not i_path.startswith(k_path):
        return f"the image path does not start with /{k_path}"
    return "the host does not match"


def _host_port(hostport: str) -> tuple[str, str]:
    """`host[:port]` or `[v6][:port]` -> (host, port)."""
    if hostport.startswith("["):
        end = hostport.find("]")
        return hostport[: end + 1], hostport[end + 2 :] if hostport[end + 1 : end + 2] == ":" else ""
    name, _, port = hostport.partition(":")
    return name, port


def _host_difference(key_host: str, image_host: str) -> str | None:
    """Why the hosts differ, in wildcard terms only when the key has a glob; None when they match."""
    if key_host.startswith("[") or not set("*?[") & set(key_host):  # an IPv6 literal has no glob
        return None if key_host == image_host else f"host {key_host} differs from the image's {image_host}"
    key_labels, image_labels = key_host.split("."), image_host.split(".")
    if len(key_labels) != len(image_labels):
        return (f"host pattern {key_host} has {len(key_labels)} DNS labels and the image's host {image_host} "
                f"{len(image_labels)} (a `*` matches exactly one label)")
    try:
        matched = all(filepath_match(k, i) for k, i in zip(key_labels, image_labels, strict=True))
    except ValueError:
        matched = False
    return None if matched else f"host pattern {key_host} does not match the image's host {image_host}"


def explain(keyring_secrets: list[tuple[str, Mapping[str, Entry]]], image: str,
            extra: list[tuple[str, str, str]] | None = None) -> Explanation:
    """Run the kubelet's lookup over pull secrets (in Pod order); `extra`: (key, username, source) after them."""
    try:
        lookup_key = normalize_image(image).lookup_key
    except InvalidImage as exc:
        raise UsageError("invalid image", [Problem(image, message=f"the kubelet rejects this image: {exc}")]) from None
    keyring = make_docker_keyring(keyring_secrets)
    result = Explanation(image, lookup_key)
    for i, match in enumerate(credentials_for_image(keyring, image), start=1):
        cred: SourcedEntry = match.credential
        result.attempts.append(Attempt(i, match.key, cred.entry.username, cred.source, match.fallback))
    used = {(a.key, a.source) for a in result.attempts}
    for source, entries in keyring_secrets:
        for loc in entries:
            try:
                key = parse_key(loc)
            except InvalidKey:
                result.near_misses.append(NearMiss(loc, source, "the kubelet cannot parse this key and skips it"))
                continue
            if (key, source) not in used:
                reason = why_not(key, lookup_key)
                if key == "index.docker.io" and is_default_registry_match(lookup_key):
                    reason = "index.docker.io only applies as a fallback, and another key already matched"
                result.near_misses.append(NearMiss(key, source, reason))
    result.notes += [f"{source}: {entries.reason}" for source, entries in keyring_secrets
                     if isinstance(entries, NoCredentials)]
    for key, username, source in extra or []:
        if urls_match(key, lookup_key):
            result.attempts.append(Attempt(len(result.attempts) + 1, key, username, source))
    _notes(result)
    return result


def _notes(result: Explanation) -> None:
    for attempt in result.attempts:
        _, _, path = attempt.key.partition("/")
        if path and not result.lookup_key.partition("/")[2].startswith(path + "/") and \
                result.lookup_key.partition("/")[2] != path:
            result.notes.append(f"key {attempt.key} matches by plain string prefix (/{path} also matches "
                                f"/{path}mate): check it is meant for this image")
        if attempt.fallback:
            result.notes.append("Docker Hub credentials were found only through the index.docker.io fallback; "
                                "a `docker.io` key in any other pull secret would silently replace them")
    if len(result.attempts) > 1:
        result.notes.append("the kubelet tries these in order and stops at the first pull that succeeds; "
                            "there is no anonymous attempt after they all fail")


# --- raw pull secrets (--dockerconfig) --------------------------------------------------------

def load_pull_secrets(path: Path) -> list[tuple[str, Mapping[str, Entry]]]:
    """Pull secrets in file order: Secret manifests (multi-document YAML, `kind: List` as `kubectl get -o yaml`
    writes it), or one raw `.dockerconfigjson` / `.dockercfg` body. Each is (source, entries)."""
    raw = read_bytes(path, what="pull secret file", limit=MAX_MANIFEST_BYTES)
    documents = _documents(raw, str(path))
    try:
        secrets = [d for d in _flatten_lists(documents) if d.get("kind") == "Secret"]
        if secrets:
            return _from_secrets(path, secrets)
        if path.name.endswith(".dockercfg"):
            return [(str(path), parse_dockercfg(raw))]
        return [(str(path), _dockerconfigjson(raw, f"{path.name} (read as a .dockerconfigjson)"))]
    except (InvalidDockerConfig, ValueError) as exc:
        raise UsageError("invalid pull secret", [Problem(str(path), message=str(exc))]) from None


class NoCredentials(dict[str, Entry]):
    """A pull secret the kubelet reads no credential from; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


def _dockerconfigjson(raw: bytes, what: str) -> Mapping[str, Entry]:
    """A `.dockerconfigjson` body as the kubelet reads it; one without `auths` yields nothing, and says so."""
    entries = parse_dockerconfigjson(raw)
    if entries or _has_auths(raw):
        return entries
    return NoCredentials(
        f"{what} has no `auths` object: the kubelet reads no credential from it (only a .dockercfg, "
        "Secret type kubernetes.io/dockercfg, is the bare {registry: entry} map); wrap the entries in "
        '{"auths": {...}}, or name a raw .dockercfg body *.dockercfg')


def _has_auths(raw: bytes) -> bool:
    """Whether the top-level JSON object has an `auths` member (Go matches it case-insensitively)."""
    try:
        document = json.loads(raw)
    except ValueError:
        return False
    return isinstance(document, dict) and any(str(k).lower() == "auths" for k in document)


def _documents(raw: bytes, filename: str) -> list[Any]:
    """JSON first (docker's own config.json is tab-indented, which YAML refuses), then YAML documents.

    Both are bounded (genpolicy.inputs): deep nesting and alias bombs are refused, not walked."""
    try:
        return [load_json(raw, filename)]
    except ValueError:
        pass
    try:
        return [d for _, d in yaml_documents(raw.decode("utf-8"), filename) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError):
        return []


def _flatten_lists(documents: list[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for doc in documents:
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            found += [item for item in doc["items"] if isinstance(item, dict)]
        elif isinstance(doc, dict):
            found.append(doc)
    return found


def _from_secrets(path: Path, secrets: list[dict[str, Any]]) -> list[tuple[str, Mapping[str, Entry]]]:
    """Pull secrets among Secret manifests (other Secret types are not pull secrets and are skipped)."""
    found: list[tuple[str, Mapping[str, Entry]]] = []
    for index, secret in enumerate(secrets, start=1):
        data = {str(k): base64.b64decode(str(v)) for k, v in (secret.get("data") or {}).items()}
        data.update({str(k): str(v).encode() for k, v in (secret.get("stringData") or {}).items()})
        read = entries_from_secret(str(secret.get("type")), data)
        if read is None:
            continue
        entries: Mapping[str, Entry] = read
        if not read and secret.get("type") == "kubernetes.io/dockerconfigjson":
            entries = _dockerconfigjson(data[".dockerconfigjson"], "its .dockerconfigjson")
        meta = secret.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        name = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p) or f"#{index}"
        found.append((f"{path} (Secret {name})" if len(secrets) > 1 else str(path), entries))
    if not found:
        raise ValueError("no Secret of type kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg in the file")
    return found


# --- the spec ------------------------------------------------------------------------------------

SERVICE_ACCOUNT, HELM_VALUES, POD, KYVERNO, NODE = "service-account", "helm-values", "pod", "kyverno", "node"
"""Delivery paths: the patched ServiceAccount, the Helm values (explain's assumption when the account is not
patched), a Secret the Pod lists itself, Kyverno's Pod mutation, a node credential provider."""


@dataclass
class PodKeyring:
    """What a Pod gets from the spec: pull secrets in Pod order, then node credential sources."""

    secrets: list[tuple[str, Mapping[str, Entry]]] = field(default_factory=list)
    extra: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)  # source -> delivery path
    assumed: set[str] = field(default_factory=set)  # sources that exist only if a label selector matches
    unknown: list[str] = field(default_factory=list)  # Pod-level Secret names the spec does not render there
    static_groups: list[str] = field(default_factory=list)
    kyverno_groups: list[str] = field(default_factory=list)

    @property
    def managed(self) -> bool:
        """Does any group of the spec cover the namespace on this cluster?"""
        return bool(self.static_groups or self.kyverno_groups)

    def add(self, source: str, entries: Mapping[str, Entry], path: str, *, assumed: bool = False) -> None:
        self.secrets.append((source, entries))
        self._tag(source, path, assumed)

    def add_node(self, key: str, source: str) -> None:
        self.extra.append((key, "", source))
        self._tag(source, NODE, False)

    def _tag(self, source: str, path: str, assumed: bool) -> None:
        """A source is assumed only if every way it arrives is assumed."""
        seen = source in self.paths
        self.paths[source] = path
        if not assumed:
            self.assumed.discard(source)
        elif not seen:
            self.assumed.add(source)


def _username(resolved: Resolved, registry_name: str) -> str:
    registry = next(r for r in resolved.spec.registries if r.name == registry_name)
    creds = registry.credentials
    return creds.username or f"<{creds.kind.replace('_', ' ')}>"


def _entries(resolved: Resolved, registries: tuple[Registry, ...]) -> dict[str, Entry]:
    """A Secret's auths as the kubelet reads them (the spec's literal usernames, never a password)."""
    return {resolved.server_keys[r.name]: Entry(_username(resolved, r.name), "") for r in registries}


def check_cluster(resolved: Resolved, cluster: str | None) -> str:
    """The cluster's name (default: the spec's first); a UsageError for an unknown one."""
    clusters = [c.name for c in resolved.spec.clusters]
    name = cluster or clusters[0]
    if name not in clusters:
        raise UsageError("unknown cluster", [Problem("--cluster", message=f"unknown cluster {name!r}")])
    return name


def pod_keyring(resolved: Resolved, cluster: str, namespace: str, service_account: str | None = None,
                pod_secrets: Sequence[str] | None = None, images: Sequence[str] | None = None) -> PodKeyring:
    """The ordered pull-secret keyring a new Pod gets from the spec.

    `pod_secrets`: the Pod's own `imagePullSecrets` names (None: unknown, explain's view: the
    ServiceAccount's or the Helm values' Secrets). `images`: every image of the Pod (Kyverno adds
    only the Secrets of registries they come from; None: all of the group's registries).
    """
    ring = PodKeyring()
    account = service_account or "default"
    static = [t for t in resolved.targets_for(cluster) if t.namespace == namespace]
    selector_notes: list[str] = []
    groups = [g for g in resolved.kyverno_targets_for(cluster)
              if _kyverno_selects(g.names, g.excludes, namespace, g.selector is not None, selector_notes, g.group)]
    ring.static_groups = [t.group for t in static]
    ring.kyverno_groups = [g.group for g in groups]
    listed = [name for name in pod_secrets or () if name]
    if pod_secrets is None:
        _explain_static(ring, resolved, static, account)
    else:
        _pod_level(ring, resolved, namespace, listed, _known_secrets(static, groups))
        _service_account(ring, resolved, static, account, listed)
    ring.notes += selector_notes
    for group in groups:
        _kyverno(ring, resolved, namespace, group, images, listed)
    # a kubelet credential provider runs on the nodes: it serves every namespace of the cluster
    pools = pool_sources(next(c for c in resolved.spec.clusters if c.name == cluster))
    node_served = tuple(r for c, r in resolved.registry_uses() if c.name == cluster and r.credentials.node
                        and r.credentials.node.provider not in {s.name for s in pools})  # the pools say how
    _node_sources(ring, resolved, node_served)
    for source in pools:
        ring.add_node(source.pattern, source.source)  # node pools' plugins: tried after the pull secrets
    return ring


def _explain_static(ring: PodKeyring, resolved: Resolved, static: list[NamespaceTarget], account: str) -> None:
    """Explain's view: the Secrets reach the Pod through the patched ServiceAccount, else the Helm values."""
    for target in static:
        for secret in pull_secrets(target):
            patched = account in target.service_accounts
            how = "ServiceAccount " + account if patched else "Helm values"
            ring.add(f"Secret {target.namespace}/{secret.name} (attached by {how})",
                     _entries(resolved, secret.registries), SERVICE_ACCOUNT if patched else HELM_VALUES)
        if account not in target.service_accounts:
            ring.notes.append(f"ServiceAccount {account!r} is not patched by group {target.group!r}: only Pods "
                              "whose chart sets the Helm values get these Secrets")
        ring.notes.append("ServiceAccount secrets are copied into a Pod only if the Pod lists none of its own, "
                          "and only when the Pod is created")


def _known_secrets(static: list[NamespaceTarget],
                   groups: list[KyvernoTarget]) -> dict[str, tuple[tuple[Registry, ...], bool]]:
    """Secret name -> (registries, exists only if a label selector matches) for what the spec puts there."""
    known: dict[str, tuple[tuple[Registry, ...], bool]] = {}
    for target in static:
        known.update({s.name: (s.registries, False) for s in pull_secrets(target)})
    for group in groups:
        for registry in group.registries:
            if registry.credentials.node is None:
                known.setdefault(registry.effective_secret_name, ((registry,), group.selector is not None))
    return known


def _pod_level(ring: PodKeyring, resolved: Resolved, namespace: str, listed: list[str],
               known: dict[str, tuple[tuple[Registry, ...], bool]]) -> None:
    """The Pod's own imagePullSecrets, in order; names the spec does not render are unknown content."""
    for name in listed:
        if name not in known:
            ring.unknown.append(name)
            ring.notes.append(unknown_secret_note(namespace, name))
            continue
        registries, assumed = known[name]
        ring.add(f"Secret {namespace}/{name} (listed by the Pod: Helm values)", _entries(resolved, registries),
                 POD, assumed=assumed)


def unknown_secret_note(namespace: str, name: str) -> str:
    return (f"Secret {namespace}/{name} is listed by the Pod but not rendered by the spec in this namespace: "
            "its content is unknown and not counted")


def _service_account(ring: PodKeyring, resolved: Resolved, static: list[NamespaceTarget], account: str,
                     listed: list[str]) -> None:
    """The ServiceAccount admission plugin copies the account's list only into a Pod that lists none."""
    for target in static:
        secrets = pull_secrets(target)
        if not secrets:
            continue
        patched = account in target.service_accounts
        if listed and patched:
            ring.notes.append(f"the Pod lists its own imagePullSecrets, so the Secrets of ServiceAccount "
                              f"{account!r} ({', '.join(s.name for s in secrets)}) are not copied into it")
        elif not listed and not patched:
            ring.notes.append(f"ServiceAccount {account!r} is not patched by group {target.group!r} and the Pod "
                              "lists no imagePullSecrets: add the account to `serviceAccounts` or set the "
                              "chart's Helm values")
        elif not listed:
            for secret in secrets:
                ring.add(f"Secret {target.namespace}/{secret.name} (attached by ServiceAccount {account})",
                         _entries(resolved, secret.registries), SERVICE_ACCOUNT)


def _kyverno(ring: PodKeyring, resolved: Resolved, namespace: str, group: KyvernoTarget,
             images: Sequence[str] | None, listed: list[str]) -> None:
    """Kyverno's Pod mutation appends the missing Secrets of the registries the Pod's images come from."""
    for registry in group.registries:
        key = resolved.server_keys[registry.name]
        if registry.credentials.node is not None or registry.effective_secret_name in listed:
            continue
        if images is not None and not _any_image_from(key, images):
            continue
        ring.add(f"Secret {namespace}/{registry.effective_secret_name} (added by Kyverno group {group.group!r})",
                 _entries(resolved, (registry,)), KYVERNO, assumed=group.selector is not None)


def _any_image_from(key: str, images: Sequence[str]) -> bool:
    for image in images:
        try:
            if urls_match(key, normalize_image(image).lookup_key):
                return True
        except InvalidImage:
            continue
    return False


def _node_sources(ring: PodKeyring, resolved: Resolved, registries: tuple[Registry, ...]) -> None:
    for registry in registries:
        node = registry.credentials.node
        if node is not None:
            ring.add_node(resolved.server_keys[registry.name], f"node credential provider {node.provider}")


def explain_spec(resolved: Resolved, image: str, namespace: str, service_account: str | None,
                 cluster: str | None) -> Explanation:
    """What a new Pod in `namespace` (using `service_account`) would get from the spec."""
    name = check_cluster(resolved, cluster)
    ring = pod_keyring(resolved, name, namespace, service_account)
    notes = list(ring.notes)
    if not ring.static_groups and not ring.secrets:
        notes.append(f"namespace {namespace!r} gets no pull Secret from this spec on cluster {name!r}")
    result = explain(ring.secrets, image, ring.extra)
    attempts = [(a.key, a.source) for a in result.attempts]
    result.notes = notes + result.notes + node_notes(resolved.spec, resolved.server_keys, name, result.lookup_key,
                                                     attempts, service_account or "default")[1]
    return result


def _kyverno_selects(names: tuple[str, ...], excludes: tuple[str, ...], namespace: str, has_selector: bool,
                     notes: list[str], group: str) -> bool:
    if re.fullmatch(namespace_regex(excludes), namespace):
        return False
    if names and not re.fullmatch(namespace_regex(names), namespace):
        return False
    if has_selector:
        notes.append(f"Kyverno group {group!r} selects namespaces by label: assumed to match {namespace!r} "
                     "(labels cannot be known offline)")
    return True
