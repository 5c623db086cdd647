"""The external-secrets backends: an ExternalSecret reading a store, or one minting tokens with a generator."""

from __future__ import annotations

from genpolicy.render import engine_secrets
from genpolicy.render.backends.base import RepoJob, SecretJob, checked, job_context
from genpolicy.render.documents import Document


class ExternalSecretBackend:
    """`credentials.externalSecret`: the operator builds the Secret from the store; no value is read."""

    namespace_independent = True  # same documents for every namespace up to its name (genpolicy.render.shapes)

    def pull_secret(self, job: SecretJob) -> tuple[list[Document], list[str]]:
        template, context, sensitive = job_context(job)
        return [job.document(template, context, sensitive=sensitive)], []

    def repository_secret(self, job: RepoJob) -> tuple[list[Document], list[str]]:
        return checked(job, [engine_secrets.external_secret(job.repo)]), []


class GeneratorBackend:
    """`credentials.generator`: an ESO generator plus the ExternalSecret that templates its token."""

    namespace_independent = True  # same documents for every namespace up to its name (genpolicy.render.shapes)

    def pull_secret(self, job: SecretJob) -> tuple[list[Document], list[str]]:
        objects = job.secrets.generator_objects(job.target, job.secret, job.annotations)
        documents = [job.document(template, {"object": obj}) for template, obj in objects]
        documents[0].origins = {"spec": (*job.registry_path, "credentials", "generator", "spec")}
        return documents, []

    def repository_secret(self, job: RepoJob) -> tuple[list[Document], list[str]]:
        return checked(job, engine_secrets.generator_objects(job.repo)), []


EXTERNAL_SECRET = ExternalSecretBackend()
GENERATOR = GeneratorBackend()
