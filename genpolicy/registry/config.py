"""Docker config bodies as the kubelet decodes them (pkg/credentialprovider/config.go,
secrets/secrets.go): Go `encoding/json` semantics, `auth` decoding, pull-secret entries.

Messages name keys and JSON types, never a credential value; `Entry` hides its password in reprs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from genpolicy.record import Frozen, set_field
from genpolicy.registry.common import InvalidDockerConfig, go_bytes, go_str, redact
from genpolicy.registry.gobase64 import go_b64decode


class Entry(Frozen):
    """One decoded auths entry: what the kubelet sends to the CRI (username/password) plus email."""

    __slots__ = ("username", "password", "email")
    _hidden = frozenset({"password"})
    username: str
    password: str
    email: str

    def __init__(self, username: str, password: str, email: str = "") -> None:
        set_field(self, "username", username)
        set_field(self, "password", password)
        set_field(self, "email", email)


class SourcedEntry(Frozen):
    """A credential tagged with where it came from (secret namespace/name, "node", a plugin)."""

    __slots__ = ("source", "entry")
    source: str
    entry: Entry

    def __init__(self, source: str, entry: Entry) -> None:
        set_field(self, "source", source)
        set_field(self, "entry", entry)


class _Object(list[tuple[str, object]]):
    """A JSON object as its ordered (key, value) pairs, duplicates included."""


class _Number:
    """A JSON number (never used as a value, so its digits are not parsed)."""


class _NotJSON(ValueError):
    """NaN/Infinity, which Python's json accepts and Go's does not."""


_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" + (
    "\u2028\u2029\u202f\u205f\u3000"
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> object:
    raise _NotJSON(f"{name} is not valid JSON")


def _number(_text: str) -> object:
    return _Number()


def _load_json(data: bytes) -> object:
    """Parse like Go's encoding/json: UTF-8 only (invalid bytes replaced), no NaN/Infinity."""
    text = data.decode("utf-8", "replace")
    try:
        return json.loads(
            text, object_pairs_hook=_Object, parse_constant=_reject_constant, parse_int=_number,
            parse_float=_number,
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InvalidDockerConfig(f"not valid JSON: {exc.msg} ({where})") from None
    except _NotJSON as exc:
        raise InvalidDockerConfig(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidDockerConfig("not valid JSON: nested too deeply") from None


def _kind(value: object) -> str:
    """JSON type name for messages (never the value itself)."""
    if isinstance(value, _Object):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _fold(name: str) -> str:
    """Go encoding/json's case folding of field names (ASCII and simple Unicode uppercase)."""
    return "".join(up if len(up := ch.upper()) == 1 else ch for ch in name)


def _go_json_string(value: str) -> str:
    """Go decodes a lone surrogate escape to U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", value)



def decode_auth(auth: str) -> tuple[str, str]:
    """The kubelet's decodeDockerConfigFieldAuth: (username, password); errors never echo the value."""
    padded = auth.strip(_GO_SPACE).endswith("=")
    try:
        decoded = go_b64decode(go_bytes(auth), padded)
    except ValueError as exc:
        kind = "padded" if padded else "unpadded"
        raise InvalidDockerConfig(f"the auth field is not valid {kind} base64: {exc}") from None
    except UnicodeEncodeError:
        raise InvalidDockerConfig("the auth field is not valid base64") from None
    username, colon, password = go_str(decoded).partition(":")
    if not colon:
        raise InvalidDockerConfig("the auth field must be base64 of 'username:password' (no ':' found)")
    return username, password


def _decode_entry(value: object, loc: str) -> Entry:
    """DockerConfigEntry.UnmarshalJSON; `null` gives an empty entry."""
    where = f"entry {redact(loc)!r}"
    if value is None:
        return Entry("", "", "")
    if not isinstance(value, _Object):
        raise InvalidDockerConfig(f"{where}: expected an object, got {_kind(value)}")
    fields = {"USERNAME": "", "PASSWORD": "", "EMAIL": "", "AUTH": ""}
    for name, item in value:
        folded = _fold(name)
        if folded not in fields or item is None:
            continue
        if not isinstance(item, str):
            raise InvalidDockerConfig(f"{where}: field {name!r} must be a string, got {_kind(item)}")
        fields[folded] = _go_json_string(item)
    username, password = fields["USERNAME"], fields["PASSWORD"]
    if fields["AUTH"]:
        try:
            username, password = decode_auth(fields["AUTH"])
        except InvalidDockerConfig as exc:
            raise InvalidDockerConfig(f"{where}: {exc}") from None
    return Entry(username, password, fields["EMAIL"])


def _decode_entries(pairs: _Object, into: dict[str, Entry]) -> None:
    """A DockerConfig map: every key decoded, a duplicate key replaces the earlier entry."""
    for loc, value in pairs:
        into[loc] = _decode_entry(value, loc)


def _check_headers(value: object) -> None:
    """`HttpHeaders` (map[string]string) is decoded, so a wrong type is an error, then ignored."""
    if value is None:
        return
    if not isinstance(value, _Object):
        raise InvalidDockerConfig(f"HttpHeaders must be an object, got {_kind(value)}")
    for name, item in value:
        if item is not None and not isinstance(item, str):
            raise InvalidDockerConfig(f"HttpHeaders[{name!r}] must be a string, got {_kind(item)}")


def _top_object(data: bytes, what: str) -> _Object | None:
    """The top-level object, or None for JSON `null`."""
    document = _load_json(data)
    if document is None:
        return None
    if not isinstance(document, _Object):
        raise InvalidDockerConfig(f"a {what} body must be a JSON object, got {_kind(document)}")
    return document


def parse_dockerconfigjson(data: bytes) -> dict[str, Entry]:
    """`{"auths": {...}}` as the kubelet reads it: only `auths` (any case) is used; repeated `auths`
    objects merge, `"auths": null` resets; no `auths` at all gives no entries."""
    document = _top_object(data, ".dockerconfigjson")
    auths: dict[str, Entry] | None = None
    for name, value in document or ():
        folded = _fold(name)
        if folded == "HTTPHEADERS":
            _check_headers(value)
        elif folded == "AUTHS":
            if value is None:
                auths = None
                continue
            if not isinstance(value, _Object):
                raise InvalidDockerConfig(f"auths must be an object, got {_kind(value)}")
            if auths is None:
                auths = {}
            _decode_entries(value, auths)
    return auths or {}


def parse_dockercfg(data: bytes) -> dict[str, Entry]:
    """The legacy `.dockercfg` flat map `{<key>: <entry>}`."""
    entries: dict[str, Entry] = {}
    document = _top_object(data, ".dockercfg")
    if document is not None:
        _decode_entries(document, entries)
    return entries


def entries_from_secret(secret_type: str, data: Mapping[str, bytes]) -> dict[str, Entry] | None:
    """The entries a pull secret contributes, or None when the kubelet silently ignores the secret."""
    if secret_type == "kubernetes.io/dockerconfigjson" and data.get(".dockerconfigjson"):
        return parse_dockerconfigjson(data[".dockerconfigjson"])
    if secret_type == "kubernetes.io/dockercfg" and data.get(".dockercfg"):
        return parse_dockercfg(data[".dockercfg"])
    return None
