"""The full path's half of genpolicy.quick: watch what a render of `render SPEC` reads, then record it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from genpolicy import cachekey, quick, quick_output

if TYPE_CHECKING:
    from genpolicy.errors import Problem


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


def remember(spec_arg: str, watched: Watched, read: Mapping[str, str | None], also: set[str], root: str,
             owned_record: bytes, objects: int, warnings: list[Problem]) -> None:
    """As `record`, after the render's files are written: a record that cannot be made (a deleted working folder,
    a name that is not UTF-8, a vanished file) is skipped, never an error of the render that succeeded."""
    try:
        record(spec_arg, watched, read, also, root, owned_record, objects, warnings)
    except (OSError, ValueError, LookupError, TypeError):
        return


def record(spec_arg: str, watched: Watched, read: Mapping[str, str | None], also: set[str], root: str,
           owned_record: bytes, objects: int, warnings: list[Problem]) -> None:
    """The record of a full render: what it printed besides the summary line (warnings, redacted), what it read
    (`read`: genpolicy.inputs.READ_LOG; `also`: files read elsewhere or only looked for), and the signatures of
    what it left in the output. Nothing is recorded when a file it read no longer holds what it read then."""
    from genpolicy.reporting import format_problems
    from genpolicy.secrets import redact

    if not watched.complete or watched.environ.get("GENPOLICY_NO_CACHE") == "1" or not _unchanged(read):
        return
    paths = sorted(json.loads(owned_record).get("files", {}))
    tree = quick_output.layout(paths, quick_output.other_folders(root))
    state = quick_output.take(root, tree)
    if state is None:
        return
    try:
        key = cachekey.load_key(cachekey.cache_folder(watched.environ))
    except OSError:
        return
    names, files = sorted(watched.names), sorted({*read, *also})
    record = {"format": quick.QUICK_FORMAT, "env": names, "files": files,
              "inputs": quick.digest(key, spec_arg, names, files, watched.environ), "root": root,
              "owned": quick_output.owned_digest(owned_record), "objects": objects, "files_owned": len(paths),
              "printed": [redact(format_problems([w], "text")) for w in warnings], "tree": tree,
              "state": state, "signed_at": watched.started}
    if _unchanged(read):  # and still, now that the digest has read them again
        quick.write(key, quick.record_path(watched.environ, spec_arg), record)


def _unchanged(read: Mapping[str, str | None]) -> bool:
    """Whether every file holds what the render read (or still is no readable file, where it was none)."""
    for path, digest in read.items():
        now = quick.read_input(path)
        if (cachekey.seen(now) if now.startswith(b"\1") else None) != digest:
            return False
    return True
