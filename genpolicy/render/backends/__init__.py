"""Pull-Secret backends behind one interface: how a registry's Secret is written into the output.

`backend_for` (genpolicy.specfile.checks) names the backend of a (cluster, registry) pair; `BACKENDS`
maps that name to the module that writes it. A new backend is one module here and one line in
`BACKENDS`; the renderers hand every pull Secret to `backend_named(...)` and never branch on a name.
"""

from __future__ import annotations

from genpolicy.render.backends import external_secrets, node, plain, sealed_secrets, sops
from genpolicy.render.backends.base import Backend, RepoJob, SecretJob, job_context

__all__ = ["BACKENDS", "Backend", "RepoJob", "SecretJob", "backend_named", "job_context"]

BACKENDS: dict[str, Backend] = {
    "plain": plain.BACKEND,
    "sealed-secrets": sealed_secrets.BACKEND,
    "sops": sops.BACKEND,
    "external-secrets": external_secrets.EXTERNAL_SECRET,
    "generator": external_secrets.GENERATOR,
    "node": node.BACKEND,
}


def backend_named(name: str) -> Backend:
    """The backend `backend_for` named; "missing" (rejected by the checks before any render) renders as plain."""
    return BACKENDS["plain" if name == "missing" else name]
