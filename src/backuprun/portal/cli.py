"""``backuprun serve``: run the portal with uvicorn.

Every option can also come from the config file or a ``BACKUPRUN_<KEY>`` environment
variable (see ``backuprun.config``); an option given on the command line wins.

The main process reads the settings, then :func:`backuprun.portal.startup.prepare` checks
the data folder, binds the port and migrates the database (a failure: one line and its exit
code), then :func:`run` starts ``workers`` portal processes on that socket (uvicorn; each
process starts its own engine and mailer in the app's lifespan).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import typer

from backuprun.config import ConfigError, Settings, dumps, load_settings


def serve(
    host: str = typer.Option(None, "--host", metavar="ADDRESS", show_default="127.0.0.1",
                             help="Address to listen on (env BACKUPRUN_HOST)."),
    port: int = typer.Option(None, "--port", metavar="PORT", show_default="8080",
                             help="Port to listen on (env BACKUPRUN_PORT)."),
    workers: int = typer.Option(
        None, "--workers", metavar="N", show_default="1",
        help="Portal processes answering on the one port (e.g. one per CPU)."),
    data_dir: Path = typer.Option(
        None, "--data-dir", metavar="PATH", show_default="./backuprun-data",
        help="Data folder: SQLite database, task queue, mail outbox, the locations' disk "
             "safes and keys (env BACKUPRUN_DATA_DIR)."),
    config: Path = typer.Option(
        None, "--config", metavar="PATH", envvar="BACKUPRUN_CONFIG",
        help="TOML config file (env BACKUPRUN_CONFIG)."),
    database_url: str = typer.Option(
        None, "--database-url", metavar="URL", show_default="SQLite in the data folder",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pass@host/db "
             "(also env BACKUPRUN_DATABASE_URL)."),
    certfile: Path = typer.Option(None, "--certfile", metavar="PATH",
                                  help="TLS certificate (PEM): serve https."),
    keyfile: Path = typer.Option(None, "--keyfile", metavar="PATH",
                                 help="TLS private key (PEM)."),
    forwarded_allow_ips: str = typer.Option(
        None, "--forwarded-allow-ips", metavar="ADDRESSES",
        help="Comma-separated proxy addresses (or *) whose X-Forwarded-For/-Proto headers "
             "are trusted. Not given: forwarded headers are ignored."),
    public_url: str = typer.Option(
        None, "--public-url", metavar="URL",
        help="Base URL of the portal as users reach it (for e-mail links and the agent's "
             "install script)."),
) -> None:
    """Start the portal (the api.php API) on the embedded default or as configured."""
    settings = checked_settings(
        config, host=host, port=port, workers=workers, data_dir=data_dir,
        database_url=database_url, certfile=str(certfile) if certfile else None,
        keyfile=str(keyfile) if keyfile else None, forwarded_allow_ips=forwarded_allow_ips,
        public_url=public_url)
    sock = prepared(settings)
    scheme = "https" if settings.https else "http"
    typer.echo(f"The portal answers at {scheme}://{settings.host}:{settings.port}/api.php "
               f"({settings.workers} process(es)); Ctrl+C stops it.", err=True)
    if not run(settings, sock):
        raise typer.Exit(1)  # the app did not start; uvicorn logged why


def checked_settings(config: Path | None, **options) -> Settings:
    """The settings from the options, the environment and the config file; a wrong one is a
    usage error (exit code 2)."""
    try:
        settings = load_settings(config, **options)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if bool(settings.certfile) != bool(settings.keyfile):
        raise typer.BadParameter("--certfile and --keyfile go together")
    if settings.workers < 1:
        raise typer.BadParameter("--workers must be at least 1")
    if settings.smtp_url:
        from backuprun.portal.mail import SmtpTransport

        try:
            SmtpTransport(settings.smtp_url)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from exc
    if not settings.public_url and settings.host in ("0.0.0.0", "::", ""):
        typer.echo(f"warning: links in e-mails will point to {settings.resolved_public_url}; "
                   "set --public-url to the address users reach", err=True)
    return settings


def prepared(settings: Settings) -> socket.socket:
    """``startup.prepare``: checks, the bound socket, the migrated database; a failure is one
    line on stderr and its exit code."""
    from backuprun.portal.startup import StartupError, prepare

    try:
        return prepare(settings)
    except StartupError as exc:
        typer.echo(f"backuprun serve: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None


def uvicorn_config(settings: Settings, app=None):
    """uvicorn's configuration; ``app`` defaults to the factory of :func:`run`'s processes."""
    import uvicorn

    return uvicorn.Config(
        app or "backuprun.portal.app:serve_app", factory=app is None,
        host=settings.host, port=settings.port, workers=settings.workers,
        ssl_certfile=settings.certfile, ssl_keyfile=settings.keyfile,
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
        server_header=False, log_level="info", log_config=log_config(),
    )


def log_config() -> dict:
    """uvicorn's logging, with the portal's own loggers (``backuprun.*``) beside its own."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["backuprun"] = {"handlers": ["default"], "level": "INFO",
                                      "propagate": False}
    return config


def run(settings: Settings, sock: socket.socket) -> bool:
    """Serve on ``sock`` (bound by ``startup.prepare``) until interrupted: one process, or
    ``workers`` processes that uvicorn starts, watches and restarts. False when the portal
    did not start."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from backuprun.portal.app import SETTINGS_ENV

    os.environ[SETTINGS_ENV] = dumps(settings)  # what the portal processes run with
    config = uvicorn_config(settings)
    server = uvicorn.Server(config)
    if settings.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
        return True
    server.run(sockets=[sock])
    return server.started


if __name__ == "__main__":  # python -m backuprun.portal.cli [options]
    typer.run(serve)
