"""Export: chosen paths of a recovery point as a tar or zip archive, streamed.

For the API's ``downloadFiles``, in two steps, so that whatever a client can be told in
the usual way is found before the first byte:

1. :func:`resolve` checks every path asked for and looks each one up (``InvalidPath``,
   ``PathNotFound``); it reads trees only.
2. :func:`stream` gives the archive as pieces of at most ``PIECE`` bytes. It holds a
   shared lock on the safe from the first piece asked for until the last is taken or the
   iterator is closed, so a caller that takes the first piece before it starts its
   response hears of a lock held by a backup (``SafeLocked``) in the usual way too.
   Files are read ahead through :mod:`.contents` (small files a group at a time, big
   ones in pieces): memory stays at a few MiB whatever the file sizes. Once bytes are sent, no error can be: a damaged chunk
   raises ``DamagedData`` mid-stream, and the consumer must then abort the connection
   (never end it cleanly), so the client sees a broken download, not a short archive.

Members are named by their paths in the recovery point without the leading ``/``; a
directory brings its whole subtree; sockets are left out.

- ``tar``: POSIX pax. ``tarfile.TarInfo.tobuf`` makes each header: mode, uid/gid, user
  and group names, mtime to the nanosecond (a pax record), names of any bytes; regular
  files, directories, symlinks, fifos, devices, and a hard link to a file already in the
  archive. (``TarFile.addfile`` copies a whole file in one call, leaving no point at
  which to hand out a piece, so the members' data and padding are written here.)
- ``zip``: ``zipfile`` writing to a non-seekable pipe (sizes and CRC after the data,
  ZIP64 where a file needs it), stored, not compressed, like the tar. Type and mode
  (symlinks too) in the unix external attributes; mtime as DOS time (local, 2 s) and in
  the extended-timestamp field (UTC seconds). Zip has no hard links (the data is stored
  again), no devices or fifos (left out), and UTF-8 names only (other bytes become
  U+FFFD). ``zipfile`` keeps a small record of every member for the central directory
  at the end, so that memory grows with the number of members.
"""

from __future__ import annotations

import os
import stat
import struct
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator

from backuprun.disksafe.contents import Pieces, with_contents
from backuprun.disksafe.errors import DamagedData, InvalidPath, PathNotFound
from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.tree import find, walk

PIECE = 1024 * 1024  # the most bytes one piece of the stream holds
FORMATS = ("tar", "zip")
NS = 1_000_000_000
_TAR_TYPES = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE,
              "c": tarfile.CHRTYPE, "b": tarfile.BLKTYPE, "p": tarfile.FIFOTYPE}
_ZIP_TYPES = {"f": stat.S_IFREG, "d": stat.S_IFDIR, "l": stat.S_IFLNK}
_DOS_FIRST, _DOS_LAST = (1980, 1, 1, 0, 0, 0), (2107, 12, 31, 23, 59, 58)

Members = Iterator[tuple[bytes, dict]]


def resolve(repo: Repository, point: RecoveryPoint, paths: list[str]) -> list[tuple[str, dict]]:
    """``(path, entry)`` for the ``paths`` asked for, normalised (``etc//hosts/`` is
    ``/etc/hosts``; ``/`` is the whole recovery point), leaving out repeats and paths
    inside another one asked for. ``InvalidPath`` or ``PathNotFound`` names a bad one."""
    if not paths:
        raise InvalidPath("no path given")
    chosen = list(dict.fromkeys([normalise(p) for p in paths]))
    found = [(p, _entry(repo, point, p)) for p in chosen]
    return [(p, e) for p, e in found if not any(_inside(p, q) for q in chosen)]


def stream(repo: Repository, point: RecoveryPoint, resolved: list[tuple[str, dict]],
           fmt: str) -> Iterator[bytes]:
    """The archive (``fmt``: ``tar`` or ``zip``) of what :func:`resolve` found, in pieces
    of at most ``PIECE`` bytes; see the module's rules on locking and errors."""
    if fmt not in FORMATS:
        raise ValueError(f"archive format {fmt!r}: tar or zip")
    return _locked(repo, point, _tar if fmt == "tar" else _zip, members(repo, resolved))


def normalise(path: str) -> str:
    """``path`` as a recovery point names it (``/``-led, no empty or ``.`` parts);
    ``InvalidPath`` for a ``..`` part, a NUL or a lone surrogate."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts or "\0" in path or not _encodes(path):
        raise InvalidPath(f"{path!r} is not a path in a recovery point (no '..' "
                          "components, NUL or lone surrogates)")
    return "/" + "/".join(parts)


def _encodes(path: str) -> bool:
    """Whether ``path`` stands for bytes (odd ones surrogate-escaped, as ``os.fsdecode``
    gives them)."""
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        return False
    return True


def _entry(repo: Repository, point: RecoveryPoint, path: str) -> dict:
    if path == "/":
        return {"t": "d", "st": point.tree}
    entry = find(repo, point.tree, os.fsencode(path))
    if entry is None:
        raise PathNotFound(f"no {_shown(os.fsencode(path))} in recovery point {point.id}")
    return entry


def _inside(path: str, other: str) -> bool:
    """Whether ``path`` is beneath the directory ``other`` (not ``other`` itself)."""
    return path != other and (other == "/" or path.startswith(other + "/"))


def _shown(name: bytes) -> str:
    return name.decode(errors="replace")


def members(repo: Repository, resolved: list[tuple[str, dict]]) -> Members:
    """``(name, entry)`` of every member, parents before children."""
    for path, entry in resolved:
        name = os.fsencode(path[1:])
        if name:
            yield name, entry
        if entry["t"] == "d" and entry.get("st"):
            yield from walk(repo, entry["st"], name)


class _Pipe:
    """What an archive writer wrote that has not been handed out yet."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.written = 0

    def write(self, data: bytes | memoryview) -> int:
        self.buf += data
        self.written += len(data)
        return len(data)

    def flush(self) -> None:  # zipfile calls it
        pass

    def take(self, final: bool = False) -> Iterator[bytes]:
        """Pieces of ``PIECE`` bytes while there are that many (all that is left when
        ``final``)."""
        view, start = memoryview(self.buf), 0
        try:
            while len(view) - start >= PIECE or (final and start < len(view)):
                yield bytes(view[start:start + PIECE])
                start += PIECE
        finally:  # what was handed out goes in one move, not one per piece
            view.release()
            del self.buf[:start]


def _locked(repo: Repository, point: RecoveryPoint,
            write: Callable[[Repository, Members, _Pipe], Iterator[bytes]],
            members: Members) -> Iterator[bytes]:
    with repo.lock(False, "export"):
        pipe = _Pipe()
        try:
            yield from write(repo, members, pipe)
        except DamagedData as exc:
            raise DamagedData(f"recovery point {point.id}: {exc}") from None
        yield from pipe.take(final=True)


def _content(name: bytes, content) -> Iterable[bytes]:
    """A file's data as :func:`.contents.with_contents` gave it, in pieces; a damaged
    file raises its ``DamagedData``."""
    if isinstance(content, DamagedData):
        raise DamagedData(f"/{_shown(name)}: {content}")
    return content if isinstance(content, Pieces) else (content,)


# -- tar -----------------------------------------------------------------------------------
def _tar(repo: Repository, members: Members, pipe: _Pipe) -> Iterator[bytes]:
    links: dict[tuple[int, int], bytes] = {}  # (device, inode) -> first member's name
    for name, e, content in with_contents(repo, members):
        info = _tarinfo(name, e, _link(links, name, e))
        if info is None:
            continue
        pipe.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if info.isreg():
            for piece in _content(name, content):
                pipe.write(piece)
                yield from pipe.take()
            pipe.write(bytes(-info.size % tarfile.BLOCKSIZE))
        yield from pipe.take()
    pipe.write(bytes(2 * tarfile.BLOCKSIZE))  # the end, then up to a whole record (as tar)
    pipe.write(bytes(-pipe.written % tarfile.RECORDSIZE))


def _link(links: dict[tuple[int, int], bytes], name: bytes, e: dict) -> bytes | None:
    """The member already holding this hard-linked file's data (else it is this one)."""
    if e["t"] != "f" or e.get("nl", 1) < 2 or "i" not in e:
        return None
    first = links.setdefault((e.get("dv", 0), e["i"]), name)
    return None if first == name else first


def _tarinfo(name: bytes, e: dict, link: bytes | None) -> tarfile.TarInfo | None:
    kind = e["t"]
    if kind not in _TAR_TYPES:
        return None
    info = tarfile.TarInfo(os.fsdecode(name))
    info.mode, info.uid, info.gid = e["m"], e.get("u", 0), e.get("g", 0)
    info.uname, info.gname = e.get("un", ""), e.get("gn", "")
    info.mtime = e["mt"] // NS
    if e["mt"] % NS:  # a pax record keeps every digit (tarfile would write a float)
        info.pax_headers = {"mtime": _decimal(e["mt"])}
    if link is not None:
        info.type, info.linkname = tarfile.LNKTYPE, os.fsdecode(link)
        return info
    info.type = _TAR_TYPES[kind]
    if kind == "f":
        info.size = e.get("sz", 0)
    elif kind == "l":
        info.linkname = os.fsdecode(e["lt"])
    elif kind in ("c", "b"):
        info.devmajor, info.devminor = os.major(e.get("rd", 0)), os.minor(e.get("rd", 0))
    return info


def _decimal(ns: int) -> str:
    """``ns`` nanoseconds as exact decimal seconds, e.g. ``-1.500000000``."""
    seconds, rest = divmod(abs(ns), NS)
    return f"{'-' if ns < 0 else ''}{seconds}.{rest:09d}"


# -- zip -----------------------------------------------------------------------------------
def _zip(repo: Repository, members: Members, pipe: _Pipe) -> Iterator[bytes]:
    with zipfile.ZipFile(pipe, "w") as archive:  # no tell(): zipfile streams
        for name, e, content in with_contents(repo, members):
            info = _zipinfo(name, e)
            if info is None:
                continue
            if e["t"] == "f":
                with archive.open(info, "w") as out:
                    for piece in _content(name, content):
                        out.write(piece)
                        yield from pipe.take()
            else:
                archive.writestr(info, e.get("lt", b""))
            yield from pipe.take()


def _zipinfo(name: bytes, e: dict) -> zipfile.ZipInfo | None:
    kind = e["t"]
    if kind not in _ZIP_TYPES:
        return None
    seconds = e["mt"] // NS
    info = zipfile.ZipInfo(name.decode("utf-8", "replace") + ("/" if kind == "d" else ""),
                           min(max(time.localtime(seconds)[:6], _DOS_FIRST), _DOS_LAST))
    info.create_system = 3  # unix: the external attributes hold st_mode
    info.external_attr = (_ZIP_TYPES[kind] | e["m"]) << 16 | (0x10 if kind == "d" else 0)
    if -2**31 <= seconds < 2**31:  # extended timestamp (0x5455): the mtime
        info.extra = struct.pack("<HHBl", 0x5455, 5, 1, seconds)
    info.file_size = e.get("sz", 0)  # zipfile decides on ZIP64 from it
    return info
