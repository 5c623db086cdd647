"""The spec model of `clusters[].nodePools[]` and the top-level `mirrors[]` (camelCase in YAML)."""

from __future__ import annotations

from typing import Literal

from genpolicy.typed import Field, Model

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_NODE_PATH = r"^/[^\x00-\x1f\x7f\"\\]*$"

ProviderKind = Literal["ecr", "gar", "acr", "custom"]
MirrorKind = Literal["harbor-proxy-cache", "ecr-pull-through-cache", "spegel", "registry"]
CacheType = Literal["Token", "ServiceAccount"]
VerificationPolicy = Literal["NeverVerify", "NeverVerifyPreloadedImages", "NeverVerifyAllowlistedImages",
                             "AlwaysVerify"]
Capability = Literal["pull", "resolve", "push"]
FeatureGate = Literal["KubeletServiceAccountTokenForCredentialProviders", "KubeletEnsureSecretPulledImages"]
TOKEN_GATE: FeatureGate = "KubeletServiceAccountTokenForCredentialProviders"
VERIFY_GATE: FeatureGate = "KubeletEnsureSecretPulledImages"


class _Model(Model):
    """The node-file models (unknown keys are errors, camelCase in YAML)."""


class ExecEnv(_Model):
    name: str = Field(pattern=_ENV_NAME)
    value: str = Field(description="Not a secret: the file is written in clear for node bootstrap.")


class ServiceAccountToken(_Model):
    """KEP-4412: the kubelet passes the Pod's projected service-account token to the plugin."""

    audience: str = Field(min_length=1, description="`tokenAttributes.serviceAccountTokenAudience`.")
    require_service_account: bool = Field(default=True, description="Invoke the plugin only for Pods with an account.")
    required_service_account_annotation_keys: list[str] = Field(default_factory=list)
    optional_service_account_annotation_keys: list[str] = Field(default_factory=list)
    cache_type: CacheType | None = Field(
        default=None, description="Required from Kubernetes 1.34 (beta); not accepted by the 1.33 alpha.")


class CredentialProvider(_Model):
    """One kubelet exec credential provider plugin (`CredentialProviderConfig.providers[]`)."""

    kind: ProviderKind = Field(description="`ecr`, `gar`, `acr` (with defaults) or `custom`.")
    name: str | None = Field(default=None, min_length=1, description="Executable name in the kubelet's bin dir.")
    match_images: list[str] | None = Field(default=None, min_length=1, description="kubelet image patterns.")
    default_cache_duration: str | None = Field(default=None, pattern=_DURATION)
    args: list[str] | None = None
    env: list[ExecEnv] = Field(default_factory=list)
    service_account_token: ServiceAccountToken | None = Field(default=None, description="KEP-4412 `tokenAttributes`.")


class PullVerification(_Model):
    """KEP-2535: when the kubelet re-verifies credentials for images already on the node."""

    policy: VerificationPolicy = Field(description="`imagePullCredentialsVerificationPolicy`.")
    allowlist: list[str] = Field(default_factory=list,
                                 description="`preloadedImagesVerificationAllowlist` (NeverVerifyAllowlistedImages).")


class NodePool(_Model):
    name: str = Field(pattern=_NAME, max_length=63)
    credential_providers: list[CredentialProvider] = Field(default_factory=list)
    pull_verification: PullVerification | None = None
    mirrors: list[str] = Field(default_factory=list, description="Names of top-level `mirrors`, tried in order.")
    feature_gates: dict[FeatureGate, bool] = Field(
        default_factory=dict, description="kubelet feature gates of the features above (alpha/beta opt-in).")


def _read_only() -> list[Capability]:
    return ["pull", "resolve"]


class Mirror(_Model):
    """A registry mirror or pull-through cache that containerd tries before the upstream registry."""

    name: str = Field(pattern=_NAME, max_length=63)
    kind: MirrorKind
    endpoint: str = Field(pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$",
                          description="Scheme and host[:port] of the mirror, e.g. `https://harbor.example.com`.")
    path: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$",
                             description="Harbor: proxy-cache project; ECR: pull-through rule prefix.")
    serves: list[str] = Field(min_length=1, description="Upstream registry hosts it serves (`docker.io`).")
    capabilities: list[Capability] = Field(default_factory=_read_only)
    skip_verify: bool = False
    ca: str | None = Field(default=None, pattern=_NODE_PATH, description="CA file on the node.")
    credentials: list[str] = Field(
        default_factory=list, description="Registry entries holding the credential the mirror accepts, each keyed on "
        "an upstream registry it serves (the kubelet looks credentials up by the image's registry).")
