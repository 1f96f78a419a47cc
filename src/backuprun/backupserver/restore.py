"""A restore task on the backup server: read the recovery point, stream it to the agent.

The backup server holds the key, so it reads and opens the blobs; the agent only writes
(:mod:`backuprun.agent.restore`). The safe is held with a shared lock for the whole task, so
retention never removes what the restore still reads. Entries go in tree order, each file's
content in pieces right after its entry; what the agent reports (warnings, progress) is read
between files so neither side waits on the other.
"""

from __future__ import annotations

import json

from backuprun.backupserver import agentlink
from backuprun.backupserver.taskrun import TaskContext, TaskStopped
from backuprun.backupserver.tasklog import FINISHED
from backuprun.disksafe import export
from backuprun.disksafe.errors import InvalidPath, PathNotFound, PointNotFound
from backuprun.disksafe.repository import Repository
from backuprun.transport import messages

INLINE_FILE = 1024 * 1024  # files up to this size travel inside their entry


def run(context: TaskContext) -> None:
    args = json.loads(context.task.args or "{}")
    repo = context.open_safe()
    with context.locked(repo, False, "restore"):
        try:
            point = repo.find_point(args["point"])
            selected = export.resolve(repo, point, args["paths"])
        except (PointNotFound, PathNotFound, InvalidPath) as exc:
            context.log.add("Errors.Main.task-failed", [str(exc)])
            raise TaskStopped() from None
        channel, _hello = context.connect(messages.RESTORE_PATH)
        target = args.get("target") or "/"
        context.log.add("Messages.Main.restore-started",
                        [", ".join(args["paths"]), point.id, target])
        try:
            done = _stream(context, repo, channel, selected, target, bool(args.get("overwrite")))
        finally:
            channel.close()
    if done is None:
        raise TaskStopped()
    files, size = int(done.get("files", 0)), int(done.get("bytes", 0))
    context.log.add("Messages.Main.restore-finished", [files, size])
    context.log.finish(FINISHED, recovery_point=point.id, files=files, bytes=size)


def _stream(context: TaskContext, repo: Repository, channel: agentlink.Channel,
            selected: list[tuple[str, dict]], target: str, overwrite: bool) -> dict | None:
    """Send the entries and their content; the agent's ``done``, or None if it failed."""
    channel.send("begin", target=target, overwrite=overwrite)
    for name, item in export.members(repo, selected):
        _send_entry(repo, channel, name, item)
        while (message := channel.poll()) is not None:
            if not _handle(context, message):
                raise agentlink.AgentLinkError(channel.host, channel.port,
                                               f"sent {message['t']!r} before the end")
    channel.send("finish")
    while True:
        message = context.receive(channel)
        if _handle(context, message):
            continue
        if message["t"] == "done":
            return message
        if message["t"] == "failed":
            context.agent_said(message, level="SEVERE")
            return None
        raise agentlink.AgentLinkError(channel.host, channel.port,
                                       f"sent an unexpected {message['t']!r} message")


def _send_entry(repo: Repository, channel: agentlink.Channel, path: bytes, entry: dict) -> None:
    shown = {k: v for k, v in entry.items() if k not in ("c", "st")}
    if entry["t"] != "f":
        channel.send("entry", path=path, entry=shown)
        return
    if entry.get("sz", 0) <= INLINE_FILE:  # small: whole, in its entry (one frame)
        channel.send("entry", path=path, entry=shown,
                     data=b"".join(repo.load_blob(c) for c in entry.get("c") or ()))
        return
    channel.send("entry", path=path, entry=shown)
    piece, size = [], 0
    for chunk_id in entry.get("c") or ():
        data = repo.load_blob(chunk_id)
        piece.append(data)
        size += len(data)
        if size >= messages.FRAME_PAYLOAD:
            channel.send("data", data=b"".join(piece))
            piece, size = [], 0
    if piece:
        channel.send("data", data=b"".join(piece))
    channel.send("eof")


def _handle(context: TaskContext, message: dict) -> bool:
    """Log or count an agent's ``log`` or ``progress``; False for anything else."""
    kind = message["t"]
    if kind == "log":
        context.agent_said(message)
        return True
    if kind == "progress":
        context.log.progress(files=int(message.get("files", 0)),
                             bytes=int(message.get("bytes", 0)))
        context.check_cancelled()
        return True
    return False
