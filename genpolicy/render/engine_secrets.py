"""Argo CD repository / repo-creds Secrets for OCI Helm registries, through every backend.

What Argo CD reads (argoproj/argo-cd docs/operator-manual/declarative-setup.md, "Helm" and
"Repository Credentials"): a Secret in Argo CD's namespace labelled
`argocd.argoproj.io/secret-type: repository` (one repository) or `repo-creds` (a template for
every repository whose URL starts with `url`; the longest prefix wins), with the keys `type:
helm`, `enableOCI: "true"`, `url` (an OCI URL without `oci://`), `username`, `password`, and for
a repository its display `name`. The label must be on the Secret itself, so encrypted and ESO
backends carry it in their template's metadata.
"""

from __future__ import annotations

import base64
from typing import Any

from genpolicy.dockerconfig import encode_secret_value
from genpolicy.errors import OutputValidationError, Problem
from genpolicy.record import Frozen, set_field
from genpolicy.render import metadata
from genpolicy.render.pullsecrets import GENERATOR_FIELDS
from genpolicy.secrets import Credential
from genpolicy.specfile.checks import DEFAULT_REFRESH
from genpolicy.specfile.engine_checks import EngineUse
from genpolicy.specfile.model import Spec

SECRET_TYPE = "argocd.argoproj.io/secret-type"
_REQUIRED = ("enableOCI", "password", "type", "url", "username")


class RepoSecret(Frozen):
    """One Argo CD repository Secret before its backend: plain fields and, when read, the credential."""

    __slots__ = ("use", "labels", "annotations")
    use: EngineUse
    labels: dict[str, str]
    annotations: dict[str, str]

    def __init__(self, use: EngineUse, labels: dict[str, str], annotations: dict[str, str]) -> None:
        set_field(self, "use", use)
        set_field(self, "labels", labels)
        set_field(self, "annotations", annotations)

    @property
    def name(self) -> str:
        return self.use.secret_name

    @property
    def namespace(self) -> str:
        return self.use.namespace

    def fields(self) -> dict[str, str]:
        """The non-secret keys, as Argo CD reads them."""
        base = {"enableOCI": "true", "type": "helm", "url": self.use.url}
        return {**base, "name": self.name} if self.use.entry.kind == "repository" else base

    def meta(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "labels": self.labels,
                **({"annotations": self.annotations} if self.annotations else {})}


def repo_secret(spec: Spec, use: EngineUse) -> RepoSecret:
    labels = metadata.labels(spec, {metadata.REGISTRY_LABEL: use.registry.name, SECRET_TYPE: use.entry.kind})
    annotations = dict(sorted({**spec.common_annotations, metadata.ARGOCD_SYNC_WAVE: "-1"}.items()))
    return RepoSecret(use, labels, annotations)


def values(repo: RepoSecret, credential: Credential | None) -> dict[str, str] | None:
    """Every data key's plain value (None without the credential: only reuse is possible)."""
    if credential is None:
        return None
    return {**repo.fields(), "username": credential.username, "password": credential.password.reveal()}


def encoded(plain: dict[str, str] | None) -> dict[str, str] | None:
    """Base64 of each value, as Secret `data` holds it (credential-derived values registered for redaction)."""
    if plain is None:
        return None
    out = {k: base64.b64encode(v.encode("utf-8")).decode("ascii") for k, v in plain.items()}
    encode_secret_value(plain["password"])  # registers the base64 form for redaction
    return out


def plain_secret(repo: RepoSecret, data: dict[str, str] | None) -> dict[str, Any]:
    """The core Secret (`data` empty strings without credentials: the shape encrypted backends reuse)."""
    body = data if data is not None else dict.fromkeys([*repo.fields(), "password", "username"], "")
    return {"apiVersion": "v1", "kind": "Secret", "metadata": repo.meta(), "type": "Opaque",
            "data": dict(sorted(body.items()))}


def external_secret(repo: RepoSecret) -> dict[str, Any]:
    """An ExternalSecret whose template builds the repository Secret from the store's properties."""
    registry = repo.use.registry
    eso = registry.credentials.external_secret
    assert eso is not None
    data = [{"secretKey": "password", "remoteRef": {"key": eso.remote_key, "property": eso.properties.password}}]
    username = registry.credentials.username
    if username is None and eso.properties.username is not None:
        data.insert(0, {"secretKey": "username", "remoteRef": {"key": eso.remote_key,
                                                               "property": eso.properties.username}})
        username = "{{ .username }}"
    template = {**repo.fields(), "password": "{{ .password }}", "username": username or ""}
    store = {"kind": eso.store.kind, "name": eso.store.name}
    return _external(repo, eso.refresh_interval, template, {"data": data}, store)


def generator_objects(repo: RepoSecret) -> list[dict[str, Any]]:
    """An ESO token generator (one wave earlier) and the ExternalSecret building the repository Secret."""
    generator = repo.use.registry.credentials.generator
    assert generator is not None
    user, password = GENERATOR_FIELDS[generator.kind]
    name = f"{repo.name}-token"
    gen_notes = _earlier(repo)
    gen = {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": generator.kind,
           "metadata": {"name": name, "namespace": repo.namespace,
                        "labels": {k: v for k, v in repo.labels.items() if k != SECRET_TYPE},
                        **({"annotations": gen_notes} if gen_notes else {})},
           "spec": generator.spec}
    template = {**repo.fields(), "password": f"{{{{ {password} }}}}", "username": f"{{{{ {user} }}}}"}
    source = {"dataFrom": [{"sourceRef": {"generatorRef": {
        "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": generator.kind, "name": name}}}]}
    interval = generator.refresh_interval or DEFAULT_REFRESH[generator.kind]
    return [gen, _external(repo, interval, template, source)]


def _earlier(repo: RepoSecret) -> dict[str, str]:
    wave = int(repo.annotations[metadata.ARGOCD_SYNC_WAVE]) - 1
    return {**repo.annotations, metadata.ARGOCD_SYNC_WAVE: str(wave)}


def _external(repo: RepoSecret, interval: str, template: dict[str, str], source: dict[str, Any],
              store: dict[str, str] | None = None) -> dict[str, Any]:
    """An ExternalSecret owning the repository Secret; `source` is its `data` or `dataFrom`."""
    target = {"name": repo.name, "creationPolicy": "Owner", "deletionPolicy": "Retain",
              "template": {"type": "Opaque", "engineVersion": "v2", "metadata": {"labels": repo.labels},
                           "data": dict(sorted(template.items()))}}
    spec: dict[str, Any] = {"refreshInterval": interval, **({"secretStoreRef": store} if store else {})}
    return {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": repo.meta(),
            "spec": {**spec, "target": target, **source}}


def check_repository_secret(obj: dict[str, Any], where: str) -> None:
    """Argo CD's rules for what genpolicy renders: the label reaches the Secret, the OCI keys are there."""
    problems = [Problem(where, path=path, message=message) for path, message in _repository_problems(obj)]
    if problems:
        raise OutputValidationError("Argo CD repository Secret", problems)


def _repository_problems(obj: dict[str, Any]) -> list[tuple[str, str]]:
    kind = obj.get("kind")
    if kind == "Secret":
        labels, data, prefix = (obj.get("metadata") or {}).get("labels") or {}, obj.get("data") or {}, "data"
        data = {k: _decoded(v) for k, v in data.items()}
    elif kind == "ExternalSecret":
        template = ((obj.get("spec") or {}).get("target") or {}).get("template") or {}
        labels, data = (template.get("metadata") or {}).get("labels") or {}, template.get("data") or {}
        prefix = "spec.target.template.data"
    else:
        return [("kind", f"{kind} cannot be an Argo CD repository Secret")]
    return _label_and_key_problems(labels, data, prefix)


def _label_and_key_problems(labels: dict[str, Any], data: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
    problems = []
    if labels.get(SECRET_TYPE) not in ("repository", "repo-creds"):
        problems.append(("labels", f"{SECRET_TYPE} must be repository or repo-creds: Argo CD ignores the Secret"))
    problems += [(f"{prefix}.{k}", "missing") for k in _REQUIRED if k not in data]
    if labels.get(SECRET_TYPE) == "repository" and "name" not in data:
        problems.append((f"{prefix}.name", "a Helm repository needs a name"))
    if data.get("type") not in (None, "", "helm") or data.get("enableOCI") not in (None, "", "true"):
        problems.append((prefix, 'OCI Helm repositories need type "helm" and enableOCI "true"'))
    if "://" in str(data.get("url", "")):
        problems.append((f"{prefix}.url", "Argo CD matches OCI repositories on the URL without a scheme"))
    return problems


def _decoded(value: Any) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8")
    except ValueError:
        return "?"
