"""The spec model of registries and their credential sources (what is read, from where, by whom)."""

from __future__ import annotations

from typing import Any, Literal

from genpolicy.specfile.fields import _DURATION, _ENV_VAR, FILE_PATH, Identifier, Model, check_username
from genpolicy.typed import Field, SecretStr, field_validator, model_validator


class EnvSource(Model):
    """Credentials read from environment variables at render time."""

    username: str | None = Field(default=None, pattern=_ENV_VAR, description="Variable holding the username.")
    password: str = Field(pattern=_ENV_VAR, description="Variable holding the password or token.")


class FileSource(Model):
    """Credentials read from files at render time (paths relative to the spec file)."""

    username: str | None = Field(default=None, pattern=FILE_PATH, description="File holding the username.")
    password: str = Field(pattern=FILE_PATH, description="File holding the password or token.")


class SecretStoreRef(Model):
    kind: Literal["SecretStore", "ClusterSecretStore"] = "ClusterSecretStore"
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)


class RemoteProperties(Model):
    username: str | None = Field(default="username",
                                 description="Property holding the username (null: use `username`).")
    password: str = Field(default="password", description="Property holding the password or token.")


class ExternalSecretSource(Model):
    """An External Secrets Operator reference: genpolicy renders an ExternalSecret, never reads values."""

    store: SecretStoreRef
    remote_key: str = Field(min_length=1, description="Key of the secret in the external store.")
    properties: RemoteProperties = RemoteProperties()
    refresh_interval: str = Field(default="1h", pattern=_DURATION)


class DockerConfigSource(Model):
    """Import a credential from an existing docker `config.json` (or `.dockerconfigjson`) at render time."""

    path: str = Field(pattern=FILE_PATH, description="The file, relative to the spec.")
    server: str | None = Field(default=None, description="The `auths` key to take (default: the registry's server).")


class NodeSource(Model):
    """The nodes pull with their own identity (kubelet credential provider): no Secret is rendered."""

    provider: str = Field(min_length=1, description="What serves it, e.g. `ecr-credential-provider`, `gke-node-sa`.")


class GeneratorSource(Model):
    """Short-lived cloud tokens minted by an External Secrets Operator generator in each namespace."""

    kind: Literal["ECRAuthorizationToken", "GCRAccessToken", "ACRAccessToken"]
    spec: dict[str, Any] = Field(description="The generator's `spec` (validated against its CRD).")
    refresh_interval: str | None = Field(default=None, pattern=_DURATION,
                                         description="Default: well inside the lifetime.")


class InlineSource(Model):
    """Plaintext values in the spec itself: refused unless `allowPlaintext: true`."""

    username: str = Field(min_length=1)
    password: SecretStr

    _username = field_validator("username")(classmethod(lambda cls, v: check_username(v)))


CREDENTIAL_SOURCES = ("from_env", "from_file", "docker_config", "inline", "external_secret", "generator", "node")
READ_SOURCES = ("from_env", "from_file", "docker_config", "inline")  # values genpolicy reads at render time


class Credentials(Model):
    """Where a registry's credentials come from: exactly one source."""

    username: str | None = Field(
        default=None, min_length=1, description="A literal, non-secret username (e.g. `AWS`, `_json_key`)."
    )
    from_env: EnvSource | None = None
    from_file: FileSource | None = None
    external_secret: ExternalSecretSource | None = None
    inline: InlineSource | None = None
    docker_config: DockerConfigSource | None = None
    node: NodeSource | None = None
    generator: GeneratorSource | None = None

    _username = field_validator("username")(classmethod(lambda cls, v: check_username(v)))

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Credentials:
        sources = [n for n in CREDENTIAL_SOURCES if getattr(self, n)]
        if len(sources) != 1:
            raise ValueError(
                "set exactly one of fromEnv, fromFile, dockerConfig, inline, externalSecret, generator, node"
            )
        return self

    @property
    def kind(self) -> str:
        for name in CREDENTIAL_SOURCES:
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated")


Backend = Literal["sealed-secrets", "sops", "plain"]


class Registry(Model):
    name: Identifier = Field(description="Name used to reference this registry from groups.")
    server: str = Field(
        min_length=1,
        description="Server as users write it: `ghcr.io`, `https://index.docker.io/v1/`, `host:8443/team`.",
    )
    secret_name: str | None = Field(
        default=None, max_length=253, description="Name of the pull Secret (default `<name>-pull`)."
    )
    credentials: Credentials
    email: str | None = None
    backend: Backend | None = Field(default=None, description="Overrides the cluster's backend for this registry.")

    @property
    def effective_secret_name(self) -> str:
        return self.secret_name or f"{self.name}-pull"
