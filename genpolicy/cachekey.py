"""The caches' common ground: the local key, the keyed digest of a render's inputs, private files.

Both the no-change cache (genpolicy.cache) and the answer given before the heavy imports
(genpolicy.quick) fold what a render read into a MAC under a random key kept in the user's cache
folder, never in the repository, so no record holds a credential or a plain hash of one. The MAC
is keyed BLAKE2b (RFC 7693; the built-in `_blake2` that `hashlib` itself uses), not HMAC-SHA256:
`hashlib` loads OpenSSL, a quarter of a no-change answer's CPU.

Imports only modules the interpreter has loaded before `main` runs (os, stat, sys, time) and the
built-in `_blake2`: no pathlib, typing, re, json, secrets or datetime, each a measurable share of an
answer that costs a few milliseconds (tests/test_quick.py lists what it may import).
"""

from __future__ import annotations

import os
import stat
import sys
import time

from genpolicy import __version__

try:
    from _blake2 import blake2b as blake2b
except ImportError:  # an interpreter without the built-in module: hashlib's, same algorithm
    from hashlib import blake2b as blake2b

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

LIBRARIES = ("kubernetes-validate", "jsonschema-rs", "jinja2", "pyyaml", "cryptography", "pyrage")
PACKAGE = os.path.dirname(os.path.abspath(__file__))
KEY_BYTES = 32


def builtin_templates() -> str:
    """The built-in template folder (as `templating.builtin_template_dir`, without importing Jinja2)."""
    packaged = os.path.join(PACKAGE, "templates")
    return packaged if os.path.isdir(packaged) else os.path.join(os.path.dirname(PACKAGE), "templates")


def cache_folder(environ: Mapping[str, str]) -> str:
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "genpolicy")


class Inputs:
    """Everything a render's output depends on, in a fixed order; `digest` is their MAC under the local key.

    Each part is `label NUL length NUL bytes` (labels hold no NUL), so the concatenation is unambiguous.
    """

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def add(self, label: str, value: bytes | str) -> None:
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value  # any path's bytes
        self.parts.append(label.encode("utf-8", "surrogateescape") + b"\0" + str(len(data)).encode() + b"\0" + data)

    def add_code_stamp(self, template_dir: str) -> None:
        """genpolicy's own modules and built-in templates (size and mtime: an edited checkout invalidates),
        the interpreter and library versions, and the day (certificates expire; nothing is trusted for long)."""
        for root in (PACKAGE, template_dir):
            for path, info in sorted(_files(root)):
                self.add(f"code:{path}", f"{info.st_size}:{info.st_mtime_ns}")
        self.add("version", f"{__version__} {sys.version}")
        found = distributions()
        for name in LIBRARIES:
            self.add(f"lib:{name}", found.get(normal(name), "-"))
        self.add("day", time.strftime("%Y-%m-%d", time.gmtime()))

    def digest(self, key: bytes) -> str:
        mac = blake2b(key=key[:64], digest_size=32, person=b"genpolicy-input")
        for part in self.parts:
            mac.update(part)
        return mac.hexdigest()


def _files(root: str) -> list[tuple[str, os.stat_result]]:
    """Every file under root, not into symlinked folders (as `Path.rglob`), no `__pycache__`."""
    found: list[tuple[str, os.stat_result]] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return found
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    found += _files(entry.path)
            elif entry.is_file():
                found.append((entry.path, entry.stat()))
        except OSError:
            continue
    return found


def distributions() -> dict[str, str]:
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
                found.setdefault(normal(name.split("-", 1)[0]), name.rsplit(".", 1)[0])
    return found


def normal(name: str) -> str:
    """A distribution name as PEP 503 compares them (runs of `-`, `_`, `.` as one `_`), lower case."""
    return "_".join(part for part in name.lower().replace("-", "_").replace(".", "_").split("_") if part)


def seen(data: bytes) -> str:
    """A digest of an input as one render read it, to tell whether the next read gives the same (not a MAC:
    it lives only in memory while that render runs)."""
    return blake2b(data, digest_size=32, person=b"genpolicy-seen").hexdigest()


def mac(key: bytes, purpose: bytes, data: bytes) -> bytes:
    """A 32-byte tag of `data` under the local key, for one purpose (a record's tag never serves another)."""
    return blake2b(data, key=key[:64], digest_size=32, person=purpose[:16]).digest()


def write_private(target: str, data: bytes) -> None:
    """Write a file only this user can read, atomically (a failure leaves the old one; never raises)."""
    tmp = f"{target}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def read_regular(path: str, limit: int) -> bytes:
    """A regular file's bytes, not through a symlink (OSError when absent, anything else, or over `limit`)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(f"{path}: not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{path}: larger than {limit} bytes")
    return data


def load_key(folder: str) -> bytes:
    """The local key in `folder`: never through a symlink, ours and private (else OSError: the cache is off)."""
    _check_private(os.stat(folder, follow_symlinks=False), folder, folder=True)
    path = os.path.join(folder, "key")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return _create_key(path)
    with os.fdopen(fd, "rb") as handle:
        _check_private(os.fstat(handle.fileno()), path, folder=False)
        key = handle.read(4096)
    if len(key) < KEY_BYTES:
        raise OSError(f"{path}: cache key too short")
    return key


def _create_key(path: str) -> bytes:
    key = os.urandom(KEY_BYTES)  # what secrets.token_bytes returns
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def check_private(path: str) -> None:
    """A folder of this user's that nobody else can write (else OSError)."""
    _check_private(os.stat(path, follow_symlinks=False), path, folder=True)


def _check_private(info: os.stat_result, path: str, *, folder: bool) -> None:
    """Owned by this user; a folder not writable by others, a key file readable by nobody else."""
    kind_ok = stat.S_ISDIR(info.st_mode) if folder else stat.S_ISREG(info.st_mode)
    loose = info.st_mode & (0o022 if folder else 0o077)
    if not kind_ok or info.st_uid != os.getuid() or loose:
        raise OSError(f"{path}: not a private {'folder' if folder else 'file'} of this user; cache disabled")
