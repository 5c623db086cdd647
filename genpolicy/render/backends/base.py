"""The interface every pull-Secret backend implements (genpolicy.render.backends)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from genpolicy.render.documents import Document, OutputFile, SpecPath
from genpolicy.render.encrypted import EncryptionContext
from genpolicy.render.pullsecrets import PullSecret, PullSecretRenderer
from genpolicy.render.trust import refuse_clear_credentials
from genpolicy.spec import NamespaceTarget

DocumentFn = Callable[..., Document]  # (template, context, *, sensitive=False) -> Document


@dataclass(frozen=True, repr=False)  # holds the renderer (and so the credentials): never printed
class SecretJob:
    """One pull Secret to write, with the pipeline's helpers a backend may use."""

    target: NamespaceTarget
    secret: PullSecret
    secrets: PullSecretRenderer
    manifest_path: str  # the namespace's (or Kyverno source's) manifest file
    sops_dir: str  # where a separate SOPS file goes
    annotations: dict[str, str] | None  # overrides the Secret's annotations (Kyverno source Secrets)
    document: DocumentFn
    add: Callable[[OutputFile], None]  # add a separate file to the bundle
    encryption: EncryptionContext | None
    registry_path: SpecPath  # the first registry's spec path, for origins


class Backend(Protocol):
    """Writes one pull Secret: (documents for the manifest, paths of separate files it added)."""

    def pull_secret(self, job: SecretJob) -> tuple[list[Document], list[str]]: ...


def job_context(job: SecretJob) -> tuple[str, dict[str, Any], bool]:
    """The Secret's template, context (with the job's annotations) and whether it holds clear credentials."""
    template, context, sensitive = job.secrets.context(job.target, job.secret)
    if job.annotations is not None:
        context["annotations"] = job.annotations
    return template, context, sensitive


def clear_secret(job: SecretJob, backend: str) -> tuple[Document, Any]:
    """The Secret an encrypting backend encrypts (empty data without credentials), and its encoded value."""
    assert job.encryption is not None
    template, context, _ = job_context(job)
    plain = job.document(template, {**context, "dockerconfigjson": context.get("dockerconfigjson") or ""},
                         sensitive=True)
    refuse_clear_credentials(plain.obj, plain.template, backend)
    return plain, context.get("dockerconfigjson")
