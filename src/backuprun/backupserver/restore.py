"""A restore task on the backup server: read the recovery point, stream it to the agent.

The backup server holds the key, so it reads and opens the blobs; the agent only writes
(:mod:`backuprun.agent.restore`). The safe is held with a shared lock for the whole task, so
retention never removes what the restore still reads. Entries go in tree order: folders,
links and small files many to a frame (``entries``, their chunks read together by
:mod:`backuprun.disksafe.contents`), a big file alone, its content in pieces right after its
entry. Chunks travel as stored, opened but still compressed: the agent decompresses them,
so the link carries (and the backup server spends CPU on) fewer bytes. A file whose data is
damaged in the disk safe is not sent (an error names it) and the rest goes on. What the
agent reports (warnings, progress) is read between frames so neither side waits on the
other.
"""

from __future__ import annotations

import json

from backuprun.backupserver import agentlink
from backuprun.backupserver.taskrun import TaskContext, TaskStopped
from backuprun.backupserver.tasklog import FINISHED
from backuprun.disksafe import contents, export
from backuprun.disksafe.errors import DamagedData, InvalidPath, PathNotFound, PointNotFound
from backuprun.disksafe.repository import Repository
from backuprun.transport import messages

BATCH_ENTRIES = 512  # entries in one ``entries`` frame, at most
BATCH_BYTES = messages.FRAME_PAYLOAD // 2  # and their content, about
ENTRY_BYTES = 128  # what an entry itself weighs in a frame, roughly


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
    batch: list[list] = []
    size = 0
    members = export.members(repo, selected)
    for name, entry, content in contents.with_contents(repo, members, compressed=True):
        if isinstance(content, DamagedData):
            _damaged(context, name, content)
        elif isinstance(content, contents.Pieces):
            _send_entries(context, channel, batch)
            batch, size = [], 0
            _send_big_file(context, channel, name, entry, content)
        else:
            batch.append([name, _shown(entry), content])
            size += ENTRY_BYTES + sum(len(payload) for _, payload, _ in content or ())
            if len(batch) >= BATCH_ENTRIES or size >= BATCH_BYTES:
                _send_entries(context, channel, batch)
                batch, size = [], 0
    _send_entries(context, channel, batch)
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


def _shown(entry: dict) -> dict:
    """A tree entry as the agent gets it: without chunk ids and subtree id."""
    return {k: v for k, v in entry.items() if k not in ("c", "st")}


def _send_entries(context: TaskContext, channel: agentlink.Channel, batch: list) -> None:
    if batch:
        channel.send("entries", items=batch)
        _read_reports(context, channel)


def _send_big_file(context: TaskContext, channel: agentlink.Channel, name: bytes,
                   entry: dict, pieces: contents.Pieces) -> None:
    channel.send("entry", path=name, entry=_shown(entry))
    try:
        for piece in pieces:
            channel.send("data", parts=piece)
            _read_reports(context, channel)
    except DamagedData as exc:
        channel.send("drop")
        _damaged(context, name, exc)
        return
    channel.send("eof")


def _damaged(context: TaskContext, name: bytes, exc: DamagedData) -> None:
    context.log.add("Errors.Main.file-damaged", ["/" + name.decode(errors="replace"), str(exc)])


def _read_reports(context: TaskContext, channel: agentlink.Channel) -> None:
    """Log what the agent reported meanwhile (warnings, progress), never waiting for it."""
    while (message := channel.poll()) is not None:
        if not _handle(context, message):
            raise agentlink.AgentLinkError(channel.host, channel.port,
                                           f"sent {message['t']!r} before the end")


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
