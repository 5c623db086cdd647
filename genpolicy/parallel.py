"""Clusters rendered in forked worker processes, their files and validation tallies merged in the parent."""

from __future__ import annotations

import functools
import hashlib
import os

from genpolicy import forked, secrets
from genpolicy.bundle_check import BundleValidator
from genpolicy.errors import ExitCode, GenpolicyError, Problem, where
from genpolicy.record import Record
from genpolicy.render import Bundle, RenderContext, finalize_bundle, render_bundle
from genpolicy.render.documents import OutputFile
from genpolicy.specfile import Resolved
from genpolicy.specfile.checks import backend_for

PARALLEL_MIN_ENCRYPTED = 400  # encrypted namespace Secrets below which one process is faster than forking


def worker_count(resolved: Resolved) -> int:
    """Clusters render in parallel (one process per core, at most one per cluster) where fork exists and it pays.

    Namespaces rendered by shape (genpolicy.render.shapes) cost microseconds each, less than sending
    their bytes back from a worker: only encrypted Secrets (sealing, SOPS: each namespace encrypted
    on its own) make a render worth splitting. `GENPOLICY_WORKERS=N` sets the count.
    """
    wanted = os.environ.get("GENPOLICY_WORKERS")
    if wanted and wanted.isdigit():
        cores = int(wanted)
    elif _encrypted_secrets(resolved) >= PARALLEL_MIN_ENCRYPTED:
        cores = _usable_cpus()
    else:
        return 1
    workers = max(1, min(cores, len(resolved.spec.clusters)))
    return workers if workers == 1 or _can_fork() else 1


def _can_fork() -> bool:
    return hasattr(os, "fork")


def _usable_cpus() -> int:
    """The CPUs this process may run on (a container's cpuset or affinity, and its CPU quota), not the host's."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cpu_quota()
    return min(cpus, quota) if quota is not None else cpus


def cpu_quota(root: str = "/sys/fs/cgroup", membership: str = "/proc/self/cgroup") -> int | None:
    """CPUs' worth of this process's cgroup CPU quota, rounded up (a CI runner limited to 2 CPUs on a 64-core
    node): cgroup v2 `cpu.max` of its own cgroup ("max" is none), else v1 `cpu.cfs_quota_us` over
    `cpu.cfs_period_us` (-1 is none)."""
    v2 = _read_numbers(os.path.join(root, _own_cgroup(membership), "cpu.max"))
    if v2 is not None:
        return -(-v2[0] // v2[1]) if len(v2) == 2 and v2[0] > 0 and v2[1] > 0 else None
    quota = _read_numbers(os.path.join(root, "cpu", "cpu.cfs_quota_us"))
    period = _read_numbers(os.path.join(root, "cpu", "cpu.cfs_period_us"))
    if quota and period and quota[0] > 0 and period[0] > 0:
        return -(-quota[0] // period[0])
    return None


def _own_cgroup(membership: str) -> str:
    """The cgroup v2 path of this process (`0::/path` in /proc/self/cgroup), relative; "" when unknown."""
    try:
        with open(membership, encoding="utf-8") as handle:
            lines = handle.read(65536).splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    own = next((line[3:] for line in lines if line.startswith("0::")), "/")
    return "" if ".." in own.split("/") else own.strip("/")


def _read_numbers(path: str) -> list[int] | None:
    """The numbers of a small cgroup file (`max` reads as -1); None when it is absent or unreadable."""
    try:
        with open(path, encoding="ascii") as handle:
            words = handle.read(64).split()
        return [-1 if word == "max" else int(word) for word in words]
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _encrypted_secrets(resolved: Resolved) -> int:
    """Namespace-registry pairs whose Secret an encrypting backend writes (an upper bound: merged Secrets count once
    per registry)."""
    encrypts: dict[tuple[str, str], bool] = {}
    count = 0
    for target in resolved.targets:
        for registry in target.registries:
            key = (target.cluster.name, registry.name)
            if key not in encrypts:
                encrypts[key] = backend_for(resolved.spec, target.cluster, registry) in ("sealed-secrets", "sops")
            count += encrypts[key]
    return count


class _Share(Record):
    """What a worker sends back: file bytes and its validator's tallies (no parsed objects)."""

    __slots__ = ("files", "clusters", "count", "unvalidated", "errors", "spec_errors", "verified", "derived",
                 "failure", "bug")
    _hidden = frozenset({"files", "derived", "bug"})  # file bytes, values to redact, an exception: never printed
    files: list[tuple[str, bytes, bool, str, bool, int, str]]  # (path, content, ..., its SHA-256)
    clusters: dict[str, str]
    count: int
    unvalidated: dict[str, int]
    errors: list[Problem]
    spec_errors: list[Problem]
    verified: list[tuple[str, str]]
    derived: list[tuple[str, bool]]  # (value, derived) to redact in the parent too
    failure: tuple[int, int, str, list[Problem]] | None  # (cluster's index in the spec, exit code, ...)
    bug: tuple[int, Exception] | None  # (cluster's index, what it raised): the parent's own, never sent

    def __init__(self, files: list[tuple[str, bytes, bool, str, bool, int, str]] | None = None,
                 clusters: dict[str, str] | None = None, count: int = 0, unvalidated: dict[str, int] | None = None,
                 errors: list[Problem] | None = None, spec_errors: list[Problem] | None = None,
                 verified: list[tuple[str, str]] | None = None, derived: list[tuple[str, bool]] | None = None,
                 failure: tuple[int, int, str, list[Problem]] | None = None,
                 bug: tuple[int, Exception] | None = None) -> None:
        self.files = [] if files is None else files
        self.clusters = {} if clusters is None else clusters
        self.count = count
        self.unvalidated = {} if unvalidated is None else unvalidated
        self.errors = [] if errors is None else errors
        self.spec_errors = [] if spec_errors is None else spec_errors
        self.verified = [] if verified is None else verified
        self.derived = [] if derived is None else derived
        self.failure = failure
        self.bug = bug


def _render_share(ctx: RenderContext, names: list[str], bundle: Bundle) -> _Share:
    """Render the named clusters into `bundle`, stopping at the first that fails (a serial render reports that
    one); the values registered meanwhile go with the share."""
    share = _Share()
    try:
        for index, cluster in enumerate(ctx.resolved.spec.clusters):
            if cluster.name not in names:
                continue
            try:
                part = render_bundle(ctx, [cluster], finalize=False)
            except GenpolicyError as exc:
                share.failure = (index, int(exc.exit_code), exc.message, exc.problems)
                return share
            except Exception as exc:  # a bug: it counts at its cluster, after an earlier cluster's error
                share.bug = (index, exc)
                return share
            bundle.files.update(part.files)
            bundle.clusters.update(part.clusters)
    finally:
        share.derived = secrets.drain()
    return share


def _sent_share(ctx: RenderContext, validator: BundleValidator, names: list[str]) -> _Share:
    """What a forked worker renders and sends: bytes with their digests, and its validator's tallies."""
    bundle = Bundle()
    share = _render_share(ctx, names, bundle)
    if share.bug is not None:  # sent as where it failed, never its message (values) or the exception
        index, exc = share.bug
        forked.debug(exc)
        share.bug, share.failure = None, (index, int(ExitCode.INTERNAL), forked.internal_error(where(exc)), [])
    if share.failure is None:
        share.files = [_sent(path, f) for path, f in bundle.files.items()]
        share.clusters = bundle.clusters
        share.count, share.unvalidated, share.errors = validator.count, validator.unvalidated, validator.errors
        share.spec_errors = validator.spec_errors
        share.verified = ctx.encryption.verified if ctx.encryption else []
    return share


def _sent(path: str, file: OutputFile) -> tuple[str, bytes, bool, str, bool, int, str]:
    """A file as a worker sends it: hashed here, not in the parent's serial plan."""
    content = file.content()
    return (path, content, file.sensitive, file.cluster, file.is_manifest, file.plaintext_secrets(),
            hashlib.sha256(content).hexdigest())


def _outcome(child: forked.Child[_Share]) -> _Share | forked.WorkerFailed:
    try:
        return child.result()
    except forked.WorkerFailed as exc:
        return exc


def _raise_first_failure(outcomes: list[_Share | forked.WorkerFailed]) -> None:
    """The first failure in spec order, as a serial render reports it. Share k starts at cluster k: a worker
    that died counts there (it may have been rendering any of its clusters)."""
    failures: list[tuple[int, Exception]] = []
    for first, share in enumerate(outcomes):
        if isinstance(share, forked.WorkerFailed):
            failures.append((first, share))
        elif share.bug is not None:  # the parent's own: raised as it was (its traceback with GENPOLICY_DEBUG=1)
            failures.append(share.bug)
        elif share.failure is not None:
            index, code, message, problems = share.failure
            error = GenpolicyError(message, problems)
            error.exit_code = ExitCode(code)
            failures.append((index, error))
    if failures:
        raise min(failures, key=lambda failure: failure[0])[1]


def render_parallel(ctx: RenderContext, validator: BundleValidator, workers: int) -> Bundle:
    """Render the first share of the clusters here and the others in forked processes (started before this
    process renders anything, so each starts from the same state); merge their files and validation tallies."""
    names = [c.name for c in ctx.resolved.spec.clusters]
    shares = [names[i::workers] for i in range(workers)]
    children: list[forked.Child[_Share]] = []
    bundle = Bundle()
    try:
        for share_names in shares[1:]:
            forked.start(functools.partial(_sent_share, ctx, validator, share_names), children)
        own = _render_share(ctx, shares[0], bundle)
        outcomes = [_outcome(child) for child in children]
    finally:
        forked.stop_all(children)
    results = [share for share in outcomes if isinstance(share, _Share)]
    for share in results:
        secrets.register_all(share.derived)
    _raise_first_failure([own, *outcomes])
    for share in results:
        for path, content, sensitive, cluster, is_manifest, plain, digest in share.files:
            bundle.add(OutputFile(path, "", [], is_manifest, cluster, raw=content, raw_plain=plain,
                                  raw_sensitive=sensitive, digest=digest))
        bundle.clusters.update(share.clusters)
        validator.count += share.count
        validator.errors += share.errors
        validator.spec_errors += share.spec_errors
        for kind, n in share.unvalidated.items():
            validator.unvalidated[kind] = validator.unvalidated.get(kind, 0) + n
        if ctx.encryption is not None:
            ctx.encryption.verified += share.verified
    bundle.clusters = {name: bundle.clusters[name] for name in names if name in bundle.clusters}
    finalize_bundle(ctx, bundle)
    return bundle


