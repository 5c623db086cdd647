"""Per-namespace manifests: the pull Secrets (each through its backend), the values ConfigMap, ServiceAccounts."""

from __future__ import annotations

import posixpath

from genpolicy.render import metadata
from genpolicy.render.backends import SecretJob, backend_named
from genpolicy.render.cluster_secrets import _cluster_wide
from genpolicy.render.context import Bundle, RenderContext, _document, _registry_path
from genpolicy.render.documents import Document
from genpolicy.render.helm import _values_config_map
from genpolicy.render.pullsecrets import PullSecret, PullSecretRenderer, pull_secrets
from genpolicy.specfile import NamespaceTarget
from genpolicy.specfile.checks import backend_for


def _secret_documents(
    ctx: RenderContext, bundle: Bundle, target: NamespaceTarget, secret: PullSecret, secrets: PullSecretRenderer,
    manifest_path: str, sops_dir: str, annotations: dict[str, str] | None = None,
) -> tuple[list[Document], list[str]]:
    """Documents for the manifest file, plus paths of separate SOPS files (relative to sops_dir's parent)."""
    backend = backend_named(backend_for(ctx.resolved.spec, target.cluster, secret.registries[0]))
    job = SecretJob(target, secret, secrets, manifest_path, sops_dir, annotations,
                    document=lambda template, context, sensitive=False: _document(
                        ctx, template, context, sensitive=sensitive),
                    add=bundle.add, encryption=ctx.encryption, registry_path=_registry_path(ctx, secret))
    return backend.pull_secret(job)


def _namespace_documents(
    ctx: RenderContext, bundle: Bundle, target: NamespaceTarget, secrets: PullSecretRenderer, folder: str,
    values_doc: Document | None,
) -> tuple[list[Document], list[str]]:
    docs: list[Document] = []
    extra: list[str] = []
    names: list[str] = []
    manifest_path = f"{folder}/namespaces/{target.namespace}.yaml"
    for secret in pull_secrets(target):
        names.append(secret.name)
        if _cluster_wide(target, secret):
            continue  # one ClusterExternalSecret creates it (external-secrets/<group>.yaml)
        secret_docs, files = _secret_documents(ctx, bundle, target, secret, secrets, manifest_path,
                                               f"{folder}/namespaces/{target.namespace}")
        docs += secret_docs
        extra += [posixpath.relpath(f, folder) for f in files]
    spec = ctx.resolved.spec
    if values_doc is not None and target.helm_values.config_map is not None:
        docs.append(_values_config_map(ctx, target, values_doc.text))
    for account in sorted(target.service_accounts):
        docs.append(_document(ctx, "serviceaccount.yaml.j2", {
            "name": account,
            "namespace": target.namespace,
            "labels": metadata.labels(spec),
            "annotations": metadata.service_account_annotations(spec, target),
            "image_pull_secrets": sorted(names),
        }))
    return docs, extra
