"""A backup task on the backup server: receive, check, seal, write, commit, apply retention.

The agent walks, reads, chunks, hashes and compresses (:mod:`backuprun.agent.backup`); this
side spends its CPU only on what a server must not delegate: every blob is decompressed and
its keyed id recomputed before it is stored (a blob that does not match its id stops the
backup, nothing of it written); every new tree's chunks and subtrees must be in the safe or
already received; then blobs are sealed and packed by the disk safe's writer. The order
of writes is the disk safe's own: packs, index, and only after ``done`` and a successful
flush the recovery point, under the safe's exclusive lock. A task that dies anywhere before
leaves no recovery point; the packs it stored are reused by the next backup.
"""

from __future__ import annotations

import itertools
import os
import time

import msgpack

from backuprun.backupserver import agentlink
from backuprun.backupserver.models import BsService
from backuprun.backupserver.taskrun import TaskContext, TaskStopped
from backuprun.backupserver.tasklog import FINISHED
from backuprun.disksafe.compress import decompress
from backuprun.disksafe.errors import DiskSafeError, SafeLocked
from backuprun.disksafe.forget import Policy, forget
from backuprun.disksafe.format import BLOB_TREE
from backuprun.disksafe.prune import prune
from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.disksafe.repository import Repository
from backuprun.transport import messages



class BlobMismatch(Exception):
    def __init__(self, blob_id: bytes):
        super().__init__(blob_id.hex())
        self.blob_id = blob_id


class MissingData(Exception):
    """A tree from the agent names a blob the safe neither holds nor received."""

    def __init__(self, tree_id: bytes, blob_id: bytes):
        super().__init__(f"{tree_id.hex()} names {blob_id.hex()}")
        self.tree_id, self.blob_id = tree_id, blob_id


def run(context: TaskContext) -> None:
    repo = context.open_safe()
    channel, hello = context.connect(messages.BACKUP_PATH)
    try:  # closing the channel, however this ends, stops the agent's side too
        point = _receive(context, repo, channel, hello)
    except BlobMismatch as exc:
        context.log.add("Errors.Main.blob-mismatch", [exc.blob_id.hex()])
        raise TaskStopped() from None
    except MissingData as exc:
        context.log.add("Errors.Main.missing-data", [exc.tree_id.hex(), exc.blob_id.hex()])
        raise TaskStopped() from None
    finally:
        channel.close()
    if point is None:  # the agent failed; its message is logged
        raise TaskStopped()
    stats = point.stats
    context.log.add("Messages.Main.recovery-point-created",
                    [point.id, stats["files"], stats["bytes_total"], stats["bytes_added"]])
    _apply_retention(context, repo)
    _record_usage(context, repo)
    context.log.finish(FINISHED, recovery_point=point.id, files=stats["files"],
                       bytes=stats["bytes_total"], bytes_read=stats["bytes_read"],
                       bytes_added=stats["bytes_added"])


def _receive(context: TaskContext, repo: Repository, channel: agentlink.Channel,
             hello: dict) -> RecoveryPoint | None:
    """Run the backup's conversation under the safe's lock; the committed point, or None
    when the agent said ``failed``."""
    start = time.time()
    excludes = [line for line in context.policy.excludes.splitlines() if line.strip()]
    with context.locked(repo, True, "backup") as lock:
        repo.refresh_index()
        points = repo.points()
        parent = points[-1] if points else None
        context.log.add("Messages.Main.backup-started",
                        [hello.get("root") or "/", parent.id if parent else "none"])
        ids = iter(list(repo.index.ids()))  # a snapshot of references, not of the ids
        while piece := b"".join(itertools.islice(ids, messages.KNOWN_PER_FRAME)):
            channel.send("known", ids=piece)  # a frame at a time: no copy of every id at once
        channel.send("begin", spec=repo.chunker_spec().to_dict(),
                     parent=parent.tree if parent else None, excludes=excludes)
        writer = repo.writer()
        try:
            done = _conversation(context, repo, writer, channel)
            if done is None:
                writer.abort()
                return None
            writer.flush()
        except BaseException:
            writer.abort()
            raise
        tree = done.get("tree")
        if not isinstance(tree, bytes) or tree not in repo.index:
            raise agentlink.AgentLinkError(channel.host, channel.port,
                                           "the agent's root tree never arrived")
        lock.check()
        agent_stats = done.get("stats") or {}
        stats = {key: int(agent_stats.get(key, 0)) for key in
                 ("files", "dirs", "others", "bytes_total", "bytes_read", "files_read",
                  "errors")}
        stats.update(bytes_added=writer.bytes_added, blobs_added=writer.blobs_added,
                     duration=time.time() - start)
        point = RecoveryPoint(RecoveryPoint.new_id(), time.time(), start,
                              str(hello.get("hostname") or context.agent.host),
                              os.fsencode(str(hello.get("root") or "/")), tree,
                              parent.id if parent else None, stats, done.get("root"))
        repo.save_point(point)
    return point


def _conversation(context: TaskContext, repo: Repository, writer, channel) -> dict | None:
    """Answer the agent until ``done`` (returned) or ``failed`` (None)."""
    chunk_id = repo.keys.chunk_id
    while True:
        message = context.receive(channel)
        kind = message["t"]
        if kind == "blobs":
            claimed = []
            for item in message["items"]:
                blob_type, blob_id, flags, payload, raw_len = item
                entries = _check(chunk_id, blob_type, blob_id, flags, payload, raw_len)
                if entries is not None:
                    _check_references(writer, blob_id, entries)
                if writer.claim(blob_id):
                    claimed.append(item)
            if claimed:  # one hand-off to the packer per frame, not per blob
                writer.add_many(claimed)
        elif kind == "need":
            tree_id = message.get("id")
            try:
                data = repo.load_blob(tree_id) if tree_id in repo.index else None
            except DiskSafeError:
                data = None
            channel.send("tree", id=tree_id, data=data)
        elif kind == "progress":
            context.log.progress(files=int(message.get("files", 0)),
                                 bytes=int(message.get("bytes", 0)),
                                 bytes_read=int(message.get("bytes_read", 0)))
        elif kind == "log":
            context.agent_said(message)
        elif kind == "done":
            return message
        elif kind == "failed":
            context.agent_said(message, level="SEVERE")
            return None
        else:
            raise agentlink.AgentLinkError(channel.host, channel.port,
                                           f"sent an unexpected {kind!r} message")
        context.check_cancelled()


def _check(chunk_id, blob_type: int, blob_id: bytes, flags: int, payload: bytes,
           raw_len: int) -> list | None:
    """Raise :class:`BlobMismatch` unless ``payload`` decompresses to data named ``blob_id``
    (and a tree blob parses); a tree's entries, None for data."""
    try:
        data = decompress(flags, payload, raw_len)
    except Exception:  # noqa: BLE001 - whatever the codec says, it is not that blob
        raise BlobMismatch(blob_id) from None
    if len(data) != raw_len or chunk_id(data) != blob_id:
        raise BlobMismatch(blob_id)
    if blob_type != BLOB_TREE:
        return None
    try:
        entries = msgpack.unpackb(data, raw=False, strict_map_key=False)["e"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ValueError("entries")
        return entries
    except Exception:  # noqa: BLE001
        raise BlobMismatch(blob_id) from None


def _check_references(writer, tree_id: bytes, entries: list[dict]) -> None:
    """Raise :class:`MissingData` unless every chunk and subtree the tree names is in the
    safe or on its way into it: the agent sends what a tree names before the tree, so a
    recovery point never names data the safe lacks, whatever the agent believed."""
    for entry in entries:
        for blob_id in (*(entry.get("c") or ()), *((entry["st"],) if entry.get("st") else ())):
            if writer.lacks(blob_id):
                raise MissingData(tree_id, blob_id)


def _apply_retention(context: TaskContext, repo: Repository) -> None:
    """Keep the policy's newest ``keep_last`` points; reclaim the space of the others. A
    safe another task holds (a restore) postpones it to the next backup."""
    keep = context.policy.keep_last
    if keep <= 0:
        return
    try:
        decisions = forget(repo, policy=Policy(last=keep))
        removed = sum(1 for d in decisions if not d.keep)
        reclaimed = prune(repo).bytes_freed if removed else 0
    except SafeLocked as exc:
        context.log.add("Warnings.Main.retention-postponed", [str(exc)])
        return
    context.log.add("Messages.Main.retention-applied",
                    [removed, len(decisions) - removed, reclaimed])


def _record_usage(context: TaskContext, repo: Repository) -> None:
    repo.refresh_index()  # up to date already (the writer's flush, prune): lists, no reads
    usage = sum(pack.size for pack in repo.index.packs())
    with context.server.session() as db, db.begin():
        row = db.get(BsService, context.service.service_id)
        row.disk_usage = usage
        row.recovery_points = len(repo.point_names())
