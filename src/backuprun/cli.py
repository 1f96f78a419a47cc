"""The ``backuprun`` command: one entry point, one module per command group.

- ``backuprun serve`` starts the portal (``backuprun.portal.cli``) with the local locations'
  backup servers.
- ``backuprun backup-server`` / ``worker`` run a location's backup server, or task workers,
  on their own (``backuprun.backupserver.cli``); ``backuprun admin`` is for operators.
- ``backuprun disksafe ...`` operates a disk safe directly (``backuprun.disksafe.cli``).
- ``backuprun portal ...`` is a client of a portal's ``api.php`` (``backuprun.client.cli``).

Start-up time matters for ``disksafe backup`` (an unchanged re-run takes well under a
second): the command groups are imported only when the app is built, and a plain
``disksafe backup`` command line (positional arguments, ``--parent``, ``--password-file``,
``-q``, ``--json``) calls the command directly. Typer would otherwise import pydantic and build a
validator for every parameter first (~0.1 s). Anything else (``--help``, other options,
wrong arguments) goes through typer as before.

An agent-only install has only the base dependencies (pyproject.toml); a command that needs
the ``server`` extra (``serve``, ``backup-server``, ``worker``, ``admin``, ``disksafe``)
stops there with one line naming the missing package and how to add the extra
(exit code :data:`EXIT_NOT_INSTALLED`), not with a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

_app: typer.Typer | None = None
EXIT_NOT_INSTALLED = 20  # a package the command needs is missing: the server extra


def _build_app() -> typer.Typer:
    import typer

    from backuprun import __version__
    from backuprun.agent.cli import app as agent_app
    from backuprun.backupserver.cli import backup_server, worker
    from backuprun.clihelp import PlainHelp
    from backuprun.client.cli import app as portal_app
    from backuprun.disksafe.cli import app as disksafe_app
    from backuprun.portal.admin import app as admin_app
    from backuprun.portal.cli import serve

    app = typer.Typer(
        name="backuprun",
        help="BackupRun: hosted server backup.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,  # a bug's traceback must not show a password
        rich_markup_mode=None,
    )
    app.command("serve", cls=PlainHelp)(serve)
    app.command("backup-server", cls=PlainHelp)(backup_server)
    app.command("worker", cls=PlainHelp)(worker)
    app.add_typer(disksafe_app, name="disksafe")
    app.add_typer(admin_app, name="admin")
    app.add_typer(agent_app, name="agent")
    app.add_typer(portal_app, name="portal")

    def _version(value: bool) -> None:
        if value:
            typer.echo(f"backuprun {__version__}")
            raise typer.Exit()

    @app.callback()
    def _root(
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                     help="Print the version and exit."),
    ) -> None:
        """BackupRun: hosted server backup."""

    return app


def __getattr__(name: str):
    if name == "app":
        global _app
        if _app is None:
            _app = _build_app()
        return _app
    raise AttributeError(name)


_BACKUP_OPTIONS = {"--parent": "parent", "--password-file": "password_file"}
_BACKUP_PARAMS = ("location", "source", "parent", "password_file", "quiet", "json_out")
_BACKUP_FLAGS = {"-q": "quiet", "--quiet": "quiet", "--json": "json_out"}


def backup_fast_args(args: list[str]) -> dict | None:
    """The keyword arguments of ``disksafe backup`` for a plain command line ``args``
    (``sys.argv[1:]``), or None when typer should parse it."""
    if len(args) < 2 or args[0] != "disksafe" or args[1] != "backup":
        return None
    values: dict = {"parent": None, "password_file": None, "quiet": False, "json_out": False}
    positional: list[str] = []
    rest = iter(args[2:])
    options_done = False
    for arg in rest:
        if options_done or not arg.startswith("-") or arg == "-":
            positional.append(arg)
        elif arg == "--":
            options_done = True
        elif arg in _BACKUP_FLAGS:
            values[_BACKUP_FLAGS[arg]] = True
        else:
            name, eq, value = arg.partition("=")
            key = _BACKUP_OPTIONS.get(name)
            if key is None:
                return None  # --help, a typo, ...: typer explains
            if not eq:
                value = next(rest, None)
                if value is None:
                    return None
            values[key] = value
    if len(positional) != 2:
        return None
    values["location"], values["source"] = positional
    return values


def _backup_fast(values: dict) -> int | None:
    """Run ``disksafe backup`` without typer's parsing; None if its signature changed."""
    import inspect
    from pathlib import Path

    import typer

    from backuprun.disksafe import cli as disksafe_cli

    command = disksafe_cli.backup
    if tuple(inspect.signature(command).parameters) != _BACKUP_PARAMS:
        return None
    kwargs = dict(values)
    kwargs["source"] = Path(kwargs["source"])
    if kwargs["password_file"] is not None:
        kwargs["password_file"] = Path(kwargs["password_file"])
    try:
        command(**kwargs)
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except (typer.Abort, EOFError):
        typer.echo("Aborted!", err=True)
        return 1
    return 0


def main() -> None:
    try:
        _main()
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.partition(".")[0] == "backuprun":
            raise  # ours: a bug, with its traceback
        sys.stderr.write(f"error: this command needs the Python package {exc.name!r}, which "
                         "is not installed: install BackupRun with its server extra "
                         "(pip install 'backuprun[server]')\n")
        sys.exit(EXIT_NOT_INSTALLED)


def _main() -> None:
    values = backup_fast_args(sys.argv[1:])
    if values is not None:
        code = _backup_fast(values)
        if code is not None:
            # The backup is stored and synced, its threads are joined: skip the
            # interpreter's teardown of a big heap (~25 ms of an unchanged re-run).
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except OSError:  # e.g. a closed pipe: as typer does
                code = code or 1
            os._exit(code)
    __getattr__("app")()
