"""The sealed-secrets backend: the Secret sealed to the cluster's certificate (genpolicy.render.encrypted)."""

from __future__ import annotations

import base64

from genpolicy.render import encrypted
from genpolicy.render.backends.base import RepoJob, SecretJob, clear_secret, repo_values
from genpolicy.render.documents import Document


class SealedSecretsBackend:
    """A SealedSecret in the manifest; unchanged credentials keep their ciphertext."""

    namespace_independent = False  # encrypted for one namespace, reused from what is on disk

    def pull_secret(self, job: SecretJob) -> tuple[list[Document], list[str]]:
        plain, encoded = clear_secret(job, "sealed-secrets")
        assert job.encryption is not None
        body = None if encoded is None else base64.b64decode(str(encoded)).decode("utf-8")
        obj = encrypted.sealed_secret(plain.obj, job.target.cluster, job.encryption, job.manifest_path, body)
        return [job.document("sealedsecret.yaml.j2", {"object": obj})], []

    def repository_secret(self, job: RepoJob) -> tuple[list[Document], list[str]]:
        plain_values, _, plain = repo_values(job)
        assert job.encryption is not None
        encrypted.refuse_clear_credentials(plain, "engine credentials", "sealed-secrets")
        sealed = encrypted.sealed_secret(plain, job.repo.use.cluster, job.encryption, job.manifest_path, plain_values)
        return [job.document(sealed, False)], []


BACKEND = SealedSecretsBackend()
