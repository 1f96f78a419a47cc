"""``backuprun backup-server`` and ``backuprun worker``: a location's backup server as its own
process, and task workers on their own.

``backup-server --location L`` serves the internal API on ``--listen`` (mutual TLS: only the
portal whose certificate is pinned with ``portal_cert`` gets through the handshake), the
location's public page on its ``https_port`` (its certificate, the service login), and runs
its task workers. Its identity (key and self-signed certificate) is made on first start in
``<data-dir>/locations/<L>/identity``; give the portal that certificate (``server_cert``).

``worker`` runs the task workers of the local locations without serving anything, e.g. on
more hosts sharing the database and a Redis or PostgreSQL task queue.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import typer

from backuprun.clihelp import CONFIG, DATA_DIR, DATABASE_URL
from backuprun.config import ConfigError, Settings, load_settings

QUEUE_URL = typer.Option(None, "--task-queue-url", metavar="URL",
                         help="Task queue: redis://host:port/db, postgresql://..., or "
                              "sqlite:///path (env BACKUPRUN_TASK_QUEUE_URL; default "
                              "SQLite in the data folder).")
WORKERS = typer.Option(2, "--workers", min=0, metavar="N",
                       help="Task worker threads per location.")
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3  # a port is taken, an identity cannot be used
EXIT_DATABASE = 4  # as backuprun serve's


def _settings(config: Path | None, **overrides) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = EXIT_CONFIG):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _locations(settings: Settings, ids: list[int] | None):
    """The locations ``ids`` (None: every local one) from the configuration."""
    from backuprun.backupserver.locations import load_locations

    try:
        known = load_locations(settings)
    except ConfigError as exc:
        _fail(str(exc))
    wanted = ids or [loc.id for loc in known.values() if loc.is_local]
    missing = [i for i in wanted if i not in known]
    if missing:
        _fail(f"no location {missing[0]} in the configuration")
    return [known[i] for i in wanted]


def _migrate(settings: Settings) -> None:
    from backuprun.schema import DATABASE_ERRORS, migrate_sync, unavailable
    from backuprun.sqlutil import make_sync_engine

    try:
        engine = make_sync_engine(settings.sync_database_url)
        try:
            migrate_sync(engine)
        finally:
            engine.dispose()
    except DATABASE_ERRORS as exc:
        _fail(str(unavailable(settings.resolved_database_url, exc)), EXIT_DATABASE)


def backup_server(
    location: int = typer.Option(..., "--location", metavar="ID",
                                 help="The location this backup server serves (e.g. 528)."),
    listen: str = typer.Option("127.0.0.1:9443", "--listen", metavar="HOST:PORT",
                               help="Address of the internal API (mutual TLS)."),
    portal_cert: Path = typer.Option(None, "--portal-cert", metavar="PATH",
                                     help="The portal's certificate (PEM), pinned: only it may "
                                          "call the internal API (env BACKUPRUN_PORTAL_CERT)."),
    workers: int = WORKERS,
    config: Path = CONFIG, data_dir: Path = DATA_DIR, database_url: str = DATABASE_URL,
    task_queue_url: str = QUEUE_URL,
) -> None:
    """Run one location's backup server as its own process."""
    settings = _settings(config, data_dir=data_dir, database_url=database_url,
                         task_queue_url=task_queue_url,
                         portal_cert=str(portal_cert) if portal_cert else None)
    where = _locations(settings, [location])[0]
    from backuprun.backupserver.locations import identity_of
    from backuprun.transport.tls import IdentityError

    try:
        own = identity_of(where).cert_path  # made now, so the portal can be given it first
    except IdentityError as exc:
        _fail(str(exc), EXIT_UNAVAILABLE)
    if not settings.portal_cert or not Path(settings.portal_cert).is_file():
        _fail(f"give the portal's certificate with --portal-cert PATH (the portal makes it in "
              f"<its data dir>/portal-identity/cert.pem); give the portal this server's, "
              f"{own}, as server_cert")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        _fail(f"--listen {listen!r}: give HOST:PORT")
    _migrate(settings)
    from backuprun.backupserver.listeners import ListenerError
    from backuprun.backupserver.process import serve_location

    try:
        asyncio.run(serve_location(settings, where, host.strip("[]"), int(port), workers))
    except (ListenerError, IdentityError) as exc:
        _fail(f"{exc}; free the port or pick another (--listen, https_port)"
              if isinstance(exc, ListenerError) else str(exc), EXIT_UNAVAILABLE)


def worker(
    location: list[int] = typer.Option(None, "--location", metavar="ID",
                                       help="Only these locations' tasks (repeatable); "
                                            "default: every local location."),
    workers: int = WORKERS,
    config: Path = CONFIG, data_dir: Path = DATA_DIR, database_url: str = DATABASE_URL,
    task_queue_url: str = QUEUE_URL,
) -> None:
    """Run task workers (provisioning walks) in the foreground until Ctrl-C or SIGTERM."""
    from backuprun.backupserver.host import BackupServerHost

    settings = _settings(config, data_dir=data_dir, database_url=database_url,
                         task_queue_url=task_queue_url)
    locations = _locations(settings, location or None)
    _migrate(settings)
    host = BackupServerHost(settings, locations)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        host.run_workers(max(1, workers))
    finally:
        host.stop()
