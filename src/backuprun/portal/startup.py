"""What ``backuprun serve`` checks and prepares in its main process, before any portal
process starts (and before anything else the main process runs beside them).

Rules:
- Check before creating: the data folder is checked (not made), the port is bound, the
  database is reached; only then is anything created (the data folder, the SQLite file, the
  schema).
- The schema is migrated here, once, for all portal processes; they only use it (on
  PostgreSQL an advisory lock still serialises several ``serve`` commands starting at once).
- The bound socket is handed to uvicorn, so nothing can take the port in between.
- Each failure is a :class:`StartupError`: one line saying what is wrong and what to do, and
  an exit code of its own (documented in docs/portal.md).
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from backuprun.config import Settings

EXIT_DATA_DIR = 3
EXIT_DATABASE = 4
EXIT_LISTEN = 5
EXIT_CONFIG = 2


class StartupError(Exception):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def prepare(settings: Settings) -> socket.socket:
    """Check everything, then create the data folder and migrate the database; the socket
    bound to ``host:port`` for uvicorn."""
    check_data_dir(Path(settings.data_dir))
    check_locations(settings)
    sock = listen(settings.host, settings.port)
    try:
        asyncio.run(prepare_database(settings.resolved_database_url))
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        portal_identity(settings)
    except BaseException:
        sock.close()
        raise
    return sock


def portal_identity(settings: Settings):
    """The portal's key and certificate (made at the first start): what a backup server of
    its own pins (``--portal-cert <data-dir>/portal-identity/cert.pem``)."""
    from backuprun.portal.fleet import portal_identity as load
    from backuprun.transport.tls import IdentityError

    try:
        return load(settings)
    except IdentityError as exc:
        raise StartupError(f"{exc}", EXIT_DATA_DIR) from exc


def check_data_dir(path: Path) -> None:
    """The data folder is a writable folder, or can be made as one."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    what = f"the data folder {path}" if existing == path else f"{existing} (on the way to {path})"
    if not existing.is_dir():
        raise StartupError(f"{what} is a file, not a folder; name a folder with --data-dir "
                           "(it is made if missing)", EXIT_DATA_DIR)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StartupError(f"{what} is not writable by this user; choose another "
                           "--data-dir or change its permissions", EXIT_DATA_DIR)


def check_locations(settings: Settings) -> None:
    """The locations' configuration is sound, and the public port of each location whose
    backup server runs in this process is free."""
    from backuprun.backupserver.locations import load_locations
    from backuprun.config import ConfigError

    try:
        locations = load_locations(settings)
    except ConfigError as exc:
        raise StartupError(f"{exc}; fix the config file", EXIT_CONFIG) from exc
    for location in locations.values():
        if not location.is_local and not Path(location.server_cert).is_file():
            raise StartupError(
                f"location {location.id}: server_cert {location.server_cert} is not a file; "
                f"copy there the certificate its backup server made (<its data dir>/locations/"
                f"{location.id}/identity/cert.pem)", EXIT_CONFIG)
        if location.is_local:
            what = f"location {location.id}'s backup server"
            listen(location.ip, location.https_port, what,
                   "set its https_port or location_https_port_base").close()


def listen(host: str, port: int, what: str = "the portal",
           change: str = "choose another --port (or --host)") -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise StartupError(f"{what} cannot listen on {host}:{port}: {reason}; stop the program "
                           f"that uses it or {change}", EXIT_LISTEN) from exc
    sock.set_inheritable(True)
    return sock


async def prepare_database(url: str) -> None:
    from backuprun.portal import db as database
    from backuprun.schema import DATABASE_ERRORS, unavailable

    try:
        engine = database.make_engine(url)
        try:
            await database.migrate(engine)
        finally:
            await engine.dispose()
    except DATABASE_ERRORS as exc:
        raise StartupError(str(unavailable(url, exc)), EXIT_DATABASE) from exc
