"""Help that reads like the rest of the ecosystem's (click's plain layout), and the options
every command that opens the deployment's settings takes the same way.

Typer labels every argument with its Python type (``LOCATION <str>``) and writes required
arguments as ``{LOCATION}`` in the usage line. Commands built with :class:`PlainHelp`
show ``Usage: backuprun disksafe backup [OPTIONS] LOCATION SOURCE`` and list arguments
by their metavar, as click and most command-line tools do; options keep click's own
layout (``--password-file PATH``, flags without a type).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TypeVar

import typer
from typer.core import TyperArgument, TyperCommand

# the settings' sources, as ``backuprun admin``, ``worker`` and ``backup-server`` take them
CONFIG = typer.Option(None, "--config", envvar="BACKUPRUN_CONFIG", metavar="PATH",
                      help="TOML config file (env BACKUPRUN_CONFIG).")
DATA_DIR = typer.Option(None, "--data-dir", metavar="PATH",
                        help="Data folder (env BACKUPRUN_DATA_DIR; default ./backuprun-data).")
DATABASE_URL = typer.Option(None, "--database-url", metavar="URL",
                            help="SQLAlchemy URL (env BACKUPRUN_DATABASE_URL).")


INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it
PIPE_CLOSED = 141  # stdout closed early (128 + SIGPIPE), e.g. ``... | head``

F = TypeVar("F", bound=Callable)


def one_line_errors(explain: Callable[[BaseException], tuple[int, str] | None]):
    """A decorator for a command: the errors ``explain`` knows become one line on stderr
    (``error: ...``) and their exit code; Ctrl-C is :data:`INTERRUPTED`; a closed stdout
    ends it quietly with :data:`PIPE_CLOSED`. Anything else (a bug) is raised."""

    def exits(command: F) -> F:
        @functools.wraps(command)
        def run(*args, **kwargs):
            try:
                return command(*args, **kwargs)
            except BrokenPipeError:
                _quiet_stdout()
                raise typer.Exit(PIPE_CLOSED) from None
            except KeyboardInterrupt:
                typer.echo("error: interrupted", err=True)
                raise typer.Exit(INTERRUPTED) from None
            except Exception as exc:
                found = explain(exc)
                if found is None:
                    raise
                code, message = found
                typer.echo(f"error: {message}", err=True)
                raise typer.Exit(code) from None

        return run  # type: ignore[return-value]

    return exits


def _quiet_stdout() -> None:
    """After a closed pipe: send what is still buffered for stdout nowhere, so the
    interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _metavar(param: TyperArgument) -> str:
    name = param.metavar or param.name.upper()
    return name + "..." if param.nargs != 1 else name


class PlainHelp(TyperCommand):
    """A typer command whose usage line and help use plain metavars."""

    def format_help(self, ctx, formatter) -> None:
        super(TyperCommand, self).format_help(ctx, formatter)  # click's, never rich's

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = _metavar(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx, formatter) -> None:
        args, opts = [], []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                args.append((_metavar(param), param.help or ""))
            else:
                record = param.get_help_record(ctx)
                if record is not None:
                    opts.append(record)
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
