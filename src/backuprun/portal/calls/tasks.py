"""``apiCALL`` handlers for backups: ``runPolicy``, ``getBackupStatus``, ``getTaskDetailById``
(sections 3.6, 3.8, 3.9 of the API document); and for restore, calls of ours in the same
style: ``getRecoveryPoints``, ``browseRecoveryPoint``, ``restoreFiles``, ``downloadFiles``
(docs/api.md).

- ``runPolicy`` answers ``ok`` as the document shows, and adds a ``<task>`` of ours: the
  queued task's ``taskexecutioncontextid`` and ``taskstate``.
- ``getBackupStatus`` answers the ``<agent>`` of ``getStatus`` (the document's attributes)
  with its ``<server>`` and ``<task first_backup_try service_configured taskstate>``; the
  task element adds ours after them: ``taskexecutioncontextid``, ``type``, ``files``,
  ``bytes``, ``bytes_read``. No task yet: ``taskstate`` is empty.
- ``getTaskDetailById`` answers ``<task>`` with one ``<message>`` per log line, in order;
  the element carries attributes of ours: the task's id, ``type``, ``taskstate`` and its
  service's ``service_id``.
- Times are the document's ``YYYY-MM-DD HH:MM:SS``, shifted by ``timezoneOffset`` (minutes,
  as a browser reports it) where the call takes one, UTC otherwise.
"""

from __future__ import annotations

import json

from backuprun.portal.calls.base import (Answer, Call, Download, Fields, Handler,
                                         login_required)
from backuprun.portal.calls.services import STATUS_ATTRIBUTES, agent_element
from backuprun.portal.errors import ErrorCode, PortalError
from backuprun.portal.wire import element, wire_time

BACKUP_STATUS_ATTRIBUTES = STATUS_ATTRIBUTES[:STATUS_ATTRIBUTES.index("create_error")]


def task_element(task: dict | None, first_backup_try: bool, service_configured: bool) -> object:
    task = task or {}
    return element("task", {
        "first_backup_try": first_backup_try, "service_configured": service_configured,
        "taskstate": task.get("state", ""),
        "taskexecutioncontextid": task.get("taskExecutionContextId", ""),
        "type": task.get("type", ""), "files": task.get("files", 0),
        "bytes": task.get("bytes", 0), "bytes_read": task.get("bytes_read", 0)})


@login_required
async def run_policy(call: Call) -> Answer:
    task = await call.services.services.run_policy(call.logged_in, call.fields.get("service_id"))
    return Answer([element("task", {"taskexecutioncontextid": task["taskExecutionContextId"],
                                    "taskstate": task["state"]})])


@login_required
async def get_backup_status(call: Call) -> Answer:
    offset = call.fields.timezone_offset()
    view = await call.services.services.backup_status(call.logged_in,
                                                      call.fields.get("service_id"))
    state = view.state
    task = task_element(state.task, state.first_backup_try, view.service.service_configured)
    return Answer([agent_element(view, call.logged_in, BACKUP_STATUS_ATTRIBUTES,
                                 server_ip=True, offset_minutes=offset, children=(task,))])


@login_required
async def get_task_detail_by_id(call: Call) -> Answer:
    offset = call.fields.timezone_offset()
    task_id = call.fields.required("taskExecutionContextId").strip()
    if len(task_id) > 64:
        raise PortalError(ErrorCode.TASK_NOT_FOUND, "taskExecutionContextId")
    found = await call.services.services.task_detail(call.logged_in, task_id)
    lines = []
    for m in found["messages"]:
        params = [str(p) for p in m["params"]]
        lines.append(element("message", {
            "messagesource": m["source"], "messagekey": m["key"],
            "messagekeyparameters": json.dumps(params), "messagelevel": m["level"],
            "messagestring": m["text"], "messagetime": wire_time(m["at"], offset)},
            [element("messagekeyparameter", {"value": p}) for p in params]))
    task = found["task"]
    return Answer([element("task", {
        "taskexecutioncontextid": task["taskExecutionContextId"], "type": task["type"],
        "taskstate": task["state"], "service_id": found["wire_service_id"]}, lines)])


# -- restore: our calls, in the document's style ------------------------------------------

MEDIA_TYPES = {"tar": "application/x-tar", "zip": "application/zip"}
MAX_PATHS = 64  # fewer than the fields a request may carry (forms.MAX_FIELDS)


def _paths(fields: Fields) -> list[str]:
    paths = [p for p in fields.values("path") if p.strip()]
    if not paths:
        raise PortalError(ErrorCode.MISSING_FIELD, "path[]")
    if len(paths) > MAX_PATHS:
        raise PortalError(ErrorCode.INVALID_FIELD, "path[]",
                          f"At most {MAX_PATHS} paths in one call.")
    return paths


@login_required
async def get_recovery_points(call: Call) -> Answer:
    offset = call.fields.timezone_offset()
    points = await call.services.services.recovery_points(call.logged_in,
                                                          call.fields.get("service_id"))
    return Answer([element("recoverypoint", {
        "id": p["id"], "created": wire_time(p["created"], offset), "files": p["files"],
        "bytes": p["bytes"], "taskexecutioncontextid": p["task"]}) for p in points])


@login_required
async def browse_recovery_point(call: Call) -> Answer:
    f = call.fields
    offset = f.timezone_offset()
    entries = await call.services.services.browse(
        call.logged_in, f.get("service_id"), f.required("recoverypoint_id").strip(),
        f.get("path") or "/")
    return Answer([element("entry", {
        "name": e["name"], "type": e["type"], "size": e["size"],
        "mtime": wire_time(e["mtime"], offset), "mode": e["mode"], "target": e["target"]})
        for e in entries])


@login_required
async def restore_files(call: Call) -> Answer:
    f = call.fields
    task = await call.services.services.restore(
        call.logged_in, f.get("service_id"), f.required("recoverypoint_id").strip(),
        _paths(f), (f.get("target") or "").strip(), bool(f.flag("overwrite")))
    return Answer([element("task", {"taskexecutioncontextid": task["taskExecutionContextId"],
                                    "taskstate": task["state"]})])


@login_required
async def download_files(call: Call) -> Answer:
    f = call.fields
    fmt = (f.get("format") or "tar").strip()
    if fmt not in MEDIA_TYPES:
        raise PortalError(ErrorCode.INVALID_FIELD, "format", "format is tar or zip.")
    point_id = f.required("recoverypoint_id").strip()
    pieces = await call.services.services.download(call.logged_in, f.get("service_id"),
                                                   point_id, _paths(f), fmt)
    return Answer(download=Download(pieces, f"recoverypoint-{point_id[:16]}.{fmt}",
                                    MEDIA_TYPES[fmt]))


CALLS: dict[str, Handler] = {
    "runPolicy": run_policy,
    "getBackupStatus": get_backup_status,
    "getTaskDetailById": get_task_detail_by_id,
    "getRecoveryPoints": get_recovery_points,
    "browseRecoveryPoint": browse_recovery_point,
    "restoreFiles": restore_files,
    "downloadFiles": download_files,
}
