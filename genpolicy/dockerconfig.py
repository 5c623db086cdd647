"""Build `.dockerconfigjson` bodies exactly as the kubelet reads them."""

from __future__ import annotations

import base64
import json

from genpolicy.secrets import Credential, register_derived

MAX_SECRET_BYTES = 1024 * 1024


def dockerconfigjson(entries: list[tuple[str, Credential, str | None]]) -> str:
    """`{"auths": {key: {username, password, auth[, email]}}}` with sorted keys, compact separators.

    Keys must already be normalised (bare host[:port][/path], see registry.normalize_server).
    The kubelet decodes `auth` and prefers it over username/password; both are written so that
    other consumers (docker, buildkit) read the same credential.
    """
    auths: dict[str, dict[str, str]] = {}
    for key, credential, email in entries:
        entry = {
            "auth": credential.basic_auth(),
            "password": credential.password.reveal(),
            "username": credential.username,
        }
        if email:
            entry["email"] = email
        auths[key] = entry
    body = json.dumps({"auths": auths}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for entry in auths.values():
        register_derived(entry["auth"])
    return body


def encode_secret_value(body: str) -> str:
    """Base64 for a Secret's `data` field (registered for redaction)."""
    encoded = base64.b64encode(body.encode("utf-8")).decode("ascii")
    register_derived(encoded)
    return encoded
