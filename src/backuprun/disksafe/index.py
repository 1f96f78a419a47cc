"""The index: which blob lives where. Held in memory compactly, stored as index objects.

An index object ``index/<32 hex>`` (sealed, see ``objects``) has the body::

    {"v": 1, "packs": [{"name": str, "size": int, "salt": bytes,
                        "blobs": [[type, flags, id, offset, sealed_len, raw_len], ...]}, ...],
     "supersedes": [index names]}   # optional: index objects this one replaces (for prune)

A pack is named in an index object only after the pack is stored and synced; the same
rows are in the pack's own trailer, so the index can be rebuilt from packs alone.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from backuprun.disksafe.format import INDEX_PREFIX
from backuprun.disksafe.pack import BlobEntry

_M32 = (1 << 32) - 1
_M40 = (1 << 40) - 1


@dataclass(frozen=True, slots=True)
class PackInfo:
    """A pack as the index knows it."""

    name: str
    size: int
    salt: bytes


def _pack(pack_no: int, e: BlobEntry) -> int:
    return (pack_no << 120 | e.type << 112 | e.flags << 104 | (e.offset & _M40) << 64
            | (e.length & _M32) << 32 | (e.raw_len & _M32))


def _unpack(blob_id: bytes, v: int) -> tuple[int, BlobEntry]:
    return v >> 120, BlobEntry(blob_id, (v >> 112) & 0xFF, (v >> 104) & 0xFF,
                               (v >> 64) & _M40, (v >> 32) & _M32, v & _M32)


class Index:
    """Blob id -> (pack, entry) for every indexed blob. Lookups are safe from any thread."""

    def __init__(self) -> None:
        self._packs: list[PackInfo] = []
        self._pack_no: dict[str, int] = {}
        self._blobs: dict[bytes, int] = {}
        self.index_names: set[str] = set()

    def __contains__(self, blob_id: bytes) -> bool:
        return blob_id in self._blobs

    def ids(self) -> dict[bytes, int]:
        """The id -> location mapping itself, for fast membership tests (do not modify)."""
        return self._blobs

    def __len__(self) -> int:
        return len(self._blobs)

    def add_pack(self, info: PackInfo, entries: Iterable[BlobEntry]) -> None:
        """Record a pack's blobs; a blob already indexed elsewhere keeps its first place."""
        no = self._pack_no.get(info.name)
        if no is None:
            no = self._pack_no[info.name] = len(self._packs)
            self._packs.append(info)
        blobs = self._blobs
        for e in entries:
            if e.id not in blobs:
                blobs[e.id] = _pack(no, e)

    def add_rows(self, info: PackInfo, rows: list[list]) -> None:
        """Like :meth:`add_pack` from raw index rows ``[type, flags, id, offset, len, raw]``
        (the fast path for loading index objects)."""
        no = self._pack_no.get(info.name)
        if no is None:
            no = self._pack_no[info.name] = len(self._packs)
            self._packs.append(info)
        blobs = self._blobs
        base = no << 120
        for t, f, blob_id, off, length, raw in rows:
            if blob_id not in blobs:
                blobs[blob_id] = (base | t << 112 | f << 104 | (off & _M40) << 64
                                  | (length & _M32) << 32 | (raw & _M32))

    def lookup(self, blob_id: bytes) -> tuple[PackInfo, BlobEntry] | None:
        v = self._blobs.get(blob_id)
        if v is None:
            return None
        no, entry = _unpack(blob_id, v)
        return self._packs[no], entry

    def packs(self) -> list[PackInfo]:
        return list(self._packs)

    def blobs(self) -> Iterator[tuple[PackInfo, BlobEntry]]:
        """Every indexed blob with its pack (for check and garbage collection)."""
        for blob_id, v in self._blobs.items():
            no, entry = _unpack(blob_id, v)
            yield self._packs[no], entry


def new_index_name() -> str:
    return INDEX_PREFIX + secrets.token_hex(16)


def index_body(packs: Iterable[tuple[PackInfo, list[BlobEntry]]],
               supersedes: Iterable[str] = ()) -> dict:
    return {"v": 1, "supersedes": list(supersedes), "packs": [
        {"name": p.name, "size": p.size, "salt": p.salt,
         "blobs": [[e.type, e.flags, e.id, e.offset, e.length, e.raw_len] for e in entries]}
        for p, entries in packs]}


def load_index_body(index: Index, body: dict) -> None:
    """Add every pack of an index object's body to ``index``."""
    for p in body["packs"]:
        index.add_rows(PackInfo(p["name"], p["size"], p["salt"]), p["blobs"])


def parse_index_body(body: dict) -> Iterator[tuple[PackInfo, list[BlobEntry]]]:
    for p in body["packs"]:
        yield (PackInfo(p["name"], p["size"], p["salt"]),
               [BlobEntry(r[2], r[0], r[1], r[3], r[4], r[5]) for r in p["blobs"]])
