"""The ``backuprun`` command: one entry point, one module per command group.

- ``backuprun serve`` starts the portal (``backuprun.portal.cli``).
- ``backuprun disksafe ...`` operates a disk safe directly (``backuprun.disksafe.cli``).
"""

from __future__ import annotations

import typer

from backuprun import __version__
from backuprun.disksafe.cli import app as disksafe_app
from backuprun.portal.cli import serve

app = typer.Typer(
    name="backuprun",
    help="BackupRun: hosted server backup.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("serve")(serve)
app.add_typer(disksafe_app, name="disksafe")


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


def main() -> None:
    app()
