"""Backup: walk a file tree, store what the safe lacks, commit a recovery point.

Pipeline: the calling thread walks the tree (scandir, sorted by name) and stats every
entry. Files whose size, mtime, ctime and inode match the parent recovery point keep their
chunk list without being read. Other files go to a pool of worker threads (small files in
batches, each large file alone), which read, chunk and hash, compress big chunks straight
from their read buffer, and hand new chunks to the ``BlobWriter`` (whose packer threads
compress the small ones a batch at a time, then seal and pack everything). Each directory becomes a tree blob once its files are done; directories
wait in a bounded queue in post-order, so children are stored before their parents and
memory stays bounded by the queue and the current path, never by the tree's size.
"""

from __future__ import annotations

import errno
import io
import operator
import os
import socket
import stat
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from backuprun.disksafe.chunker import Chunker
from backuprun.disksafe.compress import compress
from backuprun.disksafe.errors import DamagedData
from backuprun.disksafe.format import BLOB_DATA, BLOB_TREE
from backuprun.disksafe.metadata import entry_for, same_file
from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.disksafe.tree import encode_tree, entries_of

if TYPE_CHECKING:  # the agent runs the archiver without them (see ``Archiver``)
    from backuprun.disksafe.packer import BlobWriter
    from backuprun.disksafe.repository import Repository

SMALL_FILE = 1024 * 1024
BATCH_FILES = 128
BATCH_BYTES = 4 * 1024 * 1024
MAX_PENDING_DIRS = 2048  # finished directories waiting for their files (bounded memory)
EARLY_SUBMIT = 64  # past this many, a part-filled batch the oldest one needs is sent
READER_COMPRESS = 256 * 1024  # chunks this big are compressed by the reader itself;
# smaller ones go to the packer threads, which compress a batch in one native call
OUT_BATCH = 512 * 1024  # new chunks handed to the writer together
TREE_BATCH = 64  # new tree blobs handed to the writer together (or OUT_BATCH bytes)


def _open_noatime(path: bytes, flags: int) -> int:
    """Open without following symlinks, and without touching atime where allowed."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_NOATIME)
    except PermissionError:  # O_NOATIME needs ownership or CAP_FOWNER
        return os.open(path, flags | os.O_NOFOLLOW)


_by_name = operator.attrgetter("name")


def _same_inode_times(prev: dict, st: os.stat_result) -> bool:
    return (prev.get("mt") == st.st_mtime_ns and prev.get("ct") == st.st_ctime_ns
            and prev.get("i") == st.st_ino)


class _Job:
    __slots__ = ("files", "nbytes", "done", "submitted", "error")

    def __init__(self) -> None:
        self.files: list[tuple[dict, bytes]] = []
        self.nbytes = 0
        self.done = threading.Event()
        self.submitted = False
        self.error: BaseException | None = None


class _Dir:
    __slots__ = ("entries", "jobs", "tree_id", "old_tree", "old_entries")

    def __init__(self) -> None:
        self.entries: list[dict] = []
        self.jobs: list[_Job] = []
        self.tree_id: bytes | None = None
        self.old_tree: bytes | None = None
        self.old_entries: list[dict] = []


@dataclass
class Stats:
    files: int = 0
    dirs: int = 0
    others: int = 0
    bytes_total: int = 0  # size of all files in the recovery point
    bytes_read: int = 0  # bytes read from changed files
    files_read: int = 0
    errors: list[str] = field(default_factory=list)


class Archiver:
    """Walks one source tree into tree blobs; see the module docstring.

    It needs of ``repo`` only ``chunker_spec()``, ``index`` (``in`` and ``ids()``),
    ``load_tree(id)`` and ``keys.chunk_id(data)``, and of ``writer`` only ``claim(id)`` and
    ``add_many(items)``: an agent passes stand-ins that ask the backup server
    (:mod:`backuprun.agent.backup`). ``exclude(path)`` is true for paths not to back up
    (nor descend into).
    """

    def __init__(self, repo: Repository, writer: BlobWriter, workers: int = 2,
                 exclude: Callable[[bytes], bool] | None = None) -> None:
        self.repo = repo
        self.writer = writer
        self.exclude = exclude
        self.spec = repo.chunker_spec()
        self.stats = Stats()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="disksafe-reader")
        self._slots = threading.Semaphore(workers * 3)
        self._local = threading.local()
        self._mutex = threading.Lock()
        self._batch: _Job | None = None
        self._pending: deque[_Dir] = deque()
        self._hardlinks: dict[tuple[int, int], tuple[dict, _Job | None]] = {}
        self._trees: list[tuple] = []  # new tree blobs not handed to the writer yet
        self._trees_bytes = 0

    # -- walking -----------------------------------------------------------------------
    def run(self, source: bytes, parent_tree: bytes | None) -> bytes:
        """Back up the directory ``source``; return its root tree id."""
        try:
            root = self._walk(source, parent_tree)
            self._submit_batch()
            while self._pending:
                self._finalize(self._pending.popleft())
            self._flush_trees()
        finally:
            self._pool.shutdown(wait=True)
        assert root.tree_id is not None
        return root.tree_id

    def _old_entries(self, tree_id: bytes | None) -> dict[bytes, dict]:
        if tree_id is None:
            return {}
        try:
            return {e["n"]: e for e in entries_of(self.repo.load_tree(tree_id))}
        except DamagedData:
            return {}

    def _walk(self, path: bytes, parent_tree: bytes | None) -> _Dir:
        old = self._old_entries(parent_tree)
        node = _Dir()
        node.old_tree = parent_tree
        node.old_entries = list(old.values())
        try:
            with os.scandir(path) as it:
                found = sorted(it, key=_by_name)
        except OSError as exc:
            self._warn(f"cannot read directory {os.fsdecode(path)}: {exc.strerror}")
            found = []
        prefix = path if path.endswith(b"/") else path + b"/"
        blobs = self.repo.index.ids()
        stats = self.stats
        entries = node.entries
        exclude = self.exclude
        for de in found:
            if exclude is not None and exclude(prefix + de.name):
                continue
            # Fast path: an unchanged regular file keeps its parent's entry, unread.
            prev = old.get(de.name)
            if prev is not None and prev["t"] == "f":
                try:
                    st = de.stat(follow_symlinks=False)
                except OSError:
                    st = None
                if (st is not None and stat.S_ISREG(st.st_mode) and prev.get("sz") == st.st_size
                        and prev.get("mt") == st.st_mtime_ns and prev.get("ct") == st.st_ctime_ns
                        and prev.get("i") == st.st_ino and "c" in prev
                        and all(map(blobs.__contains__, prev["c"]))):
                    stats.files += 1
                    stats.bytes_total += st.st_size
                    entries.append(prev)
                    continue
            self._visit(node, de, prefix, old)
        self._pending.append(node)
        self._drain()
        return node

    def _visit(self, node: _Dir, de: os.DirEntry, prefix: bytes, old: dict) -> None:
        name = de.name
        full = prefix + name
        try:
            st = de.stat(follow_symlinks=False)
            prev = old.get(name)
            mode = st.st_mode
            if stat.S_ISREG(mode):
                self.stats.files += 1
                self.stats.bytes_total += st.st_size
                if same_file(prev, st) and self._all_stored(prev["c"]):
                    node.entries.append(prev)  # unchanged: keep the parent's entry as it is
                    return
                e = entry_for(name, full, st)
                node.entries.append(e)
                self._schedule(node, e, full, st)
            elif stat.S_ISDIR(mode):
                self.stats.dirs += 1
                if prev is not None and prev["t"] == "d" and _same_inode_times(prev, st):
                    e = dict(prev)  # unchanged metadata (chmod, chown, xattrs move ctime)
                    e["nl"] = st.st_nlink
                else:
                    e = entry_for(name, full, st)
                node.entries.append(e)
                sub = prev.get("st") if prev is not None and prev["t"] == "d" else None
                e["_node"] = self._walk(full, sub)
            else:
                self.stats.others += 1
                if prev is not None and prev["t"] != "f" and _same_inode_times(prev, st):
                    node.entries.append(prev)  # unchanged symlink, device, fifo, socket
                else:
                    node.entries.append(entry_for(name, full, st))
        except OSError as exc:
            self._warn(f"cannot read {os.fsdecode(full)}: {exc.strerror}")

    def _all_stored(self, ids: list[bytes]) -> bool:
        index = self.repo.index
        return all(i in index for i in ids)

    def _schedule(self, node: _Dir, e: dict, full: bytes, st: os.stat_result) -> None:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1:
            first = self._hardlinks.get(key)
            if first is not None:
                e["_hl"] = first[0]
                if first[1] is not None:
                    node.jobs.append(first[1])
                return
        if st.st_size < SMALL_FILE:
            job = self._batch
            if job is None:
                job = self._batch = _Job()
            job.files.append((e, full))
            job.nbytes += st.st_size
            if len(job.files) >= BATCH_FILES or job.nbytes >= BATCH_BYTES:
                self._submit_batch()
        else:
            job = _Job()
            job.files.append((e, full))
            self._submit(job)
        if not node.jobs or node.jobs[-1] is not job:
            node.jobs.append(job)
        if st.st_nlink > 1:
            self._hardlinks[key] = (e, job)

    # -- workers -----------------------------------------------------------------------
    def _submit_batch(self) -> None:
        if self._batch is not None:
            job, self._batch = self._batch, None
            self._submit(job)

    def _submit(self, job: _Job) -> None:
        self._slots.acquire()
        job.submitted = True
        self._pool.submit(self._run_job, job)

    def _flush_out(self) -> None:
        out = getattr(self._local, "out", None)
        if out:
            self.writer.add_many(out)
            self._local.out = []
            self._local.out_bytes = 0

    def _run_job(self, job: _Job) -> None:
        try:
            for e, path in job.files:
                self._read_file(e, path)
            self._flush_out()
        except BaseException as exc:  # noqa: BLE001 - re-raised by _finalize
            job.error = exc
        finally:
            job.done.set()
            self._slots.release()

    def _chunker(self) -> Chunker:
        c = getattr(self._local, "chunker", None)
        if c is None:
            c = self._local.chunker = Chunker(self.spec)
        return c

    def _read_file(self, e: dict, path: bytes) -> None:
        local = self._local
        if not hasattr(local, "out"):
            local.out, local.out_bytes = [], 0
        try:
            if e["sz"] < self.spec.min_size:
                ids, total, after = self._read_small(path, e["sz"])
            else:
                ids, total, after = self._read_chunked(path, e["sz"])
        except OSError as exc:
            e["_err"] = True
            self._warn(f"cannot read {os.fsdecode(path)}: {exc.strerror}")
            return
        if total != e["sz"] or after.st_mtime_ns != e["mt"]:
            # stored as it was read; its new times make the next backup read it again
            self._warn(f"{os.fsdecode(path)} changed while it was read: kept as read "
                       f"({total} bytes)")
        e["c"] = ids
        e["sz"] = total
        with self._mutex:
            self.stats.bytes_read += total
            self.stats.files_read += 1

    def _read_small(self, path: bytes, size: int) -> tuple[list[bytes], int, os.stat_result]:
        """A file expected to be one chunk: one open, one read (the common case)."""
        fd = _open_noatime(path, os.O_RDONLY)
        try:
            data = os.read(fd, size + 1)
            if len(data) > size:  # it grew since the stat: read it all
                rest = [data]
                while piece := os.read(fd, 1 << 20):
                    rest.append(piece)
                data = b"".join(rest)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if len(data) >= self.spec.min_size:
            return (*self._chunk_stream(io.BytesIO(data), len(data)), after)
        if not data:
            return [], 0, after
        cid = self._chunker().chunk_id(data)
        self._store(cid, data)
        return [cid], len(data), after

    def _read_chunked(self, path: bytes, size: int) -> tuple[list[bytes], int, os.stat_result]:
        with open(path, "rb", buffering=0, opener=_open_noatime) as f:
            return (*self._chunk_stream(f, size), os.fstat(f.fileno()))

    def _chunk_stream(self, f, size: int) -> tuple[list[bytes], int]:
        ids = []
        total = 0
        for cid, data in self._chunker().chunks(f, size):
            ids.append(cid)
            total += len(data)
            self._store(cid, data)
        return ids, total

    def _store(self, cid: bytes, data: bytes | memoryview) -> None:
        """Hand a chunk to the writer if the safe lacks it (copied out of the buffer)."""
        if self.writer.claim(cid):
            local = self._local
            if len(data) >= READER_COMPRESS:  # big: compress here, no copy of the chunk
                flags, payload = compress(data)
                if payload is data and not isinstance(data, bytes):
                    payload = bytes(data)
                local.out.append((BLOB_DATA, cid, flags, payload, len(data)))
            else:
                local.out.append((BLOB_DATA, cid, None,
                                  data if isinstance(data, bytes) else bytes(data), len(data)))
            local.out_bytes += len(data)
            if local.out_bytes >= OUT_BATCH:
                self._flush_out()

    def _warn(self, message: str) -> None:
        with self._mutex:
            self.stats.errors.append(message)

    # -- trees -------------------------------------------------------------------------
    def _drain(self) -> None:
        """Store the trees of finished directories, oldest first, without waiting for
        workers unless too many directories are pending."""
        pending = self._pending
        while pending:
            head = pending[0]
            if not all(j.done.is_set() for j in head.jobs):
                if len(pending) > EARLY_SUBMIT and self._batch in head.jobs:
                    self._submit_batch()  # its files are ready to go: start them now
                if len(pending) <= MAX_PENDING_DIRS:
                    return
            self._finalize(pending.popleft())

    def _finalize(self, node: _Dir) -> None:
        for job in node.jobs:
            if not job.submitted:
                self._submit_batch()
            job.done.wait()
            if job.error is not None:
                raise job.error
        entries = []
        for e in node.entries:
            if "_err" in e:
                continue
            first = e.pop("_hl", None)
            if first is not None:
                if "_err" in first:
                    continue
                e["c"], e["sz"] = first["c"], first["sz"]
            child = e.pop("_node", None)
            if child is not None:
                e["st"] = child.tree_id
            entries.append(e)
        if node.old_tree is not None and entries == node.old_entries \
                and node.old_tree in self.repo.index:
            node.tree_id = node.old_tree  # same entries: same tree, no need to encode it
        else:
            node.tree_id = self.store_tree(entries)
        node.entries = node.jobs = node.old_entries = []  # type: ignore[assignment]

    def store_tree(self, entries: list[dict]) -> bytes:
        data = encode_tree(entries)
        tree_id = self.repo.keys.chunk_id(data)
        if self.writer.claim(tree_id):
            # Batched: one hand-off to the packer thread per TREE_BATCH trees, not per
            # directory (a changed re-run re-stores thousands of small trees).
            self._trees.append((BLOB_TREE, tree_id, None, data, len(data)))
            self._trees_bytes += len(data)
            if len(self._trees) >= TREE_BATCH or self._trees_bytes >= OUT_BATCH:
                self._flush_trees()
        return tree_id

    def _flush_trees(self) -> None:
        if self._trees:
            trees, self._trees, self._trees_bytes = self._trees, [], 0
            self.writer.add_many(trees)


def latest_point_for(repo: Repository, source: bytes) -> RecoveryPoint | None:
    """The newest recovery point of ``source`` from this host (the automatic parent)."""
    host = socket.gethostname()
    same = [p for p in repo.points() if p.source == source and p.host == host]
    return same[-1] if same else None


def check_source(source: bytes) -> os.stat_result:
    """The stat of ``source``; ``FileNotFoundError`` or ``NotADirectoryError`` (naming it)
    unless it is a directory."""
    st = os.stat(source)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", source)
    return st


def backup(repo: Repository, source: bytes, parent: RecoveryPoint | None,
           on_archiver=None, workers: int = 2,
           writer_options: dict | None = None) -> tuple[RecoveryPoint, Stats]:
    """Back up ``source`` (an absolute directory path) as a new recovery point.

    Takes the safe's exclusive lock, brings the index up to date under it, stores data and trees,
    flushes (data, then index), and only then writes the recovery point.
    """
    start = time.time()
    root_st = check_source(source)
    with repo.lock(True, "backup") as lock:
        repo.refresh_index()
        writer = repo.writer(**(writer_options or {}))
        try:
            archiver = Archiver(repo, writer, workers=workers)
            if on_archiver is not None:
                on_archiver(archiver)
            tree_id = archiver.run(source, parent.tree if parent else None)
            writer.flush()
        except BaseException:
            writer.abort()
            raise
        lock.check()
        s = archiver.stats
        stats = {"files": s.files, "dirs": s.dirs, "others": s.others,
                 "bytes_total": s.bytes_total, "bytes_read": s.bytes_read,
                 "files_read": s.files_read, "bytes_added": writer.bytes_added,
                 "blobs_added": writer.blobs_added, "errors": len(s.errors),
                 "duration": time.time() - start}
        root = entry_for(b"", source, root_st)
        point = RecoveryPoint(RecoveryPoint.new_id(), time.time(), start, socket.gethostname(),
                              source, tree_id, parent.id if parent else None, stats, root)
        repo.save_point(point)
    return point, s
