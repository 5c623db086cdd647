"""The node backend: the kubelet pulls with node-level credentials (genpolicy.nodes), so no Secret."""

from __future__ import annotations

from genpolicy.render.backends.base import RepoJob, SecretJob
from genpolicy.render.documents import Document


class NodeBackend:
    """`credentials.node`: the node pool's files carry the credential; namespaces get nothing."""

    namespace_independent = True  # same documents for every namespace up to its name (genpolicy.render.shapes)

    def pull_secret(self, job: SecretJob) -> tuple[list[Document], list[str]]:
        return [], []

    def repository_secret(self, job: RepoJob) -> tuple[list[Document], list[str]]:
        """Argo CD cannot use the nodes' identity: the spec checks refuse this before any render."""
        raise AssertionError(f"{job.repo.name}: node credentials for an Argo CD repository passed the checks")


BACKEND = NodeBackend()
