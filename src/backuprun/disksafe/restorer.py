"""Restore: a recovery point (all of it or chosen paths) back into a folder.

The calling thread first scouts the trees: it creates every directory and queues the
bigger files for a helper thread (up to ``SCOUT_FILES`` of them; later ones are queued as
the walk meets them), so the helper starts at once even when they sit late in the walk.
Then it walks again (reusing the trees the scout read), creating symlinks and special
files, and writes the small files itself, a batch at a time (their blobs read in exact,
coalesced ranges, verified and decompressed together, then one create, write, utime and
close each). Files of ``SPLIT_SIZE`` and more are cut into ranges, taken first from the
file with the most bytes left that no thread is writing; once the walk is done, the
calling thread takes queued work too. Python threads that both make many small
system calls mostly hand the GIL to each other (measured: two threads creating 30 000 small
files in tmpfs took twice as long as one), so the many small files stay on one thread and
the helper does few, long calls (reads, decompression, writes of big chunks) that release
the GIL. Hard links are made once every file is written; directory metadata is applied
last, children before parents, so writing into a directory does not disturb its mtime.
Damaged files are reported by path and the rest is restored; owners and extended
attributes that cannot be set are warnings.
"""

from __future__ import annotations

import gc
import os
import stat
import sys
import threading
from collections import deque
from dataclasses import dataclass, field

import msgpack

from backuprun.disksafe.errors import DamagedData, PathNotFound
from backuprun.disksafe.holes import pwrite_all, write_with_holes
from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.restoremeta import Warnings, apply_metadata, owner_changes
from backuprun.disksafe.tree import entries_of, find

BATCH_FILES = 128  # small files read, verified and decompressed together
BATCH_BYTES = 4 * 1024 * 1024
SMALL_BLOB = 256 * 1024  # single-chunk files below this are written by the walking thread
SPLIT_SIZE = 32 * 1024 * 1024  # files this big are restored in ranges, by both threads
SPLIT_PART = 8 * 1024 * 1024
TREE_CACHE = 16 * 1024 * 1024  # bytes of trees the scout read kept (plaintext) for the walk
SCOUT_FILES = 4096  # bigger files queued for the helper before the walk begins (memory bound)
SWITCH_INTERVAL = 0.0005  # s; the helper's short GIL turns should not wait 5 ms each
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


@dataclass
class RestoreStats:
    files: int = 0
    dirs: int = 0
    bytes_written: int = 0
    damaged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _is_small(e: dict) -> bool:
    return e.get("sz", 0) < SMALL_BLOB and len(e.get("c", ())) <= 1


def _write_all(fd: int, data: bytes | memoryview) -> None:
    n = os.write(fd, data)
    if n < len(data):
        view = memoryview(data)[n:]
        while view:
            view = view[os.write(fd, view):]


class _SplitFile:
    """A large file restored in ranges (``parts``: (offset, size, chunk ids) not yet
    taken), possibly by both threads at once."""

    __slots__ = ("entry", "dst", "mode", "parts", "left", "remaining", "busy", "lock")

    def __init__(self, entry: dict, dst: bytes, mode: int,
                 parts: list[tuple[int, int, list[bytes]]]) -> None:
        self.entry, self.dst, self.mode = entry, dst, mode
        self.parts = deque(parts)
        self.left = sum(size for _, size, _ in parts)  # bytes in parts not yet taken
        self.remaining = len(parts)  # parts not yet written
        self.busy = 0  # threads writing a part of it now
        self.lock = threading.Lock()  # one writer at a time: tmpfs serialises them anyway


def _selector(paths: list[bytes] | None):
    """(wanted(rel), descend(rel)) for the chosen paths; everything when none."""
    if not paths:
        return (lambda rel: True), (lambda rel: True)
    chosen = [p.strip(b"/") for p in paths]

    def wanted(rel: bytes) -> bool:
        return any(not c or rel == c or rel.startswith(c + b"/") for c in chosen)

    def descend(rel: bytes) -> bool:
        return wanted(rel) or any(c.startswith(rel + b"/") for c in chosen)

    return wanted, descend


class Restorer:
    """Restores one recovery point (or chosen paths) under ``target``.

    ``own_process=True`` (the CLI) lets the restore tune process-wide settings while it
    runs: umask 0 (files are created with their exact mode, saving a chmod each), the
    cyclic GC off and a shorter GIL switch interval. Leave it False inside a server,
    where other threads must not see those change.
    """

    def __init__(self, repo: Repository, point: RecoveryPoint, target: bytes,
                 paths: list[bytes] | None = None, workers: int = 2,
                 own_process: bool = False) -> None:
        self.repo = repo
        self._own_process = own_process
        self.point = point
        self.target = target
        self.stats = RestoreStats()
        self._warnings = Warnings(self.stats.warnings)
        self._paths = paths or []
        self._umask_zero = False
        self._wanted, self._descend = _selector(paths)
        self._full = not paths
        self._helpers = max(1, workers - 1)
        # work for the helper (and, after the walk, for us): whole files, and big files in
        # ranges; see _take for the order
        self._queue: deque = deque()
        self._bigs: list[_SplitFile] = []
        self._cv = threading.Condition(threading.Lock())
        self._busy = 0
        self._closing = False
        self._mutex = threading.Lock()
        self._batch: list[tuple[dict, bytes]] = []
        self._batch_bytes = 0
        self._links: dict[tuple[int, int], bytes] = {}
        self._deferred_links: list[tuple[bytes, bytes]] = []
        self._dirs: list[tuple[bytes, dict]] = []  # children before parents
        self._scouted: set[bytes] = set()  # files the scout queued already
        self._trees: dict[bytes, bytes] = {}  # tree id -> plaintext, read by the scout
        self._trees_room = TREE_CACHE
        self._errors: list[BaseException] = []

    def _warn(self, kind: str, message: str) -> None:
        with self._mutex:
            self._warnings.add(kind, message)

    def _damaged(self, message: str) -> None:
        with self._mutex:
            self.stats.damaged.append(message)

    def _count(self, files: int, written: int) -> None:
        with self._mutex:
            self.stats.files += files
            self.stats.bytes_written += written

    def run(self) -> RestoreStats:
        for path in self._paths:
            if path.strip(b"/") and find(self.repo, self.point.tree, path) is None:
                raise PathNotFound(f"no {os.fsdecode(path)} in recovery point {self.point.id}")
        os.makedirs(self.target, exist_ok=True)
        tuned = self._own_process
        if tuned:
            old_umask = os.umask(0)  # created modes are exact, saving a chmod per file
            self._umask_zero = True
            gc_was = gc.isenabled()
            gc.disable()  # tree entries are many small dicts; no cycles are made here
            switch = sys.getswitchinterval()
            sys.setswitchinterval(min(switch, SWITCH_INTERVAL))
        threads = [threading.Thread(target=self._helper, name=f"disksafe-restore-{i}",
                                    daemon=True) for i in range(self._helpers)]
        for t in threads:
            t.start()
        try:
            self._scout(self.point.tree, b"", self.target.rstrip(b"/"))
            self._walk(self.point.tree, b"")
            self._trees.clear()
            self._flush()
            self._drain()
        except BaseException:
            with self._cv:  # the helper stops after what it is doing
                self._queue.clear()
                self._bigs.clear()
            raise
        finally:
            with self._cv:
                self._closing = True
                self._cv.notify_all()
            for t in threads:
                t.join()
            if tuned:
                os.umask(old_umask)
                sys.setswitchinterval(switch)
                self._umask_zero = False
                if gc_was:
                    gc.enable()
        if self._errors:
            raise self._errors[0]
        for path, first in self._deferred_links:
            try:
                if os.path.lexists(path):
                    os.unlink(path)
                os.link(first, path)
            except OSError as exc:
                self.stats.warnings.append(f"cannot link {os.fsdecode(path)}: {exc.strerror}")
        for dst, e in self._dirs:
            try:
                apply_metadata(dst, e, warn=self._warnings.add)
            except OSError as exc:
                self.stats.warnings.append(f"cannot set metadata of {os.fsdecode(dst)}: {exc.strerror}")
        if self._full and self.point.root:
            apply_metadata(self.target, self.point.root, warn=self._warnings.add)
        self._warnings.finish()
        return self.stats

    # -- the scout: directories, and the bigger files queued early --------------------------
    def _scout(self, tree_id: bytes, rel: bytes, base: bytes) -> None:
        """Create every directory and queue the bigger files for the helper, before the
        walk writes the small ones (a tree walk costs ~2 us an entry; the big files often
        sit late in the walk, which would leave the helper idle until then)."""
        try:
            data = self.repo.load_blob(tree_id)
            if len(data) <= self._trees_room and tree_id not in self._trees:
                self._trees[tree_id] = data
                self._trees_room -= len(data)
            entries = entries_of(msgpack.unpackb(data, raw=False, strict_map_key=False))
        except Exception:  # noqa: BLE001 - the walk reports it
            return
        for e in entries:
            kind = e["t"]
            if kind == "f":
                if (len(self._scouted) < SCOUT_FILES and e.get("nl", 1) <= 1
                        and not _is_small(e)):
                    child = rel + b"/" + e["n"] if rel else e["n"]
                    if self._wanted(child):
                        dst = base + b"/" + child
                        self._scouted.add(dst)
                        self._heavy(e, dst)
            elif kind == "d":
                child = rel + b"/" + e["n"] if rel else e["n"]
                if not self._descend(child):
                    continue
                dst = base + b"/" + child
                try:
                    os.mkdir(dst, 0o700)  # its real mode is set last
                except FileExistsError:
                    if not stat.S_ISDIR(os.lstat(dst).st_mode):  # never follow a symlink
                        os.unlink(dst)
                        os.mkdir(dst, 0o700)
                self.stats.dirs += 1
                if e.get("st"):
                    self._scout(e["st"], child, base)

    # -- the walk: specials and small files --------------------------------------------------
    def _walk(self, tree_id: bytes, rel: bytes) -> None:
        target = self.target.rstrip(b"/")
        scouted = self._scouted
        for e in entries_of(self._tree(tree_id, rel)):
            child = rel + b"/" + e["n"] if rel else e["n"]
            if not self._descend(child):
                continue
            dst = target + b"/" + child
            kind = e["t"]
            if kind == "f":
                if dst not in scouted and self._wanted(child):
                    self._file(e, dst)
            elif kind == "d":
                if e.get("st"):
                    self._walk(e["st"], child)
                self._dirs.append((dst, e))
            elif self._wanted(child):
                self._special(e, dst)

    def _tree(self, tree_id: bytes, rel: bytes) -> dict:
        try:
            data = self._trees.get(tree_id)
            if data is None:
                return self.repo.load_tree(tree_id)
            try:
                return msgpack.unpackb(data, raw=False, strict_map_key=False)
            except Exception as exc:  # noqa: BLE001 - as Repository.load_tree says it
                raise DamagedData(f"tree {tree_id.hex()}: does not parse: {exc}") from None
        except DamagedData as exc:
            self.stats.damaged.append(f"{os.fsdecode(rel) or '/'} (directory): {exc}")
            return {"e": []}

    def _file(self, e: dict, dst: bytes) -> None:
        if e.get("nl", 1) > 1 and "i" in e:
            key = (e.get("dv", 0), e["i"])
            first = self._links.get(key)
            if first is not None:
                self._deferred_links.append((dst, first))
                self._count(1, 0)
                return
            self._links[key] = dst
        if _is_small(e):
            self._batch.append((e, dst))
            self._batch_bytes += e.get("sz", 0)
            if len(self._batch) >= BATCH_FILES or self._batch_bytes >= BATCH_BYTES:
                self._flush()
        else:
            self._heavy(e, dst)

    def _heavy(self, e: dict, dst: bytes) -> None:
        if e.get("sz", 0) >= SPLIT_SIZE and len(e.get("c", ())) > 1:
            self._split(e, dst)
        else:
            self._submit((self._whole_file, e, dst))

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            ids = [e["c"][0] for e, _ in batch if e.get("c")]
            self._write_batch(batch, self.repo.load_small_blobs(ids) if ids else {})

    def _submit(self, item: tuple) -> None:
        with self._cv:
            self._queue.append(item)
            self._cv.notify()

    # -- work queue --------------------------------------------------------------------------
    def _take(self):
        """The next piece of work (call with ``_cv`` held), or ``None``.

        A range of the big file with the most bytes left that no thread is writing (so the
        big files finish together and never leave one file's ranges as the last work: the
        kernel writes one file at a time), else a whole file, else a range of a big file
        another thread is writing too (its decompression still runs beside)."""
        best = busy = None
        for f in self._bigs:
            if f.parts:
                if not f.busy and (best is None or f.left > best.left):
                    best = f
                elif busy is None or f.left > busy.left:
                    busy = f
        if best is None and self._queue:
            return self._queue.popleft()
        best = best or busy
        if best is None:
            return None
        offset, size, ids = best.parts.popleft()
        best.left -= size
        best.busy += 1
        if not best.parts:
            self._bigs.remove(best)
        return self._run_part, best, offset, ids

    def _helper(self) -> None:
        cv = self._cv
        while True:
            with cv:
                item = self._take()
                while item is None and not self._closing:
                    cv.wait()
                    item = self._take()
                if item is None:
                    return
                self._busy += 1
            try:
                item[0](*item[1:])
            except BaseException as exc:  # noqa: BLE001
                self._errors.append(exc)
            finally:
                with cv:
                    self._busy -= 1
                    if not self._busy:
                        cv.notify_all()

    def _drain(self) -> None:
        """After the walk: take queued work too, then wait for the helper to finish."""
        cv = self._cv
        while True:
            with cv:
                item = self._take()
                while item is None and self._busy:
                    cv.wait()
                    item = self._take()
                if item is None:
                    return
                self._busy += 1
            try:
                item[0](*item[1:])
            finally:
                with cv:
                    self._busy -= 1
                    if not self._busy:
                        cv.notify_all()

    # -- writing -------------------------------------------------------------------------------
    def _create(self, e: dict, dst: bytes) -> tuple[int, int]:
        mode = e["m"] & 0o777 | 0o600  # owner can always write while restoring
        try:
            return os.open(dst, _CREATE, mode), mode
        except FileExistsError:  # replace, never write through, what is there
            os.unlink(dst)
            return os.open(dst, _CREATE, mode), mode

    def _write_batch(self, batch: list[tuple[dict, bytes]], loaded: dict) -> None:
        """Small files (at most one chunk each), their blobs ``loaded`` together."""
        warn = self._warn
        created = self._umask_zero
        written = 0
        for e, dst in batch:
            fd, mode = self._create(e, dst)
            try:
                chunks = e.get("c")
                if chunks:
                    data = loaded[chunks[0]]
                    if isinstance(data, DamagedData):
                        self._damaged(f"{os.fsdecode(dst)}: {data}")
                    elif e.get("sp"):  # sparse: zero runs become holes
                        write_with_holes(fd, data, 0)
                        os.ftruncate(fd, len(data))
                        written += len(data)
                    else:
                        _write_all(fd, data)
                        written += len(data)
                if created and mode == e["m"] and not e.get("x") and not owner_changes(e):
                    mt = e["mt"]  # what apply_metadata does here, without the call
                    os.utime(fd, ns=(e.get("at", mt), mt))
                else:
                    apply_metadata(dst, e, fd, mode if created else None, warn)
            finally:
                os.close(fd)
        self._count(len(batch), written)

    def _whole_file(self, e: dict, dst: bytes) -> None:
        sparse = e.get("sp", False)
        written = 0
        load = self.repo.load_blob_view
        fd, mode = self._create(e, dst)
        try:
            try:
                for cid in e.get("c", ()):
                    data = load(cid)
                    if sparse:  # zero runs become holes
                        write_with_holes(fd, data, written)
                    else:
                        _write_all(fd, data)
                    written += len(data)
            except DamagedData as exc:
                self._damaged(f"{os.fsdecode(dst)}: {exc}")
            if sparse:
                os.ftruncate(fd, written)
            apply_metadata(dst, e, fd, mode if self._umask_zero else None, self._warn)
        finally:
            os.close(fd)
        self._count(1, written)

    def _split(self, e: dict, dst: bytes) -> None:
        """Create the file at its size; its ranges are queued (they fill in any order)."""
        parts: list[tuple[int, int, list[bytes]]] = []
        offset = start = 0
        ids: list[bytes] = []
        lookup = self.repo.index.lookup
        for cid in e["c"]:
            found = lookup(cid)
            ids.append(cid)
            offset += found[1].raw_len if found else 0
            if offset - start >= SPLIT_PART:
                parts.append((start, offset - start, ids))
                start, ids = offset, []
        if ids:
            parts.append((start, offset - start, ids))
        fd, mode = self._create(e, dst)
        try:
            os.ftruncate(fd, e["sz"])
        finally:
            os.close(fd)
        with self._cv:
            self._bigs.append(_SplitFile(e, dst, mode, parts))
            self._cv.notify()

    def _run_part(self, shared: _SplitFile, offset: int, ids: list[bytes]) -> None:
        written = 0
        sparse = shared.entry.get("sp", False)
        load = self.repo.load_blob_view
        try:
            fd = os.open(shared.dst, os.O_WRONLY | os.O_NOFOLLOW)
            try:
                for cid in ids:
                    data = load(cid)
                    with shared.lock:
                        if sparse:  # zero runs become holes
                            write_with_holes(fd, data, offset + written)
                        else:
                            pwrite_all(fd, data, offset + written)
                    written += len(data)
            except DamagedData as exc:
                self._damaged(f"{os.fsdecode(shared.dst)}: {exc}")
            finally:
                os.close(fd)
        finally:
            with self._cv:
                shared.busy -= 1
        with self._mutex:
            self.stats.bytes_written += written
            shared.remaining -= 1
            last = shared.remaining == 0
            if last:
                self.stats.files += 1
        if last:  # metadata (times above all) once every range is written
            fd = os.open(shared.dst, os.O_WRONLY | os.O_NOFOLLOW)
            try:
                apply_metadata(shared.dst, shared.entry, fd,
                               shared.mode if self._umask_zero else None, self._warn)
            finally:
                os.close(fd)

    def _special(self, e: dict, dst: bytes) -> None:
        kind = e["t"]
        try:
            if os.path.lexists(dst):
                os.unlink(dst)
            if kind == "l":
                os.symlink(e["lt"], dst)
            elif kind == "p":
                os.mkfifo(dst, e["m"])
            elif kind in ("c", "b"):
                os.mknod(dst, e["m"] | (0o020000 if kind == "c" else 0o060000), e.get("rd", 0))
            else:  # sockets are not restored
                return
            apply_metadata(dst, e, warn=self._warn)
        except OSError as exc:
            self.stats.warnings.append(f"cannot create {os.fsdecode(dst)}: {exc.strerror}")


def restore(repo: Repository, point: RecoveryPoint, target: bytes,
            paths: list[bytes] | None = None, workers: int = 2,
            own_process: bool = False) -> RestoreStats:
    """Restore ``point`` (or the chosen ``paths`` of it) under ``target``; shared lock."""
    with repo.lock(False, "restore"):
        return Restorer(repo, point, target, paths, workers, own_process).run()
