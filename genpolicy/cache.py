"""The no-change fast path: skip rendering when every input and every output file is as last time.

A render's inputs (genpolicy's own code and templates, library versions, the spec, the CRDs and
user templates it reads, the credentials, certificates and fingerprint key, the day) are folded
into a MAC (keyed BLAKE2b, genpolicy.cachekey) under a random key kept in the user's cache folder,
never in the repository: the record holds no credential and no plain hash of one. A hit also needs the output folder's
owned-files record to be byte-identical to the one written then, and every recorded file to
still have its recorded SHA-256 (checked by `writer.verified_unchanged`). Anything else is a
miss, and the full render runs. `GENPOLICY_NO_CACHE=1` or `render --no-cache` turns it off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genpolicy import cachekey

if TYPE_CHECKING:
    from genpolicy.ondisk import KnownFiles

CACHE_FORMAT = 2  # 2: inputs keyed by BLAKE2b (genpolicy.cachekey), was HMAC-SHA256


def builtin_templates() -> Path:
    """The built-in template folder (as `templating.builtin_template_dir`, without importing Jinja2)."""
    return Path(cachekey.builtin_templates())


def cache_folder(environ: Mapping[str, str]) -> Path:
    return Path(cachekey.cache_folder(environ))


class Inputs(cachekey.Inputs):
    """A render's inputs (genpolicy.cachekey.Inputs), plus the files under given folders."""

    def add_files(self, label: str, roots: Iterable[Path]) -> None:
        """Every file under each root, following symlinked folders (as Jinja's loader does)."""
        for root in roots:
            for path in _walk(root):
                self.add(f"{label}:{path}", _read(path))


def _walk(root: Path) -> list[Path]:
    if not root.is_dir():
        return [root]
    found = []
    for folder, _, names in os.walk(root, followlinks=True):
        found += [Path(folder) / name for name in names]
    return sorted(found)


def _read(path: Path) -> bytes:
    from genpolicy.errors import GenpolicyError  # dataclasses: not needed by genpolicy.quick
    from genpolicy.inputs import MAX_MANIFEST_BYTES, read_bytes  # the spec stack: not needed by genpolicy.quick

    try:
        return read_bytes(path, what="input", limit=MAX_MANIFEST_BYTES)
    except GenpolicyError as exc:  # a FIFO, device or huge file: hashed as unreadable, refused later
        return f"unreadable:{exc.problems[0].message}".encode()


class RenderCache:
    """One record per output folder, in the user's cache folder."""

    def __init__(self, record_path: Path, key: bytes) -> None:
        self.record_path = record_path
        self.key = key

    @classmethod
    def open(cls, root: Path, environ: Mapping[str, str]) -> RenderCache | None:
        """The cache for an output root, or None when disabled or the cache folder is unusable."""
        if environ.get("GENPOLICY_NO_CACHE") == "1":
            return None
        folder = cache_folder(environ)
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = cachekey.load_key(str(folder))
        except OSError:
            return None
        name = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:32]
        return cls(folder / f"{name}.json", key)

    def template_code(self) -> Path | None:
        """A private folder for compiled templates (Jinja2 checks each against its template's source), named
        by the Jinja2 version and the module that sets up the environment (its settings shape the compiled
        code: code compiled under other settings is never loaded); None when it cannot be made private."""
        import jinja2

        import genpolicy.templating as templating

        tag = hashlib.sha256(jinja2.__version__.encode() + b"\0" + _read(Path(templating.__file__))).hexdigest()[:16]
        folder = self.record_path.parent / f"templates-{tag}"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            cachekey.check_private(str(folder))
        except OSError:
            return None
        return folder

    def digest(self, inputs: cachekey.Inputs) -> str:
        return inputs.digest(self.key)

    def lookup(self, digest: str, owned_record: bytes | None) -> dict[str, Any] | None:
        """The stored facts of the last render, if its inputs and owned-files record are these."""
        if owned_record is None:
            return None
        try:
            record = json.loads(self.record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("format") != CACHE_FORMAT:
            return None
        if not hmac.compare_digest(str(record.get("inputs")), digest):
            return None
        if record.get("owned") != hashlib.sha256(owned_record).hexdigest():
            return None
        return record

    def store(self, digest: str, owned_record: bytes, objects: int, warnings: list[dict[str, Any]]) -> None:
        """Remember this render (`owned_record`: the owned-files record this render wrote, as bytes)."""
        record = {"format": CACHE_FORMAT, "inputs": digest, "owned": hashlib.sha256(owned_record).hexdigest(),
                  "objects": objects, "warnings": warnings}
        write_private(self.record_path, record)


    def known(self, owned_record: bytes | None) -> KnownFiles | None:
        """The output files the last render verified, if the output's owned-files record is still the one it wrote."""
        if owned_record is None:
            return None
        try:
            data = json.loads(self._known_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("owned") != hashlib.sha256(owned_record).hexdigest():
            return None
        from genpolicy.ondisk import KnownFiles  # the full path only (genpolicy.quick imports this module)

        return KnownFiles.from_json(data.get("known"))

    def store_known(self, owned_record: bytes, known: KnownFiles) -> None:
        """Remember what this render verified (`owned_record`: the record it wrote) for the next plan."""
        write_private(self._known_path(), {"owned": hashlib.sha256(owned_record).hexdigest(),
                                            "known": known.to_json()})

    def _known_path(self) -> Path:
        return self.record_path.with_suffix(".files.json")


def write_private(target: Path, record: dict[str, Any]) -> None:
    cachekey.write_private(str(target), json.dumps(record).encode())
