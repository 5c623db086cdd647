"""A function run in a forked child process, its result pickled back to the parent through a pipe.

Not multiprocessing.Pool: a pool worker that dies (the out-of-memory killer, a SIGKILL) loses its task and
`Pool.map` waits for it forever, so a CI job hung until its timeout. Here the parent reads the pipe to its end
and then the child's exit status: a child that dies is an error naming how, and an exception in the parent
(Ctrl-C included) kills and reaps its children. No threads, no extra process: the parent works meanwhile.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Generic, NoReturn, TypeVar

from genpolicy import secrets
from genpolicy.errors import ExitCode, GenpolicyError, where

T = TypeVar("T")
SERIAL_HINT = "GENPOLICY_WORKERS=1 renders in one process"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class WorkerFailed(GenpolicyError):
    """A child process died or raised something other than a GenpolicyError (a bug): nothing was written."""

    exit_code = ExitCode.INTERNAL


class Child(Generic[T]):
    """A running child: `result()` once, or `stop()` (idempotent) when the parent gives up."""

    def __init__(self, pid: int, pipe: int) -> None:
        self.pid, self._pipe = pid, pipe

    def __repr__(self) -> str:
        return f"Child(pid={self.pid})"

    def result(self) -> T:
        """The child's return value; WorkerFailed when it raised, was killed or exited without one."""
        with open(self._pipe, "rb", closefd=True) as pipe:
            self._pipe = -1
            data = pipe.read()
        status = _wait(self.pid)
        self.pid = 0
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0 or not data:
            raise WorkerFailed(f"a worker process {_how(status)} before it sent its result; {SERIAL_HINT}")
        done, value = pickle.loads(data)
        if not done:
            raise WorkerFailed(internal_error(value))
        return value  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _wait(self.pid)
            self.pid = 0


def start(work: Callable[[], T], into: list[Child[T]]) -> Child[T]:
    """Fork a child that runs `work()` and sends back its value (or where it failed), appended to `into` before
    a Ctrl-C can interrupt this (SIGINT is blocked around the fork): no child is ever left unstopped, and none
    runs the parent's code (its handlers, `finally` blocks) on a Ctrl-C that lands right after the fork."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # as it was, restored below
    read = write = -1
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        read, write, parent = *os.pipe(), os.getpid()
        pid = os.fork()
        if pid == 0:
            _run_child(work, (read, write), parent, mask)
        into.append(Child(pid, read))
    except BaseException:
        _close(read)
        raise
    finally:
        _close(write)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a Ctrl-C held meanwhile is raised here
    return into[-1]


def _close(fd: int) -> None:
    if fd >= 0:
        os.close(fd)


def stop_all(children: list[Child[T]]) -> None:
    for child in children:
        child.stop()


def _run_child(work: Callable[[], object], pipes: tuple[int, int], parent: int,
               mask: set[int | signal.Signals]) -> NoReturn:
    """Never returns: the parent's `finally` blocks, exit handlers and buffered output are not the child's."""
    code = 1
    try:
        read, pipe = pipes
        os.close(read)
        _die_with(parent)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # a render run with Ctrl-C ignored keeps it so
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the child at once; the parent reports it
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        try:
            outcome: tuple[bool, object] = (True, work())
        except BaseException as exc:  # reported by the parent by type and line, never its message (values)
            outcome = (False, where(exc))
            debug(exc)
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        with open(pipe, "wb", closefd=True) as stream:
            stream.write(data)
        code = 0
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:
    """Linux: the kernel kills this child when its parent dies (SIGTERM, SIGKILL): no orphan renders on."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes  # only in a worker: a render that does not fork never imports it

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (ImportError, OSError, AttributeError):  # pragma: no cover - a Python without ctypes, no prctl
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def internal_error(where: str) -> str:
    return f"internal error in a worker process ({where}); please report it. " \
           f"Set GENPOLICY_DEBUG=1 for details; {SERIAL_HINT}"


def debug(exc: BaseException) -> None:
    """The child's traceback, redacted, with GENPOLICY_DEBUG=1 (the parent reports only where it failed)."""
    if os.environ.get("GENPOLICY_DEBUG") == "1":
        import traceback

        sys.stderr.write(secrets.redact("".join(traceback.format_exception(exc))))
        sys.stderr.flush()


def _wait(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for exotic platforms
            continue
        except ChildProcessError:
            return 0


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
        hint = " (the out-of-memory killer?)" if number == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with status {os.WEXITSTATUS(status)}"
