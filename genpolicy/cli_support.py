"""What every command module shares: printing (redacted), failing with the documented exit code,
the `--format` option and atomic file writes.

`cli.py` and the command modules (`coverage_cmd`, `scaffold`, `templates_cmd`, ...) import this
module and never each other, so the command layer has no import cycle (tests/test_structure.py).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from genpolicy.errors import GenpolicyError, Problem, WriteError
from genpolicy.reporting import Format, format_problems
from genpolicy.secrets import redact

__all__ = ["FORMAT_OPTION", "LazyGroup", "echo", "exit_with", "fail", "write_file"]

FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["text", "github", "json"]), default="text", show_default=True,
    help="How problems are printed.",
)


class LazyGroup(click.Group):
    """A command group whose `lazy` commands ("name": "module:attribute") are imported when looked up.

    click looks a command up only when it runs or when `--help` lists it, so a render never pays
    for importing the audit, import, scaffold, templates or coverage stacks.
    """

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attribute = self.lazy[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)


def echo(message: str, *, err: bool = False) -> None:
    """Print one message with every credential-looking value redacted."""
    click.echo(redact(message), err=err)


def fail(exc: GenpolicyError, fmt: Format) -> NoReturn:
    """Print `exc`'s problems in `fmt` (plus a summary line for text) and exit with its code."""
    if fmt == "text" and not exc.problems:  # one line, not the message and then the message as a summary
        echo(f"genpolicy: {exc.message}", err=True)
        sys.exit(int(exc.exit_code))
    problems = exc.problems or [Problem("genpolicy", message=exc.message)]
    echo(format_problems(problems, fmt), err=fmt != "json")
    if fmt == "text":
        echo(f"genpolicy: {exc.message} ({len(problems)} problem{'s' if len(problems) != 1 else ''})", err=True)
    sys.exit(int(exc.exit_code))


def exit_with(exc: GenpolicyError) -> NoReturn:
    """Print `exc` the way every genpolicy command does and exit with its code."""
    fail(exc, "text")


def write_file(destination: Path, data: bytes) -> None:
    """Write `data` atomically (temporary file + rename): a symlink in the way is replaced, not followed."""
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        staged = destination.with_name(f".{destination.name}.genpolicy-tmp")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(staged, destination)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise WriteError("cannot write file", [Problem(str(destination), message=f"cannot write: {exc.strerror}")]) \
            from None
