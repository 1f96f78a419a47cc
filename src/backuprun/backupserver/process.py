"""One location's backup server in a process of its own (``backuprun backup-server``)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import anyio

from backuprun.backupserver import internal_api
from backuprun.backupserver.host import BackupServerHost, public_listeners
from backuprun.backupserver.locations import identity_of
from backuprun.backupserver.listeners import Listener, Listeners
from backuprun.backupserver.locations import Location
from backuprun.config import Settings
from backuprun.transport import tls

log = logging.getLogger(__name__)


async def serve_location(settings: Settings, location: Location, host: str, port: int,
                         workers: int) -> None:
    """Serve the internal API on ``host:port`` (only the pinned portal gets through the
    handshake) and the public app on the location's ``https_port``; run the task workers;
    stop on SIGINT or SIGTERM."""
    servers = await anyio.to_thread.run_sync(BackupServerHost, settings, [location])
    identity = identity_of(location)
    internal = Listener(
        "internal API", internal_api.create_app(servers.servers[location.id]), host, port,
        tls.server_context(identity, [Path(settings.portal_cert)]))
    listeners = Listeners([internal, *public_listeners(servers, [location]).listeners])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await listeners.start()
        if workers:
            servers.start_workers(workers)
        print(f"backup server of location {location.id} ({location.name}): internal API on "
              f"{listeners.url('internal API')}, public on "
              f"{listeners.url(f'location {location.id}')}; key {identity.fingerprint}",
              flush=True)
        await stop.wait()
    finally:
        await listeners.stop()
        await anyio.to_thread.run_sync(servers.stop)
