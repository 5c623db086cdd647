"""The no-change fast path: skip rendering when every input and every output file is as last time.

A render's inputs (genpolicy's own code and templates, library versions, the spec, the CRDs and
user templates it reads, the credentials, certificates and fingerprint key, the day) are folded
into an HMAC under a random key kept in the user's cache folder, never in the repository: the
record holds no credential and no plain hash of one. A hit also needs the output folder's
owned-files record to be byte-identical to the one written then, and every recorded file to
still have its recorded SHA-256 (checked by `writer.verified_unchanged`). Anything else is a
miss, and the full render runs. `GENPOLICY_NO_CACHE=1` or `render --no-cache` turns it off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genpolicy import __version__

if TYPE_CHECKING:
    from genpolicy.ondisk import KnownFiles

CACHE_FORMAT = 1
_LIBRARIES = ("kubernetes-validate", "jsonschema-rs", "jinja2", "pyyaml", "cryptography", "pyrage")
_PACKAGE = Path(__file__).resolve().parent


def builtin_templates() -> Path:
    """The built-in template folder (as `templating.builtin_template_dir`, without importing Jinja2)."""
    packaged = _PACKAGE / "templates"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "templates"


def cache_folder(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "genpolicy"


class Inputs:
    """Everything a render's output depends on, fed to an HMAC in a fixed order.

    Plain classes here, not dataclasses: genpolicy.quick imports this module, and `dataclasses`
    (with `inspect`) would be a sixth of a no-change answer's CPU.
    """

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def add(self, label: str, value: bytes | str) -> None:
        data = value.encode("utf-8") if isinstance(value, str) else value
        self.parts.append(label.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)

    def add_files(self, label: str, roots: Iterable[Path]) -> None:
        """Every file under each root, following symlinked folders (as Jinja's loader does)."""
        for root in roots:
            for path in _walk(root):
                self.add(f"{label}:{path}", _read(path))

    def add_code_stamp(self, template_dir: Path) -> None:
        """genpolicy's own modules and built-in templates (size and mtime: an edited checkout invalidates)."""
        for root in (_PACKAGE, template_dir):
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    info = path.stat()
                    self.add(f"code:{path}", f"{info.st_size}:{info.st_mtime_ns}")
        self.add("version", f"{__version__} {sys.version}")
        found = _distributions()
        for name in _LIBRARIES:
            self.add(f"lib:{name}", found.get(_normal(name), "-"))
        self.add("day", datetime.now(UTC).date().isoformat())  # certificates expire; nothing is trusted for long


def _distributions() -> dict[str, str]:
    """Installed distributions by normalised name: the first `.dist-info` folder on sys.path (as imports
    find them), named with its version (what importlib.metadata reads, without its import cost)."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")) and "-" in name:
                found.setdefault(_normal(name.split("-", 1)[0]), name.rsplit(".", 1)[0])
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


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
            key = load_key(folder / "key")
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
            _check_private(os.stat(folder, follow_symlinks=False), folder, folder=True)
        except OSError:
            return None
        return folder

    def digest(self, inputs: Inputs) -> str:
        mac = hmac.new(self.key, digestmod=hashlib.sha256)
        for part in inputs.parts:
            mac.update(hashlib.sha256(part).digest())
        return mac.hexdigest()

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
    tmp = target.with_suffix(f".{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(record))
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)


def load_key(path: Path) -> bytes:
    """The local HMAC key: never through a symlink, ours and private (else OSError: the cache is off)."""
    _check_private(os.stat(path.parent, follow_symlinks=False), path.parent, folder=True)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return _create_key(path)
    with os.fdopen(fd, "rb") as handle:
        _check_private(os.fstat(handle.fileno()), path, folder=False)
        key = handle.read(4096)
    if len(key) < 32:
        raise OSError(f"{path}: cache key too short")
    return key


def _create_key(path: Path) -> bytes:
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _check_private(info: os.stat_result, path: Path, *, folder: bool) -> None:
    """Owned by this user; a folder not writable by others, a key file readable by nobody else."""
    kind_ok = stat.S_ISDIR(info.st_mode) if folder else stat.S_ISREG(info.st_mode)
    loose = info.st_mode & (0o022 if folder else 0o077)
    if not kind_ok or info.st_uid != os.getuid() or loose:
        raise OSError(f"{path}: not a private {'folder' if folder else 'file'} of this user; cache disabled")
