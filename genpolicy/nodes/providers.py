"""Defaults of the well-known kubelet credential provider plugins, and a provider's effective settings.

The defaults follow the plugins' published sample configurations (docs/nodes.md); every field
can be overridden in the spec.
"""

from __future__ import annotations

from genpolicy.nodes.model import CredentialProvider
from genpolicy.record import Frozen, set_field


class Effective(Frozen):
    __slots__ = ("name", "match_images", "default_cache_duration", "args")
    name: str
    match_images: tuple[str, ...]
    default_cache_duration: str
    args: tuple[str, ...]

    def __init__(self, name: str, match_images: tuple[str, ...], default_cache_duration: str,
                 args: tuple[str, ...]) -> None:
        set_field(self, "name", name)
        set_field(self, "match_images", match_images)
        set_field(self, "default_cache_duration", default_cache_duration)
        set_field(self, "args", args)


DEFAULTS: dict[str, Effective] = {
    "ecr": Effective("ecr-credential-provider",
                     ("*.dkr.ecr.*.amazonaws.com", "*.dkr.ecr.*.amazonaws.com.cn", "*.dkr.ecr-fips.*.amazonaws.com"),
                     "12h", ()),
    "gar": Effective("auth-provider-gcp", ("container.cloud.google.com", "gcr.io", "*.gcr.io", "*.pkg.dev"),
                     "1m", ("get-credentials",)),
    "acr": Effective("acr-credential-provider", ("*.azurecr.io", "*.azurecr.cn", "*.azurecr.de", "*.azurecr.us"),
                     "10m", ("/etc/kubernetes/azure.json",)),
}


def effective(provider: CredentialProvider) -> Effective:
    """The provider's settings with the kind's defaults filled in (a custom provider has none)."""
    base = DEFAULTS.get(provider.kind, Effective("", (), "", ()))
    return Effective(
        name=provider.name or base.name,
        match_images=tuple(provider.match_images) if provider.match_images is not None else base.match_images,
        default_cache_duration=provider.default_cache_duration or base.default_cache_duration,
        args=tuple(provider.args) if provider.args is not None else base.args,
    )
