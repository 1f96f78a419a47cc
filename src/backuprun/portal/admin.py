"""``backuprun admin``: operator commands on the portal's database and the backup servers.

They read the same settings as ``backuprun serve`` (``--config``, ``--data-dir``,
``--database-url`` and the ``BACKUPRUN_*`` variables) and work while the portal runs: what
needs a backup server (a walk, a cancelled termination) goes through its client, and the
work itself to the task queue, where the running workers take it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

import typer

from backuprun.clihelp import CONFIG, DATA_DIR, DATABASE_URL, PlainHelp
from backuprun.config import ConfigError, load_settings
from backuprun.portal.errors import PortalError

T = TypeVar("T")

app = typer.Typer(help="Operator commands: accounts, services, operator flags.",
                  no_args_is_help=True)

SERVICE = typer.Argument(..., metavar="SERVICE", help="A service's id (662) or service_id (V662).")


def _run(config: Path | None, data_dir: Path | None, database_url: str | None,
         work: Callable[..., Awaitable[T]]) -> T:
    try:
        settings = load_settings(config, data_dir=data_dir, database_url=database_url)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from backuprun.schema import DATABASE_ERRORS, unavailable

    try:
        return asyncio.run(_with_operator(settings, work))
    except PortalError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except DATABASE_ERRORS as exc:
        typer.echo(f"error: {unavailable(settings.resolved_database_url, exc)}", err=True)
        raise typer.Exit(4) from None


async def _with_operator(settings, work):
    from backuprun.portal import db as database
    from backuprun.portal.fleet import Fleet
    from backuprun.portal.services.manager import ServiceManager
    from backuprun.portal.services.operator import Operator

    engine = database.make_engine(settings.resolved_database_url)
    fleet = Fleet(settings, workers=0, serve_public=False)
    sessions = database.sessionmaker(engine)
    try:
        await database.migrate(engine)
        await fleet.start()
        manager = ServiceManager(sessions, settings, fleet.locations, fleet.clients)
        return await work(Operator(sessions, manager))
    finally:
        await fleet.stop()
        sessions.close()
        await engine.dispose()


def _number(value: str) -> int:
    from backuprun.portal.services.rules import service_number

    return service_number("SERVICE", value)[1]


@app.command(cls=PlainHelp, name="accounts")
def accounts(config: Path = CONFIG, data_dir: Path = DATA_DIR,
             database_url: str = DATABASE_URL) -> None:
    """List accounts and subusers."""
    rows = _run(config, data_dir, database_url, lambda op: op.accounts())
    for row in rows:
        kind = f"subuser of {row.parent_email}" if row.parent_email else "main account"
        special = " special_locations" if row.special_locations else ""
        typer.echo(f"{row.id}\t{row.email}\t{row.name}\t{kind}\t{row.services} services"
                   f"{special}")


@app.command(cls=PlainHelp, name="services")
def services(account: str = typer.Option(None, "--account", metavar="EMAIL",
                                         help="Only this main account's services."),
             config: Path = CONFIG, data_dir: Path = DATA_DIR,
             database_url: str = DATABASE_URL) -> None:
    """List services: id, owner, location, create_status and operator flags."""
    from backuprun.portal.services.rules import wire_service_id

    rows = _run(config, data_dir, database_url, lambda op: op.services(account))
    for owner, view in rows:
        s = view.service
        flags = ",".join(f for f in ("readonly", "restricted", "maintenance")
                         if getattr(s, f)) or "-"
        removed = " removed" if view.state.removed else ""
        error = f"\terror: {view.state.error}" if view.state.error else ""
        typer.echo(f"{s.id}\t{wire_service_id(s.kind, s.id)}\t{owner}\t{s.name}\t"
                   f"{view.location.id} {view.location.name}\tcreate_status="
                   f"{view.state.create_status}{removed}\t{flags}{error}")


@app.command(cls=PlainHelp, name="walk")
def walk(service: str = SERVICE, config: Path = CONFIG, data_dir: Path = DATA_DIR,
         database_url: str = DATABASE_URL) -> None:
    """Show a service's provisioning walk, step by step."""
    steps = _run(config, data_dir, database_url, lambda op: op.walk(_number(service)))
    for step in steps:
        message = f"\t{step['message']}" if step["message"] else ""
        typer.echo(f"{step['at']}\t{step['step']}\t{step['what']}{message}")


@app.command(cls=PlainHelp, name="cancel-termination")
def cancel_termination(service: str = SERVICE, config: Path = CONFIG,
                       data_dir: Path = DATA_DIR, database_url: str = DATABASE_URL) -> None:
    """Keep a terminated service whose data is not deleted yet."""
    _run(config, data_dir, database_url, lambda op: op.cancel_termination(_number(service)))
    typer.echo("termination cancelled")


@app.command(cls=PlainHelp, name="set")
def set_flags(service: str = SERVICE,
              readonly: bool = typer.Option(None, "--readonly/--no-readonly",
                                            help="Nobody may change the service."),
              restricted: bool = typer.Option(None, "--restricted/--no-restricted",
                                              help="Administratively restricted."),
              maintenance: bool = typer.Option(None, "--maintenance/--no-maintenance",
                                               help="Under maintenance by the team."),
              config: Path = CONFIG, data_dir: Path = DATA_DIR,
              database_url: str = DATABASE_URL) -> None:
    """Set a service's operator flags (readonly, restricted, maintenance)."""
    flags = {name: value for name, value in (("readonly", readonly), ("restricted", restricted),
                                             ("maintenance", maintenance)) if value is not None}
    if not flags:
        typer.echo("error: give --readonly, --restricted or --maintenance (or --no-...)",
                   err=True)
        raise typer.Exit(2)
    _run(config, data_dir, database_url, lambda op: op.set_flags(_number(service), **flags))
    typer.echo(", ".join(f"{k}={int(v)}" for k, v in flags.items()))


@app.command(cls=PlainHelp, name="special-locations")
def special_locations(email: str = typer.Argument(..., metavar="EMAIL"),
                      allowed: bool = typer.Option(True, "--allow/--deny",
                                                   help="Allow (default) or deny."),
                      config: Path = CONFIG, data_dir: Path = DATA_DIR,
                      database_url: str = DATABASE_URL) -> None:
    """Allow a main account locations beyond the standard four (special_locations)."""
    _run(config, data_dir, database_url,
         lambda op: op.set_special_locations(email, allowed))
    typer.echo(f"special_locations={int(allowed)}")


@app.command(cls=PlainHelp, name="agent-wheels")
def agent_wheels(
        out: Path = typer.Option(None, "--out", metavar="DIR",
                                 help="Where to put the wheels (default: the agent_wheels_dir "
                                      "setting, else <data-dir>/agent-wheels, which the "
                                      "portal serves)."),
        source: Path = typer.Option(None, "--source", metavar="DIR",
                                    help="BackupRun's source tree (default: the one this "
                                         "backuprun runs from)."),
        python_version: list[str] = typer.Option(
            None, "--python-version", metavar="X.Y",
            help="Also fetch binary wheels for this Python version (repeatable)."),
        platform: list[str] = typer.Option(
            None, "--platform", metavar="TAG",
            help="Also fetch binary wheels for this platform, e.g. manylinux2014_aarch64 "
                 "(repeatable)."),
        force: bool = typer.Option(False, "--force", help="Build again even when up to date."),
        config: Path = CONFIG, data_dir: Path = DATA_DIR) -> None:
    """Build the agent's wheels (BackupRun and its dependencies) that the portal serves at
    /agent/wheels/ for install.sh."""
    from backuprun.portal import agentwheels

    try:
        settings = load_settings(config, data_dir=data_dir)
    except ConfigError as exc:
        _fail(str(exc), 2)
    folder = out or settings.resolved_agent_wheels_dir
    if folder.exists() and not folder.is_dir():
        _fail(f"{folder} is a file, not a folder: name a folder with --out", 2)
    tree = source or agentwheels.default_source()
    if tree is None:
        _fail("this backuprun was not installed from a source tree: give BackupRun's "
              "source with --source DIR", 2)
    if not agentwheels.is_source(tree):
        _fail(f"{tree} is not BackupRun's source tree (pyproject.toml and src/backuprun)", 2)
    versions, platforms = python_version or [None], platform or [None]
    targets = [agentwheels.Target(v, p) for v in versions for p in platforms
               if (v, p) != (None, None)]
    try:
        built = agentwheels.build(folder, tree, targets, force,
                                  progress=lambda line: typer.echo(line, err=True))
    except agentwheels.WheelError as exc:
        _fail(str(exc), 3)
    except OSError as exc:
        _fail(f"{folder} cannot be written: {exc.strerror or exc}", 3)
    state = "up to date" if built.up_to_date else "built"
    typer.echo(f"{state}: {len(built.files)} wheels in {folder.resolve()} (served at "
               "/agent/wheels/)")


def _fail(message: str, code: int):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
