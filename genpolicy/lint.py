"""`genpolicy lint`: rules with stable codes over a resolved spec (docs/lint.md documents each one).

Rules see the resolved spec and, inside `render`, the credentials read for it (only their sizes
are used). A rule yields findings; the rule decides the severity, the finding the place and text.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping

from genpolicy.dockerconfig import MAX_SECRET_BYTES, dockerconfigjson
from genpolicy.errors import Problem
from genpolicy.record import Frozen, Record, set_field
from genpolicy.registry import prefix_overlaps, urls_match
from genpolicy.render.pullsecrets import pull_secrets
from genpolicy.rules import Rule
from genpolicy.secrets import Credential, Sensitive
from genpolicy.specfile import Resolved
from genpolicy.specfile.checks import backend_for
from genpolicy.specfile.loader import Path, format_path
from genpolicy.specfile.model import IN_CLUSTER_SERVER, READ_SOURCES, Registry

SEVERITIES = ("error", "warning", "info")
NEAR_LIMIT_BYTES = 768 * 1024
ESTIMATED_PASSWORD_BYTES = 2048  # a cloud token is 1-3 KiB; used when the value is not read


class Finding(Frozen):
    __slots__ = ("code", "path", "message")
    code: str
    path: Path
    message: str

    def __init__(self, code: str, path: Path, message: str) -> None:
        set_field(self, "code", code)
        set_field(self, "path", path)
        set_field(self, "message", message)


RULES = {rule.code: rule for rule in (
    Rule("GP001", "overlapping-keys", "warning",
         "Two registries attached together both match some images: pulls try both, in an order worth knowing."),
    Rule("GP002", "loose-path-prefix", "warning",
         "A key with a path also matches a sibling path that merely starts with the same letters (/team, /teammate)."),
    Rule("GP003", "cloud-static-credentials", "warning",
         "Static credentials for ECR, GCR/Artifact Registry or ACR, whose tokens expire."),
    Rule("GP004", "docker-hub-spelling", "info",
         "Docker Hub written as index.docker.io: a fallback-only key that any docker.io key hides."),
    Rule("GP005", "docker-hub-unreachable", "error",
         "A Docker Hub-looking key that never matches Docker Hub images."),
    Rule("GP006", "pod-level-secrets", "warning",
         "ServiceAccounts are patched but no Helm values are rendered: Pods with their own secrets lose the list."),
    Rule("GP007", "no-registry", "warning",
         "A cluster that gets no pull credentials from the spec."),
    Rule("GP008", "plaintext", "warning",
         "Credentials written unencrypted into the output, or stored in the spec itself."),
    Rule("GP009", "secret-size", "warning",
         "A pull Secret near the 1 MiB limit of a Kubernetes Secret."),
    Rule("GP010", "unused-registry", "warning",
         "A registry no namespace group or engine credential uses."),
    Rule("GP011", "open-path-prefix", "warning",
         "A key with a path but no trailing '/' also reaches a sibling project's images (/platform, /platformx)."),
    Rule("GP012", "engine-credentials-elsewhere", "warning",
         "Argo CD repository Secrets deployed to a cluster other than Argo CD's own, where it never reads them."),
)}
_BY_NAME = {rule.name: rule.code for rule in RULES.values()}


class LintReport(Record):
    __slots__ = ("problems",)
    problems: list[Problem]

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def count(self, severity: str) -> int:
        return sum(p.severity == severity for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def summary(self) -> str:
        parts = [f"{self.count(s)} {s}{'s' if self.count(s) != 1 else ''}" for s in SEVERITIES]
        return ", ".join(parts)


def rule_code(code_or_name: str) -> str | None:
    """`GP001` or `overlapping-keys` -> `GP001`; None if unknown."""
    upper = code_or_name.upper()
    return upper if upper in RULES else _BY_NAME.get(code_or_name)


def lint(resolved: Resolved, credentials: Mapping[str, Credential] | None = None,
         ignore: Iterable[str] = ()) -> LintReport:
    """Every finding of every rule not ignored (by the spec's `lint.ignore` or `ignore`), sorted."""
    problems: list[Problem] = []
    skipped: set[str] = set()
    for i, entry in enumerate([*resolved.spec.lint.ignore, *ignore]):
        code = rule_code(entry)
        if code is None:
            where = ("lint", "ignore", i) if i < len(resolved.spec.lint.ignore) else ()
            problems.append(_problem(resolved, where, f"unknown lint rule {entry!r} (see `genpolicy lint "
                                                      "--list-rules`)", "error", ""))
        else:
            skipped.add(code)
    context = _Context(resolved, credentials)
    for check in _CHECKS:
        for finding in check(context):
            if finding.code not in skipped:
                rule = RULES[finding.code]
                problems.append(_problem(resolved, finding.path, finding.message, rule.severity, rule.code))
    return LintReport(sorted(set(problems), key=lambda p: (p.line, p.col, p.code, p.message)))


def _problem(resolved: Resolved, path: Path, message: str, severity: str, code: str) -> Problem:
    line, col = resolved.loaded.positions.of_value(path)
    text = f"{message} [{code} {RULES[code].name}]" if code else message
    return Problem(resolved.loaded.filename, line, col, format_path(path), text, severity, code)


class _Context:
    """What the rules see (a plain class, not a record: `attached_pairs` is a cached_property, kept in __dict__)."""

    resolved: Resolved
    credentials: Mapping[str, Credential] | None

    def __init__(self, resolved: Resolved, credentials: Mapping[str, Credential] | None) -> None:
        self.resolved = resolved
        self.credentials = credentials

    def key(self, registry: Registry) -> str:
        return self.resolved.server_keys[registry.name]

    def server_path(self, registry: Registry) -> Path:
        return ("registries", self.resolved.spec.registries.index(registry), "server")

    def group_path(self, group: str) -> Path:
        names = [g.name for g in self.resolved.spec.namespace_groups]
        return ("namespaceGroups", names.index(group))

    @functools.cached_property
    def attached_pairs(self) -> list[tuple[str, Registry, Registry]]:
        """(group, a, b) for every two registries a group delivers as Secrets together, each pair once."""
        groups: dict[str, tuple[Registry, ...]] = {}
        for group, registries in itertools.chain(((t.group, t.registries) for t in self.resolved.targets),
                                                 ((t.group, t.registries) for t in self.resolved.kyverno_targets)):
            groups[group] = tuple(r for r in registries if r.credentials.node is None)
        pairs: dict[tuple[str, str], tuple[str, Registry, Registry]] = {}
        for group, registries in groups.items():
            for a, b in itertools.combinations(registries, 2):
                pairs.setdefault((min(a.name, b.name), max(a.name, b.name)), (group, a, b))
        return list(pairs.values())


# --- rules ---------------------------------------------------------------------------------------

def _overlapping_keys(ctx: _Context) -> Iterator[Finding]:
    for group, a, b in ctx.attached_pairs:
        key_a, key_b = ctx.key(a), ctx.key(b)
        if prefix_overlaps(key_a, key_b) or not (urls_match(key_a, key_b) or urls_match(key_b, key_a)):
            continue  # loose prefixes are GP002's
        first, second = sorted((key_a, key_b), reverse=True)
        wider, narrower = (a, b) if urls_match(key_a, key_b) else (b, a)
        yield Finding("GP001", ctx.server_path(narrower), (
            f"registries {a.name!r} ({key_a}) and {b.name!r} ({key_b}) are attached together in group "
            f"{group!r} and both match images under {ctx.key(narrower)}: the kubelet tries {first} first, "
            f"then {second}; a credential that fails costs a pull attempt (and counts against rate limits)"
            f"; {wider.name!r} alone serves the rest of {ctx.key(wider)}"))


def _loose_path_prefix(ctx: _Context) -> Iterator[Finding]:
    for group, a, b in ctx.attached_pairs:
        if not prefix_overlaps(ctx.key(a), ctx.key(b)):
            continue
        short, long = (a, b) if len(ctx.key(a)) < len(ctx.key(b)) else (b, a)
        yield Finding("GP002", ctx.server_path(short), (
            f"key {ctx.key(short)} also matches {ctx.key(long)}'s images (the kubelet compares repository "
            f"paths as plain string prefixes, so /{ctx.key(short).partition('/')[2]} matches "
            f"/{ctx.key(long).partition('/')[2]}): in group {group!r}, Pods pulling from {ctx.key(long)} try "
            f"{long.name!r}'s credential first, then {short.name!r}'s; end {short.name!r}'s server with '/' "
            "to keep it to its own project"))


def _open_path_prefix(ctx: _Context) -> Iterator[Finding]:
    """A secret-bearing key without a trailing '/' that is a loose prefix of another registry's key."""
    attached = {frozenset((a.name, b.name)) for _, a, b in ctx.attached_pairs}
    registries = [r for r in ctx.resolved.spec.registries if r.name in ctx.resolved.server_keys]
    for short, long in itertools.permutations(registries, 2):
        if short.credentials.node is not None or frozenset((short.name, long.name)) in attached:
            continue  # node credentials are not in a Secret; pairs in one group are GP002's
        if not _loose_prefix_of(ctx.key(short), ctx.key(long)):
            continue
        yield Finding("GP011", ctx.server_path(short), (
            f"key {ctx.key(short)} has no trailing '/', so the kubelet also sends {short.name!r}'s credential "
            f"for {ctx.key(long)} images (registry {long.name!r}): repository paths are compared as plain "
            f"string prefixes; write the server as {ctx.key(short)}/ to keep it to its own project"))


def _loose_prefix_of(short: str, long: str) -> bool:
    """`short` (a key with a path) is a loose prefix of `long` (see registry.prefix_overlaps)."""
    return "/" in short and len(short) < len(long) and prefix_overlaps(short, long)


_CLOUD = (
    ("ECR", re.compile(r"(^|\.)dkr\.ecr(-fips)?\.[a-z0-9*-]+\.amazonaws\.com(\.cn)?$"), "ECRAuthorizationToken",
     "ECR tokens expire after 12 hours"),
    ("Artifact Registry / GCR", re.compile(r"(^|\.)(gcr\.io|[a-z0-9*-]+-docker\.pkg\.dev)$"), "GCRAccessToken",
     "access tokens expire after about 1 hour"),
    ("ACR", re.compile(r"\.azurecr\.(io|cn|us)$"), "ACRAccessToken",
     "an Entra ID token (username 00000000-0000-0000-0000-000000000000, as `az acr login --expose-token` "
     "prints it) expires after 3 hours"),
)
_LONG_LIVED_GCP_USERS = ("_json_key", "_json_key_base64")
ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"  # service principals and repository tokens are static


def _expires(generator: str, username: str) -> bool:
    """Whether a static credential of this cloud with this username is a short-lived token."""
    if generator == "GCRAccessToken":
        return username not in _LONG_LIVED_GCP_USERS  # a service account JSON key does not expire
    if generator == "ACRAccessToken":
        return username == ACR_TOKEN_USER
    return True  # an ECR password is always a 12-hour authorization token


def _cloud_static_credentials(ctx: _Context) -> Iterator[Finding]:
    for registry in ctx.resolved.used_registries():
        creds = registry.credentials
        if creds.kind not in (*READ_SOURCES, "external_secret"):
            continue
        host = ctx.key(registry).partition("/")[0].partition(":")[0]
        for cloud, pattern, generator, lifetime in _CLOUD:
            if not pattern.search(host):
                continue
            read = (ctx.credentials or {}).get(registry.name)
            username = creds.username or (read.username if read is not None else "")
            if not _expires(generator, username):
                continue  # long-lived by design (workload identity is still better)
            yield Finding("GP003", ("registries", ctx.resolved.spec.registries.index(registry), "credentials"), (
                f"registry {registry.name!r} is {cloud} with static credentials: {lifetime}; use "
                f"`credentials.generator` (kind {generator}) so External Secrets refreshes the token, or a node "
                "credential provider (`credentials.node`)"))


_HUB_FALLBACK_SPELLINGS = re.compile(r"^(https?://)?index\.docker\.io(/v[12])?/?$", re.IGNORECASE)
_HUB_LOOKALIKE = re.compile(r"(^|\.)docker\.(io|com)$")


def _docker_hub(ctx: _Context) -> Iterator[Finding]:
    for registry in ctx.resolved.spec.registries:
        key = ctx.key(registry)
        host = key.partition("/")[0]
        if _HUB_FALLBACK_SPELLINGS.match(registry.server):
            yield Finding("GP004", ctx.server_path(registry), (
                f"{registry.server!r} is only the kubelet's Docker Hub fallback key: a `docker.io` key in any "
                "other pull secret of the Pod (a chart's own, say) hides it entirely; genpolicy writes "
                "`docker.io`, so write `docker.io` here too"))
        elif not key.startswith("docker.io") and _HUB_LOOKALIKE.search(host.partition(":")[0]):
            yield Finding("GP005", ctx.server_path(registry), (
                f"key {key} never matches Docker Hub images: the kubelet normalises them to docker.io/..., and "
                "a host needs the same number of DNS labels to match; write `docker.io`"))


def _pod_level_secrets(ctx: _Context) -> Iterator[Finding]:
    seen: set[str] = set()
    for target in ctx.resolved.targets:
        if (target.group in seen or target.helm_values.enabled or not target.service_accounts
                or not pull_secrets(target)):
            continue
        seen.add(target.group)
        accounts = ", ".join(target.service_accounts)
        yield Finding("GP006", ctx.group_path(target.group), (
            f"group {target.group!r} patches ServiceAccounts ({accounts}) but renders no Helm values: a Pod "
            "whose chart sets its own imagePullSecrets never gets the ServiceAccount's list (it is copied "
            "only into Pods that list none); enable `helmValues` or use `distribution: kyverno`"))


def _no_registry(ctx: _Context) -> Iterator[Finding]:
    for ci, cluster in enumerate(ctx.resolved.spec.clusters):
        if not ctx.resolved.targets_for(cluster.name) and not ctx.resolved.kyverno_targets_for(cluster.name):
            yield Finding("GP007", ("clusters", ci, "name"), (
                f"no namespace group targets cluster {cluster.name!r}: its namespaces get no pull credentials "
                "from this spec"))


def _plaintext(ctx: _Context) -> Iterator[Finding]:
    spec = ctx.resolved.spec
    plain: dict[str, list[str]] = {}
    for cluster, registry in ctx.resolved.credential_uses():
        if backend_for(spec, cluster, registry) == "plain":
            plain.setdefault(registry.name, []).append(cluster.name)
    for ri, registry in enumerate(spec.registries):
        if registry.credentials.inline is not None:
            yield Finding("GP008", ("registries", ri, "credentials", "inline"), (
                f"registry {registry.name!r} keeps its password in the spec file; read it with fromEnv or "
                "fromFile at render time"))
        if registry.name in plain:
            yield Finding("GP008", ("registries", ri, "credentials"), (
                f"registry {registry.name!r} is written UNENCRYPTED on cluster(s) {', '.join(plain[registry.name])}"
                " (files are mode 0600): anyone who can read the repository can pull with it"))


def _secret_size(ctx: _Context) -> Iterator[Finding]:
    sizes: dict[tuple[str, ...], tuple[int, bool]] = {}
    seen: set[tuple[int, str, str]] = set()
    for target in ctx.resolved.targets:
        settings = (id(target.registries), target.secret_mode, target.merged_secret_name)
        if settings in seen:
            continue  # a group's namespaces share their settings objects: the same Secrets
        seen.add(settings)
        for secret in pull_secrets(target):
            if secret.registries[0].credentials.kind not in READ_SOURCES:
                continue
            names = tuple(r.name for r in secret.registries)
            if names in sizes:
                continue
            size, estimated = _dockerconfig_size(ctx, secret.registries)
            sizes[names] = (size, estimated)
            if size >= NEAR_LIMIT_BYTES:
                how = "about " if estimated else ""
                yield Finding("GP009", ctx.group_path(target.group), (
                    f"Secret {secret.name!r} ({len(names)} registries) holds {how}{size // 1024} KiB of the "
                    f"{MAX_SECRET_BYTES // 1024} KiB a Secret may hold; split it (`secretMode: per-registry`)"))


def _dockerconfig_size(ctx: _Context, registries: tuple[Registry, ...]) -> tuple[int, bool]:
    """Bytes of the `.dockerconfigjson` the render builds: exact with the credentials read, else estimated
    with a placeholder password of a typical cloud token's length."""
    read = ctx.credentials or {}
    placeholder = Credential("username", Sensitive("x" * ESTIMATED_PASSWORD_BYTES))
    entries = [(ctx.key(r), read.get(r.name, placeholder), r.email) for r in registries]
    body = dockerconfigjson(entries)
    return len(body.encode("utf-8")), any(r.name not in read for r in registries)


def _unused_registry(ctx: _Context) -> Iterator[Finding]:
    used = {r.name for _, r in ctx.resolved.registry_uses()} | {u.registry.name for u in ctx.resolved.engine_uses()}
    for registry in ctx.resolved.spec.registries:
        if registry.name not in used:
            yield Finding("GP010", ("registries", ctx.resolved.spec.registries.index(registry), "name"), (
                f"registry {registry.name!r} is used by no namespace group or engine credential on any cluster"))


def _engine_credentials_elsewhere(ctx: _Context) -> Iterator[Finding]:
    for ci, cluster in enumerate(ctx.resolved.spec.clusters):
        if cluster.gitops == "argocd" and cluster.engine_credentials and cluster.argocd.target() != IN_CLUSTER_SERVER:
            yield Finding("GP012", ("clusters", ci, "engineCredentials"), (
                f"cluster {cluster.name!r} is deployed to {cluster.argocd.target()}, but Argo CD reads repository "
                "Secrets only in its own namespace on its own cluster: render these engineCredentials on the cluster "
                "whose destination is Argo CD's (in-cluster)"))


_CHECKS: tuple[Callable[[_Context], Iterator[Finding]], ...] = (
    _overlapping_keys, _loose_path_prefix, _cloud_static_credentials, _docker_hub, _pod_level_secrets,
    _no_registry, _plaintext, _secret_size, _unused_registry, _open_path_prefix, _engine_credentials_elsewhere,
)
