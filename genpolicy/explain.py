"""`genpolicy explain`: which credentials the kubelet would try for an image, in order, and why.

Two inputs: the spec (a namespace's Secrets, attached by the ServiceAccount, by Kyverno's Pod
mutation, or served by a node provider), or raw pull secrets in Pod order (`--dockerconfig`).
The matching is registry.py's model of the kubelet keyring. Passwords are never shown.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from genpolicy.errors import Problem, UsageError
from genpolicy.registry import (
    Entry,
    InvalidDockerConfig,
    InvalidImage,
    InvalidKey,
    SourcedEntry,
    credentials_for_image,
    entries_from_secret,
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
from genpolicy.spec import Resolved
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
    """A human reason why a registry key does not match an image's lookup key."""
    k_host, _, k_path = key.partition("/")
    i_host, _, i_path = lookup_key.partition("/")
    k_name, _, k_port = k_host.partition(":")
    i_name, _, i_port = i_host.partition(":")
    if k_port != i_port:
        return f"port {k_port or '(none)'} differs from the image's {i_port or '(none)'}"
    if k_name.count(".") != i_name.count("."):
        return "the host has a different number of DNS labels (a `*` matches exactly one label)"
    if k_path and not i_path.startswith(k_path):
        return f"the image path does not start with /{k_path}"
    return "the host does not match"


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

def load_pull_secret(path: Path) -> Mapping[str, Entry]:
    """A `.dockerconfigjson` / `.dockercfg` body, or a Secret manifest (YAML/JSON, base64 data)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError("cannot read", [Problem(str(path), message=f"cannot read: {exc.strerror}")]) from None
    try:
        secret = yaml.safe_load(raw)
    except yaml.YAMLError:
        secret = None
    try:
        if isinstance(secret, dict) and secret.get("kind") == "Secret":
            data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
            entries = entries_from_secret(str(secret.get("type")), data)
            return entries if entries is not None else {}
        if isinstance(secret, dict) and any(k.lower() == "auths" for k in secret):
            return parse_dockerconfigjson(raw)
        return parse_dockercfg(raw)
    except (InvalidDockerConfig, ValueError) as exc:
        raise UsageError("invalid pull secret", [Problem(str(path), message=str(exc))]) from None


# --- the spec ------------------------------------------------------------------------------------

def _username(resolved: Resolved, registry_name: str) -> str:
    registry = next(r for r in resolved.spec.registries if r.name == registry_name)
    creds = registry.credentials
    return creds.username or f"<{creds.kind.replace('_', ' ')}>"


def explain_spec(resolved: Resolved, image: str, namespace: str, service_account: str | None,
                 cluster: str | None) -> Explanation:
    """What a new Pod in `namespace` (using `service_account`) would get from the spec."""
    clusters = [c.name for c in resolved.spec.clusters]
    name = cluster or clusters[0]
    if name not in clusters:
        raise UsageError("unknown cluster", [Problem("--cluster", message=f"unknown cluster {name!r}")])
    secrets: list[tuple[str, Mapping[str, Entry]]] = []
    notes: list[str] = []
    extra: list[tuple[str, str, str]] = []
    static = [t for t in resolved.targets_for(name) if t.namespace == namespace]
    for target in static:
        account = service_account or "default"
        for secret in pull_secrets(target):
            entries = {resolved.server_keys[r.name]: Entry(_username(resolved, r.name), "")
                       for r in secret.registries}
            how = "ServiceAccount " + account if account in target.service_accounts else "Helm values"
            secrets.append((f"Secret {namespace}/{secret.name} (attached by {how})", entries))
        if account not in target.service_accounts:
            notes.append(f"ServiceAccount {account!r} is not patched by group {target.group!r}: only Pods whose "
                         "chart sets the Helm values get these Secrets")
        notes.append("ServiceAccount secrets are copied into a Pod only if the Pod lists none of its own, "
                     "and only when the Pod is created")
        extra += _node_sources(resolved, target.registries)
    for group in resolved.kyverno_targets_for(name):
        if _kyverno_selects(group.names, group.excludes, namespace, group.selector is not None, notes, group.group):
            for registry in group.registries:
                if registry.credentials.node is not None:
                    continue
                key = resolved.server_keys[registry.name]
                secrets.append((f"Secret {namespace}/{registry.effective_secret_name} (added by Kyverno group "
                                f"{group.group!r})", {key: Entry(_username(resolved, registry.name), "")}))
            extra += _node_sources(resolved, group.registries)
    if not static and not any(s for s in secrets):
        notes.append(f"namespace {namespace!r} gets no pull Secret from this spec on cluster {name!r}")
    result = explain(secrets, image, extra)
    result.notes = notes + result.notes
    return result


def _node_sources(resolved: Resolved, registries: tuple[Registry, ...]) -> list[tuple[str, str, str]]:
    found = []
    for registry in registries:
        node = registry.credentials.node
        if node is not None:
            found.append((resolved.server_keys[registry.name], "", f"node credential provider {node.provider}"))
    return found


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

