"""Confinement: a path inside a recovery point maps to a real path under the agent's root,
and nothing reaches outside it.

A recovery point names files as the agent saw them, relative to its root and written as
absolute paths (``/etc/hosts``). With the root ``/srv/customer`` that file is
``/srv/customer/etc/hosts``, and only that.

Rules:
- A path is split on ``/``; empty and ``.`` components are dropped, so a leading ``/`` (or
  ``//``) means the root, never the real ``/``. A ``..`` component is refused
  (:class:`PathEscape`), as are NUL bytes and a path naming the root itself where a file is
  wanted: no string rule is trusted beyond that.
- The walk is done with directory file descriptors: the root is opened once (the root itself
  may be a symbolic link, chosen by whoever runs the agent), then each parent component is
  opened relative to the previous one with ``O_NOFOLLOW | O_DIRECTORY``. A symbolic link in
  any parent is refused, even one that points back inside the root, so a link swapped in
  while the walk runs cannot lead it out either (each step holds the real directory).
- Reading opens the final component with ``O_NOFOLLOW``: a symbolic link there is refused
  (backups record links as links, with :func:`os.readlink` under :func:`parent_of`).
- Writing never writes through what is at the final name: the data goes to a new temporary
  file in the same directory, which then replaces the final name with ``rename`` (or is
  linked to it, refusing to replace, with ``exclusive``). A symbolic link at the final name
  is replaced, not followed; a hard link to a file outside the root is replaced, not
  rewritten. A reader sees the old file or the whole new one. Missing parents are created
  (mode 0755 before the umask), again without following links.
- Mount points and special files (``/proc``-like trees) are not this module's business: the
  backup's exclude rules keep them out.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
import stat
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PathEscape(Exception):
    """A path that would lead outside the root (or is not a path at all)."""


def split(path: str) -> tuple[str, ...]:
    """The components of ``path`` below the root (see the module's rules)."""
    if "\0" in path:
        raise PathEscape(f"{path!r} holds a NUL byte")
    parts = tuple(part for part in path.split("/") if part not in ("", "."))
    if ".." in parts:
        raise PathEscape(f"{path!r} climbs with '..'")
    return parts


@contextlib.contextmanager
def parent_of(root: Path | str, path: str, *, create: bool = False) -> Iterator[tuple[int, str]]:
    """``(directory fd, final name)`` of ``path`` under ``root``, for calls that take
    ``dir_fd``; parents are created when ``create``. The fd is closed on leaving."""
    parts = split(path)
    if not parts:
        raise PathEscape(f"{path!r} names the root itself, not a file in it")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in parts[:-1]:
            child = _step(fd, name, path, create)
            os.close(fd)
            fd = child
        yield fd, parts[-1]
    finally:
        os.close(fd)


def open_read(root: Path | str, path: str) -> BinaryIO:
    """The file at ``path`` under ``root``, open for reading in binary."""
    with parent_of(root, path) as (fd, name):
        try:
            file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError as exc:
            _raise_if_link(exc, fd, name, path)
            raise
    return os.fdopen(file_fd, "rb")


def open_write(root: Path | str, path: str, *, mode: int = 0o644,
               exclusive: bool = False) -> "AtomicFile":
    """A new file for ``path`` under ``root`` (parents created), put in place when closed
    without an error (see the module's rules): use it in a ``with`` block. With
    ``exclusive`` an existing entry is kept and :class:`FileExistsError` raised."""
    with parent_of(root, path, create=True) as (fd, name):
        return AtomicFile.create(fd, name, mode, exclusive)


class Folders:
    """The folders under ``root`` that a run of writes in tree order (a restore) goes
    into, each walked to once (as :func:`parent_of` walks: no link followed) and kept open
    while it is among the ``KEEP`` last used; :meth:`close` closes them all.

    A kept folder is the folder the walk found, wherever it is later moved: someone who
    can rename a folder under the root could as well have moved it a moment after a walk,
    so keeping it open gives nobody more than they have."""

    KEEP = 64

    def __init__(self, root: Path | str):
        self.root = root
        self._fds: OrderedDict[tuple[str, ...], int] = OrderedDict()

    def parent(self, path: str, *, create: bool = False) -> tuple[int, str]:
        """``(folder fd, final name)`` of ``path``, as :func:`parent_of` gives; the fd
        stays valid until the next call (do not close it)."""
        parts = split(path)
        if not parts:
            raise PathEscape(f"{path!r} names the root itself, not a file in it")
        return self._folder(parts[:-1], path, create), parts[-1]

    def open_write(self, path: str, *, mode: int = 0o644,
                   exclusive: bool = False) -> "AtomicFile":
        """As :func:`open_write`, in the kept folders."""
        fd, name = self.parent(path, create=True)
        return AtomicFile.create(fd, name, mode, exclusive)

    def _folder(self, parts: tuple[str, ...], path: str, create: bool) -> int:
        fd = self._fds.get(parts)
        if fd is not None:
            self._fds.move_to_end(parts)
            return fd
        if parts:
            fd = _step(self._folder(parts[:-1], path, create), parts[-1], path, create)
        else:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._fds[parts] = fd
        while len(self._fds) > self.KEEP:
            os.close(self._fds.popitem(last=False)[1])
        return fd

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popitem()[1])


class AtomicFile(io.FileIO):
    """A file being written under a temporary name: :meth:`commit` (or leaving a ``with``
    block without an error) puts it at its final name; :meth:`close` alone discards it."""

    def __init__(self, file_fd: int, dir_fd: int, temporary: str, name: str,
                 exclusive: bool):
        super().__init__(file_fd, "wb", closefd=True)
        self.dir_fd, self.temporary, self.final_name = dir_fd, temporary, name
        self.exclusive = exclusive

    @classmethod
    def create(cls, dir_fd: int, name: str, mode: int, exclusive: bool) -> "AtomicFile":
        """A new temporary file in the folder ``dir_fd`` (which it keeps a copy of) for
        the final ``name``."""
        dir_fd = os.dup(dir_fd)
        try:
            temporary = f".{name[:200]}.{secrets.token_hex(6)}.restoring"
            file_fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                              | os.O_CLOEXEC, mode, dir_fd=dir_fd)
        except BaseException:
            os.close(dir_fd)
            raise
        return cls(file_fd, dir_fd, temporary, name, exclusive)

    def commit(self, sync: bool = True) -> None:
        """Flush to disk (unless ``sync`` is off: a caller writing many files syncs once at
        the end) and replace (or, with ``exclusive``, create) the final name."""
        if sync:
            os.fsync(self.fileno())
        try:
            if self.exclusive:
                os.link(self.temporary, self.final_name, src_dir_fd=self.dir_fd,
                        dst_dir_fd=self.dir_fd, follow_symlinks=False)
            else:
                os.rename(self.temporary, self.final_name, src_dir_fd=self.dir_fd,
                          dst_dir_fd=self.dir_fd)
                self.temporary = None  # nothing left to remove
        finally:
            self.close()

    def close(self) -> None:
        if self.dir_fd < 0:
            return
        try:
            super().close()
            if self.temporary is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.temporary, dir_fd=self.dir_fd)
        finally:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.close()


def _step(fd: int, name: str, path: str, create: bool) -> int:
    """Open directory ``name`` in ``fd`` without following a link."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=fd)
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        _raise_if_link(exc, fd, name, path)
        raise


def _raise_if_link(exc: OSError, fd: int, name: str, path: str) -> None:
    """Turn the error of opening ``name`` with ``O_NOFOLLOW`` into :class:`PathEscape` when
    ``name`` is a symbolic link (Linux says ELOOP, or ENOTDIR with ``O_DIRECTORY``)."""
    if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return
    try:
        is_link = stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return
    if is_link:
        raise PathEscape(f"{path!r}: {name!r} is a symbolic link") from None
