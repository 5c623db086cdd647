"""The sops backend: the Secret in its own SOPS+age file next to the manifest (genpolicy.render.encrypted)."""

from __future__ import annotations

from genpolicy.render import encrypted
from genpolicy.render.backends.base import RepoJob, SecretJob, clear_secret, repo_values
from genpolicy.render.documents import Document, OutputFile


class SopsBackend:
    """`<sops_dir>/<secret>.sops.yaml`, listed by the caller's kustomization; nothing in the manifest."""

    namespace_independent = False  # encrypted for one namespace, reused from what is on disk

    def pull_secret(self, job: SecretJob) -> tuple[list[Document], list[str]]:
        plain, encoded = clear_secret(job, "sops")
        assert job.encryption is not None
        path = f"{job.sops_dir}/{job.secret.name}.sops.yaml"
        text, shape = encrypted.sops_secret(plain.obj, job.target.cluster, job.encryption, path,
                                            None if encoded is None else str(encoded))
        file = OutputFile(path, "", cluster=job.target.cluster.name)
        file.documents = [Document("sops", text, shape)]
        job.add(file)
        return [], [path]

    def repository_secret(self, job: RepoJob) -> tuple[list[Document], list[str]]:
        _, data, plain = repo_values(job)
        assert job.encryption is not None
        encrypted.refuse_clear_credentials(plain, "engine credentials", "sops")
        path = f"{job.sops_dir}/{plain['metadata']['name']}.sops.yaml"
        text, shape = encrypted.sops_secret(plain, job.repo.use.cluster, job.encryption, path, data)
        file = OutputFile(path, "", cluster=job.repo.use.cluster.name)
        file.documents = [Document("sops", text, shape)]
        job.add(file)
        return [], [path]


BACKEND = SopsBackend()
