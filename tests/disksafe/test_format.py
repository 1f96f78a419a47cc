"""Format pieces: compression, packs (trailer and frame scan), sealed objects, headers."""

from __future__ import annotations

import os

import pytest

from backuprun.disksafe.compress import compress, compress_many, decompress, decompress_parts
from backuprun.disksafe.crypto import MasterKeys
from backuprun.disksafe.errors import DamagedData, UnsupportedFormat
from backuprun.disksafe.format import BF_ZSTD, BLOB_DATA, BLOB_TREE, T_CONFIG, T_POINT
from backuprun.disksafe.objects import open_object, seal_object
from backuprun.disksafe.pack import PackBuilder, open_blob, read_trailer, scan_frames
from backuprun.storage.local import LocalStorage


def test_compress_many_matches_compress() -> None:
    items = [b"", b"a" * 10, b"text " * 5000, os.urandom(3000), b"z" * 400_000,
             os.urandom(300_000), b"line\n" * 100]
    got = compress_many(items)
    assert [f for f, _ in got] == [compress(d)[0] for d in items]
    for (flags, payload), data in zip(got, items):
        assert bytes(decompress(flags, payload, len(data))) == data


@pytest.mark.parametrize("encrypted", [True, False])
def test_pack_trailer_and_frames_describe_every_blob(tmp_path, encrypted: bool) -> None:
    keys = MasterKeys.generate(encrypted)
    builder = PackBuilder(keys, bytearray(64))  # small buffer: forces growth
    blobs = {keys.chunk_id(d): d for d in (os.urandom(100), b"t" * 5000, os.urandom(70_000))}
    for i, (bid, data) in enumerate(blobs.items()):
        flags, payload = compress(data)
        builder.add(BLOB_TREE if i == 1 else BLOB_DATA, flags, bid, payload, len(data))
    storage = LocalStorage(tmp_path)
    storage.save(builder.name, bytes(builder.finish()))
    salt, size, entries = read_trailer(storage, builder.name, keys)
    assert size == storage.size(builder.name) and len(entries) == 3
    raw = storage.load(builder.name)
    frames = list(scan_frames(raw))
    assert [(f[2], f[3], f[4]) for f in frames] == [(e.id, e.offset, e.length) for e in entries]
    for e in entries:
        plain = open_blob(keys, salt, e, raw[e.offset:e.offset + e.length])
        assert bytes(decompress(e.flags, plain, e.raw_len)) == blobs[e.id]
    flipped = bytearray(raw)
    flipped[entries[0].offset] ^= 0x80
    with pytest.raises(DamagedData):
        open_blob(keys, salt, entries[0], bytes(flipped[entries[0].offset:entries[0].offset
                                                        + entries[0].length]))


def test_sealed_objects_bind_type_name_and_version() -> None:
    keys = MasterKeys.generate(True)
    data = seal_object(keys, T_CONFIG, "config", {"a": 1})
    assert data[:4] == b"BRDS"
    assert open_object(keys, T_CONFIG, "config", data) == {"a": 1}
    with pytest.raises(DamagedData):
        open_object(keys, T_POINT, "config", data)
    with pytest.raises(DamagedData):
        open_object(keys, T_CONFIG, "other", data)
    with pytest.raises(UnsupportedFormat):
        open_object(keys, T_CONFIG, "config", data[:4] + b"\x09" + data[5:])
    with pytest.raises(DamagedData):
        open_object(MasterKeys.generate(True), T_CONFIG, "config", data)


def test_parts_decompress_together_and_a_bad_one_is_named_none():
    text = b"a line of a log file\n" * 500
    flags, payload = compress(text)
    assert flags == BF_ZSTD
    got = decompress_parts([[flags, payload, len(text)], [0, b"stored as is", 12],
                            [flags, b"not zstd at all", 40], [flags, payload, len(text) - 1],
                            [flags, payload, len(text)]])
    assert [bytes(g) if g is not None else None for g in got] == [
        text, b"stored as is", None, None, text]
