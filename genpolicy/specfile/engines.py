"""`clusters[].engineCredentials`: registries the cluster's GitOps engine itself reads from.

Argo CD pulls OCI Helm charts with repository Secrets (`argocd.argoproj.io/secret-type:
repository`) or credential templates (`repo-creds`, matched by longest URL prefix); Flux's
`HelmRepository` (type oci), `OCIRepository` and `ImageRepository` reference a dockerconfigjson
Secret (`secretRef`) or use the cloud identity (`provider: aws|azure|gcp`). This module holds the
spec model only (it imports nothing of genpolicy, so `spec.model` can use it); the semantic
checks are in `genpolicy.specfile.engine_checks`. Sources: docs/engines.md.
"""

from __future__ import annotations

from typing import Literal

from genpolicy.typed import Field, Model

ARGOCD_KINDS = ("repository", "repo-creds")
FLUX_KINDS = ("HelmRepository", "OCIRepository", "ImageRepository")
EngineKind = Literal["repository", "repo-creds", "HelmRepository", "OCIRepository", "ImageRepository"]
FluxProvider = Literal["auto", "generic", "aws", "azure", "gcp"]
_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
DEFAULT_INTERVAL = "10m"
DEFAULT_SUFFIX = {"repository": "-oci-repo", "repo-creds": "-oci-creds", "HelmRepository": "",
                  "OCIRepository": "", "ImageRepository": ""}


class EngineCredential(Model):
    """One registry repository the GitOps engine reads (charts, OCI artifacts, image tags)."""

    registry: str = Field(pattern=_NAME, max_length=63, description="The `registries[].name` whose credentials "
                                                                     "the engine uses.")
    kind: EngineKind = Field(description="Argo CD clusters: `repository` (one repository Secret) or `repo-creds` (a "
                             "credential template for every repository under `url`). Flux clusters: "
                             "`HelmRepository` (type oci), `OCIRepository` or `ImageRepository`.")
    url: str | None = Field(default=None, min_length=1, pattern=r"^[^\s]+$",
                            description="Repository (or, for `repo-creds`, URL prefix) under the registry, e.g. "
                                        "`ghcr.io/acme/charts`; `oci://` optional (default: the registry's host "
                                        "and path). `ImageRepository`: the image, e.g. `ghcr.io/acme/app`.")
    name: str | None = Field(default=None, pattern=_SUBDOMAIN, max_length=253,
                             description="Object name (default: the registry name, `-oci-repo`/`-oci-creds` "
                                         "appended for Argo CD).")
    namespace: str | None = Field(default=None, pattern=_NAME, max_length=63,
                                  description="Default: the engine's namespace (Argo CD: `clusters[].argocd."
                                              "namespace`, else `gitops.argocd.namespace`, else `argocd`; Flux: "
                                              "`gitops.flux.namespace`, else `flux-system`).")
    interval: str | None = Field(default=None, pattern=_DURATION, description="Flux kinds: reconcile interval (default "
                                                                      "`10m`).")
    provider: FluxProvider = Field(default="auto", description="Flux kinds: `auto` takes the cloud identity (`aws`, "
                                   "`azure`, `gcp`, no Secret) for node- and generator-sourced registries and a "
                                   "`secretRef` (`generic`) for the others.")

    def object_name(self) -> str:
        return self.name or f"{self.registry}{DEFAULT_SUFFIX[self.kind]}"

    def bare_url(self, default: str) -> str:
        """The URL without `oci://` (Argo CD wants none for OCI Helm repositories)."""
        url = self.url or default
        return url[len("oci://"):] if url.startswith("oci://") else url
