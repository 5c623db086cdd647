"""Validate node files against the schemas in genpolicy/nodes/schemas (written from the upstream types)."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema_rs

from genpolicy.errors import GenpolicyError, Problem
from genpolicy.inputs import MAX_MANIFEST_BYTES, read_text

_DIR = Path(__file__).parent / "schemas"
_SCHEMAS = {
    ("kubelet.config.k8s.io/v1", "CredentialProviderConfig"): "credentialproviderconfig-v1.json",
    ("kubelet.config.k8s.io/v1beta1", "CredentialProviderConfig"): "credentialproviderconfig-v1beta1.json",
    ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"): "kubeletconfiguration-v1beta1.json",
}
HOSTS_TOML = "hosts-toml.json"
HOSTS_TOML_NAME = "hosts.toml"
KUBELET_GROUP = "kubelet.config.k8s.io/"


def is_node_object(obj: Any) -> bool:
    return isinstance(obj, dict) and str(obj.get("apiVersion", "")).startswith(KUBELET_GROUP)


@functools.cache
def _validator(name: str, without_cache_type: bool) -> Any:
    schema = json.loads((_DIR / name).read_text(encoding="utf-8"))
    if without_cache_type:  # the 1.33 alpha types.go has no tokenAttributes.cacheType
        token = copy.deepcopy(schema["$defs"]["ServiceAccountTokenAttributes"])
        del token["properties"]["cacheType"]
        token["required"].remove("cacheType")
        schema["$defs"]["ServiceAccountTokenAttributes"] = token
    return jsonschema_rs.validator_for(schema)


def node_findings(obj: Any, *, alpha_tokens: bool = False) -> list[tuple[str, str]] | None:
    """(JSON path, message) per schema error; None when no schema covers the object's kind."""
    if not isinstance(obj, dict):
        return None
    name = _SCHEMAS.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if name is None:
        return None
    return _errors(_validator(name, alpha_tokens and name.endswith("-v1.json")), obj)


def hosts_findings(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Schema errors of a parsed hosts.toml."""
    return _errors(_validator(HOSTS_TOML, False), document)


def hosts_toml_problems(path: Path) -> list[Problem]:
    """`genpolicy validate` on a hosts.toml file: TOML syntax, then the schema."""
    import tomllib  # `genpolicy validate` of a hosts.toml only

    try:
        document = tomllib.loads(read_text(path, what="hosts.toml", limit=MAX_MANIFEST_BYTES))
    except GenpolicyError as exc:
        return list(exc.problems)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return [Problem(str(path), message=f"cannot parse: {exc}")]
    return [Problem(str(path), 0, 0, where, f"{message} (containerd hosts.toml)")
            for where, message in hosts_findings(document)]


def _errors(validator: Any, obj: Any) -> list[tuple[str, str]]:
    found = []
    for error in validator.iter_errors(obj):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path) or "(root)"
        found.append((path, str(error.message)))
    return sorted(found)
