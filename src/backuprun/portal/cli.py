"""``backuprun serve``: run the portal with uvicorn.

Every option can also come from the config file or a ``BACKUPRUN_<KEY>`` environment
variable (see ``backuprun.config``); an option given on the command line wins.
"""

from __future__ import annotations

from pathlib import Path

import typer

from backuprun.config import ConfigError, Settings, load_settings


def serve(
    host: str = typer.Option(None, "--host", show_default="127.0.0.1",
                             help="Address to listen on."),
    port: int = typer.Option(None, "--port", show_default="8080", help="Port to listen on."),
    data_dir: Path = typer.Option(
        None, "--data-dir", show_default="./backuprun-data",
        help="Data folder: SQLite database, mail outbox."),
    config: Path = typer.Option(
        None, "--config", envvar="BACKUPRUN_CONFIG", help="TOML config file."),
    database_url: str = typer.Option(
        None, "--database-url", show_default="SQLite in the data folder",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pass@host/db "
             "(also env BACKUPRUN_DATABASE_URL)."),
    certfile: Path = typer.Option(None, "--certfile", help="TLS certificate (PEM): serve https."),
    keyfile: Path = typer.Option(None, "--keyfile", help="TLS private key (PEM)."),
    forwarded_allow_ips: str = typer.Option(
        None, "--forwarded-allow-ips",
        help="Comma-separated proxy addresses (or *) whose X-Forwarded-For/-Proto headers "
             "are trusted. Not given: forwarded headers are ignored."),
    public_url: str = typer.Option(
        None, "--public-url", help="Base URL of the portal as users reach it (for e-mail links)."),
) -> None:
    """Start the portal (the api.php API) on the embedded default or as configured."""
    try:
        settings = load_settings(
            config, host=host, port=port, data_dir=data_dir, database_url=database_url,
            certfile=str(certfile) if certfile else None,
            keyfile=str(keyfile) if keyfile else None,
            forwarded_allow_ips=forwarded_allow_ips, public_url=public_url)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if bool(settings.certfile) != bool(settings.keyfile):
        raise typer.BadParameter("--certfile and --keyfile go together")
    if settings.smtp_url:
        from backuprun.portal.mail import SmtpTransport

        try:
            SmtpTransport(settings.smtp_url)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from exc
    if not settings.public_url and settings.host in ("0.0.0.0", "::", ""):
        typer.echo(f"warning: links in e-mails will point to {settings.resolved_public_url}; "
                   "set --public-url to the address users reach", err=True)
    run(settings)


def uvicorn_config(settings: Settings, app=None):
    import uvicorn

    from backuprun.portal.app import create_app

    return uvicorn.Config(
        app or create_app(settings), host=settings.host, port=settings.port,
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


def run(settings: Settings) -> None:
    import uvicorn

    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    uvicorn.Server(uvicorn_config(settings)).run()


if __name__ == "__main__":  # python -m backuprun.portal.cli [options]
    typer.run(serve)
