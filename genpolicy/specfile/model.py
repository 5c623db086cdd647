"""The typed spec model (`apiVersion: genpolicy/v1alpha1`, `kind: PullSecretSpec`).

Field names are camelCase in YAML. Every model forbids unknown keys, so a misspelt key is an
error (with a did-you-mean), never silently ignored. Field descriptions feed the JSON Schema
printed by `genpolicy schema` and docs/spec.md.
"""

from __future__ import annotations

from typing import Any, Literal

from genpolicy.nodes.model import Mirror, NodePool
from genpolicy.specfile.engines import EngineCredential
from genpolicy.specfile.fields import (
    _DURATION,
    _HELM_PATH,
    _NAME,
    API_VERSION,
    FILE_PATH,
    KIND,
    Identifier,
    Model,
    check_username,
    quoted_version,
)
from genpolicy.specfile.registries import (
    CREDENTIAL_SOURCES,
    READ_SOURCES,
    Backend,
    Credentials,
    DockerConfigSource,
    EnvSource,
    ExternalSecretSource,
    FileSource,
    GeneratorSource,
    InlineSource,
    NodeSource,
    Registry,
    RemoteProperties,
    SecretStoreRef,
)
from genpolicy.typed import Field, field_validator, model_validator

__all__ = [  # re-exported: the whole spec model is imported from here
    "API_VERSION", "CREDENTIAL_SOURCES", "FILE_PATH", "KIND", "READ_SOURCES", "Backend", "Credentials",
    "DockerConfigSource", "EnvSource", "ExternalSecretSource", "FileSource", "GeneratorSource", "Identifier",
    "InlineSource", "Model", "NodeSource", "Registry", "RemoteProperties", "SecretStoreRef", "check_username",
    "quoted_version",
]


class SealedSecretsSettings(Model):
    certificate: str = Field(pattern=FILE_PATH, description="The controller's certificate (`kubeseal --fetch-cert`), "
                                                       "relative to the spec.")
    scope: Literal["strict", "namespace-wide", "cluster-wide"] = "strict"


class SopsSettings(Model):
    recipients: list[str] = Field(min_length=1, description="age recipients (`age1...`) that can decrypt.")
    decryption_secret: str = Field(default="sops-age", pattern=_NAME, description="Flux `decryption.secretRef.name`.")


class KyvernoSettings(Model):
    """The Kyverno installation a cluster runs (for `distribution: kyverno` groups)."""

    version: str = Field(pattern=r"^1\.(1[0-9]|[2-9][0-9])$",
                         description="Kyverno minor version, `1.10` to `1.19` (quote it: `\"1.10\"`).")
    namespace: str = Field(default="kyverno", pattern=_NAME, description="Where Kyverno runs (always excluded).")
    helm_release: str = Field(default="kyverno", description="Helm release name (RBAC aggregation labels before 1.13).")
    source_namespace: str = Field(
        default="genpolicy-system", pattern=_NAME, max_length=63, description="Namespace holding the source Secrets."
    )
    manage_source_namespace: bool = Field(default=True, description="Render the source Namespace object too.")
    policy_kind: Literal["auto", "ClusterPolicy", "CEL"] = Field(
        default="auto", description="`auto`: CEL GeneratingPolicy/MutatingPolicy from 1.19, ClusterPolicy before."
    )
    failure_policy: Literal["Fail", "Ignore"] = Field(
        default="Ignore", description="Webhook failure policy of both policies (`Fail` blocks every Pod, Namespace and "
        "source-Secret write while Kyverno is down)."
    )

    _version_as_string = field_validator("version", mode="before")(classmethod(lambda cls, v: quoted_version(v)))

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    @property
    def uses_cel(self) -> bool:
        return self.policy_kind == "CEL" or (self.policy_kind == "auto" and self.minor >= 19)


IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"


class ClusterArgoCD(Model):
    """Where this cluster's Argo CD Application deploys to, and where the Application itself lives."""

    server: str | None = Field(default=None, min_length=1, pattern=r"^https?://[^\s]+$",
                               description="Destination API server URL as registered in Argo CD.")
    name: str | None = Field(default=None, min_length=1,
                             description="Destination cluster name as registered in Argo CD.")
    namespace: str | None = Field(default=None, pattern=_NAME,
                                  description="Argo CD namespace of the Application (default: gitops.argocd).")
    project: str | None = Field(default=None, min_length=1, description="AppProject (default: gitops.argocd.project).")

    @model_validator(mode="after")
    def _server_or_name(self) -> ClusterArgoCD:
        if self.server is not None and self.name is not None:
            raise ValueError("set either server or name, not both (Argo CD accepts one destination)")
        return self

    def destination(self) -> dict[str, str]:
        """The Application's `spec.destination`; the in-cluster server when neither is set."""
        return {"name": self.name} if self.name is not None else {"server": self.server or IN_CLUSTER_SERVER}

    def target(self) -> str:
        """What identifies the destination cluster (`in-cluster` is the in-cluster server)."""
        if self.name is not None:
            return IN_CLUSTER_SERVER if self.name == IN_CLUSTER_NAME else f"name {self.name}"
        return (self.server or IN_CLUSTER_SERVER).rstrip("/")


class Cluster(Model):
    name: Identifier
    kubernetes_version: str = Field(
        pattern=r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$", description="Kubernetes version to validate against."
    )
    gitops: Literal["argocd", "flux"] = "argocd"
    output_dir: str | None = Field(
        default=None, pattern=FILE_PATH, description="Output folder, relative to the spec's outputDir (default: name)."
    )
    kyverno: KyvernoSettings | None = Field(default=None, description="Required by `distribution: kyverno` groups.")
    backend: Backend | None = Field(
        default=None,
        description="How Secrets with values read at render time are written: sealed-secrets, sops or plain."
    )
    sealed_secrets: SealedSecretsSettings | None = None
    sops: SopsSettings | None = None
    argocd: ClusterArgoCD = Field(
        default_factory=lambda: ClusterArgoCD(),
        description="Argo CD clusters: the Application's destination, Argo CD namespace and project.")
    node_pools: list[NodePool] = Field(default_factory=list, description="Node bootstrap files: kubelet "
                                       "credential providers, KEP-2535 settings, containerd mirrors (docs/nodes.md).")
    engine_credentials: list[EngineCredential] = Field(
        default_factory=list, description="Registries the GitOps engine itself reads (OCI Helm charts, OCI "
                                          "artifacts, image tags): Argo CD repository Secrets, Flux sources.")

    _version_as_string = field_validator("kubernetes_version", mode="before")(
        classmethod(lambda cls, v: quoted_version(v)))

    @property
    def major_minor(self) -> str:
        parts = self.kubernetes_version.lstrip("v").split(".")
        return f"{parts[0]}.{parts[1]}"


class HelmKey(Model):
    path: str = Field(description="Dotted key path in the values file, e.g. `global.imagePullSecrets`.")
    format: Literal["objects", "names"] = Field(
        default="objects", description="`objects`: `[{name: x}]` (helm create); `names`: `[x]`."
    )

    @field_validator("path")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if not _HELM_PATH.fullmatch(value):
            raise ValueError("must be dot-separated keys of letters, digits, `_` and `-`")
        return value


def _helm_key_from_string(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class HelmValues(Model):
    enabled: bool = True
    config_map: str | None = Field(
        default=None, pattern=_NAME, max_length=253,
        description="Static groups: also put the values in a ConfigMap of this name in each namespace "
                    "(key `values.yaml`), for a Flux HelmRelease `valuesFrom`.")
    keys: list[HelmKey] = Field(
        default_factory=lambda: [HelmKey(path="imagePullSecrets"), HelmKey(path="global.imagePullSecrets")],
        min_length=1, accepts=list[str | HelmKey],  # a string is the path of an `objects` key
    )

    @field_validator("keys", mode="before")
    @classmethod
    def _strings_are_paths(cls, value: Any) -> Any:
        return [_helm_key_from_string(v) for v in value] if isinstance(value, list) else value


SecretMode = Literal["per-registry", "merged"]
ExternalSecretKind = Literal["ExternalSecret", "ClusterExternalSecret"]
Distribution = Literal["static", "kyverno"]


class LabelSelectorRequirement(Model):
    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)


class LabelSelector(Model):
    """A Kubernetes label selector over Namespace labels."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


class Defaults(Model):
    registries: list[str] = Field(default_factory=list, description="Registries every group gets.")
    service_accounts: list[str] = Field(default_factory=lambda: ["default"])
    clusters: list[str] | None = Field(default=None, description="Clusters a group targets (default: all).")
    secret_mode: SecretMode = "per-registry"
    merged_secret_name: str = Field(default="regcred", max_length=253)
    helm_values: HelmValues = HelmValues()
    distribution: Distribution = Field(default="static",
                                       description="`static` per-namespace files or `kyverno` policies.")
    external_secret_kind: ExternalSecretKind = Field(
        default="ExternalSecret",
        description="Static groups: one ExternalSecret per namespace, or one ClusterExternalSecret "
                                      "per Secret selecting the group's namespaces.")


class NamespaceGroup(Model):
    name: Identifier
    namespaces: list[str] = Field(
        default_factory=list, description="Names; with `distribution: kyverno` also wildcards (`team-*`)."
    )
    namespace_selector: LabelSelector | None = Field(default=None, description="Kyverno groups: Namespace labels.")
    exclude_namespaces: list[str] = Field(default_factory=list, description="Kyverno groups: names/wildcards.")
    include_system_namespaces: bool = Field(
        default=False, description="Kyverno groups: also match kube-system, kube-public, kube-node-lease."
    )
    distribution: Distribution | None = None
    clusters: list[str] | None = None
    registries: list[str] | None = None
    service_accounts: list[str] | None = None
    secret_mode: SecretMode | None = None
    merged_secret_name: str | None = Field(default=None, max_length=253)
    helm_values: HelmValues | None = None
    external_secret_kind: ExternalSecretKind | None = None


class ArgoCDSettings(Model):
    namespace: str = Field(default="argocd", pattern=_NAME, description="Namespace of the Argo CD control plane.")
    project: str = Field(default="default", min_length=1, description="AppProject of the rendered Applications.")
    prune: bool = Field(default=True, description="`syncPolicy.automated.prune`.")
    self_heal: bool = Field(default=True, description="`syncPolicy.automated.selfHeal`.")


class FluxSettings(Model):
    namespace: str = Field(default="flux-system", pattern=_NAME, description="Namespace of the Flux controllers.")
    source_name: str = Field(default="genpolicy", pattern=_NAME, description="Name of the rendered GitRepository.")
    interval: str = Field(default="10m", pattern=_DURATION)
    kyverno_dependency: str | None = Field(
        default=None, description="Name of the Flux Kustomization installing Kyverno (policies wait for it)."
    )


class GitOpsWiring(Model):
    """Where the rendered bundle lives in git, for Argo CD Applications / Flux Kustomizations."""

    repo_url: str = Field(min_length=1, alias="repoURL", description="Git URL of the GitOps repository.")
    target_revision: str = Field(default="main", min_length=1, description="Branch, tag or commit to deploy.")
    path: str = Field(min_length=1, description="Path of the output root inside the repository.")
    argocd: ArgoCDSettings = ArgoCDSettings()
    flux: FluxSettings = FluxSettings()


class LintSettings(Model):
    """`genpolicy lint` (and the lint inside `render`)."""

    ignore: list[str] = Field(default_factory=list, description="Rule codes or names to skip (`GP001`, "
                                                                "`overlapping-keys`); see docs/lint.md.")


class Spec(Model):
    api_version: Literal["genpolicy/v1alpha1"] = Field(description="Spec format version.")
    kind: Literal["PullSecretSpec"]
    output_dir: str = Field(default="out", pattern=FILE_PATH, description="Output root, relative to the spec file.")
    allow_plaintext: bool = Field(
        default=False, description="Opt in to unencrypted credentials in the output (inline sources): only the boolean "
                           "`true` (not `yes` or `\"true\"`)."
    )

    @field_validator("allow_plaintext", mode="before")
    @classmethod
    def _real_boolean(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"must be the boolean true or false (unquoted), not {value!r}: a security switch "
                             "accepts no other spelling")
        return value
    gitops: GitOpsWiring | None = Field(default=None,
                                        description="Render Argo CD / Flux objects that deploy the bundle.")
    common_labels: dict[str, str] = Field(default_factory=dict)
    common_annotations: dict[str, str] = Field(default_factory=dict)
    defaults: Defaults = Defaults()
    registries: list[Registry] = Field(min_length=1)
    clusters: list[Cluster] = Field(min_length=1)
    namespace_groups: list[NamespaceGroup] = Field(min_length=1)
    mirrors: list[Mirror] = Field(default_factory=list, description="Registry mirrors node pools use (docs/nodes.md).")
    lint: LintSettings = LintSettings()
