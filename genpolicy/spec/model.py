"""The typed spec model (`apiVersion: genpolicy/v1alpha1`, `kind: PullSecretSpec`).

Field names are camelCase in YAML. Every model forbids unknown keys, so a misspelt key is an
error (with a did-you-mean), never silently ignored. Field descriptions feed the JSON Schema
printed by `genpolicy schema` and docs/spec.md.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

API_VERSION = "genpolicy/v1alpha1"
KIND = "PullSecretSpec"

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"
_HELM_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"

Identifier = Annotated[str, Field(pattern=_NAME, max_length=63)]


def check_username(value: str | None) -> str | None:
    """The kubelet splits `auth` at the first ':', so a username may not contain one."""
    if value is not None and (":" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)):
        raise ValueError("a registry username may not contain ':' or control characters")
    return value


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=False, frozen=True, hide_input_in_errors=True
    )


class EnvSource(Model):
    """Credentials read from environment variables at render time."""

    username: str | None = Field(None, pattern=_ENV_VAR, description="Variable holding the username.")
    password: str = Field(pattern=_ENV_VAR, description="Variable holding the password or token.")


class FileSource(Model):
    """Credentials read from files at render time (paths relative to the spec file)."""

    username: str | None = Field(None, min_length=1, description="File holding the username.")
    password: str = Field(min_length=1, description="File holding the password or token.")


class SecretStoreRef(Model):
    kind: Literal["SecretStore", "ClusterSecretStore"] = "ClusterSecretStore"
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)


class RemoteProperties(Model):
    username: str | None = Field("username", description="Property holding the username (null: use `username`).")
    password: str = Field("password", description="Property holding the password or token.")


class ExternalSecretSource(Model):
    """An External Secrets Operator reference: genpolicy renders an ExternalSecret, never reads values."""

    store: SecretStoreRef
    remote_key: str = Field(min_length=1, description="Key of the secret in the external store.")
    properties: RemoteProperties = RemoteProperties()
    refresh_interval: str = Field("1h", pattern=_DURATION)


class InlineSource(Model):
    """Plaintext values in the spec itself: refused unless `allowPlaintext: true`."""

    username: str = Field(min_length=1)
    password: SecretStr

    _username = field_validator("username")(classmethod(lambda cls, v: check_username(v)))


class Credentials(Model):
    """Where a registry's credentials come from: exactly one source."""

    username: str | None = Field(
        None, min_length=1, description="A literal, non-secret username (e.g. `AWS`, `_json_key`)."
    )
    from_env: EnvSource | None = None
    from_file: FileSource | None = None
    external_secret: ExternalSecretSource | None = None
    inline: InlineSource | None = None

    _username = field_validator("username")(classmethod(lambda cls, v: check_username(v)))

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Credentials:
        sources = [n for n in ("from_env", "from_file", "external_secret", "inline") if getattr(self, n)]
        if len(sources) != 1:
            raise ValueError("set exactly one of fromEnv, fromFile, externalSecret, inline")
        return self

    @property
    def kind(self) -> str:
        for name in ("from_env", "from_file", "external_secret", "inline"):
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated")


class Registry(Model):
    name: Identifier = Field(description="Name used to reference this registry from groups.")
    server: str = Field(
        min_length=1,
        description="Server as users write it: `ghcr.io`, `https://index.docker.io/v1/`, `host:8443/team`.",
    )
    secret_name: str | None = Field(
        None, max_length=253, description="Name of the pull Secret (default `<name>-pull`)."
    )
    credentials: Credentials
    email: str | None = None

    @property
    def effective_secret_name(self) -> str:
        return self.secret_name or f"{self.name}-pull"


class KyvernoSettings(Model):
    """The Kyverno installation a cluster runs (for `distribution: kyverno` groups)."""

    version: str = Field(pattern=r"^1\.(1[0-9]|[2-9][0-9])$", description="Kyverno minor version, e.g. `1.13`.")
    namespace: str = Field("kyverno", pattern=_NAME, description="Where Kyverno runs (always excluded).")
    helm_release: str = Field("kyverno", description="Helm release name (RBAC aggregation labels before 1.13).")
    source_namespace: str = Field(
        "genpolicy-system", pattern=_NAME, max_length=63, description="Namespace holding the source Secrets."
    )
    manage_source_namespace: bool = Field(True, description="Render the source Namespace object too.")
    policy_kind: Literal["auto", "ClusterPolicy", "CEL"] = Field(
        "auto", description="`auto`: CEL GeneratingPolicy/MutatingPolicy from 1.17, ClusterPolicy before."
    )
    failure_policy: Literal["Fail", "Ignore"] = Field(
        "Ignore", description="Webhook failure policy of the Pod mutation (`Fail` blocks Pods while Kyverno is down)."
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_string(cls, value: Any) -> Any:
        return f"{value:.2f}".rstrip("0") if isinstance(value, float) else value

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    @property
    def uses_cel(self) -> bool:
        return self.policy_kind == "CEL" or (self.policy_kind == "auto" and self.minor >= 17)


class Cluster(Model):
    name: Identifier
    kubernetes_version: str = Field(
        pattern=r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$", description="Kubernetes version to validate against."
    )
    gitops: Literal["argocd", "flux"] = "argocd"
    output_dir: str | None = Field(
        None, min_length=1, description="Output folder, relative to the spec's outputDir (default: name)."
    )
    kyverno: KyvernoSettings | None = Field(None, description="Required by `distribution: kyverno` groups.")

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _version_as_string(cls, value: Any) -> Any:
        return str(value) if isinstance(value, float | int) else value

    @property
    def major_minor(self) -> str:
        parts = self.kubernetes_version.lstrip("v").split(".")
        return f"{parts[0]}.{parts[1]}"


class HelmKey(Model):
    path: str = Field(description="Dotted key path in the values file, e.g. `global.imagePullSecrets`.")
    format: Literal["objects", "names"] = Field(
        "objects", description="`objects`: `[{name: x}]` (helm create); `names`: `[x]`."
    )

    @field_validator("path")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if not _HELM_PATH.match(value):
            raise ValueError("must be dot-separated keys of letters, digits, `_` and `-`")
        return value


def _helm_key_from_string(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class HelmValues(Model):
    enabled: bool = True
    keys: list[Annotated[HelmKey, Field()]] = Field(
        default_factory=lambda: [HelmKey(path="imagePullSecrets"), HelmKey(path="global.imagePullSecrets")],
        min_length=1,
    )

    @field_validator("keys", mode="before")
    @classmethod
    def _strings_are_paths(cls, value: Any) -> Any:
        return [_helm_key_from_string(v) for v in value] if isinstance(value, list) else value


SecretMode = Literal["per-registry", "merged"]
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
    clusters: list[str] | None = Field(None, description="Clusters a group targets (default: all).")
    secret_mode: SecretMode = "per-registry"
    merged_secret_name: str = Field("regcred", max_length=253)
    helm_values: HelmValues = HelmValues()
    distribution: Distribution = Field("static", description="`static` per-namespace files or `kyverno` policies.")


class NamespaceGroup(Model):
    name: Identifier
    namespaces: list[str] = Field(
        default_factory=list, description="Names; with `distribution: kyverno` also wildcards (`team-*`)."
    )
    namespace_selector: LabelSelector | None = Field(None, description="Kyverno groups: Namespace labels.")
    exclude_namespaces: list[str] = Field(default_factory=list, description="Kyverno groups: names/wildcards.")
    include_system_namespaces: bool = Field(
        False, description="Kyverno groups: also match kube-system, kube-public, kube-node-lease."
    )
    distribution: Distribution | None = None
    clusters: list[str] | None = None
    registries: list[str] | None = None
    service_accounts: list[str] | None = None
    secret_mode: SecretMode | None = None
    merged_secret_name: str | None = Field(None, max_length=253)
    helm_values: HelmValues | None = None


class Spec(Model):
    api_version: Literal["genpolicy/v1alpha1"] = Field(description="Spec format version.")
    kind: Literal["PullSecretSpec"]
    output_dir: str = Field("out", min_length=1, description="Output root, relative to the spec file.")
    allow_plaintext: bool = Field(
        False, description="Opt in to unencrypted credentials in the output (inline sources)."
    )
    common_labels: dict[str, str] = Field(default_factory=dict)
    common_annotations: dict[str, str] = Field(default_factory=dict)
    defaults: Defaults = Defaults()
    registries: list[Registry] = Field(min_length=1)
    clusters: list[Cluster] = Field(min_length=1)
    namespace_groups: list[NamespaceGroup] = Field(min_length=1)
