"""Running one task on a worker: claim it, reach the agent, open the disk safe, end it.

:func:`run_task` is what the task queue calls with a task id. It claims the task (QUEUED to
RUNNING); a task already RUNNING was interrupted by a dead worker and ends in ERROR. The
job (:mod:`.backup`, :mod:`.restore`) never lets an exception out: whatever happens, the
task ends in a final state with its messages, so the queue has nothing to retry.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from backuprun.backupserver import agentlink, points, tasklog
from backuprun.backupserver.client import BackupServerError
from backuprun.backupserver.locations import identity_of
from backuprun.backupserver.models import (CHANGING, READY, TERMINATED, BsAgent, BsDiskSafe,
                                           BsPolicy, BsService, BsTask)
from backuprun.backupserver.tasklog import CANCELLED, ERROR, RUNNING, TaskLog
from backuprun.disksafe.errors import SafeLocked
from backuprun.disksafe.lock import Lock
from backuprun.disksafe.repository import Repository
from backuprun.sqlutil import utcnow

if TYPE_CHECKING:
    from backuprun.backupserver.server import BackupServer

log = logging.getLogger(__name__)


SILENCE = 300.0  # seconds an agent may send nothing before it is taken for lost
CHECK_EVERY = 5.0  # seconds between looks at whether the task was cancelled
LOCK_WAIT = 3600.0  # seconds a task waits for the disk safe another task holds
LOCK_POLL = 2.0


class TaskStopped(Exception):
    """The task cannot go on; its SEVERE message is written already."""


class Cancelled(Exception):
    """The task's service was terminated or is being changed: the task stops."""


@dataclass
class TaskContext:
    """What a job works with: the task, its service's rows, its log."""

    server: "BackupServer"
    task: BsTask
    service: BsService
    agent: BsAgent
    safe: BsDiskSafe
    policy: BsPolicy
    log: TaskLog
    _next_check: float = 0.0

    def connect(self, path: str) -> tuple[agentlink.Channel, dict]:
        """The task's channel to the agent, after the pin check and its ``hello``; pins
        the agent's key at first contact. :class:`TaskStopped` with the reason logged."""
        host, port = self.agent.host, self.agent.port
        self.log.add("Messages.Main.connecting-to-agent-at-port", [host, port])
        identity = identity_of(self.server.location)
        pinned = self.agent.key_fingerprint
        try:
            try:
                channel, fingerprint = agentlink.open_channel(host, port, identity, pinned, path)
            except agentlink.AgentUnreachable as exc:
                if "timed out" not in str(exc):
                    raise
                # a connection that stalled (seen once, cause unknown): one more try
                channel, fingerprint = agentlink.open_channel(host, port, identity, pinned, path)
        except agentlink.AgentImpostor as exc:
            self.log.add("Errors.Main.agent-key-mismatch", [host, port, exc.presented, pinned])
            raise TaskStopped() from None
        except agentlink.AgentRefused:
            where = self.server.location
            self.log.add("Errors.Main.agent-does-not-trust-server",
                         [host, port, f"https://{where.ip}:{where.https_port}"])
            raise TaskStopped() from None
        except agentlink.AgentUnreachable as exc:
            reason = str(exc).split(": ", 1)[-1]
            self.log.add("Errors.Main.connecting-to-agent-at-port-failed", [host, port, reason])
            raise TaskStopped() from None
        except agentlink.AgentLinkError as exc:
            self.log.add("Errors.Main.connecting-to-agent-at-port-failed",
                         [host, port, str(exc).split(": ", 1)[-1]])
            raise TaskStopped() from None
        try:
            hello = channel.receive(timeout=30)
            if hello.get("t") != "hello":
                raise agentlink.AgentLinkError(host, port, "did not say hello")
        except agentlink.AgentLinkError as exc:
            channel.close()
            self.log.add("Errors.Main.connection-to-agent-lost", [str(exc)])
            raise TaskStopped() from None
        with self.server.session() as db, db.begin():
            agent = db.get(BsAgent, self.agent.id)
            if agent.key_fingerprint is None:
                agent.key_fingerprint = fingerprint
            agent.ostype = str(hello.get("ostype") or "")[:64]
            agent.hostname = str(hello.get("hostname") or "")[:253]
            agent.version = str(hello.get("version") or "")[:64]
            db.execute(update(BsService).where(BsService.service_id == self.service.service_id)
                       .values(startup_ok=True))
        if pinned is None:
            self.log.add("Messages.Main.agent-key-pinned", [fingerprint])
        self.log.add("Messages.Main.connected-to-agent",
                     [hello.get("hostname"), hello.get("ostype"), hello.get("version")])
        return channel, hello

    def open_safe(self) -> Repository:
        """The service's disk safe, opened with its password (index loaded)."""
        try:
            return points.open_safe(self.server, self.service.service_id)
        except BackupServerError as exc:
            self.log.add("Errors.Main.disk-safe-unavailable", [exc.message])
            raise TaskStopped() from None

    def agent_said(self, message: dict, level: str | None = None) -> None:
        """Log an agent's ``log`` (or ``failed``) message, as the agent's."""
        said = message.get("level")
        self.log.add(str(message.get("key"))[:128], [str(p) for p in message.get("params") or []],
                     source="AGENT",
                     level=level or (said if said in tasklog.LEVELS else tasklog.INFO),
                     text=str(message.get("text") or ""))

    @contextlib.contextmanager
    def locked(self, repo: Repository, exclusive: bool, purpose: str) -> Iterator[Lock]:
        """The disk safe's lock, waiting (up to :data:`LOCK_WAIT`) while another task holds
        it: a restore asked for during a backup starts when the backup ends."""
        deadline = time.monotonic() + LOCK_WAIT
        waiting = False
        while True:
            try:
                lock = repo.lock(exclusive, purpose).acquire()
                break
            except SafeLocked as exc:
                if time.monotonic() > deadline:
                    raise
                if not waiting:
                    self.log.add("Messages.Main.waiting-for-disk-safe", [str(exc)])
                    waiting = True
                self.check_cancelled()
                time.sleep(LOCK_POLL)
        try:
            yield lock
        finally:
            lock.release()

    def receive(self, channel: agentlink.Channel) -> dict:
        """The agent's next message; looks for a cancellation while it waits, and takes the
        agent for lost after :data:`SILENCE` seconds without a word."""
        silent = 0.0
        while True:
            try:
                return channel.receive(timeout=CHECK_EVERY)
            except agentlink.AgentSilent:
                silent += CHECK_EVERY
                self.check_cancelled()
                if silent >= SILENCE:
                    raise agentlink.AgentLost(channel.host, channel.port,
                                              f"the agent sent nothing for {SILENCE:.0f} s") \
                        from None

    def check_cancelled(self) -> None:
        """:class:`Cancelled` when the service was terminated or is being changed; looks
        at most every :data:`CHECK_EVERY` seconds (call it as often as convenient)."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_EVERY
        with self.server.reading() as db:
            status = db.scalar(select(BsService.create_status)
                               .where(BsService.service_id == self.service.service_id))
        if status == TERMINATED:
            raise Cancelled("the service was terminated")
        if status == CHANGING:
            raise Cancelled("the service is being changed")


def run_task(server: "BackupServer", task_id: str) -> None:
    """Claim and run the task ``task_id`` (see the module docstring)."""
    with server.session() as db, db.begin():
        task = db.get(BsTask, task_id)
        if task is None:
            return
        state = task.state
        if state in tasklog.UNDER_WAY and state != RUNNING:
            task.state, task.started_at = RUNNING, utcnow()
            if task.kind == "backup":
                db.execute(update(BsService).where(BsService.service_id == task.service_id)
                           .values(first_backup_try=True))
    log_ = TaskLog(server.session, task_id)
    log_.errors, log_.warnings = task.errors, task.warnings
    if state == RUNNING:  # a worker died with it
        log_.add("Errors.Main.task-interrupted")
        log_.finish(ERROR)
        return
    if state not in tasklog.UNDER_WAY:
        return  # over already
    from backuprun.backupserver import backup, restore

    job = {"backup": backup.run, "restore": restore.run}[task.kind]
    try:
        job(_context(server, task, log_))
    except TaskStopped:
        log_.finish(ERROR)
    except Cancelled as exc:
        log_.add("Messages.Main.task-cancelled", [str(exc)])
        log_.finish(CANCELLED)
    except SafeLocked as exc:
        log_.add("Errors.Main.disk-safe-unavailable", [str(exc)])
        log_.finish(ERROR)
    except agentlink.AgentLinkError as exc:
        log_.add("Errors.Main.connection-to-agent-lost", [str(exc).split(": ", 1)[-1]])
        log_.finish(ERROR)
    except Exception as exc:  # noqa: BLE001 - a task ends in a state, never in the queue
        log.exception("task %s failed", task_id)
        log_.add("Errors.Main.task-failed", [f"{type(exc).__name__}: {exc}"])
        log_.finish(ERROR)


def _context(server: "BackupServer", task: BsTask, log_: TaskLog) -> TaskContext:
    with server.reading() as db:
        service = db.get(BsService, task.service_id)

        def one(model):
            return db.scalar(select(model).where(model.service_id == task.service_id))

        agent, safe, policy = one(BsAgent), one(BsDiskSafe), one(BsPolicy)
    if service is None or service.create_status != READY or None in (agent, safe, policy):
        log_.add("Errors.Main.task-failed", ["the service is not ready on this backup server"])
        raise TaskStopped()
    return TaskContext(server, task, service, agent, safe, policy, log_)
