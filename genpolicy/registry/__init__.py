"""Registry keys, image names and credential matching exactly as the kubelet does it.

Reference: the kubelet's pkg/credentialprovider (keyring.go, config.go) in kubernetes/kubernetes.
One module per concern, each with its own test vectors:

- `gourl`, `gomatch`, `gobase64`: byte-for-byte ports of the Go library behaviours that matter
  (`net/url` + `net.SplitHostPort`, `path/filepath.Match`, `encoding/base64` decoding);
- `reference`: the image reference grammar (distribution/reference, `parsers.ParseImageName`);
- `keyring`: the kubelet's key parsing, `URLsMatch`, keyrings and their lookup order;
- `config`: docker config bodies (`.dockerconfigjson`, `.dockercfg`) with Go's JSON semantics;
- `server`: `normalize_server`, genpolicy's own, stricter step from what a user writes to the
  bare key it emits (it refuses spellings the kubelet would misread);
- `common`: Docker Hub names, the errors, Go strings and redaction they share.

Everything but `normalize_server` is a faithful model of the kubelet, used to explain and test
which credential a pod will get. Nothing here ever puts a password into a repr or an error message.
Import from this package (`from genpolicy.registry import X`); the modules are its inside.
"""

from __future__ import annotations

from genpolicy.registry.common import (
    DEFAULT_REGISTRY_HOST,
    DOCKER_HUB,
    InvalidDockerConfig,
    InvalidImage,
    InvalidKey,
    InvalidServer,
)
from genpolicy.registry.config import (
    Entry,
    SourcedEntry,
    decode_auth,
    entries_from_secret,
    parse_dockercfg,
    parse_dockerconfigjson,
)
from genpolicy.registry.gomatch import filepath_match
from genpolicy.registry.keyring import (
    Keyring,
    KeyringLike,
    Match,
    UnionKeyring,
    ambiguous_spellings,
    credentials_for_image,
    is_default_registry_match,
    make_docker_keyring,
    parse_key,
    prefix_overlaps,
    union,
    urls_match,
)
from genpolicy.registry.reference import ImageRef, normalize_image
from genpolicy.registry.server import normalize_server

__all__ = [
    "DEFAULT_REGISTRY_HOST",
    "DOCKER_HUB",
    "Entry",
    "ImageRef",
    "InvalidDockerConfig",
    "InvalidImage",
    "InvalidKey",
    "InvalidServer",
    "Keyring",
    "KeyringLike",
    "Match",
    "SourcedEntry",
    "UnionKeyring",
    "ambiguous_spellings",
    "credentials_for_image",
    "decode_auth",
    "entries_from_secret",
    "filepath_match",
    "is_default_registry_match",
    "make_docker_keyring",
    "normalize_image",
    "normalize_server",
    "parse_dockercfg",
    "parse_dockerconfigjson",
    "parse_key",
    "prefix_overlaps",
    "union",
    "urls_match",
]
