"""The agent's side of a restore: write what the backup server streams, under the root only.

Entries arrive in tree order (a directory before what it holds): many to a frame, small
files with their content, or a big file alone, its content in the frames after it
(:mod:`backuprun.transport.messages`). Every write goes through
:mod:`backuprun.agent.paths`: ``..``, absolute paths and symbolic links cannot lead outside
the root, and a file appears whole or not at all. With ``overwrite`` off an existing entry
is kept (a warning says so). A file that cannot be written is skipped with a warning; the
rest goes on. Directories get their times and modes last, once their content is written.
A file the backup found sparse comes back sparse (its runs of zeros as holes).
Files that were hard links of one another come back as hard links again (a copy where the
target's file system refuses); extended attributes come back where the file system and the
user allow (a warning names those that did not).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import time
from pathlib import Path

from backuprun.agent import paths
from backuprun.agent.session import Cancelled, Session
from backuprun.disksafe.compress import decompress_parts
from backuprun.disksafe.holes import pwrite_all, write_with_holes
from backuprun.transport.messages import ProtocolError

log = logging.getLogger("backuprun.agent")
PROGRESS_SECONDS = 1.0
_GARBLED = "its data came garbled (does not decompress); not restored"
MAX_WARNINGS = 1000


class _Skip(Exception):
    """This entry is not restored; the message says why."""


class _Dropped(Exception):
    """The backup server gave up on this file's content (its data is damaged)."""


class Restorer:
    def __init__(self, session: Session, root: Path, target: str, overwrite: bool):
        self.session = session
        self.root = root
        self.target = target
        self.overwrite = overwrite
        self.files = 0
        self.bytes = 0
        self.warnings = 0
        self.is_root = os.geteuid() == 0
        self.folders = paths.Folders(root)
        self._dirs: list[tuple[str, dict]] = []
        self._linked: dict[tuple, str] = {}  # hard-link group -> the path restored first
        self._data_pending = False
        self._last_progress = time.monotonic()

    def run(self) -> None:
        try:
            while True:
                message = self.session.next_message()
                kind = message["t"]
                if kind == "finish":
                    break
                if kind == "entries":
                    items = message["items"]
                    for (path, entry, _), data in zip(items, _contents(items)):
                        self._entry(path, entry, data, streamed=False)
                elif kind == "entry":
                    self._entry(message["path"], message["entry"], None, streamed=True)
                # anything else: the rest of a skipped file's content
            for path, entry in reversed(self._dirs):
                with contextlib.suppress(OSError, paths.PathEscape):
                    fd, name = self.folders.parent(path)
                    self._set_meta(name, entry, dir_fd=fd)
        finally:
            self.folders.close()
        os.sync()  # every file written, on disk before the backup server hears "done"
        self.session.send("done", files=self.files, bytes=self.bytes, warnings=self.warnings)

    def _entry(self, rel: bytes, entry: dict, data: list | None, streamed: bool) -> None:
        """Restore one entry; a file's content is ``data`` (its chunks' plaintexts), or
        follows when ``streamed``."""
        path = self.target.rstrip("/") + "/" + os.fsdecode(rel).lstrip("/")
        self._data_pending = streamed and entry.get("t") == "f"
        try:
            self._restore(path, entry, data)
        except _Dropped:
            pass  # the backup server reports the damage
        except (_Skip, OSError, paths.PathEscape) as exc:
            self._warn(f"{path}: {getattr(exc, 'strerror', None) or exc}")
            if self._data_pending:
                self._skip_data()
        self._report()

    def _restore(self, path: str, entry: dict, data: list | None) -> None:
        kind = entry.get("t")
        if kind == "d":
            if paths.split(path):
                fd, name = self.folders.parent(path, create=True)
                try:
                    os.mkdir(name, 0o700, dir_fd=fd)
                except FileExistsError:
                    if not stat.S_ISDIR(os.stat(name, dir_fd=fd,
                                                follow_symlinks=False).st_mode):
                        raise _Skip("exists and is not a folder") from None
                self._dirs.append((path, entry))
        elif kind == "f":
            group = (entry.get("dv"), entry.get("i")) if entry.get("nl", 1) > 1 else None
            first = self._linked.get(group) if group else None
            if first is not None and self._link(first, path):
                if self._data_pending:
                    self._skip_data()
                    self._data_pending = False
                return
            self._file(path, entry, data)
            if group:
                self._linked[group] = path
        elif kind == "l":
            fd, name = self.folders.parent(path, create=True)
            if self.overwrite:
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    os.unlink(name, dir_fd=fd)
            try:
                os.symlink(entry["lt"], name, dir_fd=fd)
            except FileExistsError:
                raise _Skip("exists; not overwritten") from None
            self._set_meta(name, entry, dir_fd=fd)
        else:
            raise _Skip("special files (devices, pipes, sockets) are not restored")

    def _link(self, first: str, path: str) -> bool:
        """Make ``path`` a hard link to the already restored ``first`` (one file with two
        names, as backed up); False when that cannot be done here (write a copy instead)."""
        with paths.parent_of(self.root, first) as (src_fd, src_name), \
                paths.parent_of(self.root, path, create=True) as (dst_fd, dst_name):
            if self.overwrite:
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    os.unlink(dst_name, dir_fd=dst_fd)
            try:
                os.link(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd,
                        follow_symlinks=False)
            except FileExistsError:
                raise _Skip("exists; not overwritten") from None
            except OSError:
                return False  # another file system, or links not allowed: a copy
        self.files += 1
        return True

    def _file(self, path: str, entry: dict, data: list | None) -> None:
        if data is not None and None in data:
            raise _Skip(_GARBLED)
        out = self.folders.open_write(path, mode=0o600, exclusive=not self.overwrite)
        sparse = bool(entry.get("sp"))
        written = 0
        try:
            if data is not None:  # a small file comes whole, inside its entry
                written = self._write(out, data, written, sparse)
            while self._data_pending:
                message = self.session.next_message()
                kind = message["t"]
                if kind == "eof":
                    self._data_pending = False
                    break
                if kind == "drop":
                    self._data_pending = False
                    raise _Dropped()
                if kind != "data":
                    raise ProtocolError(f"{kind!r} inside a file's content")
                data = decompress_parts(message["parts"])
                if None in data:
                    raise _Skip(_GARBLED)
                written = self._write(out, data, written, sparse)
            if sparse:
                os.ftruncate(out.fileno(), written)  # what was not written stays a hole
            self._set_meta(None, entry, fd=out.fileno())
            try:
                out.commit(sync=False)  # one sync for the whole restore, at its end
            except FileExistsError:
                raise _Skip("exists; not overwritten") from None
        finally:
            out.close()  # after a commit, nothing left to do
        self.files += 1

    def _write(self, out: paths.AtomicFile, data: list, offset: int, sparse: bool) -> int:
        """Write ``data`` at ``offset``, a sparse file's runs of zeros as holes (as the
        backup found them); the offset after it."""
        for part in data:
            if sparse:
                write_with_holes(out.fileno(), part, offset)
            else:
                pwrite_all(out.fileno(), part, offset)
            offset += len(part)
            self.bytes += len(part)
        return offset

    def _set_meta(self, name: str | None, entry: dict, fd: int | None = None,
                  dir_fd: int | None = None) -> None:
        """Owner (as root), extended attributes, mode and times, on ``fd`` or on ``name``
        in ``dir_fd``."""
        target = fd if fd is not None else name
        kw = {} if fd is not None else {"dir_fd": dir_fd, "follow_symlinks": False}
        if entry.get("x") and entry.get("t") in ("f", "d"):
            self._set_xattrs(entry["x"], fd, name, dir_fd)
        if self.is_root and "u" in entry:
            with contextlib.suppress(OSError):
                os.chown(target, entry["u"], entry["g"], **kw)
        if entry.get("t") != "l" and "m" in entry:
            with contextlib.suppress(NotImplementedError):
                os.chmod(target, entry["m"], **kw)
        if "mt" in entry:
            try:
                os.utime(target, ns=(entry.get("at", entry["mt"]), entry["mt"]), **kw)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP):
                    raise

    def _set_xattrs(self, xattrs: dict, fd: int | None, name: str | None,
                    dir_fd: int | None) -> None:
        """Set what the file system and this user allow; one warning for what was not."""
        own = fd if fd is not None else os.open(
            name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
        refused = []
        try:
            for key, value in xattrs.items():
                try:
                    os.setxattr(own, os.fsdecode(key), value)
                except OSError as exc:
                    refused.append(f"{os.fsdecode(key)} ({exc.strerror})")
        finally:
            if fd is None:
                os.close(own)
        if refused:
            self._warn(f"{name or 'a file'}: extended attributes not restored: "
                       + ", ".join(refused))

    def _skip_data(self) -> None:
        while self.session.next_message()["t"] not in ("eof", "drop"):
            pass

    def _warn(self, text: str) -> None:
        self.warnings += 1
        if self.warnings <= MAX_WARNINGS:
            self.session.send("log", level="WARNING", key="Warnings.Agent.file-not-restored",
                              params=[text], text=text)

    def _report(self) -> None:
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_SECONDS:
            self._last_progress = now
            self.session.send("progress", files=self.files, bytes=self.bytes)


def _contents(items: list) -> list[list | None]:
    """The content of each ``[path, entry, parts]`` item of an ``entries`` frame: its
    chunks' plaintexts (None for one that did not decompress), or None for no content. All
    of the frame's chunks are decompressed in one call."""
    parts = [part for _, _, content in items for part in content or ()]
    plain = iter(decompress_parts(parts))
    return [None if content is None else [next(plain) for _ in content]
            for _, _, content in items]


def run(session: Session, root: Path, begin: dict) -> None:
    """Restore what the backup server streams after ``begin`` (see the module docstring)."""
    target = str(begin.get("target") or "/")
    try:
        paths.split(target)  # refuses ".." before anything is written
        Restorer(session, root, target, bool(begin.get("overwrite"))).run()
    except Cancelled:
        log.info("restore cancelled")
    except Exception as exc:  # noqa: BLE001 - told to the backup server, which logs it
        log.exception("restore failed")
        with contextlib.suppress(Cancelled):
            session.send("failed", key="Errors.Agent.restore-failed", params=[str(exc)],
                         text=f"the restore failed on the agent: {exc}")

