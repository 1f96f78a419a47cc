"""The ``backuprun`` command: one entry point, one module per command group.

- ``backuprun serve`` starts the portal (``backuprun.portal.cli``) with the local locations'
  backup servers.
- ``backuprun backup-server`` / ``worker`` run a location's backup server, or task workers,
  on their own (``backuprun.backupserver.cli``); ``backuprun admin`` is for operators.
- ``backuprun disksafe ...`` operates a disk safe directly (``backuprun.disksafe.cli``).
- ``backuprun portal ...`` is a client of a portal's ``api.php`` (``backuprun.client.cli``).

One parser, typer's, reads every command line. Start-up time matters (an unchanged
``disksafe backup`` re-run takes well under a second), so each command or group is imported
only when the command line names it (:class:`_LazyGroup`): ``disksafe backup`` does not
import the portal, the agent or the backup server; ``--help`` lists them all.

An agent-only install has only the base dependencies (pyproject.toml); a command that needs
the ``server`` extra (``serve``, ``backup-server``, ``worker``, ``admin``, ``disksafe``)
stops there with one line naming the missing package and how to add the extra
(exit code :data:`EXIT_NOT_INSTALLED`), not with a traceback.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

_app: typer.Typer | None = None
EXIT_NOT_INSTALLED = 20  # a package the command needs is missing: the server extra


# name -> (module, attribute): a typer app (a command group) or a command function
_COMMANDS = {
    "serve": ("backuprun.portal.cli", "serve"),
    "backup-server": ("backuprun.backupserver.cli", "backup_server"),
    "worker": ("backuprun.backupserver.cli", "worker"),
    "disksafe": ("backuprun.disksafe.cli", "app"),
    "admin": ("backuprun.portal.admin", "app"),
    "agent": ("backuprun.agent.cli", "app"),
    "portal": ("backuprun.client.cli", "app"),
}


def _build_app() -> typer.Typer:
    import typer

    from backuprun import __version__

    app = typer.Typer(
        name="backuprun",
        help="BackupRun: hosted server backup.",
        cls=_lazy_group_class(),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,  # a bug's traceback must not show a password
        rich_markup_mode=None,
    )

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


def _lazy_group_class():
    import importlib

    import typer
    from typer.core import TyperGroup

    from backuprun.clihelp import PlainHelp

    class _LazyGroup(TyperGroup):
        """The root command: its commands are imported when named (see the module)."""

        def list_commands(self, ctx) -> list[str]:
            return list(_COMMANDS)

        def get_command(self, ctx, name: str):
            if name not in _COMMANDS:
                return None
            module, attribute = _COMMANDS[name]
            found = getattr(importlib.import_module(module), attribute)
            # under a parent with the root's settings, as if added to the root itself
            parent = typer.Typer(add_completion=False, rich_markup_mode=None)
            if isinstance(found, typer.Typer):
                parent.add_typer(found, name=name)
                return typer.main.get_command(parent).commands[name]
            parent.command(name, cls=PlainHelp)(found)
            return typer.main.get_command(parent)  # a lone command is the command itself

    return _LazyGroup


def __getattr__(name: str):
    if name == "app":
        global _app
        if _app is None:
            _app = _build_app()
        return _app
    raise AttributeError(name)


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
    __getattr__("app")()
