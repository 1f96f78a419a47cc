"""The blob writer: packer threads compress and seal blobs into packs, a saver stores them.

Write order (what makes a killed backup harmless):
1. a pack is stored whole (``Storage.save`` is atomic) by the saver thread;
2. after every ``index_every`` packs (or ``INDEX_BLOBS`` blobs), and at ``flush``, the storage is
   synced and an index object naming only stored packs is written, then synced again;
3. only then may the caller write a recovery point that refers to the blobs.

A killed writer leaves at most packs no index names (rebuild or garbage collection finds
them) and index objects whose packs all exist: the next backup reuses what they name.
Memory is bounded: producers block while more than ``queue_bytes`` wait for the writer.
"""

from __future__ import annotations

import mmap
import queue
import threading
from typing import TYPE_CHECKING

from backuprun.disksafe.compress import compress_many
from backuprun.disksafe.index import PackInfo, index_body, new_index_name
from backuprun.disksafe.objects import seal_object
from backuprun.disksafe.format import BLOB_DATA, T_INDEX
from backuprun.disksafe.pack import BlobEntry, PackBuilder

if TYPE_CHECKING:
    from backuprun.disksafe.repository import Repository

PACK_SIZE = 8 * 1024 * 1024
QUEUE_BYTES = 4 * 1024 * 1024
INDEX_EVERY = 32  # packs per index object ...
INDEX_BLOBS = 20_000  # ... or blobs, whichever comes first (bounds memory for tiny files)
# One packer thread: the archiver's readers compress big chunks themselves, so the packer
# only compresses batches of small ones and seals. A second one added GIL hand-offs
# (~40k context switches per GB instead of ~22k) and cost ~0.3 CPU-s, ~0.1 s per GB.
PACKERS = 1
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
    """Stores blobs into packs for one repository; use as a context manager.

    ``packers`` threads (default one) compress (zstd releases the GIL) and seal blobs
    into the current pack; one saver thread stores each closed pack while the next one
    fills. Pack buffers are preallocated and reused; at most one pack per blob type fills
    and one is saved.
    """

    def __init__(self, repo: Repository, pack_size: int = PACK_SIZE,
                 queue_bytes: int = QUEUE_BYTES, index_every: int = INDEX_EVERY,
                 packers: int = PACKERS) -> None:
        self.repo = repo
        self.pack_size = pack_size
        self.index_every = index_every
        self._budget = _ByteBudget(queue_bytes)
        self._blobs: queue.Queue = queue.Queue()
        self._packs: queue.Queue = queue.Queue()
        self._saver_slot = threading.Semaphore(1)
        self._lock = threading.Lock()
        self._builders: dict[int, PackBuilder] = {}
        self._buffers: list[bytearray] = []
        self._pending: dict[bytes, object] = {}
        self._unindexed: list[tuple[PackInfo, list[BlobEntry]]] = []
        self._unindexed_blobs = 0
        self._error: BaseException | None = None
        self.bytes_added = 0  # stored bytes of new packs
        self.blobs_added = 0
        self.index_names: list[str] = []
        self._packers = [threading.Thread(target=self._pack_loop, name=f"disksafe-packer-{i}",
                                          daemon=True) for i in range(packers)]
        self._saver = threading.Thread(target=self._save_loop, name="disksafe-saver", daemon=True)
        for t in self._packers:
            t.start()
        self._saver.start()
        self._closed = False

    # -- producers ---------------------------------------------------------------------
    def lacks(self, blob_id: bytes) -> bool:
        """Whether the safe neither has nor is about to store ``blob_id``."""
        return blob_id not in self.repo.index and blob_id not in self._pending

    def claim(self, blob_id: bytes) -> bool:
        """Atomically reserve ``blob_id``: True means the caller must add it."""
        if blob_id in self.repo.index:
            return False
        mark = object()
        return self._pending.setdefault(blob_id, mark) is mark

    def add(self, blob_type: int, blob_id: bytes, data: bytes) -> None:
        """Queue a claimed blob's plaintext; the packer threads compress and seal it."""
        self.add_many([(blob_type, blob_id, None, data, len(data))])

    def add_compressed(self, blob_type: int, blob_id: bytes, flags: int, payload: bytes,
                       raw_len: int) -> None:
        """Queue a claimed blob already compressed per ``flags`` (e.g. by an agent)."""
        self.add_many([(blob_type, blob_id, flags, payload, raw_len)])

    def add_many(self, items: list[tuple]) -> None:
        """Queue claimed blobs as ``(type, id, flags or None, payload, raw_len)`` at once."""
        self._raise_error()
        n = sum(len(item[3]) for item in items)
        self._budget.take(n)
        self._blobs.put((n, items))

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    # -- packer threads ----------------------------------------------------------------
    def _pack_loop(self) -> None:
        while True:
            got = self._blobs.get()
            if got is _STOP:
                return
            n, items = got
            try:
                if self._error is None:
                    raw = [item[3] for item in items if item[2] is None]
                    done = iter(compress_many(raw))
                    ready = []
                    for blob_type, blob_id, flags, payload, raw_len in items:
                        if flags is None:
                            flags, payload = next(done)
                        ready.append((blob_type, blob_id, flags, payload, raw_len))
                    with self._lock:
                        for item in ready:
                            self._append(*item)
            except BaseException as exc:  # noqa: BLE001
                self._error = exc
            finally:
                self._budget.give(n)

    def _append(self, blob_type: int, blob_id: bytes, flags: int, payload, raw_len: int) -> None:
        # Data and tree blobs go to separate packs, so trees stay together (cheap to read
        # for ls, restore planning and checks) and never dilute the data read-ahead.
        builder = self._builders.get(blob_type)
        if builder is not None and not builder.fits(len(payload)):
            del self._builders[blob_type]
            self._to_saver(builder)
            builder = None
        if builder is None:
            buf = None
            if blob_type == BLOB_DATA:  # data packs reuse full-size buffers
                # page-aligned (mmap): local storage writes it with O_DIRECT
                buf = self._buffers.pop() if self._buffers else mmap.mmap(-1, self.pack_size)
            builder = self._builders[blob_type] = PackBuilder(self.repo.keys, buf)
        builder.add(blob_type, flags, blob_id, payload, raw_len)

    def _to_saver(self, builder: PackBuilder) -> None:
        self._saver_slot.acquire()  # one pack saving at a time bounds memory
        self._packs.put(builder)

    # -- saver thread ------------------------------------------------------------------
    def _save_loop(self) -> None:
        storage = self.repo.storage
        while True:
            builder = self._packs.get()
            if builder is _STOP:
                return
            try:
                if self._error is None:
                    data = builder.finish()
                    storage.save(builder.name, data)
                    info = PackInfo(builder.name, len(data), builder.salt)
                    del data
                    self.bytes_added += info.size
                    self.blobs_added += len(builder.entries)
                    self._unindexed.append((info, builder.entries))
                    self._unindexed_blobs += len(builder.entries)
                    if (len(self._unindexed) >= self.index_every
                            or self._unindexed_blobs >= INDEX_BLOBS):
                        self._write_index()
            except BaseException as exc:  # noqa: BLE001
                self._error = exc
            finally:
                buf = builder.release()
                if len(buf) == self.pack_size and len(self._buffers) < 2:
                    self._buffers.append(buf)
                self._saver_slot.release()

    def _write_index(self) -> None:
        if not self._unindexed:
            return
        storage = self.repo.storage
        storage.sync()
        name = new_index_name()
        storage.save(name, seal_object(self.repo.keys, T_INDEX, name, index_body(self._unindexed)))
        storage.sync()
        pending = self._pending
        for info, entries in self._unindexed:
            self.repo.index.add_pack(info, entries)
            for e in entries:  # indexed now: the claim is no longer needed
                pending.pop(e.id, None)
        self.repo.index.index_names.add(name)
        self.index_names.append(name)
        self._unindexed = []
        self._unindexed_blobs = 0

    # -- finishing ---------------------------------------------------------------------
    def _stop_threads(self) -> None:
        for _ in self._packers:
            self._blobs.put(_STOP)
        for t in self._packers:
            t.join()
        if self._error is None:
            with self._lock:
                builders, self._builders = list(self._builders.values()), {}
            for builder in builders:
                self._to_saver(builder)
        self._packs.put(_STOP)
        self._saver.join()

    def flush(self) -> None:
        """Store everything queued, write the last index object and sync. Ends the writer."""
        if self._closed:
            return
        self._closed = True
        self._stop_threads()
        self._raise_error()
        self._write_index()

    def abort(self) -> None:
        """Stop without writing a final index (what a crash would leave, minus the tail)."""
        if self._closed:
            return
        self._closed = True
        self._error = self._error or RuntimeError("aborted")
        self._stop_threads()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.flush()
        else:
            self.abort()
