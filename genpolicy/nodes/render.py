"""Node bootstrap files per node pool: CredentialProviderConfig, a KubeletConfiguration fragment and
containerd `certs.d/<registry>/hosts.toml` files; each validated before it is returned.

They are not Kubernetes API objects: the cluster kustomization does not list them (node
bootstrap, e.g. cloud-init or a machine config, copies them to the node).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genpolicy.errors import OutputValidationError, Problem
from genpolicy.nodes import toml
from genpolicy.nodes.model import CredentialProvider, Mirror, NodePool, ServiceAccountToken
from genpolicy.nodes.providers import effective
from genpolicy.nodes.schema import hosts_findings, node_findings
from genpolicy.nodes.versions import Version, cache_type_required, cpc_api_version, exec_api_version, parse_version
from genpolicy.record import Record

if TYPE_CHECKING:
    from genpolicy.specfile.model import Cluster, Spec

DOCKER_HUB_ENDPOINT = "https://registry-1.docker.io"


class NodeFile(Record):
    """A file under `<cluster>/nodes/<pool>/`: YAML objects, or TOML text."""

    __slots__ = ("path", "objects", "text")
    path: str
    objects: list[dict[str, Any]]
    text: str | None

    def __init__(self, path: str, objects: list[dict[str, Any]] | None = None, text: str | None = None) -> None:
        self.path = path
        self.objects = [] if objects is None else objects
        self.text = text


def node_files(spec: Spec, cluster: Cluster, folder: str) -> list[NodeFile]:
    """Every node pool's files, in pool order; raises OutputValidationError when one fails its schema."""
    version = parse_version(cluster.major_minor)
    mirrors = {m.name: m for m in spec.mirrors}
    files: list[NodeFile] = []
    for pool in cluster.node_pools:
        base = f"{folder}/nodes/{pool.name}"
        if pool.credential_providers:
            files.append(NodeFile(f"{base}/credential-provider-config.yaml",
                                  [credential_provider_config(pool, version)]))
        kubelet = kubelet_configuration(pool)
        if kubelet is not None:
            files.append(NodeFile(f"{base}/kubelet-config.yaml", [kubelet]))
        files += [NodeFile(f"{base}/certs.d/{registry}/hosts.toml", text=text)
                  for registry, text in hosts_files([mirrors[n] for n in pool.mirrors if n in mirrors]).items()]
    for file in files:
        _validate(file, alpha_tokens=not cache_type_required(version))
    return files


def credential_provider_config(pool: NodePool, version: Version) -> dict[str, Any]:
    api_version = cpc_api_version(version)
    assert api_version is not None, "checked: CredentialProviderConfig needs 1.24+"
    return {"apiVersion": api_version, "kind": "CredentialProviderConfig",
            "providers": [_provider(p, version) for p in pool.credential_providers]}


def _provider(provider: CredentialProvider, version: Version) -> dict[str, Any]:
    settings = effective(provider)
    out: dict[str, Any] = {"name": settings.name, "matchImages": list(settings.match_images),
                           "defaultCacheDuration": settings.default_cache_duration,
                           "apiVersion": exec_api_version(version)}
    if settings.args:
        out["args"] = list(settings.args)
    if provider.env:
        out["env"] = [{"name": e.name, "value": e.value} for e in provider.env]
    if provider.service_account_token is not None:
        out["tokenAttributes"] = _token_attributes(provider.service_account_token)
    return out


def _token_attributes(token: ServiceAccountToken) -> dict[str, Any]:
    out: dict[str, Any] = {"serviceAccountTokenAudience": token.audience}
    if token.cache_type is not None:
        out["cacheType"] = token.cache_type
    out["requireServiceAccount"] = token.require_service_account
    if token.required_service_account_annotation_keys:
        out["requiredServiceAccountAnnotationKeys"] = list(token.required_service_account_annotation_keys)
    if token.optional_service_account_annotation_keys:
        out["optionalServiceAccountAnnotationKeys"] = list(token.optional_service_account_annotation_keys)
    return out


def kubelet_configuration(pool: NodePool) -> dict[str, Any] | None:
    """Only the fields the pool sets: feature gates and the KEP-2535 verification settings."""
    out: dict[str, Any] = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"}
    if pool.feature_gates:
        out["featureGates"] = dict(sorted(pool.feature_gates.items()))
    verification = pool.pull_verification
    if verification is not None:
        out["imagePullCredentialsVerificationPolicy"] = verification.policy
        if verification.allowlist:
            out["preloadedImagesVerificationAllowlist"] = list(verification.allowlist)
    return out if len(out) > 2 else None


def upstream_endpoint(registry: str) -> str:
    """The `server` containerd falls back to after the mirrors (Docker Hub's API host for docker.io)."""
    return DOCKER_HUB_ENDPOINT if registry == "docker.io" else f"https://{registry}"


def mirror_url(mirror: Mirror) -> str:
    """The `[host."..."]` URL: with a path, containerd uses it as given (`override_path`)."""
    endpoint = mirror.endpoint.rstrip("/")
    return f"{endpoint}/v2/{mirror.path}" if mirror.path else endpoint


def hosts_files(mirrors: list[Mirror]) -> dict[str, str]:
    """Upstream registry -> hosts.toml text, mirrors in the pool's order, registries sorted."""
    served = sorted({r for m in mirrors for r in m.serves})
    return {registry: _hosts_toml(registry, [m for m in mirrors if registry in m.serves]) for registry in served}


def _hosts_toml(registry: str, mirrors: list[Mirror]) -> str:
    tables: dict[str, dict[str, toml.Value]] = {}
    for mirror in mirrors:
        table: dict[str, toml.Value] = {"capabilities": list(mirror.capabilities)}
        if mirror.path:
            table["override_path"] = True
        if mirror.skip_verify:
            table["skip_verify"] = True
        if mirror.ca:
            table["ca"] = mirror.ca
        tables.setdefault(mirror_url(mirror), table)
    header = (f"# containerd registry hosts for {registry} (genpolicy, mirrors: "
              f"{', '.join(m.name for m in mirrors)}).\n# Copy to /etc/containerd/certs.d/{registry}/hosts.toml.\n")
    return header + toml.dumps({"server": upstream_endpoint(registry)}, tables, "host")


def _validate(file: NodeFile, *, alpha_tokens: bool) -> None:
    findings: list[tuple[str, str]] = []
    if file.text is not None:
        import tomllib  # parsing back a hosts.toml: only a spec with mirrors writes one

        findings = hosts_findings(tomllib.loads(file.text))
    for obj in file.objects:
        findings += node_findings(obj, alpha_tokens=alpha_tokens) or []
    if findings:
        raise OutputValidationError("generated node files are invalid", [
            Problem(file.path, 0, 0, path, f"{message} (node file schema)") for path, message in findings])
