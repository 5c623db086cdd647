"""The no-change answer before the heavy imports: `genpolicy render SPEC` whose raw inputs are as last time.

The no-change cache (genpolicy.cache) is only consulted after the spec is validated and the
credentials read, which needs the spec model, Jinja2, the schemas and the crypto stack: most of a
render's start-up. This answers the plain `genpolicy render SPEC` earlier, from what the last
full render of that spec read (genpolicy.quick_store writes the record): the spec's bytes, every
environment variable it looked up (value or absence), every file it read through
`genpolicy.inputs` (plus the fingerprint key and sealing certificates, present or not),
genpolicy's code stamp and library versions, the day, the working directory and the argument.
They are folded into a MAC under the cache key (genpolicy.cachekey: no credential and no plain
hash of one is stored); the record also holds the owned-files record's digest, the object count,
the exact warning lines that render printed and one digest of every owned file's and folder's
`lstat` signature (genpolicy.quick_output). The record itself is `marshal` data behind a tag
under the same key: only a record this user's genpolicy wrote is ever decoded.
Anything else (another option, a changed byte, a fresh machine) falls through to the full path,
which is the one that decides; this only ever repeats its last answer.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
from _operator import _compare_digest as compare_digest  # hmac.compare_digest, without hashlib

from genpolicy import cachekey, quick_output

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

QUICK_FORMAT = 3  # 3: marshal behind a tag, one digest of the output's signatures (2: JSON, one list per file)
RECORD_LIMIT = 64 << 20
TAG = b"genpolicy-quick"
_ABSENT = b"\0absent"


def record_path(environ: Mapping[str, str], spec_arg: str) -> str:
    where = cachekey.blake2b(f"{os.getcwd()}\0{spec_arg}".encode("utf-8", "surrogateescape"), digest_size=16)
    return os.path.join(cachekey.cache_folder(environ), f"quick-{where.hexdigest()}.rec")


def digest(key: bytes, spec_arg: str, env_names: list[str], files: list[str], environ: Mapping[str, str]) -> str:
    inputs = cachekey.Inputs()
    inputs.add_code_stamp(cachekey.builtin_templates())
    inputs.add("cwd", os.getcwd())
    inputs.add("spec argument", spec_arg)
    inputs.add("spec", read_input(spec_arg))
    for name in env_names:
        value = environ.get(name)
        inputs.add(f"env:{name}", _ABSENT if value is None else value.encode("utf-8", "surrogateescape"))
    for path in files:
        inputs.add(f"file:{path}", read_input(path))
    return inputs.digest(key)


def read_input(path: str) -> bytes:
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


def plain_render(argv: list[str]) -> str | None:
    """The SPEC of a command line that is exactly `render SPEC` (the only one answered here), as given."""
    if len(argv) != 2 or argv[0] != "render" or argv[1].startswith("-") or not argv[1]:
        return None
    return argv[1]


def write(key: bytes, path: str, record: dict[str, Any]) -> None:
    body = marshal.dumps(record)
    cachekey.write_private(path, cachekey.mac(key, TAG, body) + body)


def read(key: bytes, path: str) -> dict[str, Any] | None:
    """The record at `path` when its tag is this key's and its format this version's, else None."""
    try:
        data = cachekey.read_regular(path, RECORD_LIMIT)
    except OSError:
        return None
    tag, body = data[:32], data[32:]
    if not compare_digest(tag, cachekey.mac(key, TAG, body)):
        return None
    try:
        record = marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(record, dict) or record.get("format") != QUICK_FORMAT:
        return None
    return record


def answer(argv: list[str], environ: Mapping[str, str]) -> int | None:
    """Exit status when `argv` is `render SPEC` and nothing changed since its last full render, else None.

    Never raises for what it finds on disk (a deleted working folder, an unreadable or odd record, a file
    vanishing mid-check): any doubt is None, and the full path decides."""
    spec_arg = plain_render(argv)
    if spec_arg is None or environ.get("GENPOLICY_NO_CACHE") == "1":
        return None
    try:
        record = _answer(spec_arg, environ)
    except (OSError, LookupError, TypeError, ValueError, AttributeError):
        return None
    return None if record is None else _print(record)


def _answer(spec_arg: str, environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The record that answers, when nothing changed (its `signed_at` moved on where that saves a later hash)."""
    key = cachekey.load_key(cachekey.cache_folder(environ))
    path = record_path(environ, spec_arg)
    record = read(key, path)
    if record is None or not _well_formed(record):
        return None
    if not compare_digest(digest(key, spec_arg, record["env"], record["files"], environ), record["inputs"]):
        return None
    found = quick_output.check(record["root"], record["owned"], record["tree"], record["state"], record["signed_at"])
    if not found.unchanged:
        return None
    if found.refresh:  # the racy entries just checked are now old enough to trust by signature
        write(key, path, {**record, "signed_at": found.started})
    return record


_SHAPE = {"env": list, "files": list, "printed": list, "tree": list, "inputs": str, "root": str, "owned": str,
          "state": str, "objects": int, "files_owned": int, "signed_at": int}


def _well_formed(record: dict[str, Any]) -> bool:
    """Every field of the type this version writes (a record is tagged, so this guards against a version
    that wrote another shape under the same format number, not against a forger)."""
    if not all(isinstance(record.get(name), kind) for name, kind in _SHAPE.items()):
        return False
    strings = all(isinstance(v, str) for name in ("env", "files", "printed") for v in record[name])
    tree = all(isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str) and isinstance(t[1], list)
               and all(isinstance(n, str) for n in t[1]) for t in record["tree"])
    return strings and tree


def _print(record: dict[str, Any]) -> int:
    """What the full path prints for this no-change render: its warnings, then the summary line. The answer is
    given by then, so a stderr that cannot be written is exit status 1, not a second, full render."""
    lines = [*record["printed"], f"genpolicy: unchanged inputs and output, render skipped; {record['objects']} "
             f"objects validated; {record['root']}: 0 created, 0 updated, 0 deleted, {record['files_owned']} unchanged"]
    try:
        sys.stderr.write("".join(line + "\n" for line in lines))
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        return 1
    return 0
