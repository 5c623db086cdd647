"""The plain backend: a `kubernetes.io/dockerconfigjson` Secret with the credentials in clear."""

from __future__ import annotations

from genpolicy.errors import CredentialError, Problem
from genpolicy.render.backends.base import RepoJob, SecretJob, job_context, repo_values
from genpolicy.render.documents import Document
from genpolicy.render.pullsecrets import encrypted_missing


class PlainBackend:
    """Needs the credentials; the Secret is marked sensitive (counted, never logged)."""

    namespace_independent = True  # same documents for every namespace up to its name (genpolicy.render.shapes)

    def pull_secret(self, job: SecretJob) -> tuple[list[Document], list[str]]:
        template, context, sensitive = job_context(job)
        if sensitive and context.get("dockerconfigjson") is None:
            raise encrypted_missing(job.target, job.secret)
        return [job.document(template, context, sensitive=sensitive)], []

    def repository_secret(self, job: RepoJob) -> tuple[list[Document], list[str]]:
        _, data, plain = repo_values(job)
        if data is None:
            raise CredentialError("credentials needed", [Problem(
                f"{job.repo.namespace}/{job.repo.name}", message="credentials are needed to render this Secret")])
        return [job.document(plain, True)], []


BACKEND = PlainBackend()
