"""The contents of a recovery point's files, read ahead for streaming them out.

Both ways a point leaves the backup server as a stream, a restore through the agent
(:mod:`backuprun.backupserver.restore`) and a download (:mod:`.export`), walk the members in
tree order and need each file's bytes in that order. Reading them a chunk at a time costs a
storage read, a decryption and a decompression call per chunk; :func:`with_contents` reads
instead:

- small files (up to ``SMALL_FILE`` bytes) a group at a time, ``GROUP_FILES`` files or
  ``GROUP_BYTES`` bytes, ahead of the consumer: their chunks are read with
  :meth:`~.repository.Repository.load_small_blobs` (blobs close together in a pack in one
  read, all decompressed in one native call);
- bigger files as :class:`Pieces`, an iterable of byte strings of about ``PIECE_BYTES``
  each, read the same way a piece at a time, so memory stays at a piece whatever the size.

What is read next is hinted to the storage ahead of the reads (a local disk safe asks the
kernel to read it in the background), so the disk works while the CPU opens what came.

A small file whose chunk is damaged or missing comes as the :class:`~.errors.DamagedData`
instead of its bytes, so the consumer can report it and go on; a big file's pieces raise it
when they meet it. A file whose chunks add up to another size than its entry says is
damaged too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from backuprun.disksafe.errors import DamagedData
from backuprun.disksafe.repository import Repository

SMALL_FILE = 1024 * 1024
GROUP_FILES = 256
GROUP_BYTES = 4 * 1024 * 1024
PIECE_BYTES = 4 * 1024 * 1024
AHEAD_BYTES = 32 * 1024 * 1024  # of files' plaintext hinted to the storage, not yet read
AHEAD_WORK = 64  # groups and big files hinted, not yet read (empty files weigh nothing)

Members = Iterable[tuple[bytes, dict]]


def is_small(entry: dict) -> bool:
    return entry.get("sz", 0) <= SMALL_FILE


def with_contents(repo: Repository, members: Members,
                  compressed: bool = False) -> Iterator[tuple[bytes, dict, object]]:
    """``(name, entry, content)`` for every member, in order. ``content`` is None for
    anything but a regular file, a small file's bytes (or its :class:`DamagedData`), or a
    big file's :class:`Pieces`. With ``compressed`` a file's bytes (and each piece) come as
    the list of its chunks, each ``(flags, payload, raw_len)`` as stored, opened but not
    decompressed (:func:`.compress.decompress_parts` undoes them). What comes next is
    hinted to the storage (:meth:`~.repository.Repository.prefetch`) about ``AHEAD_BYTES``
    (and at most ``AHEAD_WORK`` groups) ahead of what is read, so that reading from disk
    runs beside the decryption and the consumer's work."""
    ahead: deque[tuple[int, list[tuple[bytes, dict]] | Pieces]] = deque()
    hinted = 0
    for work in _work(repo, members, compressed):
        size = work.hint() if isinstance(work, Pieces) else _hint_group(repo, work)
        ahead.append((size, work))
        hinted += size
        while hinted > AHEAD_BYTES or len(ahead) > AHEAD_WORK:
            size, work = ahead.popleft()
            hinted -= size
            yield from _read(repo, work, compressed)
    for _size, work in ahead:
        yield from _read(repo, work, compressed)


def _work(repo: Repository, members: Members,
          compressed: bool) -> Iterator[list[tuple[bytes, dict]] | Pieces]:
    """The members as groups of small ones (and other entries) and big files alone."""
    group: list[tuple[bytes, dict]] = []
    size = 0
    for name, entry in members:
        if entry["t"] != "f" or is_small(entry):
            group.append((name, entry))
            size += entry.get("sz", 0) if entry["t"] == "f" else 0
            if len(group) >= GROUP_FILES or size >= GROUP_BYTES:
                yield group
                group, size = [], 0
            continue
        if group:
            yield group
            group, size = [], 0
        yield Pieces(repo, name, entry, compressed)
    if group:
        yield group


def _chunks(group: list[tuple[bytes, dict]]) -> list[bytes]:
    return [c for _, e in group if e["t"] == "f" for c in e.get("c") or ()]


def _hint_group(repo: Repository, group: list[tuple[bytes, dict]]) -> int:
    repo.prefetch(_chunks(group))
    return sum(e.get("sz", 0) for _, e in group if e["t"] == "f")


def _read(repo: Repository, work: list[tuple[bytes, dict]] | Pieces, compressed: bool):
    if isinstance(work, Pieces):
        yield work.name, work.entry, work
        return
    ids = _chunks(work)
    loaded = _load(repo, ids, compressed) if ids else {}
    for name, entry in work:
        if entry["t"] != "f":
            yield name, entry, None
            continue
        parts = [loaded[c] for c in entry.get("c") or ()]
        bad = next((p for p in parts if isinstance(p, DamagedData)), None)
        if bad is None:
            data, size = _joined(parts, compressed)
            if size != entry.get("sz", 0):
                bad = _wrong_size(name, entry, size)
        yield name, entry, (bad if bad is not None else data)


def _load(repo: Repository, ids: list[bytes], compressed: bool) -> dict[bytes, object]:
    return repo.load_payloads(ids) if compressed else repo.load_small_blobs(ids)


def _joined(parts: list, compressed: bool) -> tuple[object, int]:
    """A file's (or piece's) chunks as handed on, and the plaintext size they make."""
    if compressed:
        return parts, sum(raw_len for _, _, raw_len in parts)
    data = b"".join(parts)
    return data, len(data)


def _wrong_size(name: bytes, entry: dict, size: int) -> DamagedData:
    return DamagedData(f"/{name.decode(errors='replace')}: {size} bytes, "
                       f"the tree says {entry.get('sz', 0)}")


class Pieces:
    """A big file's bytes in pieces of about ``PIECE_BYTES`` (iterate once); with
    ``compressed`` each piece is a list of chunks, as :func:`with_contents` says."""

    def __init__(self, repo: Repository, name: bytes, entry: dict, compressed: bool = False):
        self.repo, self.name, self.entry = repo, name, entry
        self.compressed = compressed

    def hint(self) -> int:
        """Hint the first piece to the storage; its size."""
        first = next(self._groups(), [])
        self.repo.prefetch(first)
        return min(self.entry.get("sz", 0), PIECE_BYTES)

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        groups = self._groups()
        ids = next(groups, None)
        while ids is not None:
            following = next(groups, None)
            if following is not None:
                self.repo.prefetch(following)  # read from disk while this one is opened
            loaded = _load(self.repo, ids, self.compressed)
            parts = [loaded[c] for c in ids]
            bad = next((p for p in parts if isinstance(p, DamagedData)), None)
            if bad is not None:
                raise DamagedData(f"/{self.name.decode(errors='replace')}: {bad}")
            piece, piece_size = _joined(parts, self.compressed)
            size += piece_size
            yield piece
            ids = following
        if size != self.entry.get("sz", 0):
            raise _wrong_size(self.name, self.entry, size)

    def _groups(self) -> Iterator[list[bytes]]:
        """The file's chunk ids, in runs of about ``PIECE_BYTES`` of plaintext."""
        run: list[bytes] = []
        size = 0
        for chunk_id in self.entry.get("c") or ():
            found = self.repo.index.lookup(chunk_id)
            run.append(chunk_id)
            size += found[1].raw_len if found is not None else 0
            if size >= PIECE_BYTES:
                yield run
                run, size = [], 0
        if run:
            yield run
