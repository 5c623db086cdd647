"""Image-pull Secrets per namespace: plain dockerconfigjson Secrets or ExternalSecrets."""

from __future__ import annotations

import json
from typing import Any

from genpolicy.dockerconfig import MAX_SECRET_BYTES, dockerconfigjson, encode_secret_value
from genpolicy.errors import CredentialError, OutputValidationError, Problem
from genpolicy.record import Frozen, set_field
from genpolicy.render import metadata
from genpolicy.secrets import Credential
from genpolicy.specfile import NamespaceTarget, Resolved
from genpolicy.specfile.checks import DEFAULT_REFRESH
from genpolicy.specfile.model import Registry

# What each generator outputs, as Go template expressions for the username and the password.
GENERATOR_FIELDS = {
    "ECRAuthorizationToken": (".username", ".password"),
    "GCRAccessToken": ('"oauth2accesstoken"', ".token"),
    "ACRAccessToken": (".username", ".password"),
}


class PullSecret(Frozen):
    """A Secret genpolicy renders into one namespace, with the registries it serves."""

    __slots__ = ("name", "registries")
    name: str
    registries: tuple[Registry, ...]

    def __init__(self, name: str, registries: tuple[Registry, ...]) -> None:
        set_field(self, "name", name)
        set_field(self, "registries", registries)


def pull_secrets(target: NamespaceTarget) -> list[PullSecret]:
    """The Secrets a namespace gets: one per registry, or one merged Secret (node-served registries get none)."""
    registries = tuple(r for r in target.registries if r.credentials.node is None)
    if not registries:
        return []
    if target.secret_mode == "merged":
        return [PullSecret(target.merged_secret_name, registries)]
    return [PullSecret(r.effective_secret_name, (r,)) for r in registries]


def encrypted_missing(target: NamespaceTarget, secret: PullSecret) -> CredentialError:
    return CredentialError("credentials needed", [Problem(
        f"{target.namespace}/{secret.name}", message="credentials are needed to render this Secret")])


class PullSecretRenderer:
    """Builds template contexts for pull Secrets; dockerconfig bodies are computed once per registry set."""

    def __init__(self, resolved: Resolved, credentials: dict[str, Credential]) -> None:
        self.resolved = resolved
        self.credentials = credentials
        self._bodies: dict[tuple[str, ...], str] = {}

    def context(self, target: NamespaceTarget, secret: PullSecret) -> tuple[str, dict[str, object], bool]:
        """(template name, context, holds plaintext credentials)."""
        spec = self.resolved.spec
        extra = {metadata.REGISTRY_LABEL: secret.registries[0].name} if len(secret.registries) == 1 else {}
        base = {
            "name": secret.name,
            "namespace": target.namespace,
            "labels": metadata.labels(spec, extra),
            "annotations": metadata.secret_annotations(spec, target),
        }
        if secret.registries[0].credentials.external_secret is not None:
            return "externalsecret.yaml.j2", {**base, **self._external(secret)}, False
        return "secret.yaml.j2", {**base, "dockerconfigjson": self._encoded(target, secret)}, True

    def _encoded(self, target: NamespaceTarget, secret: PullSecret) -> str | None:
        names = tuple(r.name for r in secret.registries)
        if any(n not in self.credentials for n in names):
            return None  # `render --check` without credentials: only encrypted copies can be reused
        if names not in self._bodies:
            entries = [(self.resolved.server_keys[r.name], self.credentials[r.name], r.email)
                       for r in secret.registries]
            encoded = encode_secret_value(dockerconfigjson(entries))
            if len(encoded) * 3 // 4 > MAX_SECRET_BYTES:
                raise OutputValidationError("Secret too large", [Problem(
                    self.resolved.loaded.filename, message=f"Secret {secret.name!r} in namespace "
                    f"{target.namespace!r} would exceed the 1 MiB Secret size limit")])
            self._bodies[names] = encoded
        return self._bodies[names]

    def generator_objects(self, target: NamespaceTarget, secret: PullSecret,
                          annotations: dict[str, str] | None) -> list[tuple[str, dict[str, Any]]]:
        """An ESO generator minting short-lived registry tokens, and the ExternalSecret that uses it."""
        registry = secret.registries[0]
        generator = registry.credentials.generator
        assert generator is not None
        spec = self.resolved.spec
        labels = metadata.labels(spec, {metadata.REGISTRY_LABEL: registry.name})
        notes = annotations if annotations is not None else metadata.secret_annotations(spec, target)
        name = f"{secret.name}-token"
        user, password = GENERATOR_FIELDS[generator.kind]
        key = json.dumps(self.resolved.server_keys[registry.name])
        template = (f'{{"auths":{{{key}:{{"auth":{{{{ printf "%s:%s" {user} {password} | b64enc | toJson }}}},'
                    f'"password":{{{{ {password} | toJson }}}},"username":{{{{ {user} | toJson }}}}}}}}}}')
        gen_notes = metadata.wave_before(spec, notes)
        gen_obj = {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": generator.kind,
                   "metadata": {"name": name, "namespace": target.namespace, "labels": labels,
                                **({"annotations": gen_notes} if gen_notes else {})},
                   "spec": generator.spec}
        external = {
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": secret.name, "namespace": target.namespace, "labels": labels,
                         **({"annotations": notes} if notes else {})},
            "spec": {
                "refreshInterval": generator.refresh_interval or DEFAULT_REFRESH[generator.kind],
                "target": {"name": secret.name, "creationPolicy": "Owner", "deletionPolicy": "Retain",
                           "template": {"type": "kubernetes.io/dockerconfigjson", "engineVersion": "v2",
                                        "metadata": {"labels": labels},
                                        "data": {".dockerconfigjson": template}}},
                "dataFrom": [{"sourceRef": {"generatorRef": {
                    "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": generator.kind,
                    "name": name}}}],
            },
        }
        return [("generator.yaml.j2", gen_obj), ("externalsecret-generator.yaml.j2", external)]

    def _external(self, secret: PullSecret) -> dict[str, object]:
        first = secret.registries[0].credentials.external_secret
        assert first is not None
        data: list[dict[str, object]] = []
        auths: list[str] = []
        for registry in secret.registries:
            eso = registry.credentials.external_secret
            assert eso is not None
            user_key, pass_key = f"{registry.name}-username", f"{registry.name}-password"
            if eso.properties.username is not None and registry.credentials.username is None:
                data.append({"secretKey": user_key, "remoteRef": {"key": eso.remote_key,
                                                                  "property": eso.properties.username}})
                user_expr = f'(index . "{user_key}")'
            else:
                user_expr = json.dumps(registry.credentials.username)
            data.append({"secretKey": pass_key, "remoteRef": {"key": eso.remote_key,
                                                              "property": eso.properties.password}})
            pass_expr = f'(index . "{pass_key}")'
            key = json.dumps(self.resolved.server_keys[registry.name])
            auths.append(
                f'{key}:{{"auth":{{{{ printf "%s:%s" {user_expr} {pass_expr} | b64enc | toJson }}}},'
                f'"password":{{{{ {pass_expr} | toJson }}}},"username":{{{{ {user_expr} | toJson }}}}}}'
            )
        return {
            "refresh_interval": first.refresh_interval,
            "store": {"kind": first.store.kind, "name": first.store.name},
            "dockerconfig_template": '{"auths":{' + ",".join(auths) + "}}",
            "data": data,
        }
