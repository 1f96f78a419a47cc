"""The backup servers one process runs, their task queue and its workers.

``backuprun serve`` hosts every local location's backup server (the embedded default: all
four); ``backuprun backup-server --location L`` hosts one; ``backuprun worker`` hosts the
same servers only to run their tasks. Hosts of one deployment share the database and the
task queue, so any of them may run any walk: the queue's ledger makes sure one runs it
at a time (:mod:`backuprun.tasks`).
"""

from __future__ import annotations

import logging
from typing import Iterable

from backuprun.backupserver.locations import Location
from backuprun.backupserver.secrets import SecretBox
from backuprun.backupserver.server import BackupServer
from backuprun.config import Settings
from backuprun.sqlutil import make_sync_engine
from backuprun.tasks.queue import TaskQueue

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60  # how often due removals of terminated services are looked for


class BackupServerHost:
    def __init__(self, settings: Settings, locations: Iterable[Location],
                 queue_name: str = "backuprun"):
        self.engine = make_sync_engine(settings.sync_database_url)
        self.queue = TaskQueue(settings.resolved_task_queue_url, self.engine, name=queue_name,
                               lease_ttl=settings.provisioning_lease_seconds)
        self.servers: dict[int, BackupServer] = {
            location.id: BackupServer(location, self.engine, SecretBox.in_folder(
                location.data_dir), submit_walk=self.submit_walk)
            for location in locations
        }
        self._walk = self.queue.keyed_task(name="walk", retries=4, retry_delay=1,
                                           retry_backoff=2)(self._run_walk)
        self.queue.periodic(SWEEP_SECONDS, name="sweep")(self.sweep)
        self._workers = None

    def _run_walk(self, location_id: int, service_id: int) -> None:
        server = self.servers.get(location_id)
        if server is None:
            raise RuntimeError(f"this host does not run location {location_id}'s server")
        server.walker.run(service_id)

    def submit_walk(self, location_id: int, service_id: int) -> None:
        self._walk.submit(f"walk:{location_id}:{service_id}", location_id, service_id)

    def sweep(self) -> None:
        """Hand due removals of terminated services to the queue."""
        for server in self.servers.values():
            for service_id in server.due_removals():
                self.submit_walk(server.location_id, service_id)

    def start_workers(self, workers: int = 2) -> None:
        self._workers = self.queue.start_workers(workers)

    def run_workers(self, workers: int = 2) -> None:
        """Run the workers in the foreground until SIGINT or SIGTERM."""
        self.queue.run_workers(workers)

    def stop(self) -> None:
        if self._workers is not None:
            self._workers.stop()
            self._workers = None
        self.engine.dispose()
