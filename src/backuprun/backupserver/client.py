"""What the portal may ask of a location's backup server: one interface, two ways to reach it.

:class:`BackupServerClient` is the interface. :class:`LocalBackupServer` calls a
:class:`~backuprun.backupserver.server.BackupServer` in this process (on a worker thread: the
server's work is synchronous); :class:`~backuprun.backupserver.remote.RemoteBackupServer`
calls one in another process over the internal API. Arguments and answers are the plain
dataclasses below, which travel as JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

import anyio

from backuprun.lanes import Lane

if TYPE_CHECKING:
    from backuprun.backupserver.server import BackupServer


class BackupServerError(Exception):
    """A refusal by the backup server, with a stable code the portal maps to its own."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Unreachable(BackupServerError):
    """The backup server could not be reached (remote only)."""

    def __init__(self, message: str):
        super().__init__("unreachable", message)


@dataclass(frozen=True)
class ServiceSpec:
    """A service as the backup server needs it: where the agent is, how to keep its data."""

    service_id: int
    name: str
    host: str
    port: int
    encrypt: bool
    password: str | None = None  # the disk-safe password; None: unchanged (changes only)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ServiceSpec":
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class ServiceState:
    """A service as its backup server sees it."""

    service_id: int
    create_status: int  # the walk: -4, -1, 0, 1, 2, 3, 4, 5, 10
    error: str = ""  # the last provisioning error, while the walk is stuck on it
    username: str = ""  # the service's login on this backup server (from step 2 on)
    password: str = ""
    disk_usage: int = 0  # bytes the service's disk safe takes
    recovery_points: int = 0
    removed: bool = False  # terminated and its data deleted
    # what its tasks tell (backupserver.tasklog)
    status: int = 0  # 0 pending, 1 active, 2 warning, 3 error: the last finished backup
    running: bool = False  # a task is under way
    n_alerts: int = 0  # errors * 1000 + warnings of the last finished backup
    alert_history: list = dataclasses.field(default_factory=list)  # recent tasks, newest first
    task: dict | None = None  # the latest task
    ostype: str = ""  # as the agent said
    first_backup_try: bool = False
    startup_ok: bool = False
    status_min_ok: bool = False

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ServiceState":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


class BackupServerClient(Protocol):
    """The portal's view of one location's backup server. Every method is idempotent."""

    async def provision(self, spec: ServiceSpec) -> ServiceState:
        """Start (or continue) the walk of a new service; answers at once."""

    async def change(self, spec: ServiceSpec) -> ServiceState:
        """Apply a changed spec (``activateAgent``); ``create_status`` is -1 until applied.
        Refuses (``BackupServerError``) turning encryption on or off once recovery points
        exist."""

    async def terminate(self, service_id: int, grace_seconds: int) -> ServiceState:
        """Stop all work at once (-4); delete the service's data after ``grace_seconds``."""

    async def release(self, service_id: int) -> None:
        """Give the service up at once with its empty disk safe (it moves to another
        location); refused (``has_recovery_points``) once it holds recovery points."""

    async def cancel_termination(self, service_id: int) -> ServiceState:
        """Keep a terminated service whose data is not deleted yet; its walk resumes."""

    async def states(self, service_ids: list[int]) -> dict[int, ServiceState]:
        """The states of the services this server knows among ``service_ids``."""

    async def walk_log(self, service_id: int) -> list[dict]:
        """The service's walk, step by step (for operators)."""

    async def run_policy(self, service_id: int) -> dict:
        """Queue a backup of the service now; a backup already under way is answered
        instead of a second one. The task as :func:`~.tasklog.task_json` shows it."""

    async def task_detail(self, task_id: str) -> dict:
        """``{"service_id", "task", "messages"}`` of a task (``unknown_task`` if none)."""

    async def failed_tasks(self, since: str) -> list[dict]:
        """Backups that ended in ERROR since the ISO time ``since`` (for the e-mails)."""

    async def policy(self, service_id: int) -> dict:
        """The service's policy: ``name``, ``schedule``, ``keep_last``, ``excludes``,
        ``next_run``."""

    async def set_policy(self, service_id: int, schedule: str | None, keep_last: int | None,
                         excludes: list[str] | None) -> dict:
        """Change the policy (None: unchanged); the policy as it is then."""

    async def recovery_points(self, service_id: int) -> list[dict]:
        """The service's recovery points, newest first (``points.recovery_points``)."""

    async def browse(self, service_id: int, point_id: str, path: str) -> list[dict]:
        """The entries of a folder in a recovery point."""

    async def restore(self, service_id: int, point_id: str, paths: list[str], target: str,
                      overwrite: bool) -> dict:
        """Queue a restore through the agent; the task."""

    def download(self, service_id: int, point_id: str, paths: list[str],
                 fmt: str) -> AsyncIterator[bytes]:
        """An archive of ``paths``; errors (``BackupServerError``) come before the first
        piece."""

    async def close(self) -> None:
        """Release connections."""


class LocalBackupServer:
    """A backup server in this process."""

    def __init__(self, server: "BackupServer", reads: Lane | None = None):
        self.server = server
        self._reads = reads or Lane()

    async def _run(self, fn, *args):
        return await anyio.to_thread.run_sync(fn, *args)

    async def _read(self, fn, *args):
        """A short database read, on the lane of the portal's reads (``backuprun.lanes``)."""
        return await self._reads.run(fn, *args)

    async def provision(self, spec: ServiceSpec) -> ServiceState:
        return await self._run(self.server.provision, spec)

    async def change(self, spec: ServiceSpec) -> ServiceState:
        return await self._run(self.server.change, spec)

    async def terminate(self, service_id: int, grace_seconds: int) -> ServiceState:
        return await self._run(self.server.terminate, service_id, grace_seconds)

    async def release(self, service_id: int) -> None:
        return await self._run(self.server.release, service_id)

    async def cancel_termination(self, service_id: int) -> ServiceState:
        return await self._run(self.server.cancel_termination, service_id)

    async def states(self, service_ids: list[int]) -> dict[int, ServiceState]:
        return await self._read(self.server.states, service_ids)

    async def walk_log(self, service_id: int) -> list[dict]:
        return await self._read(self.server.walk_log, service_id)

    async def run_policy(self, service_id: int) -> dict:
        return await self._run(self.server.run_policy, service_id)

    async def task_detail(self, task_id: str) -> dict:
        return await self._read(self.server.task_detail, task_id)

    async def failed_tasks(self, since: str) -> list[dict]:
        return await self._read(self.server.failed_tasks, since)

    async def policy(self, service_id: int) -> dict:
        return await self._read(self.server.policy, service_id)

    async def set_policy(self, service_id: int, schedule: str | None, keep_last: int | None,
                         excludes: list[str] | None) -> dict:
        return await self._run(self.server.set_policy, service_id, schedule, keep_last,
                               excludes)

    async def recovery_points(self, service_id: int) -> list[dict]:
        return await self._run(self.server.recovery_points, service_id)

    async def browse(self, service_id: int, point_id: str, path: str) -> list[dict]:
        return await self._run(self.server.browse, service_id, point_id, path)

    async def restore(self, service_id: int, point_id: str, paths: list[str], target: str,
                      overwrite: bool) -> dict:
        return await self._run(self.server.restore, service_id, point_id, paths, target,
                               overwrite)

    async def download(self, service_id: int, point_id: str, paths: list[str],
                       fmt: str) -> AsyncIterator[bytes]:
        pieces = await self._run(self.server.download, service_id, point_id, paths, fmt)
        try:
            while (piece := await self._run(next, pieces, None)) is not None:
                yield piece
        finally:
            await self._run(pieces.close)

    async def close(self) -> None:
        return None
