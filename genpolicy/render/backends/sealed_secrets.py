"""The sealed-secrets backend: the Secret sealed to the cluster's certificate (genpolicy.render.encrypted)."""

from __future__ import annotations

import base64

from genpolicy.render import encrypted
from genpolicy.render.backends.base import SecretJob, clear_secret
from genpolicy.render.documents import Document


class SealedSecretsBackend:
    """A SealedSecret in the manifest; unchanged credentials keep their ciphertext."""

    def pull_secret(self, job: SecretJob) -> tuple[list[Document], list[str]]:
        plain, encoded = clear_secret(job, "sealed-secrets")
        assert job.encryption is not None
        body = None if encoded is None else base64.b64decode(str(encoded)).decode("utf-8")
        obj = encrypted.sealed_secret(plain.obj, job.target.cluster, job.encryption, job.manifest_path, body)
        return [job.document("sealedsecret.yaml.j2", {"object": obj})], []


BACKEND = SealedSecretsBackend()
