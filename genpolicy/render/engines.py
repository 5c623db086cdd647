"""`<cluster>/engines/`: the GitOps engine's own registry access (`clusters[].engineCredentials`).

Argo CD clusters get repository / repo-creds Secrets (genpolicy.render.engine_secrets) through the
registry's backend. Flux clusters get `HelmRepository` (type oci), `OCIRepository` and
`ImageRepository` objects (source.toolkit.fluxcd.io/v1, image.toolkit.fluxcd.io/v1) with either
`provider: aws|azure|gcp` (the controller's cloud identity, no Secret) or a `secretRef` to one
dockerconfigjson Secret per registry and namespace, rendered exactly like a pull Secret (same
backends, same no-churn rules). Flux source fields: fluxcd/source-controller docs/spec/v1
helmrepositories.md and ocirepositories.md; image-reflector-controller docs/spec/v1
imagerepositories.md. Everything goes into one folder listed by the cluster's kustomization.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from genpolicy.record import Record
from genpolicy.render import encrypted, engine_secrets, metadata
from genpolicy.render.backends import RepoJob, backend_named
from genpolicy.render.documents import Document, OutputFile
from genpolicy.render.pullsecrets import PullSecret
from genpolicy.secrets import Credential
from genpolicy.specfile import NamespaceTarget, Resolved
from genpolicy.specfile.checks import backend_for
from genpolicy.specfile.engine_checks import EngineUse
from genpolicy.specfile.model import Cluster, HelmValues, Spec

FOLDER = "engines"
API_VERSIONS = {"HelmRepository": "source.toolkit.fluxcd.io/v1", "OCIRepository": "source.toolkit.fluxcd.io/v1",
                "ImageRepository": "image.toolkit.fluxcd.io/v1"}
PullSecretFn = Callable[[NamespaceTarget, PullSecret, str, str], tuple[list[Document], list[str]]]


class Emit(Record):
    """What the render pipeline lends this module (which must not import the pipeline itself)."""

    __slots__ = ("resolved", "credentials", "encryption", "header", "document", "pull_secret", "add", "kustomization")
    resolved: Resolved
    credentials: dict[str, Credential]
    encryption: encrypted.EncryptionContext | None
    header: str
    document: Callable[[dict[str, Any], bool], Document]  # an object (and whether it holds clear credentials)
    pull_secret: PullSecretFn  # (target, secret, manifest path, SOPS folder) -> documents, SOPS file paths
    add: Callable[[OutputFile], None]
    kustomization: Callable[[str, list[str]], None]  # folder, resources

    def __init__(self, resolved: Resolved, credentials: dict[str, Credential],
                 encryption: encrypted.EncryptionContext | None, header: str,
                 document: Callable[[dict[str, Any], bool], Document], pull_secret: PullSecretFn,
                 add: Callable[[OutputFile], None], kustomization: Callable[[str, list[str]], None]) -> None:
        self.resolved = resolved
        self.credentials = credentials
        self.encryption = encryption
        self.header = header
        self.document = document
        self.pull_secret = pull_secret
        self.add = add
        self.kustomization = kustomization


def render_engines(emit: Emit, cluster: Cluster, folder: str) -> list[str]:
    """Render `<folder>/engines/`; the cluster kustomization's entries for it (none without credentials)."""
    uses = [u for u in emit.resolved.engine_uses() if u.cluster.name == cluster.name]
    if not uses:
        return []
    base = f"{folder}/{FOLDER}"
    manifest = OutputFile(f"{base}/{FOLDER}.yaml", emit.header, cluster=cluster.name)
    extra: list[str] = []
    for use in _flux_secret_uses(uses):
        secret = PullSecret(use.secret_name, (use.registry,))
        docs, files = emit.pull_secret(_target(use), secret, manifest.path, f"{base}/{use.namespace}")
        manifest.documents += docs
        extra += files
    for use in uses:
        if use.entry.kind in API_VERSIONS:
            manifest.documents.append(emit.document(flux_source(emit.resolved.spec, use), False))
        else:
            docs, files = _argocd_documents(emit, use, manifest.path, base)
            manifest.documents += docs
            extra += files
    resources = [posixpath.relpath(f, base) for f in extra]
    if manifest.documents:
        emit.add(manifest)
        resources.insert(0, manifest.path.rpartition("/")[2])
    emit.kustomization(base, resources)
    return [FOLDER]


def _flux_secret_uses(uses: list[EngineUse]) -> list[EngineUse]:
    """One Secret per (namespace, registry) that a Flux object references."""
    wanted = {(u.namespace, u.registry.name): u for u in uses if u.entry.kind in API_VERSIONS and u.needs_secret}
    return [wanted[k] for k in sorted(wanted)]


def _target(use: EngineUse) -> NamespaceTarget:
    """A pseudo-target for the engine's namespace, so the Secret renders as every pull Secret does."""
    return NamespaceTarget(cluster=use.cluster, group="engine-credentials", namespace=use.namespace,
                           registries=(use.registry,), service_accounts=(), secret_mode="per-registry",
                           merged_secret_name="", helm_values=HelmValues(enabled=False))


def flux_source(spec: Spec, use: EngineUse) -> dict[str, Any]:
    """A Flux HelmRepository (type oci), OCIRepository or ImageRepository for one engine credential."""
    kind = use.entry.kind
    body: dict[str, Any] = {"interval": use.interval}
    if kind == "ImageRepository":
        body["image"] = use.url
    else:
        body["url"] = f"oci://{use.url}"
    if kind == "HelmRepository":
        body["type"] = "oci"
    if use.needs_secret:
        body["secretRef"] = {"name": use.secret_name}
    else:
        body["provider"] = use.provider
    meta: dict[str, Any] = {"name": use.entry.object_name(), "namespace": use.namespace,
                            "labels": metadata.labels(spec, {metadata.REGISTRY_LABEL: use.registry.name})}
    if spec.common_annotations:
        meta["annotations"] = dict(sorted(spec.common_annotations.items()))
    return {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": meta, "spec": body}


def _argocd_documents(emit: Emit, use: EngineUse, manifest_path: str, base: str
                      ) -> tuple[list[Document], list[str]]:
    """The repository Secret through the registry's backend: (documents, separate SOPS files)."""
    spec = emit.resolved.spec
    repo = engine_secrets.repo_secret(spec, use)
    job = RepoJob(repo, emit.credentials.get(use.registry.name), manifest_path, f"{base}/{repo.namespace}",
                  emit.document, emit.add, emit.encryption)
    return backend_named(backend_for(spec, use.cluster, use.registry)).repository_secret(job)
