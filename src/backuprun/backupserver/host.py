"""The backup servers one process runs, their task queue and its workers.

``backuprun serve`` hosts every local location's backup server (the embedded default: all
four); ``backuprun backup-server --location L`` hosts one; ``backuprun worker`` hosts the
same servers only to run their tasks. Hosts of one deployment share the database and the
task queue, so any of them may run any walk: the queue's ledger makes sure one runs it
at a time (:mod:`backuprun.tasks`).
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Iterable

from backuprun.backupserver import public, schedule, taskrun
from backuprun.backupserver.listeners import Listener, Listeners
from backuprun.backupserver.locations import Location, identity_of
from backuprun.backupserver.secrets import SecretBox
from backuprun.backupserver.server import BackupServer
from backuprun.config import Settings
from backuprun.sqlutil import make_read_engine, make_sync_engine
from backuprun.tasks.queue import TaskQueue
from backuprun.transport import tls

log = logging.getLogger(__name__)

SWEEP_MINUTES = 1  # how often due removals of terminated services are looked for


class BackupServerHost:
    """Each hosted location has its own queue (``backuprun-<id>``), so a host takes only the
    tasks of the locations it serves, whoever else shares the queue's engine."""

    def __init__(self, settings: Settings, locations: Iterable[Location]):
        self.engine = make_sync_engine(settings.sync_database_url)
        self.read_engine = make_read_engine(settings.sync_database_url)
        self.servers: dict[int, BackupServer] = {}
        self.queues: dict[int, TaskQueue] = {}
        self._walks = {}
        self._tasks = {}
        for location in locations:
            queue = TaskQueue(settings.resolved_task_queue_url, self.engine,
                              name=f"backuprun-{location.id}",
                              lease_ttl=settings.provisioning_lease_seconds,
                              cooldown=settings.task_cooldown_seconds)
            server = BackupServer(location, self.engine, SecretBox.in_folder(location.data_dir),
                                  submit_walk=self.submit_walk, submit_task=self.submit_task,
                                  read_engine=self.read_engine)
            self.servers[location.id] = server
            self.queues[location.id] = queue
            self._walks[location.id] = queue.keyed_task(
                name="walk", retries=4, retry_delay=1, retry_backoff=2)(server.walker.run)
            # a task ends in a state of its own whatever happens: nothing to retry
            self._tasks[location.id] = queue.keyed_task(name="task", retries=0)(
                functools.partial(taskrun.run_task, server))
            queue.periodic(SWEEP_MINUTES, name="sweep")(self._sweeper(server))
        self.schedule_seconds = settings.schedule_check_seconds
        self._workers: list = []
        self._stop_scheduler = threading.Event()
        self._scheduler: threading.Thread | None = None

    def submit_walk(self, location_id: int, service_id: int) -> None:
        self._walks[location_id].submit(f"walk:{location_id}:{service_id}", service_id)

    def submit_task(self, location_id: int, task_id: str) -> None:
        self._tasks[location_id].submit(f"task:{location_id}:{task_id}", task_id)

    def _sweeper(self, server: BackupServer):
        def sweep() -> None:
            """Hand due removals of terminated services to the queue."""
            for service_id in server.due_removals():
                self.submit_walk(server.location_id, service_id)
        return sweep

    def start_workers(self, workers: int = 1) -> None:
        """Start ``workers`` worker threads per location, in this process, and the thread
        that queues scheduled backups (:mod:`.schedule`)."""
        self._workers = [queue.start_workers(workers) for queue in self.queues.values()]
        self._stop_scheduler.clear()
        self._scheduler = threading.Thread(target=self._schedule_loop, daemon=True,
                                           name="backuprun-schedule")
        self._scheduler.start()

    def _schedule_loop(self) -> None:
        while not self._stop_scheduler.wait(self.schedule_seconds):
            for server in self.servers.values():
                try:
                    schedule.run_due(server)
                except Exception:  # noqa: BLE001 - a database hiccup: next round
                    log.exception("location %s: the schedule check failed",
                                  server.location_id)

    def run_workers(self, workers: int = 1) -> None:
        """Run the workers in the foreground until SIGINT or SIGTERM (KeyboardInterrupt)."""
        self.start_workers(workers)
        stop = threading.Event()
        try:
            while not stop.wait(3600):
                pass
        except KeyboardInterrupt:
            log.info("stopping workers")

    def stop(self) -> None:
        self._stop_scheduler.set()
        if self._scheduler is not None:
            self._scheduler.join()
            self._scheduler = None
        for handle in self._workers:
            handle.stop()
        self._workers = []
        self.engine.dispose()
        self.read_engine.dispose()


def public_listeners(host: BackupServerHost, locations: Iterable[Location],
                     shared: bool = False) -> Listeners:
    """Each location's public https app (its certificate, the service login) on its
    ``ip``:``https_port``, over TLS with the backup server's own identity. ``shared``: the
    port is served by several processes of one ``serve --workers N`` (SO_REUSEPORT)."""
    listeners = []
    for location in locations:
        identity = identity_of(location)
        app = public.create_app(host.servers[location.id], identity, location.name,
                                public.load_or_create_secret(location.data_dir))
        listeners.append(Listener(f"location {location.id}", app, location.ip,
                                  location.https_port, tls.server_context(identity),
                                  reuse_port=shared))
    return Listeners(listeners)
