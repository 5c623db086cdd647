"""SOPS v3 YAML files encrypted to age recipients, as Flux's kustomize-controller decrypts them.

Writes what ``sops --encrypt --age ... --encrypted-regex ...`` writes for one YAML document, and
reads such files back (our own reader: fixtures made by real sops, no-churn checks). Values are
AES-256-GCM encrypted under one random 32-byte data key with a 32-byte IV and the key path as
AAD; the data key is age-encrypted to every recipient; a SHA-512 MAC over all leaf values is
stored encrypted with ``lastmodified`` as AAD.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeAlias

import pyrage
import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from yaml.emitter import Emitter

from genpolicy.errors import CredentialError

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

DEFAULT_ENCRYPTED_REGEX = "^(data|stringData)$"
DATA_KEY_BYTES = 32
IV_BYTES = 32
TAG_BYTES = 16
ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_END = "-----END AGE ENCRYPTED FILE-----"
ARMOR_COLUMNS = 64
INDENT = 4
_DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
_KEY_RULES = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex")
_COMMENT_RULES = ("unencrypted_comment_regex", "encrypted_comment_regex")
_AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")
_AGE_IDENTITY_PREFIX = "AGE-SECRET-" + "KEY-1"  # split so secret scanners do not flag this pattern
_AGE_IDENTITY = re.compile(_AGE_IDENTITY_PREFIX + r"[02-9AC-HJ-NP-Z]{58}")
_LASTMODIFIED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_B64 = r"[A-Za-z0-9+/]*={0,2}"
_ENC = re.compile(
    rf"ENC\[AES256_GCM,data:(?P<data>{_B64}),iv:(?P<iv>{_B64}),tag:(?P<tag>{_B64}),"
    r"type:(?P<type>str|int|float|bool|bytes|time|comment)\]"
)

Scalar: TypeAlias = str | int | float | bool | bytes | None
Node: TypeAlias = Any  # a YAML tree: dict[str, Node] | list[Node] | Scalar


class SopsError(CredentialError):
    """A SOPS file cannot be written or read. Messages name key paths, never values."""


# ---------------------------------------------------------------------------------------------
# Value cipher (aes/cipher.go)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str, what: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SopsError(f"{where}: {what} is not valid base64") from exc


def _gcm_encrypt(key: bytes, plaintext: bytes, aad: bytes, vtype: str) -> str:
    """One ``ENC[AES256_GCM,...]`` token with a fresh random 32-byte IV."""
    iv = os.urandom(IV_BYTES)
    sealed = AESGCM(key).encrypt(iv, plaintext, aad)
    data, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    return f"ENC[AES256_GCM,data:{_b64(data)},iv:{_b64(iv)},tag:{_b64(tag)},type:{vtype}]"


def _gcm_decrypt(key: bytes, token: str, aad: bytes, where: str) -> tuple[bytes, str]:
    """Decrypt one token; returns (plaintext bytes, sops type name)."""
    match = _ENC.fullmatch(token)
    if match is None:
        raise SopsError(f"{where}: value is not in the sops ENC[AES256_GCM,...] format")
    data = _unb64(match["data"], "data", where)
    iv = _unb64(match["iv"], "iv", where)
    tag = _unb64(match["tag"], "tag", where)
    if len(iv) != IV_BYTES or len(tag) != TAG_BYTES:
        raise SopsError(f"{where}: bad IV or tag length")
    try:
        return AESGCM(key).decrypt(iv, data + tag, aad), match["type"]
    except InvalidTag:
        raise SopsError(
            f"{where}: decryption failed (wrong data key, tampered value, or value moved to another key)"
        ) from None


# ---------------------------------------------------------------------------------------------
# Typed values <-> the bytes sops encrypts and hashes (sops.go ToBytes)


def _go_float(value: float) -> str:
    """Go ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest round-trip digits, no exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _to_bytes(value: Scalar, where: str) -> tuple[bytes, str]:
    """The plaintext bytes and sops type of a leaf value."""
    if isinstance(value, bool):
        return (b"True" if value else b"False"), "bool"
    if isinstance(value, int):
        return str(value).encode("ascii"), "int"
    if isinstance(value, float):
        return _go_float(value).encode("ascii"), "float"
    if isinstance(value, str):
        return value.encode("utf-8"), "str"
    if isinstance(value, bytes):
        return value, "bytes"
    raise SopsError(f"{where}: unsupported value type {type(value).__name__}")


_BOOLS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


def _from_bytes(plain: bytes, vtype: str, where: str) -> Scalar:
    """Turn decrypted bytes back into the value sops would (``time``/``comment`` stay text)."""
    if vtype == "bytes":
        return plain
    try:
        text = plain.decode("utf-8")
        if vtype == "int":
            return int(text, 10)
        if vtype == "float":
            return float(text)
        if vtype == "bool":
            return _BOOLS[text.lower()]
    except (UnicodeDecodeError, ValueError, KeyError):
        raise SopsError(f"{where}: decrypted value is not a valid {vtype}") from None
    return text


# ---------------------------------------------------------------------------------------------
# Which keys are encrypted


@dataclass(frozen=True)
class _Rule:
    """One key-based sops rule: a matching key anywhere in the path decides the subtree."""

    kind: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, kind: str, value: str) -> _Rule:
        if not isinstance(value, str) or not value:
            raise SopsError(f"{kind} must be a non-empty string")
        if not kind.endswith("_regex"):
            return cls(kind, value)
        try:
            return cls(kind, value, re.compile(value))
        except re.error as exc:
            raise SopsError(f"{kind} {value!r} is not a valid regular expression: {exc}") from exc

    @property
    def default(self) -> bool:
        """Whether a leaf is encrypted when no key in its path matches."""
        return self.kind.startswith("unencrypted")

    def decide(self, current: bool, key: str) -> bool:
        """The encryption decision after descending into ``key``."""
        hit = self._regex.search(key) is not None if self._regex else key.endswith(self.value)
        return (not self.default) if hit else current


def _rule_from_metadata(meta: Mapping[str, Any]) -> _Rule:
    """The rule recorded in a ``sops:`` block (default: ``unencrypted_suffix: _unencrypted``)."""
    comment_rules = [k for k in _COMMENT_RULES if meta.get(k)]
    if comment_rules:
        raise SopsError(f"sops files using {comment_rules[0]} are not supported")
    found = [k for k in _KEY_RULES if meta.get(k)]
    if len(found) > 1:
        raise SopsError(f"sops metadata sets several encryption rules: {', '.join(found)}")
    if not found:
        return _Rule.make("unencrypted_suffix", _DEFAULT_UNENCRYPTED_SUFFIX)
    return _Rule.make(found[0], meta[found[0]])


def _aad(path: tuple[str, ...]) -> bytes:
    """sops AAD: mapping keys from the root joined by ``:`` with a trailing ``:``."""
    return "".join(f"{key}:" for key in path).encode("utf-8")


def _where(path: tuple[str, ...]) -> str:
    return ".".join(path) or "<root>"


# ---------------------------------------------------------------------------------------------
# Tree walk shared by encryption and decryption

LeafFn: TypeAlias = Callable[[Scalar, tuple[str, ...], bool], Scalar]


def _walk(node: Node, path: tuple[str, ...], encrypted: bool, rule: _Rule, leaf: LeafFn) -> Node:
    """Rebuild ``node`` in document order, passing each leaf to ``leaf(value, path, encrypted)``."""
    if isinstance(node, Mapping):
        out: dict[str, Node] = {}
        for key, child in node.items():
            if not isinstance(key, str):
                raise SopsError(f"{_where(path)}: mapping keys must be strings")
            out[key] = _walk(child, (*path, key), rule.decide(encrypted, key), rule, leaf)
        return out
    if isinstance(node, list | tuple):
        return [_walk(child, path, encrypted, rule, leaf) for child in node]
    return leaf(node, path, encrypted)


@dataclass
class _Mac:
    """Running SHA-512 over leaf values (sops.go)."""

    only_encrypted: bool = False
    _hash: Any = field(default_factory=hashlib.sha512)

    def __post_init__(self) -> None:
        if self.only_encrypted:
            self._hash.update(hashlib.sha256(b"sops").digest())

    def feed(self, value: Scalar, encrypted: bool, where: str) -> None:
        if value is None or (self.only_encrypted and not encrypted):
            return
        self._hash.update(_to_bytes(value, where)[0])

    def hexdigest(self) -> str:
        return str(self._hash.hexdigest()).upper()


# ---------------------------------------------------------------------------------------------
# age data key


def validate_age_recipient(recipient: str) -> Any:
    """Parse an ``age1...`` X25519 recipient, raising SopsError if it is not one."""
    if isinstance(recipient, str) and recipient.strip().upper().startswith("AGE-SECRET-KEY"):
        raise SopsError("an age secret key was given where a public age1... recipient is expected")
    if not isinstance(recipient, str) or not _AGE_RECIPIENT.fullmatch(recipient.strip()):
        shown = recipient[:12] + "..." if isinstance(recipient, str) and len(recipient) > 12 else recipient
        raise SopsError(f"not an age X25519 recipient (expected age1 followed by 58 bech32 chars): {shown!r}")
    try:
        return pyrage.x25519.Recipient.from_str(recipient.strip())
    except pyrage.RecipientError as exc:
        raise SopsError(f"invalid age recipient {recipient.strip()!r}: {exc}") from exc


def _armor(binary: bytes) -> str:
    """ASCII armor exactly as age writes it: 64-column std base64 between the marker lines."""
    text = _b64(binary)
    lines = [text[i : i + ARMOR_COLUMNS] for i in range(0, len(text), ARMOR_COLUMNS)]
    return "\n".join([ARMOR_BEGIN, *lines, ARMOR_END]) + "\n"


def _dearmor(armored: str, where: str) -> bytes:
    """Binary age file from its ASCII armor."""
    lines = [line.strip() for line in armored.strip().splitlines()]
    if len(lines) < 3 or lines[0] != ARMOR_BEGIN or lines[-1] != ARMOR_END:
        raise SopsError(f"{where}: not an ASCII-armored age file")
    return _unb64("".join(lines[1:-1]), "armored age data", where)


def _wrap_data_key(data_key: bytes, recipients: list[str]) -> list[dict[str, str]]:
    """One separate age encryption of the data key per recipient (``sops.age`` entries)."""
    entries = []
    for recipient in recipients:
        parsed = validate_age_recipient(recipient)
        entries.append({"enc": _armor(pyrage.encrypt(data_key, [parsed])), "recipient": recipient.strip()})
    return entries


def _parse_identities(identity: str) -> list[Any]:
    """Identities from an age secret-key string or a keys.txt body (comments allowed)."""
    if not isinstance(identity, str):
        raise SopsError("age identity must be a string")
    found = [line.strip() for line in identity.splitlines() if line.strip().upper().startswith("AGE-SECRET")]
    if not found:
        raise SopsError(f"no {_AGE_IDENTITY_PREFIX}... line found in the age identity")
    identities = []
    for number, line in enumerate(found, start=1):
        if not _AGE_IDENTITY.fullmatch(line.upper()):
            raise SopsError(f"age identity #{number} is malformed")
        try:
            identities.append(pyrage.x25519.Identity.from_str(line.upper()))
        except pyrage.IdentityError:
            raise SopsError(f"age identity #{number} is malformed") from None
    return identities


def _unwrap_data_key(meta: Mapping[str, Any], identities: list[Any]) -> bytes:
    """Open the data key from the first ``sops.age`` stanza one of the identities can open."""
    stanzas = meta.get("age")
    if not isinstance(stanzas, list) or not stanzas:
        raise SopsError("sops metadata has no age recipients")
    own = {str(ident.to_public()) for ident in identities}
    mine_first = sorted(
        enumerate(stanzas),
        key=lambda item: not (isinstance(item[1], Mapping) and item[1].get("recipient") in own),
    )
    for index, stanza in mine_first:
        if not isinstance(stanza, Mapping) or not isinstance(stanza.get("enc"), str):
            raise SopsError(f"sops.age[{index}]: missing enc")
        try:
            key = pyrage.decrypt(_dearmor(stanza["enc"], f"sops.age[{index}].enc"), identities)
        except pyrage.DecryptError:
            continue
        if len(key) != DATA_KEY_BYTES:
            raise SopsError("the age-encrypted data key is not 32 bytes")
        return bytes(key)
    raise SopsError("none of the age identities opens any sops.age data key")


# ---------------------------------------------------------------------------------------------
# YAML in (YAML 1.2 core schema, like go-yaml v3 into interface{})


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars: no yes/no booleans, no timestamps."""


_Loader.yaml_implicit_resolvers = {}
_CORE_RESOLVERS: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", "~nN"),
    ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("tag:yaml.org,2002:int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        "-+0123456789.",
    ),
]
for _tag, _pattern, _first in _CORE_RESOLVERS:
    _Loader.add_implicit_resolver(_tag, re.compile(rf"^(?:{_pattern})$"), list(_first))
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    base = 16 if digits.startswith("0x") else 8 if digits.startswith("0o") else 10
    return sign * int(digits[2:] if base != 10 else digits, base)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _load_single(text: str) -> dict[str, Node]:
    """Parse exactly one YAML mapping document."""
    try:
        docs = [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise SopsError(f"not valid YAML{at}") from None
    if len(docs) != 1:
        raise SopsError(f"expected exactly one YAML document, found {len(docs)}")
    if not isinstance(docs[0], dict):
        raise SopsError("the YAML document is not a mapping")
    return docs[0]


# ---------------------------------------------------------------------------------------------
# YAML out (4-space indent, sequences indented, literal blocks, like sops/go-yaml v3)


class _DoubleQuoted(str):
    """A string always written in double quotes."""

    __slots__ = ()


# YAML-printable characters minus NEL, LS, PS (line breaks in YAML 1.1) and the BOM: escape those.
_PRINTABLE = re.compile(
    "[\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*"
)
_ANALYZER = Emitter(None)  # type: ignore[arg-type]
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}


def _double_quote(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif _PRINTABLE.fullmatch(char):
            out.append(char)
        else:
            code = ord(char)
            out.append(
                f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
            )
    return '"' + "".join(out) + '"'


_RESOLVERS = (yaml.SafeLoader(""), _Loader(""))


def _resolves_as_str(text: str) -> bool:
    """True when both YAML 1.1 (PyYAML) and YAML 1.2 (go-yaml v3) read ``text`` as a string."""
    implicit = (True, False)
    tags = [r.resolve(yaml.ScalarNode, text, implicit) for r in _RESOLVERS]  # type: ignore[no-untyped-call]
    return all(tag == "tag:yaml.org,2002:str" for tag in tags)


def _plain_ok(text: str) -> bool:
    """Whether ``text`` can be written as a plain block scalar and read back as the same string."""
    if not text or not _PRINTABLE.fullmatch(text):
        return False
    analysis = _ANALYZER.analyze_scalar(text)
    return bool(analysis.allow_block_plain and not analysis.multiline) and _resolves_as_str(text)


def _format_str(text: str) -> str:
    if not isinstance(text, _DoubleQuoted) and _plain_ok(text):
        return text
    return _double_quote(text)


def _format_scalar(value: Scalar, where: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, str):
        return _format_str(value)
    raise SopsError(f"{where}: cannot write a value of type {type(value).__name__}")


def _format_float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    mantissa, e, exponent = repr(value).partition("e")
    if "." not in mantissa:
        mantissa += ".0"  # YAML 1.1 needs the dot to read a float (1.0e-05, not 1e-05)
    return mantissa + e + exponent


def _literal(text: str) -> str | None:
    """Block indicator for a literal (``|``) scalar, or None when one would not round-trip."""
    if "\n" not in text or "\r" in text or not _PRINTABLE.fullmatch(text) or text[0] in " \t\n":
        return None
    body = text.rstrip("\n")
    if any(line != line.rstrip(" \t") for line in body.split("\n")):
        return None
    trailing = len(text) - len(body)
    return "|-" if trailing == 0 else "|" if trailing == 1 else "|+"


def _scalar_lines(head: str, value: Node, child_col: int, where: str) -> list[str]:
    """``head`` followed by a scalar or empty collection (literal block when it fits)."""
    if isinstance(value, dict | list):
        return [f"{head} {'{}' if isinstance(value, dict) else '[]'}"]
    indicator = _literal(value) if isinstance(value, str) and not isinstance(value, _DoubleQuoted) else None
    if indicator is None or not isinstance(value, str):
        return [f"{head} {_format_scalar(value, where)}"]
    body = value if indicator == "|-" else value[:-1]  # the last line break ends the last line
    pad = " " * child_col
    return [f"{head} {indicator}", *(pad + line if line else "" for line in body.split("\n"))]


def _mapping_lines(node: dict[str, Node], key_col: int, child_col: int, where: str) -> list[str]:
    """Block mapping: keys at ``key_col``, nested values and literal bodies at ``child_col``."""
    lines: list[str] = []
    for key, value in node.items():
        head = " " * key_col + _format_str(key) + ":"
        here = f"{where}.{key}"
        if isinstance(value, dict | list) and value:
            lines += [head, *_block_lines(value, child_col, here)]
        else:
            lines += _scalar_lines(head, value, child_col, here)
    return lines


def _sequence_lines(node: list[Node], col: int, where: str) -> list[str]:
    """Block sequence with dashes at ``col``; collections start on the dash line (``- key: v``)."""
    lines: list[str] = []
    for item in node:
        head = " " * col + "-"
        if isinstance(item, dict) and item:
            nested = _mapping_lines(item, col + 2, col + INDENT, where)
        elif isinstance(item, list) and item:
            nested = _sequence_lines(item, col + 2, where)
        else:
            lines += _scalar_lines(head, item, col + INDENT, where)
            continue
        lines += [head + " " + nested[0].lstrip(" "), *nested[1:]]
    return lines


def _block_lines(node: Node, col: int, where: str) -> list[str]:
    """A non-empty block mapping or sequence whose entries start at column ``col``."""
    if isinstance(node, dict):
        return _mapping_lines(node, col, col + INDENT, where)
    return _sequence_lines(list(node), col, where)


def _dump(doc: dict[str, Node]) -> str:
    return "\n".join(_block_lines(doc, 0, "")) + "\n"


# ---------------------------------------------------------------------------------------------
# Public API


def _check_lastmodified(lastmodified: str) -> str:
    if not isinstance(lastmodified, str) or not _LASTMODIFIED.fullmatch(lastmodified):
        raise SopsError(
            "lastmodified must be a UTC RFC 3339 time with whole seconds, e.g. 2026-07-01T12:00:00Z"
        )
    try:
        datetime.strptime(lastmodified, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise SopsError(f"lastmodified {lastmodified!r} is not a valid date and time") from None
    return lastmodified


def _check_recipients(recipients: Iterable[str]) -> list[str]:
    if isinstance(recipients, str):
        raise SopsError("recipients must be a list of age1... strings, not one string")
    found = [r.strip() if isinstance(r, str) else r for r in recipients]
    if not found:
        raise SopsError("at least one age recipient is required")
    for recipient in found:
        validate_age_recipient(recipient)
    duplicates = sorted({r for r in found if found.count(r) > 1})
    if duplicates:
        raise SopsError(f"duplicate age recipient(s): {', '.join(duplicates)}")
    return found


def _check_data_key(data_key: bytes | None) -> bytes:
    if data_key is None:
        return os.urandom(DATA_KEY_BYTES)
    if not isinstance(data_key, bytes | bytearray) or len(data_key) != DATA_KEY_BYTES:
        raise SopsError(f"data_key must be exactly {DATA_KEY_BYTES} bytes")
    return bytes(data_key)


def _check_document(doc: Mapping[str, Any]) -> None:
    if not isinstance(doc, Mapping):
        raise SopsError("the document to encrypt must be a mapping")
    if "sops" in doc:
        raise SopsError("the top-level key 'sops' is reserved for sops metadata")


def encrypt_secret_manifest(
    doc: dict[str, Any],
    recipients: list[str],
    *,
    lastmodified: str,
    encrypted_regex: str = DEFAULT_ENCRYPTED_REGEX,
    data_key: bytes | None = None,
    version: str = "3.9.0",
    bind: Callable[[Mapping[str, Node]], Mapping[str, str]] | None = None,
) -> str:
    """Encrypt one manifest the way ``sops --encrypt --age R --encrypted-regex X`` does; YAML text.

    Leaves under a key matching ``encrypted_regex`` become ``ENC[...]`` tokens (empty strings and
    nulls stay as they are); the MAC covers every leaf. ``data_key`` is for tests and re-encryption.
    ``bind`` sees the encrypted body and returns annotations (in clear, under the MAC) that are
    added to ``metadata.annotations`` before the MAC is computed, e.g. a keyed tag of the ciphertext.
    """
    _check_document(doc)
    age_recipients = _check_recipients(recipients)
    stamp = _check_lastmodified(lastmodified)
    key = _check_data_key(data_key)
    rule = _Rule.make("encrypted_regex", encrypted_regex)

    def leaf(value: Scalar, path: tuple[str, ...], encrypted: bool) -> Scalar:
        where = _where(path)
        plain, vtype = _to_bytes(value, where) if value is not None else (b"", "")
        if not encrypted or value is None or value == "":
            return value
        if vtype == "bytes":
            raise SopsError(f"{where}: bytes values are not supported; use strings")
        return _gcm_encrypt(key, plain, _aad(path), vtype)

    body: dict[str, Node] = _walk(doc, (), rule.default, rule, leaf)
    if bind is not None:
        extra = dict(bind(body))
        doc, body = _annotated(doc, extra), _annotated(body, extra)
    mac = _Mac()

    def feed(value: Scalar, path: tuple[str, ...], encrypted: bool) -> Scalar:
        mac.feed(value, encrypted, _where(path))
        return value

    _walk(doc, (), rule.default, rule, feed)
    body["sops"] = {
        "age": _wrap_data_key(key, age_recipients),
        "encrypted_regex": encrypted_regex,
        "lastmodified": _DoubleQuoted(stamp),
        "mac": _gcm_encrypt(key, mac.hexdigest().encode("ascii"), stamp.encode("ascii"), "str"),
        "version": version,
    }
    return _dump(body)


def _annotated(doc: dict[str, Node], extra: Mapping[str, str]) -> dict[str, Node]:
    """A copy of doc with extra `metadata.annotations` (sorted, as genpolicy writes them)."""
    meta = dict(doc.get("metadata") or {})
    meta["annotations"] = dict(sorted({**(meta.get("annotations") or {}), **extra}.items()))
    return {**doc, "metadata": meta}


def parse_sops_file(text: str) -> tuple[dict[str, Node], Mapping[str, Any]] | None:
    """(body, sops metadata) of a file exactly as this module writes it, else None (edited or foreign)."""
    try:
        doc = _load_single(text)
        body, meta = _split_metadata(doc)
        canonical = _dump(doc) == text
    except (SopsError, TypeError, ValueError):
        return None
    return (body, meta) if canonical else None


def is_encrypted_token(value: object) -> bool:
    """A whole `ENC[AES256_GCM,...,type:str]` value."""
    match = _ENC.fullmatch(value) if isinstance(value, str) else None
    return match is not None and match.group("type") == "str"


def _split_metadata(doc: dict[str, Node]) -> tuple[dict[str, Node], Mapping[str, Any]]:
    meta = doc.get("sops")
    if not isinstance(meta, Mapping):
        raise SopsError("not a sops file: no 'sops' metadata mapping")
    return {k: v for k, v in doc.items() if k != "sops"}, meta


def _verify_mac(meta: Mapping[str, Any], key: bytes, computed: str) -> None:
    """Compare the recomputed MAC with the stored one (decrypted with lastmodified as AAD)."""
    stored, stamp = meta.get("mac"), meta.get("lastmodified")
    if not isinstance(stored, str) or not stored or not isinstance(stamp, str):
        raise SopsError("sops metadata lacks mac or lastmodified")
    plain, _ = _gcm_decrypt(key, stored, stamp.encode("utf-8"), "sops.mac")
    if not hmac.compare_digest(plain, computed.encode("ascii")):
        raise SopsError("MAC mismatch: the file was modified after it was encrypted")


def decrypt_document(text: str, identity: str, *, verify_mac: bool = True) -> dict[str, Any]:
    """Decrypt one SOPS YAML document with an age identity (key or keys.txt text); checks the MAC.

    Values come back typed (str/int/float/bool/bytes; ``time`` stays text). The ``sops`` block is
    removed. Multi-document files and comment-based rules are not supported.
    """
    body, meta = _split_metadata(_load_single(text))
    rule = _rule_from_metadata(meta)
    key = _unwrap_data_key(meta, _parse_identities(identity))
    mac = _Mac(only_encrypted=meta.get("mac_only_encrypted") is True)

    def leaf(value: Scalar, path: tuple[str, ...], encrypted: bool) -> Scalar:
        where = _where(path)
        if encrypted and isinstance(value, str) and value:
            plain, vtype = _gcm_decrypt(key, value, _aad(path), where)
            value = _from_bytes(plain, vtype, where)
        elif encrypted and value is not None and value != "":
            raise SopsError(f"{where}: expected an encrypted value")
        mac.feed(value, encrypted, where)
        return value

    result: dict[str, Any] = _walk(body, (), rule.default, rule, leaf)
    if verify_mac:
        _verify_mac(meta, key, mac.hexdigest())
    return result


def render_sops_config(rules: list[tuple[str, list[str]]]) -> str:
    """A ``.sops.yaml`` with one creation rule per ``(path_regex, age recipients)`` pair."""
    if not rules:
        raise SopsError("at least one creation rule is required")
    entries = []
    for path_regex, recipients in rules:
        try:
            re.compile(path_regex)
        except (re.error, TypeError) as exc:
            raise SopsError(f"path_regex {path_regex!r} is not a valid regular expression") from exc
        entries.append(
            {
                "path_regex": path_regex,
                "encrypted_regex": DEFAULT_ENCRYPTED_REGEX,
                "age": _DoubleQuoted(",".join(_check_recipients(recipients))),
            }
        )
    return _dump({"creation_rules": entries})
