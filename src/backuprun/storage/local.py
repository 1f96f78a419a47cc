"""A local folder as storage: one file per blob, written atomically by rename."""

from __future__ import annotations

import ctypes
import fcntl
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from backuprun.storage.base import TEMP_PREFIX, AlreadyExists, NotFound, StorageError, check_name
from backuprun.storage.base import could_prefix_a_name

# A name that is a folder of other names, or runs through a blob, holds no blob.
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)

# Big writes from a page-aligned buffer (the disk safe's pack buffers) bypass the page
# cache with O_DIRECT: they are fsynced at once anyway, and copying them into fresh
# page-cache pages cost more CPU than compressing them (about 1 s per GB here).
DIRECT_MIN = 1 << 20
DIRECT_ALIGN = 4096
_O_DIRECT = getattr(os, "O_DIRECT", 0)


def _aligned_len(view: memoryview) -> int:
    """Bytes of ``view`` to write with O_DIRECT (0: write it all through the page cache)."""
    if not _O_DIRECT or view.nbytes < DIRECT_MIN or view.readonly or not view.c_contiguous:
        return 0
    try:
        addr = ctypes.addressof(ctypes.c_char.from_buffer(view))
    except (TypeError, ValueError):
        return 0
    if addr % DIRECT_ALIGN:
        return 0
    return view.nbytes - view.nbytes % DIRECT_ALIGN


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_file(fd: int, view: memoryview, direct: int) -> None:
    """Write ``view`` to the new file ``fd``: the first ``direct`` bytes with O_DIRECT
    (falling back to the page cache if the file system refuses), the rest through it."""
    if direct:
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | _O_DIRECT)
            head = view[:direct]
            while len(head) >= DIRECT_ALIGN:
                written = os.write(fd, head)
                head = head[written:]
                if written % DIRECT_ALIGN:
                    break
            done = direct - len(head)
        except OSError:  # e.g. EINVAL: no O_DIRECT here, or a short, unaligned write
            done = os.lseek(fd, 0, os.SEEK_CUR)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_DIRECT)
        view = view[done:]
    _write_all(fd, view)


class LocalStorage:
    """Blobs as files under ``root``.

    ``save`` writes a temporary file beside the target, fsyncs it, then renames it into
    place (or hard-links it, when overwriting is not allowed, so an existing blob is never
    replaced). Directories touched since the last ``sync`` are fsynced by ``sync``.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.url = str(self.root)
        self._dirty_dirs: set[Path] = set()
        self._dirty_lock = threading.Lock()

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def save(self, name: str, data: bytes | memoryview, *, overwrite: bool = False) -> None:
        try:
            self._save(name, data, overwrite)
        except AlreadyExists:
            raise
        except OSError as exc:  # a full disk, a read-only or vanished folder
            raise StorageError(f"cannot save {name} in {self.root}: "
                               f"{exc.strerror or exc}") from exc

    def _save(self, name: str, data: bytes | memoryview, overwrite: bool) -> None:
        path = self._path(name)
        if not path.parent.is_dir():
            self._make_dirs(path.parent)
        tmp = path.parent / f"{TEMP_PREFIX}{path.name}-{secrets.token_hex(6)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data).cast("B")
            _write_file(fd, view, _aligned_len(view))
            os.fsync(fd)
        except BaseException:
            tmp.unlink(missing_ok=True)  # e.g. a full disk: leave no partial file behind
            raise
        finally:
            os.close(fd)
        try:
            if overwrite:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise AlreadyExists(name) from None
                finally:
                    os.unlink(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._mark_dirty(path.parent)

    def _make_dirs(self, directory: Path) -> None:
        """Create ``directory`` with its parents; each folder that gained one is dirty."""
        directory.mkdir(parents=True, exist_ok=True)
        for parent in directory.parents:
            self._mark_dirty(parent)
            if parent == self.root.parent:
                break

    def _mark_dirty(self, directory: Path) -> None:
        with self._dirty_lock:
            self._dirty_dirs.add(directory)

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"bad range: offset={offset} length={length}")
        try:
            with open(self._path(name), "rb") as f:
                if offset:
                    f.seek(offset)
                return f.read() if length is None else f.read(length)
        except _MISSING:
            raise NotFound(name) from None

    def prefetch(self, name: str, offset: int, length: int) -> None:
        """Asks the kernel to read the range into the page cache, in the background."""
        try:
            fd = os.open(self._path(name), os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, ValueError):
            return
        try:
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)

    def size(self, name: str) -> int:
        try:
            st = self._path(name).stat()
        except _MISSING:
            raise NotFound(name) from None
        if not stat.S_ISREG(st.st_mode):
            raise NotFound(name)
        return st.st_size

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        if not could_prefix_a_name(prefix):
            return
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        for dirpath, _dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, self.root)
            for fname in files:
                if fname.startswith(TEMP_PREFIX):
                    continue
                name = fname if rel == "." else f"{rel}/{fname}".replace(os.sep, "/")
                if name.startswith(prefix):
                    yield name

    def remove(self, name: str) -> None:
        try:
            self._path(name).unlink()
        except _MISSING:
            raise NotFound(name) from None
        self._mark_dirty(self._path(name).parent)

    def remove_leftovers(self, older_than: float = 3600.0) -> int:
        """Delete half-written temporary files that a killed writer left (none is younger
        than ``older_than`` seconds, so a save in progress is never touched)."""
        limit = time.time() - older_than
        removed = 0
        for dirpath, _dirs, files in os.walk(self.root):
            for fname in files:
                path = os.path.join(dirpath, fname)
                try:
                    if fname.startswith(TEMP_PREFIX) and os.lstat(path).st_mtime < limit:
                        os.unlink(path)
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def sync(self) -> None:
        with self._dirty_lock:
            dirs, self._dirty_dirs = self._dirty_dirs, set()
        for d in dirs:
            try:
                fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
