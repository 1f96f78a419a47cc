"""The blob writer: one thread appends sealed blobs to packs, another stores closed packs.

Write order (what makes a killed backup harmless):
1. a pack is stored whole (``Storage.save`` is atomic) by the saver thread;
2. after every ``index_every`` packs, and at :meth:`BlobWriter.flush`, the storage is
   synced and an index object naming only stored packs is written, then synced again;
3. only then may the caller write a recovery point that refers to the blobs.

A killed writer leaves at most packs no index names (rebuild or garbage collection finds
them) and index objects whose packs all exist: the next backup reuses what they name.
Memory is bounded: producers block while more than ``queue_bytes`` wait for the writer.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING

from backuprun.disksafe.index import PackInfo, index_body, new_index_name
from backuprun.disksafe.objects import seal_object
from backuprun.disksafe.format import T_INDEX
from backuprun.disksafe.pack import BlobEntry, PackBuilder

if TYPE_CHECKING:
    from backuprun.disksafe.repository import Repository

PACK_SIZE = 16 * 1024 * 1024
QUEUE_BYTES = 24 * 1024 * 1024
INDEX_EVERY = 16
_STOP = object()


class _ByteBudget:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.used = 0
        self._cond = threading.Condition()

    def take(self, n: int) -> None:
        with self._cond:
            while self.used and self.used + n > self.cap:
                self._cond.wait()
            self.used += n

    def give(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


class BlobWriter:
    """Stores blobs into packs for one repository; use as a context manager (or close())."""

    def __init__(self, repo: Repository, pack_size: int = PACK_SIZE,
                 queue_bytes: int = QUEUE_BYTES, index_every: int = INDEX_EVERY) -> None:
        self.repo = repo
        self.pack_size = pack_size
        self.index_every = index_every
        self._budget = _ByteBudget(queue_bytes)
        self._blobs: queue.Queue = queue.Queue()
        self._packs: queue.Queue = queue.Queue(maxsize=1)
        self._pending: dict[bytes, object] = {}
        self._unindexed: list[tuple[PackInfo, list[BlobEntry]]] = []
        self._error: BaseException | None = None
        self.bytes_added = 0  # stored (sealed) bytes of new blobs
        self.blobs_added = 0
        self.index_names: list[str] = []
        self._writer = threading.Thread(target=self._write_loop, name="disksafe-writer", daemon=True)
        self._saver = threading.Thread(target=self._save_loop, name="disksafe-saver", daemon=True)
        self._writer.start()
        self._saver.start()
        self._closed = False

    # -- producers ---------------------------------------------------------------------
    def lacks(self, blob_id: bytes) -> bool:
        """Whether the safe neither has nor is about to store ``blob_id``."""
        return blob_id not in self.repo.index and blob_id not in self._pending

    def claim(self, blob_id: bytes) -> bool:
        """Atomically reserve ``blob_id``: True means the caller must :meth:`add` it."""
        if blob_id in self.repo.index:
            return False
        mark = object()
        return self._pending.setdefault(blob_id, mark) is mark

    def add(self, blob_type: int, blob_id: bytes, flags: int, payload: bytes, raw_len: int) -> None:
        """Queue a claimed blob (payload already compressed per ``flags``)."""
        self._raise_error()
        n = len(payload)
        self._budget.take(n)
        self._blobs.put((blob_type, blob_id, flags, payload, raw_len))

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    # -- writer thread -----------------------------------------------------------------
    def _write_loop(self) -> None:
        # Data and tree blobs go to separate packs, so trees stay together (cheap to read
        # for ls, restore planning and checks) and never dilute the data read-ahead.
        builders: dict[int, PackBuilder] = {}
        try:
            while True:
                item = self._blobs.get()
                if item is _STOP:
                    break
                blob_type, blob_id, flags, payload, raw_len = item
                builder = builders.get(blob_type)
                if builder is None:
                    builder = builders[blob_type] = PackBuilder(self.repo.keys)
                builder.add(blob_type, flags, blob_id, payload, raw_len)
                self._budget.give(len(payload))
                if len(builder) >= self.pack_size:
                    self._packs.put(builder)
                    del builders[blob_type]
            for builder in builders.values():
                self._packs.put(builder)
        except BaseException as exc:  # noqa: BLE001
            self._error = exc
            self._budget.give(self._budget.used)
        finally:
            self._packs.put(_STOP)

    # -- saver thread ------------------------------------------------------------------
    def _save_loop(self) -> None:
        storage = self.repo.storage
        while True:
            builder = self._packs.get()
            if builder is _STOP:
                return
            if self._error is not None:
                continue
            try:
                data = builder.finish()
                storage.save(builder.name, data)
                info = PackInfo(builder.name, len(data), builder.salt)
                self.bytes_added += len(data)
                self.blobs_added += len(builder.entries)
                self._unindexed.append((info, builder.entries))
                if len(self._unindexed) >= self.index_every:
                    self._write_index()
            except BaseException as exc:  # noqa: BLE001
                self._error = exc

    def _write_index(self) -> None:
        if not self._unindexed:
            return
        storage = self.repo.storage
        storage.sync()
        name = new_index_name()
        storage.save(name, seal_object(self.repo.keys, T_INDEX, name, index_body(self._unindexed)))
        storage.sync()
        for info, entries in self._unindexed:
            self.repo.index.add_pack(info, entries)
        self.repo.index.index_names.add(name)
        self.index_names.append(name)
        self._unindexed = []

    # -- finishing ---------------------------------------------------------------------
    def flush(self) -> None:
        """Store everything queued, write the last index object and sync. Ends the writer."""
        if self._closed:
            return
        self._closed = True
        self._blobs.put(_STOP)
        self._writer.join()
        self._saver.join()
        self._raise_error()
        self._write_index()

    def abort(self) -> None:
        """Stop without writing a final index (what a crash would leave, minus the tail)."""
        if self._closed:
            return
        self._closed = True
        self._error = self._error or RuntimeError("aborted")
        self._budget.give(self._budget.used)
        self._blobs.put(_STOP)
        self._writer.join()
        self._saver.join()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.flush()
        else:
            self.abort()
