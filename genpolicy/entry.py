"""The `genpolicy` executable: Ctrl-C is handled before anything heavy is imported.

Importing the CLI (jinja2, cryptography, the schemas) takes a noticeable moment; an
interrupt then, or at any later point, exits 130 with one line and no traceback.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing and signal (enum) are a sixth of a no-change answer: imported when needed
if TYPE_CHECKING:
    from typing import NoReturn

INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
MESSAGE = "genpolicy: interrupted; nothing was written unless a render had finished\n"


def interrupted() -> NoReturn:
    """One line on stderr, exit 130; a second Ctrl-C while exiting is ignored.

    Called once the interrupt has unwound the whole stack (every `finally` and cleanup has run).
    `os._exit`, not SystemExit: CPython remembers a KeyboardInterrupt that passed through a C-level
    `PyRun_*` call (as some extension imports do) and would then kill the process with SIGINT at exit.
    """
    core = sys.modules.get("_signal")  # built in, loaded at start-up: no import (enum) a second Ctrl-C could break
    if core is not None:
        core.signal(core.SIGINT, core.SIG_IGN)
    else:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
    for stream, text in ((sys.stdout, ""), (sys.stderr, MESSAGE)):
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(INTERRUPTED)


def answered(status: int) -> NoReturn:
    """Exit right after the early answer: its output flushed, the interpreter's teardown skipped (a fifth of the
    answer's CPU; it opened nothing else, registered nothing to run at exit and holds no other buffer)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with that descriptor closed: nothing to flush
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 1  # full or broken: say so, as the interpreter's own exit would
    os._exit(status)


def main() -> NoReturn:
    try:
        from genpolicy import quick  # stdlib only: a no-change `render SPEC` is answered before the heavy imports

        status = quick.answer(sys.argv[1:], os.environ)
        if status is not None:
            answered(status)
        from genpolicy.cli import main as run

        run()
    except KeyboardInterrupt:
        interrupted()
