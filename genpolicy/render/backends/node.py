"""The node backend: the kubelet pulls with node-level credentials (genpolicy.nodes), so no Secret."""

from __future__ import annotations

from genpolicy.render.backends.base import SecretJob
from genpolicy.render.documents import Document


class NodeBackend:
    """`credentials.node`: the node pool's files carry the credential; namespaces get nothing."""

    def pull_secret(self, job: SecretJob) -> tuple[list[Document], list[str]]:
        return [], []


BACKEND = NodeBackend()
