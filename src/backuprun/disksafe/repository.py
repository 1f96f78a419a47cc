"""The repository: a disk safe opened with its key, owning config, index, blobs and points.

The archiver, restorer (and checker, pruner) see only a :class:`Repository`, never the
storage layout. Objects in storage (see docs/disksafe-format.md)::

    keys/<hex>           key objects (bundle wrapped by the password-derived key)
    config               sealed: format version, safe id, chunker sizes, pack size
    packs/<hh>/<hex>     packs of sealed blobs (data chunks and trees)
    index/<hex>          sealed index objects: which blob sits where
    points/<hex>         sealed recovery points: root tree id, source, times, stats
    locks/<hex>          locks (see ``lock``)
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
import threading
import time
from typing import Any

import msgpack

from backuprun.disksafe import keys as keyobjects
from backuprun.disksafe.chunker import AVG_SIZE, MAX_SIZE, MIN_SIZE, ChunkerSpec
from backuprun.disksafe.compress import decompress, decompress_parts
from backuprun.disksafe.crypto import MasterKeys, ObjectCipher
from backuprun.disksafe.errors import DamagedData, PointNotFound, SafeExists, SafeNotFound
from backuprun.disksafe.format import (BF_ZSTD, CONFIG_NAME, INDEX_PREFIX, KEYS_PREFIX,
                                       POINTS_PREFIX, T_CONFIG, T_INDEX, T_POINT)
from backuprun.disksafe.index import Index, PackInfo, load_index_body
from backuprun.disksafe.lock import Lock
from backuprun.disksafe.objects import open_object, seal_object
from backuprun.disksafe.pack import BlobEntry, blob_ad
from backuprun.disksafe.packer import BlobWriter
from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.storage import NotFound, Storage

READ_WINDOW = 4 * 1024 * 1024
WINDOW_BLOB = 512 * 1024  # blobs below this are read through the read-ahead window
SEQUENTIAL_GAP = 256 * 1024
WINDOWS = 4
RUN_GAP = 64 * 1024  # load_small_blobs reads blobs this close together with one read
RUN_MAX = 8 * 1024 * 1024


def _blob_bytes(pack: PackInfo, entry: BlobEntry, data):
    """The first ``entry.length`` bytes of ``data`` read at the blob's offset (a shorter
    read means the pack is truncated)."""
    if len(data) < entry.length:
        raise DamagedData(f"{pack.name}: truncated at blob {entry.id.hex()}")
    return data[:entry.length] if len(data) > entry.length else data


class Repository:
    """An opened disk safe. Create with :meth:`init` or :meth:`open`."""

    def __init__(self, storage: Storage, keys: MasterKeys, config: dict, key_name: str) -> None:
        self.storage = storage
        self.keys = keys
        self.config = config
        self.key_name = key_name
        self.index = Index()
        self._local = threading.local()
        self._windows: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._windows_lock = threading.Lock()

    # -- creating and opening ----------------------------------------------------------
    @classmethod
    def init(cls, storage: Storage, password: bytes | None, encrypted: bool = True,
             min_size: int = MIN_SIZE, avg_size: int = AVG_SIZE,
             max_size: int = MAX_SIZE) -> Repository:
        """Create a new safe in empty storage. Write order: config, then the key object."""
        if any(True for _ in storage.list(KEYS_PREFIX)) or storage.exists(CONFIG_NAME):
            raise SafeExists(f"a disk safe already exists at {storage.url}")
        if encrypted and not password:
            raise ValueError("an encrypted disk safe needs a password")
        keys = MasterKeys.generate(encrypted)
        config = {"v": 1, "safe_id": secrets.token_hex(16), "created": time.time(),
                  "chunker": {"min": min_size, "avg": avg_size, "max": max_size},
                  "compression": "zstd-3", "encryption": "aes-256-gcm" if encrypted else "none"}
        storage.save(CONFIG_NAME, seal_object(keys, T_CONFIG, CONFIG_NAME, config))
        key_name = keyobjects.new_key_name()
        storage.save(key_name, keyobjects.encode_key(keys, password))
        storage.sync()
        return cls(storage, keys, config, key_name)

    @classmethod
    def open(cls, storage: Storage, password: bytes | None, load_index: bool = True) -> Repository:
        """Open with ``password`` (ignored for unencrypted safes); load the index."""
        keys, key_name = keyobjects.unlock(storage, password)
        try:
            config = open_object(keys, T_CONFIG, CONFIG_NAME, storage.load(CONFIG_NAME))
        except NotFound:
            raise SafeNotFound(f"disk safe at {storage.url} has no config object") from None
        repo = cls(storage, keys, config, key_name)
        if load_index:
            repo.load_index()
        return repo

    @staticmethod
    def needs_password(storage: Storage) -> bool:
        """Whether the safe at ``storage`` is encrypted (``SafeNotFound`` if none)."""
        name = keyobjects.list_keys(storage)[0]
        return keyobjects.key_is_encrypted(storage.load(name), name)

    def change_password(self, new_password: bytes | None) -> None:
        """Rewrap the key bundle: write the new key object, then remove the old one."""
        name = keyobjects.new_key_name()
        self.storage.save(name, keyobjects.encode_key(self.keys, new_password))
        self.storage.sync()
        old, self.key_name = self.key_name, name
        self.storage.remove(old)
        self.storage.sync()

    # -- locks, chunker, writer -------------------------------------------------------
    def lock(self, exclusive: bool, purpose: str) -> Lock:
        """A lock on this safe (not yet acquired; use ``with repo.lock(...)``)."""
        return Lock(self.storage, exclusive, purpose)

    def chunker_spec(self) -> ChunkerSpec:
        c = self.config["chunker"]
        return ChunkerSpec(self.keys.chunker_seed, self.keys.id_key, c["min"], c["avg"], c["max"])

    def writer(self, **kwargs: Any) -> BlobWriter:
        return BlobWriter(self, **kwargs)

    def lacking(self, ids: list[bytes]) -> list[bytes]:
        """The ids among ``ids`` this safe does not hold (what an agent must send)."""
        return [i for i in ids if i not in self.index]

    # -- index ------------------------------------------------------------------------
    def index_names(self) -> list[str]:
        return sorted(self.storage.list(INDEX_PREFIX))

    def load_index_object(self, name: str) -> dict:
        return open_object(self.keys, T_INDEX, name, self.storage.load(name))

    def load_index(self) -> None:
        """Read every index object into :attr:`index` (a fresh one)."""
        index = Index()
        for name in self.index_names():
            load_index_body(index, self.load_index_object(name))
            index.index_names.add(name)
        self.index = index

    def refresh_index(self) -> None:
        """Bring :attr:`index` up to date: read only index objects not yet loaded, or
        everything again if some were removed (a prune ran)."""
        names = set(self.index_names())
        if not self.index.index_names <= names:
            self.load_index()
            return
        for name in sorted(names - self.index.index_names):
            load_index_body(self.index, self.load_index_object(name))
            self.index.index_names.add(name)

    # -- blobs ------------------------------------------------------------------------
    def locate(self, blob_id: bytes) -> tuple[PackInfo, BlobEntry]:
        found = self.index.lookup(blob_id)
        if found is None:
            raise DamagedData(f"blob {blob_id.hex()} is not in the index")
        return found

    def _read_sealed(self, pack: PackInfo, entry: BlobEntry) -> bytes | memoryview:
        """The sealed bytes of a blob, through a small read-ahead cache shared by threads.

        A window of ``READ_WINDOW`` bytes is read only when small blobs are being read in
        pack order (the blob starts where the previous one of this thread ended, give or
        take a few frames); a jump (a deduplicated chunk from elsewhere) is read exactly.
        """
        end = entry.offset + entry.length
        with self._windows_lock:
            for (name, start), data in self._windows.items():
                if name == pack.name and start <= entry.offset and end <= start + len(data):
                    self._local.last = (pack.name, end)
                    return memoryview(data)[entry.offset - start:end - start]
        local = self._local
        last = getattr(local, "last", None)
        sequential = (last is not None and last[0] == pack.name
                      and 0 <= entry.offset - last[1] <= SEQUENTIAL_GAP)
        local.last = (pack.name, end)
        if entry.length >= WINDOW_BLOB or not sequential:
            return memoryview(self._read_exact(pack, entry))
        length = max(entry.length, min(READ_WINDOW, pack.size - entry.offset))
        data = self.storage.load(pack.name, entry.offset, length)
        with self._windows_lock:
            self._windows[(pack.name, entry.offset)] = data
            while len(self._windows) > WINDOWS:
                self._windows.popitem(last=False)
        return _blob_bytes(pack, entry, memoryview(data))

    def _read_exact(self, pack: PackInfo, entry: BlobEntry) -> bytes:
        return _blob_bytes(pack, entry, self.storage.load(pack.name, entry.offset, entry.length))

    def _cipher(self, salt: bytes) -> ObjectCipher:
        ciphers = getattr(self._local, "ciphers", None)
        if ciphers is None:
            ciphers = self._local.ciphers = {}
        c = ciphers.get(salt)
        if c is None:
            if len(ciphers) > 64:
                ciphers.clear()
            c = ciphers[salt] = self.keys.cipher(salt)
        return c

    def load_blob(self, blob_id: bytes) -> bytes:
        """The plaintext of a blob; ``DamagedData`` if missing or damaged."""
        pack, entry = self.locate(blob_id)
        try:
            sealed = self._read_sealed(pack, entry)
        except NotFound:
            raise DamagedData(f"pack {pack.name} is missing") from None
        plain = self._cipher(pack.salt).open(entry.offset, sealed,
                                             blob_ad(entry.type, entry.flags, entry.id),
                                             f"blob {blob_id.hex()}")
        try:
            return decompress(entry.flags, plain, entry.raw_len)
        except Exception as exc:  # noqa: BLE001
            raise DamagedData(f"blob {blob_id.hex()}: does not decompress: {exc}") from None

    def load_blob_view(self, blob_id: bytes) -> bytes | memoryview:
        """Like :meth:`load_blob`, without copies where possible: the result may be a view
        into a per-thread buffer, valid until this thread's next ``load_blob_view``. Reads
        exactly the blob, no read-ahead (data chunks are big, or come in batches through
        :meth:`load_small_blobs`)."""
        pack, entry = self.locate(blob_id)
        try:
            sealed = self._read_exact(pack, entry)
        except NotFound:
            raise DamagedData(f"pack {pack.name} is missing") from None
        buf = getattr(self._local, "buf", None)
        if buf is None or len(buf) < entry.length:
            buf = self._local.buf = bytearray(max(entry.length, 4 << 20))
        plain = self._cipher(pack.salt).open_into(entry.offset, sealed,
                                                  blob_ad(entry.type, entry.flags, entry.id),
                                                  f"blob {blob_id.hex()}", buf)
        try:
            return decompress(entry.flags, plain, entry.raw_len)
        except Exception as exc:  # noqa: BLE001
            raise DamagedData(f"blob {blob_id.hex()}: does not decompress: {exc}") from None

    def load_small_blobs(self, ids: list[bytes]) -> dict[bytes, object]:
        """Plaintexts of many small blobs: id -> data (bytes-like) or the ``DamagedData``
        that blob raised. Blobs that sit close together in a pack are read with one read
        (exactly the range they span, no read-ahead); the compressed ones are decompressed
        in one native call."""
        out = self.load_payloads(ids)
        opened = [(blob_id, got) for blob_id, got in out.items() if isinstance(got, tuple)]
        plain = decompress_parts([got for _, got in opened])
        for (blob_id, (_, _, raw_len)), data in zip(opened, plain):
            out[blob_id] = data if data is not None else DamagedData(
                f"blob {blob_id.hex()}: does not decompress to its {raw_len} bytes")
        return out

    def load_payloads(self, ids: list[bytes]) -> dict[bytes, object]:
        """As :meth:`load_small_blobs`, but each blob opened and not decompressed: id ->
        ``(flags, payload, raw_len)`` (see :mod:`.compress`) or its ``DamagedData``. For
        whoever hands the blobs on to be decompressed elsewhere (a restore's agent)."""
        out: dict[bytes, object] = {}
        for pack, start, end, run in self._runs(ids, out):
            try:
                view = memoryview(self.storage.load(pack.name, start, end - start))
            except NotFound:
                view = None
            cipher = self._cipher(pack.salt)
            for pack, entry in run:
                blob_id = entry.id
                try:
                    if view is None:
                        raise DamagedData(f"pack {pack.name} is missing")
                    lo = entry.offset - start
                    sealed = _blob_bytes(pack, entry, view[lo:lo + entry.length])
                    plain = cipher.open(entry.offset, sealed,
                                        blob_ad(entry.type, entry.flags, blob_id),
                                        f"blob {blob_id.hex()}")
                except DamagedData as exc:
                    out[blob_id] = exc
                    continue
                if not entry.flags & BF_ZSTD and len(plain) != entry.raw_len:
                    out[blob_id] = DamagedData(f"blob {blob_id.hex()}: {len(plain)} bytes, "
                                               f"the index says {entry.raw_len}")
                else:
                    out[blob_id] = (entry.flags & BF_ZSTD, plain, entry.raw_len)
        return out

    def prefetch(self, ids: list[bytes]) -> None:
        """A hint that these blobs will be loaded soon (:meth:`load_small_blobs` reads):
        the storage may start reading their packs' ranges in the background."""
        for pack, start, end, _run in self._runs(ids, {}):
            self.storage.prefetch(pack.name, start, end - start)

    def _runs(self, ids: list[bytes], missing: dict[bytes, object]):
        """The blobs ``ids`` as runs read with one read: ``(pack, start, end, [(pack,
        entry), ...])``, blobs at most ``RUN_GAP`` apart and a run at most ``RUN_MAX``
        long, in pack order; an id the index lacks goes into ``missing`` as DamagedData."""
        located = []
        lookup = self.index.lookup
        for blob_id in dict.fromkeys(ids):
            found = lookup(blob_id)
            if found is None:
                missing[blob_id] = DamagedData(f"blob {blob_id.hex()} is not in the index")
            else:
                located.append(found)
        located.sort(key=lambda pe: (pe[0].name, pe[1].offset))
        i, n = 0, len(located)
        while i < n:
            pack, first = located[i]
            start, end, j = first.offset, first.offset + first.length, i + 1
            while j < n:
                p2, e2 = located[j]
                if (p2.name != pack.name or e2.offset - end > RUN_GAP
                        or e2.offset + e2.length - start > RUN_MAX):
                    break
                end = max(end, e2.offset + e2.length)
                j += 1
            yield pack, start, end, located[i:j]
            i = j

    def load_tree(self, tree_id: bytes) -> dict:
        """A decoded tree blob (see ``tree``)."""
        data = self.load_blob(tree_id)
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception as exc:  # noqa: BLE001
            raise DamagedData(f"tree {tree_id.hex()}: does not parse: {exc}") from None

    # -- recovery points --------------------------------------------------------------
    def point_names(self) -> list[str]:
        return sorted(self.storage.list(POINTS_PREFIX))

    def load_point(self, name: str) -> RecoveryPoint:
        body = open_object(self.keys, T_POINT, name, self.storage.load(name))
        return RecoveryPoint.from_body(name[len(POINTS_PREFIX):], body)

    def points(self) -> list[RecoveryPoint]:
        """Every recovery point, oldest first."""
        return sorted((self.load_point(n) for n in self.point_names()),
                      key=lambda p: (p.time, p.id))

    def find_point(self, ref: str) -> RecoveryPoint:
        """A recovery point by id, unique id prefix, or ``latest``."""
        points = self.points()
        if ref == "latest":
            if not points:
                raise PointNotFound("the disk safe has no recovery points")
            return points[-1]
        found = [p for p in points if p.id.startswith(ref)]
        if len(found) != 1:
            raise PointNotFound(f"{'no' if not found else 'more than one'} recovery point "
                                f"matches {ref!r}")
        return found[0]

    def save_point(self, point: RecoveryPoint) -> None:
        """Write a recovery point. Call only after the writer's flush (data, index first)."""
        name = POINTS_PREFIX + point.id
        self.storage.save(name, seal_object(self.keys, T_POINT, name, point.to_body()))
        self.storage.sync()
