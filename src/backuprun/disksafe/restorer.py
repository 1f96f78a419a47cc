"""Restore: a recovery point (all of it or chosen paths) back into a folder.

The calling thread walks the trees, creating directories, symlinks and special files;
regular files go to worker threads (small ones in batches) that fetch, verify, decompress
and write their chunks, seeking over zero chunks of files that were sparse, then set owner,
mode, xattrs and times. Hard links are made once every file is written; directory metadata
is applied last, in a second walk, so writing into a directory does not disturb its mtime.
Damaged files are reported by path and the rest is restored.
"""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from backuprun.disksafe.errors import DamagedData, PathNotFound
from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.tree import entries_of, find

BATCH_FILES = 64
SPLIT_SIZE = 32 * 1024 * 1024  # files this big are written by several workers at once
SPLIT_PART = 8 * 1024 * 1024
SMALL_BLOB = 256 * 1024  # single-chunk files below this are decompressed a batch at a time
BATCH_BYTES = 8 * 1024 * 1024
_IS_ROOT = os.geteuid() == 0
_OWN_IDS = (os.geteuid(), os.getegid())


@dataclass
class RestoreStats:
    files: int = 0
    dirs: int = 0
    bytes_written: int = 0
    damaged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _is_zero(data: bytes | memoryview) -> bool:
    # Zero chunks always compress, so they arrive as bytes; raw ones (views) are not zero.
    return isinstance(data, bytes) and data.count(0) == len(data)


class _SplitFile:
    """A large file restored by several workers at once, each writing its own range."""

    __slots__ = ("entry", "dst", "mode", "remaining", "written")

    def __init__(self, entry: dict, dst: bytes, mode: int, parts: int) -> None:
        self.entry, self.dst, self.mode = entry, dst, mode
        self.remaining = parts
        self.written = 0


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


def apply_metadata(path: bytes, e: dict, fd: int | None = None,
                   created_mode: int | None = None) -> None:
    """Set owner, xattrs, mode and times of ``path`` (or open ``fd``) from entry ``e``.

    ``created_mode``: the mode the file was just created with (umask 0), so an equal
    mode needs no chmod."""
    link = e["t"] == "l"
    target = fd if fd is not None else path
    owner_changes = _IS_ROOT and (e.get("u", -1), e.get("g", -1)) != _OWN_IDS
    if owner_changes:
        uid, gid = e.get("u", -1), e.get("g", -1)
        try:
            if fd is not None:
                os.fchown(fd, uid, gid)
            else:
                os.chown(path, uid, gid, follow_symlinks=False)
        except OSError:
            pass
    for name, value in (e.get("x") or {}).items():
        try:
            if fd is not None:
                os.setxattr(fd, name, value)
            else:
                os.setxattr(path, name, value, follow_symlinks=False)
        except OSError:
            pass
    if not link and (owner_changes or created_mode != e["m"]):
        if fd is not None:
            os.fchmod(fd, e["m"])
        else:
            os.chmod(path, e["m"])
    times = (e.get("at", e["mt"]), e["mt"])
    if fd is not None:
        os.utime(fd, ns=times)
    else:
        os.utime(target, ns=times, follow_symlinks=not link)


class Restorer:
    def __init__(self, repo: Repository, point: RecoveryPoint, target: bytes,
                 paths: list[bytes] | None = None, workers: int = 2) -> None:
        self.repo = repo
        self.point = point
        self.target = target
        self.stats = RestoreStats()
        self._paths = paths or []
        self._umask_zero = False
        self._wanted, self._descend = _selector(paths)
        self._full = not paths
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="disksafe-restore")
        self._slots = threading.Semaphore(workers * 3)
        self._mutex = threading.Lock()
        self._batch: list[tuple[dict, bytes]] = []
        self._batch_bytes = 0
        self._links: dict[tuple[int, int], bytes] = {}
        self._deferred_links: list[tuple[bytes, bytes]] = []
        self._errors: list[BaseException] = []

    def run(self) -> RestoreStats:
        for path in self._paths:
            if path.strip(b"/") and find(self.repo, self.point.tree, path) is None:
                raise PathNotFound(f"no {os.fsdecode(path)} in recovery point {self.point.id}")
        os.makedirs(self.target, exist_ok=True)
        old_umask = os.umask(0)  # created modes are exact, saving a chmod per file
        self._umask_zero = True
        try:
            self._walk(self.point.tree, b"")
            self._flush()
        finally:
            self._pool.shutdown(wait=True)
            os.umask(old_umask)
            self._umask_zero = False
        if self._errors:
            raise self._errors[0]
        for path, first in self._deferred_links:
            try:
                if os.path.lexists(path):
                    os.unlink(path)
                os.link(first, path)
            except OSError as exc:
                self.stats.warnings.append(f"cannot link {os.fsdecode(path)}: {exc.strerror}")
        self._dir_metadata(self.point.tree, b"")
        if self._full and self.point.root:
            apply_metadata(self.target, self.point.root)
        return self.stats

    # -- first walk: contents ------------------------------------------------------------
    def _walk(self, tree_id: bytes, rel: bytes) -> None:
        for e in entries_of(self._tree(tree_id, rel)):
            child = rel + b"/" + e["n"] if rel else e["n"]
            if not self._descend(child):
                continue
            dst = os.path.join(self.target, child)
            kind = e["t"]
            if kind == "d":
                try:
                    os.mkdir(dst, 0o700)  # its real mode is set last
                except FileExistsError:
                    if not stat.S_ISDIR(os.lstat(dst).st_mode):  # never follow a symlink
                        os.unlink(dst)
                        os.mkdir(dst, 0o700)
                self.stats.dirs += 1
                if e.get("st"):
                    self._walk(e["st"], child)
            elif not self._wanted(child):
                continue
            elif kind == "f":
                self._file(e, dst)
            else:
                self._special(e, dst)

    def _tree(self, tree_id: bytes, rel: bytes) -> dict:
        try:
            return self.repo.load_tree(tree_id)
        except DamagedData as exc:
            self.stats.damaged.append(f"{os.fsdecode(rel) or '/'} (directory): {exc}")
            return {"e": []}

    def _file(self, e: dict, dst: bytes) -> None:
        self.stats.files += 1
        if e.get("nl", 1) > 1 and "i" in e:
            key = (e.get("dv", 0), e["i"])
            first = self._links.get(key)
            if first is not None:
                self._deferred_links.append((dst, first))
                return
            self._links[key] = dst
        if e.get("sz", 0) >= SPLIT_SIZE and len(e.get("c", ())) > 1:
            self._split(e, dst)
            return
        self._batch.append((e, dst))
        self._batch_bytes += e.get("sz", 0)
        if len(self._batch) >= BATCH_FILES or self._batch_bytes >= BATCH_BYTES:
            self._flush()

    def _split(self, e: dict, dst: bytes) -> None:
        """Create the file at its size, then let workers fill ranges of it in parallel."""
        parts: list[tuple[int, list[bytes]]] = []
        offset = start = 0
        ids: list[bytes] = []
        for cid in e["c"]:
            found = self.repo.index.lookup(cid)
            ids.append(cid)
            offset += found[1].raw_len if found else 0
            if offset - start >= SPLIT_PART:
                parts.append((start, ids))
                start, ids = offset, []
        if ids:
            parts.append((start, ids))
        fd, mode = self._create(e, dst)
        try:
            os.ftruncate(fd, e["sz"])
        finally:
            os.close(fd)
        shared = _SplitFile(e, dst, mode, len(parts))
        for start, ids in parts:
            self._slots.acquire()
            self._pool.submit(self._run_part, shared, start, ids)

    def _run_part(self, shared: _SplitFile, offset: int, ids: list[bytes]) -> None:
        try:
            written = 0
            sparse = shared.entry.get("sp", False)
            fd = os.open(shared.dst, os.O_WRONLY | os.O_NOFOLLOW)
            try:
                for cid in ids:
                    data = self.repo.load_blob_view(cid)
                    if not (sparse and _is_zero(data)):
                        os.pwrite(fd, data, offset + written)
                    written += len(data)
            except DamagedData as exc:
                with self._mutex:
                    self.stats.damaged.append(f"{os.fsdecode(shared.dst)}: {exc}")
            finally:
                os.close(fd)
            with self._mutex:
                self.stats.bytes_written += written
                shared.remaining -= 1
                last = shared.remaining == 0
            if last:  # metadata (times above all) once every range is written
                fd = os.open(shared.dst, os.O_WRONLY | os.O_NOFOLLOW)
                try:
                    apply_metadata(shared.dst, shared.entry, fd,
                                   shared.mode if self._umask_zero else None)
                finally:
                    os.close(fd)
        except BaseException as exc:  # noqa: BLE001
            self._errors.append(exc)
        finally:
            self._slots.release()

    def _create(self, e: dict, dst: bytes) -> tuple[int, int]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        mode = e["m"] & 0o777 | 0o600  # owner can always write while restoring
        try:
            return os.open(dst, flags, mode), mode
        except FileExistsError:  # replace, never write through, what is there
            os.unlink(dst)
            return os.open(dst, flags, mode), mode

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            self._slots.acquire()
            self._pool.submit(self._run_batch, batch)

    def _run_batch(self, batch: list[tuple[dict, bytes]]) -> None:
        try:
            small = [e["c"][0] for e, _ in batch
                     if len(e.get("c", ())) == 1 and e.get("sz", 0) < SMALL_BLOB]
            preloaded = self.repo.load_small_blobs(small) if len(small) > 1 else {}
            for e, dst in batch:
                self._write_file(e, dst, preloaded)
        except BaseException as exc:  # noqa: BLE001
            self._errors.append(exc)
        finally:
            self._slots.release()

    def _write_file(self, e: dict, dst: bytes, preloaded: dict | None = None) -> None:
        sparse = e.get("sp", False)
        written = 0
        fd, mode = self._create(e, dst)
        try:
            try:
                for cid in e.get("c", ()):
                    data = preloaded.pop(cid, None) if preloaded else None
                    if data is None:
                        data = self.repo.load_blob_view(cid)
                    elif isinstance(data, DamagedData):
                        raise data
                    if sparse and _is_zero(data):
                        os.lseek(fd, len(data), os.SEEK_CUR)
                    else:
                        os.write(fd, data)
                    written += len(data)
            except DamagedData as exc:
                with self._mutex:
                    self.stats.damaged.append(f"{os.fsdecode(dst)}: {exc}")
            if sparse:
                os.ftruncate(fd, written)
            apply_metadata(dst, e, fd, mode if self._umask_zero else None)
        finally:
            os.close(fd)
        with self._mutex:
            self.stats.bytes_written += written

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
            apply_metadata(dst, e)
        except OSError as exc:
            self.stats.warnings.append(f"cannot create {os.fsdecode(dst)}: {exc.strerror}")

    # -- second walk: directory metadata ---------------------------------------------------
    def _dir_metadata(self, tree_id: bytes, rel: bytes) -> None:
        for e in entries_of(self._tree(tree_id, rel)):
            if e["t"] != "d":
                continue
            child = rel + b"/" + e["n"] if rel else e["n"]
            if not self._descend(child):
                continue
            if e.get("st"):
                self._dir_metadata(e["st"], child)
            dst = os.path.join(self.target, child)
            try:
                apply_metadata(dst, e)
            except OSError as exc:
                self.stats.warnings.append(f"cannot set metadata of {os.fsdecode(dst)}: {exc.strerror}")


def restore(repo: Repository, point: RecoveryPoint, target: bytes,
            paths: list[bytes] | None = None, workers: int = 2) -> RestoreStats:
    """Restore ``point`` (or the chosen ``paths`` of it) under ``target``; shared lock."""
    with repo.lock(False, "restore"):
        return Restorer(repo, point, target, paths, workers).run()
