"""SOPS v3 YAML files encrypted to age recipients, as Flux's kustomize-controller decrypts them.

Writes what ``sops --encrypt --age ... --encrypted-regex ...`` writes for one YAML document, and
reads such files back (our own reader: fixtures made by real sops, no-churn checks). Values are
AES-256-GCM encrypted under one random 32-byte data key with a 32-byte IV and the key path as
AAD; the data key is age-encrypted to every recipient; a SHA-512 MAC over all leaf values is
stored encrypted with ``lastmodified`` as AAD.

One module per concern: `cipher` (value tokens), `values` (typed values <-> bytes), `rules`
(which keys are encrypted), `tree` (the walk), `mac`, `age` (data key, recipients, identities),
`yaml_in`/`yaml_out` (go-yaml v3's reading and writing), `encrypt`, `decrypt`, `config`
(`.sops.yaml`), `common` (the error and tree types). Import from this package; the modules are its inside.
"""

from __future__ import annotations

from genpolicy.crypto.sops.age import validate_age_recipient
from genpolicy.crypto.sops.common import DEFAULT_ENCRYPTED_REGEX, SopsError
from genpolicy.crypto.sops.config import render_sops_config
from genpolicy.crypto.sops.decrypt import decrypt_document, is_encrypted_token, parse_sops_file
from genpolicy.crypto.sops.encrypt import encrypt_secret_manifest

__all__ = [
    "DEFAULT_ENCRYPTED_REGEX",
    "SopsError",
    "decrypt_document",
    "encrypt_secret_manifest",
    "is_encrypted_token",
    "parse_sops_file",
    "render_sops_config",
    "validate_age_recipient",
]
