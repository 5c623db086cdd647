"""Which Kubernetes minor has which node feature, from the kubelet's feature gates and config types.

Sources (docs/nodes.md): kubernetes pkg/features/kube_features.go (versioned gate specs),
staging/src/k8s.io/kubelet/config/v1/types.go, kubernetes/enhancements keps/sig-auth/4412 and
keps/sig-node/2535 kep.yaml.
"""

from __future__ import annotations

from genpolicy.record import Frozen, set_field

Version = tuple[int, int]


def parse_version(major_minor: str) -> Version:
    major, minor = major_minor.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def cpc_api_version(version: Version) -> str | None:
    """`CredentialProviderConfig` apiVersion: v1 from 1.26 (GA), v1beta1 on 1.24-1.25, none before."""
    if version >= (1, 26):
        return "kubelet.config.k8s.io/v1"
    if version >= (1, 24):
        return "kubelet.config.k8s.io/v1beta1"
    return None


def exec_api_version(version: Version) -> str:
    """The `CredentialProviderRequest` version a plugin speaks (credentialprovider.kubelet.k8s.io)."""
    return "credentialprovider.kubelet.k8s.io/" + ("v1" if version >= (1, 26) else "v1beta1")


class Stage(Frozen):
    """A feature gate's stage on one minor: `None` = the kubelet does not have it."""

    __slots__ = ("stage", "default_on")
    stage: str | None
    default_on: bool

    def __init__(self, stage: str | None, default_on: bool) -> None:
        set_field(self, "stage", stage)
        set_field(self, "default_on", default_on)

    @property
    def exists(self) -> bool:
        return self.stage is not None


def token_stage(version: Version) -> Stage:
    """KEP-4412 KubeletServiceAccountTokenForCredentialProviders: alpha 1.33 (off), beta 1.34 (on)."""
    if version >= (1, 34):
        return Stage("beta", True)
    return Stage("alpha", False) if version == (1, 33) else Stage(None, False)


def verification_stage(version: Version) -> Stage:
    """KEP-2535 KubeletEnsureSecretPulledImages: alpha 1.33 (off), beta 1.35 (on)."""
    if version >= (1, 35):
        return Stage("beta", True)
    return Stage("alpha", False) if version >= (1, 33) else Stage(None, False)


def cache_type_required(version: Version) -> bool:
    """`tokenAttributes.cacheType` arrived with the 1.34 beta and is required there (strict decoding
    rejects it on 1.33)."""
    return version >= (1, 34)
