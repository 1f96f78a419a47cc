"""What ``backup`` and ``restore`` show while they wait for their task, and how they end.

- Start the task (``runPolicy``, ``restoreFiles``); with ``--no-wait`` print its id and end.
- Otherwise wait (:func:`tasks.wait`) with a progress bar on a terminal, then print the
  task's WARNING and SEVERE messages on stderr and a summary line on stdout (or all of it
  as one JSON document with ``--json``).
- Exit 0 for ``FINISHED`` (warnings or not), :data:`exitcodes.TASK_ERROR` for ``ERROR``,
  :data:`exitcodes.TASK_CANCELLED` for ``CANCELLED``. Ctrl-C stops the waiting, never the
  task.
"""

from __future__ import annotations

import typer

from backuprun.client import output, progress, tasks
from backuprun.client.api import ApiError, Portal, Unreachable
from backuprun.client.exitcodes import INTERRUPTED, TASK_CANCELLED, TASK_ERROR, UserError

MAX_SHOWN = 50  # messages printed; the rest are counted
EXIT_CODES = {"FINISHED": 0, "ERROR": TASK_ERROR, "CANCELLED": TASK_CANCELLED}


def start(portal: Portal, service_id: str, api_call: str, fields: dict) -> tuple[str, str]:
    """Start the task; ``(taskExecutionContextId, taskstate)``."""
    task = portal.call(api_call, service_id=service_id, **fields).find("task")
    if task is None or not task.get("taskexecutioncontextid"):
        # a server that answers as the document's runPolicy, without our <task>: the
        # service's latest task is the one just queued
        agent = portal.call("getBackupStatus", service_id=service_id).find("agent")
        task = agent.find("task") if agent is not None else None
        if task is None or not task.get("taskexecutioncontextid"):
            raise ApiError("task_not_found", f"{api_call} started no task that can be followed.")
    return task.get("taskexecutioncontextid", ""), task.get("taskstate", "")


def start_and_wait(portal: Portal, service_id: str, label: str, api_call: str, fields: dict,
                   no_wait: bool, json_out: bool, quiet: bool) -> None:
    task_id, state = start(portal, service_id, api_call, fields)
    if no_wait:
        if json_out:
            output.emit_json({"taskExecutionContextId": task_id, "state": state})
        else:
            typer.echo(task_id)
        return
    try:
        with progress.task_bar(progress.wanted(quiet or json_out), label) as bar:
            view = tasks.wait(portal, service_id, task_id,
                              lambda v: bar(v.state, v.files, v.bytes, v.bytes_read))
    except KeyboardInterrupt:
        raise UserError(f"interrupted; the {label} {task_id} goes on (follow it with: "
                        f"backuprun portal services)", INTERRUPTED) from None
    messages = _messages(portal, task_id)
    report(view, label, messages, json_out, quiet)


def _messages(portal: Portal, task_id: str) -> list[dict]:
    try:
        return tasks.noteworthy(portal, task_id)
    except (ApiError, Unreachable) as exc:
        typer.echo(f"warning: the task's messages could not be read: {exc}", err=True)
        return []


def report(view: tasks.TaskView, label: str, messages: list[dict], json_out: bool,
           quiet: bool) -> None:
    """Print the outcome; raise the exit code of a task that did not finish."""
    if json_out:
        shown = [{**m, "time": output.iso(m["time"])} for m in messages]
        output.emit_json({**view.as_json(), "messages": shown})
    else:
        for m in messages[:MAX_SHOWN]:
            typer.echo(f"{m['level'].lower()}: {m['text']}", err=True)
        if len(messages) > MAX_SHOWN:
            typer.echo(f"... and {len(messages) - MAX_SHOWN} more warnings and errors",
                       err=True)
        if not quiet and view.state == "FINISHED":
            files = f"{view.files} file{'' if view.files == 1 else 's'}"
            typer.echo(f"{label} {view.taskExecutionContextId} FINISHED: {files}, "
                       f"{output.size(view.bytes)}")
    code = EXIT_CODES.get(view.state, TASK_ERROR)
    if code:
        raise UserError(f"the {label} {view.taskExecutionContextId} ended in {view.state}",
                        code)
