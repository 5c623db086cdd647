"""The no-change answer before the heavy imports: `genpolicy render SPEC` whose raw inputs are as last time.

The no-change cache (genpolicy.cache) is only consulted after the spec is validated and the
credentials read, which needs the spec model, Jinja2, the schemas and the crypto stack: most of a
render's start-up. This answers the plain `genpolicy render SPEC` earlier, from what the last
full render of that spec read: the spec's bytes, every environment variable it looked up (value
or absence), every file it read through `genpolicy.inputs` (plus the fingerprint key and sealing
certificates, present or not), genpolicy's code stamp and library versions, the day, the working
directory and the argument. They are folded into an HMAC under the cache key (no credential and
no plain hash of one is stored); the record also holds the owned-files record's SHA-256, the
object count, the exact warning lines that render printed and every owned file's `lstat`
signature. A hit also needs every output file to still have its recorded signature (a racy file,
stamped within 2 s of the record, its SHA-256: genpolicy.quick_output) and no crashed render's
leftovers beside or inside the output.
Anything else (another option, a changed byte, a fresh machine) falls through to the full path,
which is the one that decides; this only ever repeats its last answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genpolicy import quick_output
from genpolicy.cache import CACHE_FORMAT, Inputs, builtin_templates, cache_folder, load_key, write_private

if TYPE_CHECKING:
    from genpolicy.errors import Problem

QUICK_FORMAT = 2
_ABSENT = b"\0absent"


class Watched(Mapping[str, str]):
    """An environment that remembers which names were looked up (iterating it disables the quick answer)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.names: set[str] = set()
        self.complete = True
        self.started = time.time_ns()  # before the render reads any output file: the owned files' signed_at

    def __getitem__(self, name: str) -> str:
        self.names.add(name)
        return self.environ[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.names.add(name)
        return name in self.environ

    def __iter__(self) -> Iterator[str]:
        self.complete = False  # every name may matter: no quick record
        return iter(self.environ)

    def __len__(self) -> int:
        self.complete = False
        return len(self.environ)


def record_path(environ: Mapping[str, str], spec_arg: str) -> Path:
    where = f"{os.getcwd()}\0{spec_arg}".encode()
    return cache_folder(environ) / f"quick-{hashlib.sha256(where).hexdigest()[:32]}.json"


def digest(key: bytes, spec_arg: str, env_names: list[str], files: list[str], environ: Mapping[str, str]) -> str:
    inputs = Inputs()
    inputs.add_code_stamp(builtin_templates())
    inputs.add("cwd", os.getcwd())
    inputs.add("spec argument", spec_arg)
    inputs.add("spec", _read(Path(spec_arg)))
    for name in env_names:
        value = environ.get(name)
        inputs.add(f"env:{name}", _ABSENT if value is None else value.encode("utf-8", "surrogateescape"))
    for path in files:
        inputs.add(f"file:{path}", _read(Path(path)))
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in inputs.parts:
        mac.update(hashlib.sha256(part).digest())
    return mac.hexdigest()


def _read(path: Path) -> bytes:
    """A regular file's bytes (a FIFO or device is never waited on: it reads as "not a file")."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        return _ABSENT + str(exc.errno).encode()
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b"\2not a regular file"
        chunks = [b"\1"]
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        return _ABSENT + str(exc.errno).encode()
    finally:
        os.close(fd)


def store(environ: Mapping[str, str], spec_arg: str, watched: Watched, files: set[str], facts: dict[str, Any]) -> None:
    """Remember a full render of `genpolicy render SPEC` (`facts`: root, owned, objects, printed lines)."""
    if not watched.complete or environ.get("GENPOLICY_NO_CACHE") == "1":
        return
    folder = cache_folder(environ)
    try:
        key = load_key(folder / "key")
    except OSError:
        return
    names, paths = sorted(watched.names), sorted(files)
    record = {"format": QUICK_FORMAT, "cache": CACHE_FORMAT, "env": names, "files": paths,
              "inputs": digest(key, spec_arg, names, paths, environ), **facts}
    write_private(record_path(environ, spec_arg), record)


def plain_render(argv: list[str]) -> str | None:
    """The SPEC of a command line that is exactly `render SPEC` (the only one answered here), normalised."""
    if len(argv) != 2 or argv[0] != "render" or argv[1].startswith("-") or not argv[1]:
        return None
    return str(Path(argv[1]))


def remember(spec_arg: str, watched: Watched, files: set[str], root: str, owned_record: bytes, objects: int,
             warnings: list[Problem]) -> None:
    """The record of a full render: what it printed besides the summary line (warnings, redacted), what it read."""
    from genpolicy.reporting import format_problems
    from genpolicy.secrets import redact

    printed = [redact(format_problems([w], "text")) for w in warnings]
    owned = json.loads(owned_record).get("files", {})
    signatures = quick_output.take(Path(root), sorted(owned))
    if signatures is None:
        return
    facts = {"root": root, "owned": hashlib.sha256(owned_record).hexdigest(), "objects": objects,
             "files_owned": len(owned), "printed": printed, "signatures": signatures, "signed_at": watched.started}
    store(watched.environ, spec_arg, watched, files, facts)


def answer(argv: list[str], environ: Mapping[str, str]) -> int | None:
    """Exit status when `argv` is `render SPEC` and nothing changed since its last full render, else None."""
    spec_arg = plain_render(argv)
    if spec_arg is None or environ.get("GENPOLICY_NO_CACHE") == "1":
        return None
    record = _lookup(environ, spec_arg)
    if record is None:
        return None
    found = quick_output.check(Path(record["root"]), record["owned"], record["signatures"], record["signed_at"])
    if not found.unchanged:
        return None
    if found.refresh(record["signatures"]):  # the racy files just hashed are now old enough to trust
        write_private(record_path(environ, spec_arg), {**record, "signed_at": found.started})
    for line in record["printed"]:
        sys.stderr.write(line + "\n")
    sys.stderr.write(f"genpolicy: unchanged inputs and output, render skipped; {record['objects']} objects "
                     f"validated; {record['root']}: 0 created, 0 updated, 0 deleted, {record['files_owned']} "
                     "unchanged\n")
    sys.stderr.flush()
    return 0


def _lookup(environ: Mapping[str, str], spec_arg: str) -> dict[str, Any] | None:
    folder = cache_folder(environ)
    try:
        key = load_key(folder / "key")
        with open(record_path(environ, spec_arg), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    if not _well_formed(record):
        return None
    expected = digest(key, spec_arg, record["env"], record["files"], environ)
    return record if hmac.compare_digest(expected, str(record["inputs"])) else None


def _well_formed(record: Any) -> bool:
    if not isinstance(record, dict) or record.get("format") != QUICK_FORMAT or record.get("cache") != CACHE_FORMAT:
        return False
    lists = all(isinstance(record.get(k), list) and all(isinstance(v, str) for v in record[k])
                for k in ("env", "files", "printed"))
    strings = all(isinstance(record.get(k), str) for k in ("root", "owned", "inputs"))
    numbers = all(isinstance(record.get(k), int) for k in ("objects", "files_owned", "signed_at"))
    return lists and strings and numbers and _signatures(record.get("signatures"))


def _signatures(found: Any) -> bool:
    return isinstance(found, dict) and all(
        isinstance(sig, list) and len(sig) == 6 and all(isinstance(n, int) for n in sig) for sig in found.values())
