"""The interface every pull-Secret backend implements (genpolicy.render.backends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from genpolicy.record import Frozen, set_field
from genpolicy.render import engine_secrets
from genpolicy.render.documents import Document, OutputFile, SpecPath
from genpolicy.render.encrypted import EncryptionContext
from genpolicy.render.engine_secrets import RepoSecret
from genpolicy.render.pullsecrets import PullSecret, PullSecretRenderer
from genpolicy.render.trust import refuse_clear_credentials
from genpolicy.secrets import Credential
from genpolicy.specfile import NamespaceTarget

DocumentFn = Callable[..., Document]  # (template, context, *, sensitive=False) -> Document


class SecretJob(Frozen):
    """One pull Secret to write, with the pipeline's helpers a backend may use."""

    __slots__ = ("target", "secret", "secrets", "manifest_path", "sops_dir", "annotations", "document", "add",
                 "encryption", "registry_path")
    _hidden = frozenset(__slots__)  # holds the renderer (and so the credentials): never printed
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

    def __init__(self, target: NamespaceTarget, secret: PullSecret, secrets: PullSecretRenderer, manifest_path: str,
                 sops_dir: str, annotations: dict[str, str] | None, document: DocumentFn,
                 add: Callable[[OutputFile], None], encryption: EncryptionContext | None,
                 registry_path: SpecPath) -> None:
        set_field(self, "target", target)
        set_field(self, "secret", secret)
        set_field(self, "secrets", secrets)
        set_field(self, "manifest_path", manifest_path)
        set_field(self, "sops_dir", sops_dir)
        set_field(self, "annotations", annotations)
        set_field(self, "document", document)
        set_field(self, "add", add)
        set_field(self, "encryption", encryption)
        set_field(self, "registry_path", registry_path)


class RepoJob(Frozen):
    """One Argo CD repository Secret to write (engineCredentials), with the helpers a backend may use."""

    __slots__ = ("repo", "credential", "manifest_path", "sops_dir", "document", "add", "encryption")
    _hidden = frozenset(__slots__)  # holds the credential: never printed
    repo: RepoSecret
    credential: Credential | None
    manifest_path: str  # the engines manifest
    sops_dir: str  # where a separate SOPS file goes
    document: Callable[[dict[str, Any], bool], Document]  # (object, sensitive)
    add: Callable[[OutputFile], None]
    encryption: EncryptionContext | None

    def __init__(self, repo: RepoSecret, credential: Credential | None, manifest_path: str, sops_dir: str,
                 document: Callable[[dict[str, Any], bool], Document], add: Callable[[OutputFile], None],
                 encryption: EncryptionContext | None) -> None:
        set_field(self, "repo", repo)
        set_field(self, "credential", credential)
        set_field(self, "manifest_path", manifest_path)
        set_field(self, "sops_dir", sops_dir)
        set_field(self, "document", document)
        set_field(self, "add", add)
        set_field(self, "encryption", encryption)


class Backend(Protocol):
    """Writes one pull Secret or Argo CD repository Secret: (documents for the manifest, separate files)."""

    namespace_independent: bool  # its documents differ between namespaces only by the namespace's name

    def pull_secret(self, job: SecretJob) -> tuple[list[Document], list[str]]: ...

    def repository_secret(self, job: RepoJob) -> tuple[list[Document], list[str]]: ...


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


def repo_values(job: RepoJob) -> tuple[dict[str, str] | None, dict[str, str] | None, dict[str, Any]]:
    """(plain values, base64 data, the clear Secret) of a repository Secret; values None without credentials."""
    plain_values = engine_secrets.values(job.repo, job.credential)
    data = engine_secrets.encoded(plain_values)
    plain = engine_secrets.plain_secret(job.repo, data)
    if data is not None:
        engine_secrets.check_repository_secret(plain, job.manifest_path)
    return plain_values, data, plain


def checked(job: RepoJob, objects: list[dict[str, Any]]) -> list[Document]:
    """ESO objects: the last one builds the repository Secret and must follow Argo CD's rules."""
    engine_secrets.check_repository_secret(objects[-1], job.manifest_path)
    return [job.document(o, False) for o in objects]
