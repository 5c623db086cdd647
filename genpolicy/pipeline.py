"""The render and validate jobs, independent of the command line."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from genpolicy import inputs, parallel, quick_store, writer
from genpolicy.bundle_check import BundleValidator
from genpolicy.cache import Inputs, RenderCache
from genpolicy.credentials import CredentialReader
from genpolicy.errors import Problem, SpecError, WriteError
from genpolicy.lint import lint
from genpolicy.record import Record
from genpolicy.render import Bundle, RenderContext, encrypted, render_bundle
from genpolicy.render.encrypted import FingerprintKey
from genpolicy.secrets import Credential
from genpolicy.specfile import Resolved, load_spec
from genpolicy.specfile.checks import backend_for
from genpolicy.templating import Templates, builtin_template_dir
from genpolicy.validate import CrdSchemas


class RenderOptions(Record):
    __slots__ = ("spec", "output", "crds", "templates", "environ", "progress", "check", "cache", "quick")
    spec: Path
    output: Path | None
    crds: list[Path]
    templates: list[Path]
    environ: Mapping[str, str] | None
    progress: Callable[[int], None] | None
    check: bool  # `render --check`: encrypted Secrets may be reused without credentials
    cache: bool  # the no-change fast path (genpolicy.cache); the CLI turns it on
    quick: str | None  # the CLI's SPEC argument of a plain `render SPEC`: feed genpolicy.quick

    def __init__(self, spec: Path, output: Path | None = None, crds: list[Path] | None = None,
                 templates: list[Path] | None = None, environ: Mapping[str, str] | None = None,
                 progress: Callable[[int], None] | None = None, check: bool = False, cache: bool = False,
                 quick: str | None = None) -> None:
        self.spec = spec
        self.output = output
        self.crds = [] if crds is None else crds
        self.templates = [] if templates is None else templates
        self.environ = environ
        self.progress = progress
        self.check = check
        self.cache = cache
        self.quick = quick


class RenderResult(Record):
    __slots__ = ("resolved", "bundle", "plan", "warnings", "objects", "fingerprint", "cache", "cache_digest", "cached",
                 "cached_warnings", "lint_warnings", "verification", "quick")
    resolved: Resolved
    bundle: Bundle
    plan: writer.Plan
    warnings: list[Problem]
    objects: int
    fingerprint: FingerprintKey | None
    cache: RenderCache | None
    cache_digest: str
    cached: bool  # the no-change fast path answered
    cached_warnings: list[Problem]
    lint_warnings: list[Problem]
    verification: list[tuple[str, str]]  # (how, object) per encrypted Secret
    quick: Callable[[RenderResult], None] | None  # remembers this render for genpolicy.quick

    def __init__(self, resolved: Resolved, bundle: Bundle, plan: writer.Plan, warnings: list[Problem], objects: int,
                 fingerprint: FingerprintKey | None = None, cache: RenderCache | None = None, cache_digest: str = "",
                 cached: bool = False, cached_warnings: list[Problem] | None = None,
                 lint_warnings: list[Problem] | None = None, verification: list[tuple[str, str]] | None = None,
                 quick: Callable[[RenderResult], None] | None = None) -> None:
        self.resolved = resolved
        self.bundle = bundle
        self.plan = plan
        self.warnings = warnings
        self.objects = objects
        self.fingerprint = fingerprint
        self.cache = cache
        self.cache_digest = cache_digest
        self.cached = cached
        self.cached_warnings = [] if cached_warnings is None else cached_warnings
        self.lint_warnings = [] if lint_warnings is None else lint_warnings
        self.verification = [] if verification is None else verification
        self.quick = quick

    def after_write(self) -> None:
        """Keep a newly generated fingerprint key; remember this render for the no-change fast path."""
        if self.fingerprint is not None:
            self.fingerprint.save()
        if self.plan.conflicts:
            return
        if self.cache is not None and not self.cached:
            # the record this render wrote (not the file re-read: another render may have replaced it since)
            self.cache.store(self.cache_digest, self.plan.record(), self.objects,
                             [w.as_dict() for w in self.cached_warnings])
            self.cache.store_known(self.plan.record(), self.plan.verified())
        if self.quick is not None:  # after a cache hit too: the quick record may be what missed
            self.quick(self)


def output_root(options: RenderOptions, resolved: Resolved) -> Path:
    root = options.output if options.output is not None else Path(
        os.path.normpath(options.spec.parent / resolved.spec.output_dir))
    check_output_root(root)
    return root


def check_output_root(root: Path) -> None:
    """The output root, or the nearest of its parents that exists, must be a folder (exit 6 naming it)."""
    for path in (root, *root.parents):
        if path.is_dir():
            return
        if path.exists() or path.is_symlink():
            raise WriteError("cannot write the output", [Problem(
                str(path), message="is not a folder" + ("" if path == root else f" (the output is {root})"))])


def render(options: RenderOptions) -> RenderResult:
    """Load, render and validate in memory, then plan against the disk (nothing is written)."""
    watched = quick_store.Watched(os.environ if options.environ is None else options.environ)
    inputs.READ_LOG = {} if options.quick is not None and options.cache else None
    try:
        with _few_collections():
            result = _render(options, watched)
    finally:
        files, inputs.READ_LOG = inputs.READ_LOG, None
    if files is not None and options.quick is not None:
        result.quick = functools.partial(_remember, options.quick, watched, files, _quick_files(options, result))
    return result


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """The modules' objects leave the collector's view (gc.freeze) and it runs rarely while rendering:
    a render allocates many small objects and few cycles, and collecting them cost a fifth of its time."""
    gc.freeze()
    threshold = gc.get_threshold()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def _render(options: RenderOptions, environ: quick_store.Watched) -> RenderResult:
    resolved = load_spec(options.spec)
    root = output_root(options, resolved)
    if not options.check:
        writer.recover(root)  # a crashed render's leftovers, before anything reads the output
    backends = _backends(resolved)
    reader = CredentialReader(resolved.spec, resolved.loaded, options.spec.parent, environ)
    optional = set(backends) if options.check else set()
    credentials = reader.read_all(resolved.used_registries(), optional=optional)
    findings = lint(resolved, credentials)
    if findings.errors:
        raise SpecError("the spec has lint errors (see `genpolicy lint`)", findings.errors)
    encryption = None
    fingerprint: FingerprintKey | None = None
    if _encrypts_anywhere(resolved):
        fingerprint = FingerprintKey.load(options.spec.parent, environ, create=not options.check)
        existing = encrypted.ExistingOutput(lambda rel: _read_existing(root, rel))
        encryption = encrypted.EncryptionContext(fingerprint, existing, options.spec.parent, check_only=options.check)
    lint_warnings = [p for p in findings.problems if p.severity == "warning"]
    cache = RenderCache.open(root, environ) if options.cache else None
    digest = ""
    if cache is not None:
        digest = cache.digest(_cache_inputs(options, resolved, root, credentials, fingerprint))
        hit = _cached_result(cache, digest, resolved, root, lint_warnings)
        if hit is not None:
            return hit
    code = cache.template_code() if cache is not None else None
    ctx = RenderContext(resolved, Templates(options.templates, code), credentials, options.spec.name, options.progress,
                        encryption)
    validator = BundleValidator(resolved, CrdSchemas.from_paths(options.crds))
    ctx.on_files = validator.validate_files
    workers = parallel.worker_count(resolved)
    bundle = parallel.render_parallel(ctx, validator, workers) if workers > 1 else render_bundle(ctx)
    warnings, objects = validator.finish()
    cacheable = list(warnings)  # "not validated" warnings: facts of the output, replayed on a cache hit
    warnings += lint_warnings + _backend_warnings(encryption)
    wanted = {path: writer.Planned(f.freeze(), f.sensitive, f.known_digest())  # one copy
              for path, f in bundle.files.items()}
    fingerprint_key = encryption.fingerprint if encryption else None
    known = cache.known(writer.read_record(root)) if cache is not None else None
    return RenderResult(resolved, bundle, writer.plan(root, wanted, known), warnings, objects, fingerprint_key, cache,
                        digest, cached_warnings=cacheable, lint_warnings=lint_warnings,
                        verification=sorted(encryption.verified, key=lambda v: v[1]) if encryption else [])


def _quick_files(options: RenderOptions, result: RenderResult) -> set[str]:
    """Inputs read in worker processes or tested for existence only: the fingerprint key, the certificates."""
    paths = [options.spec.parent / encrypted.FINGERPRINT_FILE]
    paths += [options.spec.parent / c.sealed_secrets.certificate for c in result.resolved.spec.clusters
              if c.sealed_secrets is not None]
    return {os.path.abspath(p) for p in paths}


def _remember(spec_arg: str, watched: quick_store.Watched, read: dict[str, str | None], also: set[str],
              result: RenderResult) -> None:
    owned = result.plan.record_before if result.cached else result.plan.record()  # as on disk, verified
    if owned is None:
        return
    key = result.fingerprint
    if key is not None and key.saved:  # written by this render: what it wrote, not what a re-read finds
        read = {**read, os.path.abspath(key.path): inputs.quick_digest(key.file_bytes())}
    quick_store.remember(spec_arg, watched, read, also, str(result.plan.root), owned,
                   result.objects, result.cached_warnings + result.lint_warnings)


def _cache_inputs(options: RenderOptions, resolved: Resolved, root: Path, credentials: Mapping[str, Credential],
                  fingerprint: FingerprintKey | None) -> Inputs:
    inputs = Inputs()
    inputs.add_code_stamp(os.fspath(builtin_template_dir()))
    inputs.add("root", str(root.resolve()))
    inputs.add("spec", resolved.loaded.text)  # the very text that was parsed
    inputs.add("spec name", options.spec.name)  # printed in every file's header
    inputs.add_files("crds", options.crds)
    inputs.add_files("templates", options.templates)
    for name in sorted(credentials):
        credential = credentials[name]
        inputs.add(f"credential:{name}", f"{credential.username}\0{credential.password.reveal()}")
    for cluster in resolved.spec.clusters:
        if cluster.sealed_secrets is not None:
            inputs.add_files(f"certificate:{cluster.name}", [options.spec.parent / cluster.sealed_secrets.certificate])
    inputs.add("fingerprint", (fingerprint.key or b"") if fingerprint is not None else b"")
    return inputs


def _cached_result(cache: RenderCache, digest: str, resolved: Resolved, root: Path,
                   lint_warnings: list[Problem]) -> RenderResult | None:
    """The no-change answer, when the inputs and every output file are as the last render left them."""
    try:
        owned = (root / writer.OWNED_FILE).read_bytes()
    except OSError:
        return None
    record = cache.lookup(digest, owned)
    if record is None:
        return None
    plan = writer.verified_unchanged(root, cache.known(owned))
    if plan is None:
        return None
    try:
        warnings = [Problem(**w) for w in record.get("warnings", [])]
        objects = int(record.get("objects", 0))
    except (TypeError, ValueError):
        return None  # a damaged record is a miss
    return RenderResult(resolved, Bundle(), plan, warnings + lint_warnings, objects, cached=True,
                        cached_warnings=warnings, lint_warnings=lint_warnings)


def _encrypts_anywhere(resolved: Resolved) -> bool:
    """Does some (cluster, registry) pair use an encrypting backend?"""
    return any(backend_for(resolved.spec, c, r) in ("sealed-secrets", "sops") for c, r in resolved.credential_uses())


def _backends(resolved: Resolved) -> set[str]:
    """Registries whose Secrets are encrypted on every cluster that uses them."""
    seen: dict[str, set[str]] = {}
    for cluster, registry in resolved.credential_uses():
        seen.setdefault(registry.name, set()).add(backend_for(resolved.spec, cluster, registry))
    return {name for name, kinds in seen.items() if kinds <= {"sealed-secrets", "sops"}}


def _read_existing(root: Path, rel: str) -> bytes | None:
    try:
        return (root / rel).read_bytes()
    except OSError:
        return None


def _backend_warnings(encryption: encrypted.EncryptionContext | None) -> list[Problem]:
    warnings: list[Problem] = []
    if encryption is not None and encryption.unverified():
        warnings.append(Problem("<render>", severity="warning", message=(
            f"{encryption.unverified()} encrypted Secrets were not re-verified: the fingerprint key is not "
            "available here; only their names, namespaces and key material were checked")))
    if encryption is not None and encryption.fingerprint.created:
        warnings.append(Problem("<render>", severity="warning", message=(
            f"new fingerprint key {encryption.fingerprint.path} (keep it, out of git; without it every render "
            "re-encrypts every Secret)")))
    return warnings
