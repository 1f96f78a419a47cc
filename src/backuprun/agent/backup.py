"""The agent's side of a backup: walk, read, chunk, hash and compress here; store there.

The disk safe's :class:`~backuprun.disksafe.archiver.Archiver` runs on the agent against two
stand-ins: :class:`SafeView` answers what the safe holds (the ids the backup server sent
before ``begin``) and loads the parent point's trees from the agent's copy of its last
backup's trees (:mod:`backuprun.agent.treecache`) or, lacking one, from the backup server;
:class:`BlobSender` compresses what the safe lacks and sends it. The backup server checks
every blob against its id, seals and writes; it commits the recovery point when ``done``
arrives (see :mod:`backuprun.transport.messages`).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import blake3
import msgpack

from backuprun.agent import excludes
from backuprun.agent.session import Cancelled, Session
from backuprun.agent.treecache import NoCache, TreeCache, open_cache
from backuprun.disksafe.archiver import Archiver, check_source
from backuprun.disksafe.chunker import ChunkerSpec
from backuprun.disksafe.compress import compress_many
from backuprun.disksafe.errors import DamagedData
from backuprun.disksafe.format import BLOB_TREE
from backuprun.disksafe.metadata import entry_for
from backuprun.transport import messages

log = logging.getLogger("backuprun.agent")
PROGRESS_SECONDS = 1.0
MAX_WARNINGS = 1000  # file-level warnings sent one by one; past this, counted only


class KnownIds:
    """The ids the disk safe holds, as the archiver asks about its index."""

    def __init__(self, ids: set[bytes]):
        self._ids = ids

    def __contains__(self, blob_id: bytes) -> bool:
        return blob_id in self._ids

    def ids(self) -> set[bytes]:
        return self._ids


class _Keys:
    def __init__(self, spec: ChunkerSpec):
        self._key = spec.id_key

    def chunk_id(self, data: bytes | memoryview) -> bytes:
        return blake3.blake3(data, key=self._key).digest()


class SafeView:
    """The disk safe as the archiver on the agent sees it (see the module docstring)."""

    def __init__(self, session: Session, spec: ChunkerSpec, known: set[bytes],
                 trees: TreeCache | NoCache):
        self.session = session
        self.spec = spec
        self.index = KnownIds(known)
        self.keys = _Keys(spec)
        self.trees = trees

    def chunker_spec(self) -> ChunkerSpec:
        return self.spec

    def load_tree(self, tree_id: bytes) -> dict:
        data = self.trees.get(tree_id)
        if data is None:
            data = self.session.ask_tree(tree_id)
            if data is None:
                raise DamagedData(f"tree {tree_id.hex()} of the parent point cannot be read")
        self.trees.put(tree_id, data)  # the same folder's tree in this backup, if unchanged
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception as exc:  # noqa: BLE001
            raise DamagedData(f"tree {tree_id.hex()}: does not parse: {exc}") from None


class BlobSender:
    """The archiver's writer on the agent: claims locally, compresses, sends."""

    def __init__(self, session: Session, known: set[bytes], trees: TreeCache | NoCache):
        self.session = session
        self.known = known
        self.trees = trees
        self._pending: dict[bytes, object] = {}

    def claim(self, blob_id: bytes) -> bool:
        if blob_id in self.known:
            return False
        mark = object()
        return self._pending.setdefault(blob_id, mark) is mark

    def add_many(self, items: list[tuple]) -> None:
        for blob_type, blob_id, _flags, payload, _raw_len in items:
            if blob_type == BLOB_TREE:
                self.trees.put(blob_id, payload)  # the archiver hands trees over raw
        raw = [item[3] for item in items if item[2] is None]
        done = iter(compress_many(raw)) if raw else iter(())
        frame, size = [], 0
        for blob_type, blob_id, flags, payload, raw_len in items:
            if flags is None:
                flags, payload = next(done)
            frame.append([blob_type, blob_id, flags, bytes(payload), raw_len])
            size += len(payload)
            if size >= messages.FRAME_PAYLOAD:
                self.session.send("blobs", items=frame)
                frame, size = [], 0
        if frame:
            self.session.send("blobs", items=frame)


class _Warnings:
    """The archiver's per-file warnings, sent to the backup server as they come."""

    def __init__(self, session: Session):
        self.session = session
        self.sent = 0
        self.total = 0

    def append(self, text: str) -> None:  # the archiver calls stats.errors.append
        self.total += 1
        if self.sent < MAX_WARNINGS:
            self.sent += 1
            self.session.send("log", level="WARNING", key="Warnings.Agent.file-skipped",
                              params=[text], text=text)

    def __len__(self) -> int:
        return self.total


def run(session: Session, root: Path, data_dir: Path, begin: dict, known: set[bytes],
        workers: int = 2) -> None:
    """Back ``root`` up as ``begin`` asks; ends by sending ``done`` or ``failed``."""
    spec = ChunkerSpec.from_dict(begin["spec"])
    source = os.fsencode(os.path.realpath(root))
    try:
        root_st = check_source(source)
    except OSError as exc:
        text = f"cannot read the agent's root {root}: {exc.strerror}"
        session.send("failed", key="Errors.Agent.root-unreadable", params=[str(root)], text=text)
        return
    rule = excludes.rule(root, list(begin.get("excludes") or []), [data_dir])
    trees = open_cache(data_dir, spec)
    archiver = Archiver(SafeView(session, spec, known, trees), BlobSender(session, known, trees),
                        workers=workers, exclude=rule)
    warnings = _Warnings(session)
    archiver.stats.errors = warnings  # type: ignore[assignment]
    stop = threading.Event()
    reporter = threading.Thread(target=_report, args=(session, archiver, stop),
                                name="agent-progress", daemon=True)
    reporter.start()
    try:
        tree_id = archiver.run(source, begin.get("parent"))
    except Cancelled:
        trees.discard()
        log.info("backup cancelled")
        return
    except Exception as exc:  # noqa: BLE001 - told to the backup server, which logs it
        trees.discard()
        log.exception("backup failed")
        session.send("failed", key="Errors.Agent.backup-failed", params=[str(exc)],
                     text=f"the backup failed on the agent: {exc}")
        return
    finally:
        stop.set()
        reporter.join()
    trees.commit()
    log.info("parent trees: %d from the agent's cache, %d from the backup server",
             trees.hits, trees.misses)
    if warnings.total > warnings.sent:
        more = warnings.total - warnings.sent
        session.send("log", level="WARNING", key="Warnings.Agent.more-files-skipped",
                     params=[str(more)], text=f"{more} more files could not be read")
    s = archiver.stats
    stats = {"files": s.files, "dirs": s.dirs, "others": s.others,
             "bytes_total": s.bytes_total, "bytes_read": s.bytes_read,
             "files_read": s.files_read, "errors": warnings.total}
    session.send("done", tree=tree_id, root=entry_for(b"", source, root_st), stats=stats)


def _report(session: Session, archiver: Archiver, stop: threading.Event) -> None:
    while not stop.wait(PROGRESS_SECONDS):
        s = archiver.stats
        try:
            session.send("progress", files=s.files, bytes=s.bytes_total,
                         files_read=s.files_read, bytes_read=s.bytes_read)
        except Cancelled:
            return
