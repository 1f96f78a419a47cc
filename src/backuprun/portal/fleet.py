"""The portal's backup servers: one client per location, and the servers this process hosts.

Local locations (the embedded default: all four) get a
:class:`~backuprun.backupserver.client.LocalBackupServer` over a
:class:`~backuprun.backupserver.host.BackupServerHost` whose task workers run in this
process, and whose public pages (key, service login) it serves on each location's
``https_port``; remote ones a :class:`~backuprun.backupserver.remote.RemoteBackupServer` over the
internal API, authenticated with the portal's identity (``<data_dir>/portal-identity``).
"""

from __future__ import annotations

from pathlib import Path

import anyio

from backuprun.backupserver.client import BackupServerClient, LocalBackupServer
from backuprun.backupserver.host import BackupServerHost, public_listeners
from backuprun.backupserver.listeners import Listeners
from backuprun.backupserver.locations import load_locations
from backuprun.config import Settings
from backuprun.lanes import Lane
from backuprun.transport.tls import Identity

PORTAL_IDENTITY = "portal-identity"


def portal_identity(settings: Settings) -> Identity:
    """The portal's key and certificate in ``<data_dir>/portal-identity`` (made if missing)."""
    return Identity.load_or_create(Path(settings.data_dir) / PORTAL_IDENTITY,
                                   "backuprun-portal")


class Fleet:
    def __init__(self, settings: Settings, workers: int | None = None,
                 serve_public: bool = True, reads: Lane | None = None):
        self.settings = settings
        self.reads = reads or Lane()  # the local servers' status reads
        self.locations = load_locations(settings)
        self.workers = settings.task_workers if workers is None else workers
        self.serve_public = serve_public
        self.host: BackupServerHost | None = None
        self.listeners: Listeners | None = None
        self.clients: dict[int, BackupServerClient] = {}

    async def start(self) -> None:
        """Start the local backup servers (their workers and, with ``serve_public``, their
        public https listeners) and make a client for every location."""
        local = [loc for loc in self.locations.values() if loc.is_local]
        if local:
            self.host = await anyio.to_thread.run_sync(BackupServerHost, self.settings, local)
            if self.serve_public:
                self.listeners = public_listeners(self.host, local,
                                                  shared=self.settings.workers > 1)
                await self.listeners.start()
            if self.workers:
                self.host.start_workers(self.workers)
        for location in self.locations.values():
            if location.is_local:
                self.clients[location.id] = LocalBackupServer(self.host.servers[location.id],
                                                               self.reads)
            else:
                self.clients[location.id] = self._remote(location)

    def _remote(self, location) -> BackupServerClient:
        from backuprun.backupserver.remote import RemoteBackupServer

        return RemoteBackupServer(location.server, portal_identity(self.settings),
                                  Path(location.server_cert))

    async def stop(self) -> None:
        if self.listeners is not None:
            await self.listeners.stop()
        for client in self.clients.values():
            await client.close()
        if self.host is not None:
            await anyio.to_thread.run_sync(self.host.stop)
