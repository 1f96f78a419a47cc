"""Packs: many sealed blobs in one stored object, self-describing enough to rebuild the index.

Layout of ``packs/<2 hex>/<32 hex>``::

    header(8, T_PACK) | salt(24)
    frame*            : u32 sealed_len | u8 blob_type | u8 blob_flags | id(32) | sealed
    trailer           : seal(msgpack [[type, flags, id, offset, sealed_len, raw_len], ...])
    footer(16)        : u32 trailer_len | u32 blob_count | b"BRDSPEND"

Each blob is sealed under the pack's subkey (from its salt) with nonce = the byte offset of
its sealed data in the pack, and ad = b"blob" | type | flags | id. Offsets are unique in a
pack, so nonces never repeat under a subkey. The trailer's nonce is its own offset.
A lost index is rebuilt from the trailers (:func:`read_trailer`); a pack whose trailer is
damaged can still be walked frame by frame (:func:`scan_frames`).
"""

from __future__ import annotations

import mmap
import os
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import msgpack

from backuprun.disksafe.compress import decompress
from backuprun.disksafe.crypto import SALT_SIZE, TAG_SIZE, MasterKeys
from backuprun.disksafe.errors import DamagedData
from backuprun.disksafe.format import F_ENCRYPTED, HEADER_SIZE, PACKS_PREFIX, T_PACK, header, parse_header
from backuprun.storage import Storage

FRAME = struct.Struct(">IBB32s")  # sealed_len, type, flags, id
FOOTER = struct.Struct(">II8s")
FOOTER_MAGIC = b"BRDSPEND"
PREFIX_SIZE = HEADER_SIZE + SALT_SIZE  # 32


@dataclass(frozen=True, slots=True)
class BlobEntry:
    """Where one blob sits in its pack."""

    id: bytes
    type: int
    flags: int
    offset: int  # of the sealed data
    length: int  # sealed length
    raw_len: int  # plaintext length


def blob_ad(blob_type: int, flags: int, blob_id: bytes) -> bytes:
    return b"blob" + bytes((blob_type, flags)) + blob_id


def new_pack_name() -> str:
    h = secrets.token_hex(16)
    return f"{PACKS_PREFIX}{h[:2]}/{h}"


class PackBuilder:
    """Builds one pack in a (reusable) buffer. Not thread-safe: callers serialise ``add``."""

    def __init__(self, keys: MasterKeys, buf: bytearray | mmap.mmap | None = None) -> None:
        self.keys = keys
        self.name = new_pack_name()
        self.salt = os.urandom(SALT_SIZE)
        self._cipher = keys.cipher(self.salt)
        self.buf = buf if buf is not None else bytearray(1 << 20)
        self._view = memoryview(self.buf)
        self.pos = PREFIX_SIZE
        self._view[:HEADER_SIZE] = header(T_PACK, F_ENCRYPTED if keys.encrypted else 0)
        self._view[HEADER_SIZE:PREFIX_SIZE] = self.salt
        self.entries: list[BlobEntry] = []

    def __len__(self) -> int:
        return self.pos

    def fits(self, payload_len: int) -> bool:
        """Whether a blob of ``payload_len`` still fits in the buffer (with trailer room).

        An empty pack takes any blob; the buffer grows for one that is too big."""
        need = FRAME.size + payload_len + TAG_SIZE + 64 * (len(self.entries) + 1) + 1024
        return not self.entries or self.pos + need <= len(self.buf)

    def _reserve(self, n: int) -> None:
        if self.pos + n > len(self.buf):
            self._view.release()
            if isinstance(self.buf, bytearray):
                self.buf.extend(bytes(max(n, len(self.buf))))
            else:  # a fixed-size (mmap) buffer: move to a bigger bytearray
                grown = bytearray(len(self.buf) + max(n, len(self.buf)))
                grown[:self.pos] = self.buf[:self.pos]
                self.buf = grown
            self._view = memoryview(self.buf)

    def add(self, blob_type: int, flags: int, blob_id: bytes, payload: bytes | memoryview,
            raw_len: int) -> BlobEntry:
        sealed_len = len(payload) + TAG_SIZE
        self._reserve(FRAME.size + sealed_len)
        FRAME.pack_into(self.buf, self.pos, sealed_len, blob_type, flags, blob_id)
        offset = self.pos + FRAME.size
        self._cipher.seal_into(offset, payload, blob_ad(blob_type, flags, blob_id),
                               self._view[offset:offset + sealed_len])
        self.pos = offset + sealed_len
        entry = BlobEntry(blob_id, blob_type, flags, offset, sealed_len, raw_len)
        self.entries.append(entry)
        return entry

    def finish(self) -> memoryview:
        """Append trailer and footer; return the whole pack (a view into the buffer)."""
        rows = [[e.type, e.flags, e.id, e.offset, e.length, e.raw_len] for e in self.entries]
        offset = self.pos
        trailer = self._cipher.seal(offset, msgpack.packb(rows), b"trailer")
        footer = FOOTER.pack(len(trailer), len(self.entries), FOOTER_MAGIC)
        self._reserve(len(trailer) + len(footer))
        end = offset + len(trailer)
        self._view[offset:end] = trailer
        self._view[end:end + len(footer)] = footer
        self.pos = end + len(footer)
        return self._view[:self.pos]

    def release(self) -> bytearray | mmap.mmap:
        """Give the buffer back for reuse (after the pack was saved)."""
        self._view.release()
        return self.buf


def open_blob(keys: MasterKeys, salt: bytes, entry: BlobEntry, sealed: bytes | memoryview,
              what: str = "blob") -> bytes:
    """Verify and decrypt one blob's sealed data (still compressed if its flags say so)."""
    return keys.cipher(salt).open(entry.offset, sealed,
                                  blob_ad(entry.type, entry.flags, entry.id), what)


def verify_blob(keys: MasterKeys, salt: bytes, entry: BlobEntry, sealed: bytes | memoryview,
                what: str = "blob", length_known: bool = True) -> bytes | memoryview:
    """Open and decompress one blob and check it completely: the plaintext must hash to
    the blob's id and, when ``length_known``, be ``entry.raw_len`` bytes long (a pack
    walked frame by frame does not know it). Returns the plaintext; ``DamagedData``."""
    plain = open_blob(keys, salt, entry, sealed, what)
    try:
        raw = decompress(entry.flags, plain, entry.raw_len if length_known else None)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is damage
        raise DamagedData(f"{what}: does not decompress: {exc}") from None
    if keys.chunk_id(raw) != entry.id:
        raise DamagedData(f"{what}: content does not match its id")
    return raw


def read_trailer(storage: Storage, name: str, keys: MasterKeys) -> tuple[bytes, int, list[BlobEntry]]:
    """Return ``(salt, pack_size, entries)`` from a pack's header and trailer, reading
    only those parts of it."""
    return _trailer(lambda offset, n: storage.load(name, offset, n), storage.size(name),
                    name, keys)


def trailer_of(data: bytes | memoryview, name: str,
               keys: MasterKeys) -> tuple[bytes, int, list[BlobEntry]]:
    """:func:`read_trailer` for a pack already read whole."""
    view = memoryview(data)
    return _trailer(lambda offset, n: view[offset:offset + n], len(view), name, keys)


def _trailer(read, size: int, name: str, keys: MasterKeys) -> tuple[bytes, int, list[BlobEntry]]:
    if size < PREFIX_SIZE + FOOTER.size:
        raise DamagedData(f"{name}: too short")
    head = bytes(read(0, PREFIX_SIZE))
    parse_header(head, T_PACK, name)
    salt = head[HEADER_SIZE:]
    tlen, count, magic = FOOTER.unpack(read(size - FOOTER.size, FOOTER.size))
    if magic != FOOTER_MAGIC or tlen > size - PREFIX_SIZE - FOOTER.size:
        raise DamagedData(f"{name}: bad footer (truncated pack?)")
    offset = size - FOOTER.size - tlen
    plain = keys.cipher(salt).open(offset, read(offset, tlen), b"trailer", f"{name} trailer")
    rows = msgpack.unpackb(plain)
    if len(rows) != count:
        raise DamagedData(f"{name}: trailer lists {len(rows)} blobs, footer says {count}")
    return salt, size, [BlobEntry(r[2], r[0], r[1], r[3], r[4], r[5]) for r in rows]


def scan_frames(data: bytes | memoryview) -> Iterator[tuple[int, int, bytes, int, int]]:
    """Walk a pack's frames without the trailer: ``(type, flags, id, offset, sealed_len)``.

    Stops at the first frame that does not fit (the trailer, or the point of truncation).
    Frames are not verified here: open each with :func:`open_blob` (raw_len is inside).
    """
    view = memoryview(data)
    pos = PREFIX_SIZE
    end = len(view)
    while pos + FRAME.size <= end:
        length, btype, flags, bid = FRAME.unpack_from(view, pos)
        start = pos + FRAME.size
        if btype not in (1, 2) or start + length > end:
            return
        yield btype, flags, bytes(bid), start, length
        pos = start + length
