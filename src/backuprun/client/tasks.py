"""Waiting for a task (a backup or a restore) as the activation page does: ``getBackupStatus``
every second until the task is ``FINISHED``, ``ERROR`` or ``CANCELLED``.

- The answer's ``<task>`` is the service's latest task: while it is ours, its attributes
  (``taskstate``, ``files``, ``bytes``, ``bytes_read``) are read. When a newer task took
  its place, ours is found by its ``taskExecutionContextId`` in ``alert_history``.
- A portal that does not answer for a moment (a restart) is asked again, for up to
  :data:`PATIENCE` seconds; a task that is in neither place is ``task_not_found``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from xml.etree.ElementTree import Element

from backuprun.client.api import ApiError, Portal, Unreachable

FINAL = ("FINISHED", "ERROR", "CANCELLED")
POLL_SECONDS = 1.0
PATIENCE = 30.0
NOTEWORTHY = ("WARNING", "SEVERE")


@dataclass
class TaskView:
    taskExecutionContextId: str  # noqa: N815 - the wire's name
    type: str
    state: str
    files: int = 0
    bytes: int = 0
    bytes_read: int = 0

    def as_json(self) -> dict:
        return asdict(self)


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def find_task(agent: Element, task_id: str) -> TaskView | None:
    """Task ``task_id`` as a ``getBackupStatus`` ``<agent>`` shows it, or ``None``."""
    task = agent.find("task")
    if task is not None and task.get("taskexecutioncontextid") == task_id:
        return TaskView(task_id, task.get("type", ""), task.get("taskstate", ""),
                        _int(task.get("files")), _int(task.get("bytes")),
                        _int(task.get("bytes_read")))
    try:
        entries = json.loads(agent.get("alert_history") or "[]")
    except ValueError:
        entries = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("taskExecutionContextId") == task_id:
            return TaskView(task_id, str(entry.get("type", "")), str(entry.get("state", "")),
                            _int(entry.get("files")), _int(entry.get("bytes")))
    return None


def status(portal: Portal, service_id: str, task_id: str) -> TaskView:
    agent = portal.call("getBackupStatus", service_id=service_id,
                        timezoneOffset=0).find("agent")
    found = find_task(agent, task_id) if agent is not None else None
    if found is None:
        raise ApiError("task_not_found", f"The service {service_id} shows no task {task_id}.")
    return found


def wait(portal: Portal, service_id: str, task_id: str,
         update: Callable[[TaskView], None] = lambda view: None,
         interval: float = POLL_SECONDS, sleep: Callable[[float], None] = time.sleep) -> TaskView:
    """Poll until the task is in a final state; that last view."""
    silent_since: float | None = None
    while True:
        try:
            view = status(portal, service_id, task_id)
            silent_since = None
        except Unreachable:
            now = time.monotonic()
            silent_since = silent_since if silent_since is not None else now
            if now - silent_since > PATIENCE:
                raise
        else:
            update(view)
            if view.state in FINAL:
                return view
        sleep(interval)


def noteworthy(portal: Portal, task_id: str) -> list[dict]:
    """The task's WARNING and SEVERE messages (``getTaskDetailById``), in order."""
    task = portal.call("getTaskDetailById", taskExecutionContextId=task_id,
                       timezoneOffset=0).find("task")
    found = []
    for message in task if task is not None else []:
        if message.get("messagelevel") in NOTEWORTHY:
            found.append({"level": message.get("messagelevel"),
                          "key": message.get("messagekey", ""),
                          "text": message.get("messagestring", ""),
                          "time": message.get("messagetime", ""),
                          "source": message.get("messagesource", "")})
    return found
