"""Tasks and their logs: the states a task walks, the messages it writes, what they tell.

States: ``INITIALIZING`` (recorded), ``QUEUED`` (handed to the task queue), ``RUNNING`` (a
worker took it), then ``FINISHED``, ``ERROR`` or ``CANCELLED``. A task found ``RUNNING`` when
a worker takes it again was interrupted (its backup server died): it ends in ``ERROR``.

Every message has a stable key from :data:`CATALOG` (the API document's keys and ours, in
the same style; docs/api.md lists them), its parameters, a level and a source (``SERVER``
or ``AGENT``). Errors and warnings are counted on the task as they are written, so the
status calls never scan logs.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from backuprun.backupserver.models import BsService, BsTask, BsTaskMessage
from backuprun.sqlutil import utcnow

INITIALIZING, QUEUED, RUNNING = "INITIALIZING", "QUEUED", "RUNNING"
FINISHED, ERROR, CANCELLED = "FINISHED", "ERROR", "CANCELLED"
UNDER_WAY = (INITIALIZING, QUEUED, RUNNING)
INFO, WARNING, SEVERE = "INFO", "WARNING", "SEVERE"
LEVELS = (INFO, WARNING, SEVERE)
HISTORY = 10  # tasks in alert_history
MAX_MESSAGES = 2000  # per task; past this, warnings are only counted

# key: (level, text with {0}, {1}... for the parameters)
CATALOG: dict[str, tuple[str, str]] = {
    "Messages.Main.connecting-to-agent-at-port":
        (INFO, "Attempting to connect to agent {0} at port {1}"),
    "Errors.Main.connecting-to-agent-at-port-failed":
        (SEVERE, "Connecting to agent {0} at port {1} failed: {2}"),
    "Errors.Main.agent-does-not-trust-server":
        (SEVERE, "The agent at {0} port {1} refused this backup server: it does not trust "
                 "its key (run 'backuprun agent trust {2}' on the agent)"),
    "Errors.Main.agent-key-mismatch":
        (SEVERE, "The agent at {0} port {1} presented the key {2}, not the pinned {3}: "
                 "refused as an impostor (if the agent was reinstalled, activate the agent "
                 "again to reset the pin)"),
    "Messages.Main.agent-key-pinned": (INFO, "Pinned the agent's key {0} at first contact"),
    "Messages.Main.connected-to-agent":
        (INFO, "Connected to agent {0} ({1}, BackupRun agent {2})"),
    "Errors.Main.connection-to-agent-lost": (SEVERE, "The connection to the agent was lost: {0}"),
    "Errors.Main.disk-safe-unavailable": (SEVERE, "The disk safe cannot be used: {0}"),
    "Messages.Main.waiting-for-disk-safe":
        (INFO, "Waiting for the disk safe, which other work holds: {0}"),
    "Messages.Main.backup-started": (INFO, "Backup of {0} started (parent recovery point: {1})"),
    "Errors.Main.blob-mismatch":
        (SEVERE, "The agent sent data that does not match its id {0}: nothing of it was "
                 "stored, and the backup stops"),
    "Errors.Main.missing-data":
        (SEVERE, "The agent's folder listing {0} names data {1} that the disk safe does not "
                 "hold and the agent did not send: the backup stops, nothing of it kept"),
    "Messages.Main.recovery-point-created":
        (INFO, "Recovery point {0} created: {1} files, {2} bytes, {3} bytes of new data stored"),
    "Messages.Main.retention-applied":
        (INFO, "Retention: {0} recovery points removed, {1} kept, {2} bytes reclaimed"),
    "Warnings.Main.retention-postponed":
        (WARNING, "Retention was postponed to the next backup: {0}"),
    "Errors.Main.task-interrupted":
        (SEVERE, "The backup server stopped while this task ran; the task ended, nothing "
                 "half-done was kept"),
    "Messages.Main.task-cancelled": (WARNING, "The task was cancelled: {0}"),
    "Errors.Main.task-failed": (SEVERE, "The task failed: {0}"),
    "Errors.Main.task-finished": (INFO, "Task Finished"),
    "Messages.Main.restore-started":
        (INFO, "Restore of {0} from recovery point {1} to {2} started"),
    "Messages.Main.restore-finished": (INFO, "Restored {0} files, {1} bytes"),
    "Errors.Main.file-damaged":
        (SEVERE, "{0} was not restored: its data in the disk safe is damaged ({1})"),
    "Warnings.Agent.file-skipped": (WARNING, "{0}"),
    "Warnings.Agent.more-files-skipped": (WARNING, "{0} more files could not be read"),
    "Warnings.Agent.file-not-restored": (WARNING, "{0}"),
    "Errors.Agent.root-unreadable": (SEVERE, "The agent cannot read its root {0}"),
    "Errors.Agent.backup-failed": (SEVERE, "The backup failed on the agent: {0}"),
    "Errors.Agent.restore-failed": (SEVERE, "The restore failed on the agent: {0}"),
}


def text_of(key: str, params: list[str]) -> str:
    level_text = CATALOG.get(key)
    if level_text is None:
        return " ".join([key, *params])
    return level_text[1].format(*params)


class TaskLog:
    """Writes one task's state and messages, each in its own short transaction."""

    def __init__(self, sessions, task_id: str):
        self._sessions = sessions
        self.task_id = task_id
        self.errors = 0
        self.warnings = 0
        self._written = 0

    def add(self, key: str, params: list = (), source: str = "SERVER",
            level: str | None = None, text: str | None = None) -> None:
        params = [str(p) for p in params]
        level = level or CATALOG.get(key, (INFO, ""))[0]
        if level == SEVERE:
            self.errors += 1
        elif level == WARNING:
            self.warnings += 1
        with self._sessions() as db, db.begin():
            if self._written < MAX_MESSAGES or level == SEVERE or key == "Errors.Main.task-finished":
                db.add(BsTaskMessage(task_id=self.task_id, source=source, key=key,
                                     params=json.dumps(params), level=level,
                                     text=text if text is not None else text_of(key, params),
                                     at=utcnow()))
                self._written += 1
            db.execute(update(BsTask).where(BsTask.id == self.task_id)
                       .values(errors=self.errors, warnings=self.warnings))

    def progress(self, **counts: int) -> None:
        with self._sessions() as db, db.begin():
            db.execute(update(BsTask).where(BsTask.id == self.task_id).values(**counts))

    def finish(self, state: str, **values) -> None:
        """End the task in ``state`` and write the last message, ``task-finished``; a
        backup also tells its service what happened (``status_min_ok``)."""
        self.add("Errors.Main.task-finished")
        with self._sessions() as db, db.begin():
            task = db.get(BsTask, self.task_id)
            task.state = state
            task.finished_at = utcnow()
            for name, value in values.items():
                setattr(task, name, value)
            if task.kind == "backup" and state == FINISHED and task.errors == 0:
                db.execute(update(BsService).where(BsService.service_id == task.service_id)
                           .values(status_min_ok=True))


def new_task(db: Session, service_id: int, kind: str, scheduled: bool = False,
             args: dict | None = None) -> BsTask:
    task = BsTask(id=str(uuid.uuid4()), service_id=service_id, kind=kind, state=INITIALIZING,
                  scheduled=scheduled, args=json.dumps(args or {}), errors=0, warnings=0,
                  files=0, bytes=0, bytes_read=0, bytes_added=0, created_at=utcnow())
    db.add(task)
    return task


def under_way(db: Session, service_id: int, kind: str) -> BsTask | None:
    return db.scalar(select(BsTask).where(BsTask.service_id == service_id,
                                          BsTask.kind == kind,
                                          BsTask.state.in_(UNDER_WAY))
                     .order_by(BsTask.created_at.desc()).limit(1))


@dataclass(frozen=True)
class Summary:
    """What a service's tasks tell the status calls."""

    status: int = 0  # 0 pending, 1 active, 2 warning, 3 error (the last finished backup)
    running: bool = False
    n_alerts: int = 0
    history: tuple = ()  # dicts, newest first
    task: dict | None = None  # the latest task


def task_json(task: BsTask) -> dict:
    return {"taskExecutionContextId": task.id, "type": task.kind, "state": task.state,
            "scheduled": task.scheduled, "created": _when(task.created_at),
            "started": _when(task.started_at), "finished": _when(task.finished_at),
            "errors": task.errors, "warnings": task.warnings, "files": task.files,
            "bytes": task.bytes, "bytes_read": task.bytes_read, "bytes_added": task.bytes_added,
            "recoveryPointId": task.recovery_point or ""}


def _last_tasks():
    """The last :data:`HISTORY` tasks of each of the services ``:service_ids``; built once
    (building a statement with a subquery costs more than running it on SQLite)."""
    ranked = (select(BsTask.id, func.row_number().over(
        partition_by=BsTask.service_id,
        order_by=(BsTask.created_at.desc(), BsTask.id.desc())).label("n"))
        .where(BsTask.service_id.in_(bindparam("service_ids", expanding=True))).subquery())
    return (select(BsTask).join(ranked, ranked.c.id == BsTask.id)
            .where(ranked.c.n <= HISTORY)
            .order_by(BsTask.service_id, BsTask.created_at.desc(), BsTask.id.desc()))


_LAST_TASKS = _last_tasks()


def summaries(db: Session, service_ids: list[int]) -> dict[int, Summary]:
    """The summary of each service's last :data:`HISTORY` tasks (one query)."""
    rows = db.scalars(_LAST_TASKS, {"service_ids": list(service_ids)}).all()
    by_service: dict[int, list[BsTask]] = {}
    for task in rows:
        by_service.setdefault(task.service_id, []).append(task)
    return {sid: _summary(tasks) for sid, tasks in by_service.items()}


def _summary(tasks: list[BsTask]) -> Summary:
    last_backup = next((t for t in tasks if t.kind == "backup" and t.state in (FINISHED, ERROR)),
                       None)
    if last_backup is None:
        status, alerts = 0, 0
    else:
        alerts = last_backup.errors * 1000 + last_backup.warnings
        status = 3 if last_backup.state == ERROR or last_backup.errors else \
            2 if last_backup.warnings else 1
    return Summary(status=status, running=any(t.state in UNDER_WAY for t in tasks),
                   n_alerts=alerts, history=tuple(task_json(t) for t in tasks),
                   task=task_json(tasks[0]))


def failed_since(db: Session, location_id: int, since: datetime) -> list[dict]:
    """Backups of the location that ended in ERROR since ``since``, with the last SEVERE
    message's text as the reason."""
    tasks = db.scalars(select(BsTask).join(BsService, BsService.service_id == BsTask.service_id)
                       .where(BsService.location_id == location_id, BsTask.kind == "backup",
                              BsTask.state == ERROR, BsTask.finished_at >= since)).all()
    found = []
    for task in tasks:
        reason = db.scalar(select(BsTaskMessage.text).where(
            BsTaskMessage.task_id == task.id, BsTaskMessage.level == SEVERE)
            .order_by(BsTaskMessage.id.desc()).limit(1))
        found.append({**task_json(task), "service_id": task.service_id, "reason": reason or ""})
    return found


def messages_of(db: Session, task_id: str) -> list[dict]:
    rows = db.scalars(select(BsTaskMessage).where(BsTaskMessage.task_id == task_id)
                      .order_by(BsTaskMessage.id)).all()
    return [{"source": m.source, "key": m.key, "params": json.loads(m.params),
             "level": m.level, "text": m.text, "at": m.at.isoformat()} for m in rows]


def _when(at: datetime | None) -> str:
    return at.isoformat() if at is not None else ""
