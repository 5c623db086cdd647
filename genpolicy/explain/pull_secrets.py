"""`explain --dockerconfig`: raw pull secrets (config.json, Secret manifests) in Pod order, read as the kubelet does."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from genpolicy.errors import Problem, UsageError
from genpolicy.inputs import MAX_MANIFEST_BYTES, load_json, read_bytes, yaml_documents
from genpolicy.registry import (
    Entry,
    InvalidDockerConfig,
    entries_from_secret,
    parse_dockercfg,
    parse_dockerconfigjson,
)


def load_pull_secrets(path: Path) -> list[tuple[str, Mapping[str, Entry]]]:
    """Pull secrets in file order: Secret manifests (multi-document YAML, `kind: List` as `kubectl get -o yaml`
    writes it), or one raw `.dockerconfigjson` / `.dockercfg` body. Each is (source, entries)."""
    raw = read_bytes(path, what="pull secret file", limit=MAX_MANIFEST_BYTES)
    documents = _documents(raw, str(path))
    try:
        secrets = [d for d in _flatten_lists(documents) if d.get("kind") == "Secret"]
        if secrets:
            return _from_secrets(path, secrets)
        if path.name.endswith(".dockercfg"):
            return [(str(path), parse_dockercfg(raw))]
        return [(str(path), _dockerconfigjson(raw, f"{path.name} (read as a .dockerconfigjson)"))]
    except (InvalidDockerConfig, ValueError) as exc:
        raise UsageError("invalid pull secret", [Problem(str(path), message=str(exc))]) from None


class NoCredentials(dict[str, Entry]):
    """A pull secret the kubelet reads no credential from; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


def _dockerconfigjson(raw: bytes, what: str) -> Mapping[str, Entry]:
    """A `.dockerconfigjson` body as the kubelet reads it; one without `auths` yields nothing, and says so."""
    entries = parse_dockerconfigjson(raw)
    if entries or _has_auths(raw):
        return entries
    return NoCredentials(
        f"{what} has no `auths` object: the kubelet reads no credential from it (only a .dockercfg, "
        "Secret type kubernetes.io/dockercfg, is the bare {registry: entry} map); wrap the entries in "
        '{"auths": {...}}, or name a raw .dockercfg body *.dockercfg')


def _has_auths(raw: bytes) -> bool:
    """Whether the top-level JSON object has an `auths` member (Go matches it case-insensitively)."""
    try:
        document = json.loads(raw)
    except ValueError:
        return False
    return isinstance(document, dict) and any(str(k).lower() == "auths" for k in document)


def _documents(raw: bytes, filename: str) -> list[Any]:
    """JSON first (docker's own config.json is tab-indented, which YAML refuses), then YAML documents.

    Both are bounded (genpolicy.inputs): deep nesting and alias bombs are refused, not walked."""
    try:
        return [load_json(raw, filename)]
    except ValueError:
        pass
    try:
        return [d for _, d in yaml_documents(raw.decode("utf-8"), filename) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError):
        return []


def _flatten_lists(documents: list[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for doc in documents:
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            found += [item for item in doc["items"] if isinstance(item, dict)]
        elif isinstance(doc, dict):
            found.append(doc)
    return found


def _from_secrets(path: Path, secrets: list[dict[str, Any]]) -> list[tuple[str, Mapping[str, Entry]]]:
    """Pull secrets among Secret manifests (other Secret types are not pull secrets and are skipped)."""
    found: list[tuple[str, Mapping[str, Entry]]] = []
    for index, secret in enumerate(secrets, start=1):
        data = {str(k): base64.b64decode(str(v)) for k, v in (secret.get("data") or {}).items()}
        data.update({str(k): str(v).encode() for k, v in (secret.get("stringData") or {}).items()})
        read = entries_from_secret(str(secret.get("type")), data)
        if read is None:
            continue
        entries: Mapping[str, Entry] = read
        if not read and secret.get("type") == "kubernetes.io/dockerconfigjson":
            entries = _dockerconfigjson(data[".dockerconfigjson"], "its .dockerconfigjson")
        meta = secret.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        name = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p) or f"#{index}"
        found.append((f"{path} (Secret {name})" if len(secrets) > 1 else str(path), entries))
    if not found:
        raise ValueError("no Secret of type kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg in the file")
    return found
