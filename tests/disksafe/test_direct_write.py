"""Pack buffers from mmap (page-aligned) are written with O_DIRECT by local storage; the
bytes on disk must be exactly the buffer's, whatever its length and alignment."""

from __future__ import annotations

import mmap
import os

import pytest

from backuprun.disksafe.crypto import MasterKeys
from backuprun.disksafe.format import BLOB_DATA
from backuprun.disksafe.pack import PackBuilder, read_trailer
from backuprun.storage.local import LocalStorage, _aligned_len


@pytest.mark.parametrize("length", [1 << 20, (1 << 20) + 1, (3 << 20) - 4095, 5000])
def test_save_from_aligned_buffer(tmp_path, length):
    storage = LocalStorage(tmp_path)
    buf = mmap.mmap(-1, 4 << 20)
    data = os.urandom(length)
    buf[:length] = data
    view = memoryview(buf)[:length]
    assert _aligned_len(view) == (0 if length < (1 << 20) else length - length % 4096)
    storage.save("packs/00/aa", view)
    view.release()
    assert storage.load("packs/00/aa") == data


def test_save_unaligned_and_readonly(tmp_path):
    storage = LocalStorage(tmp_path)
    data = os.urandom((2 << 20) + 7)
    storage.save("a", data)  # bytes: read-only, through the page cache
    view = memoryview(bytearray(b"x" + data))[1:]  # writable, not aligned
    assert _aligned_len(view) == 0
    storage.save("b", view)
    assert storage.load("a") == data == storage.load("b")


def test_pack_grows_out_of_mmap_buffer(tmp_path):
    storage = LocalStorage(tmp_path)
    keys = MasterKeys.generate(True)
    builder = PackBuilder(keys, mmap.mmap(-1, 1 << 20))
    blobs = [(bytes([i]) * 32, os.urandom(600_000)) for i in range(3)]
    for bid, payload in blobs:
        builder.add(BLOB_DATA, 0, bid, payload, len(payload))
    data = builder.finish()
    storage.save(builder.name, data)
    del data
    assert isinstance(builder.release(), bytearray)
    _salt, size, entries = read_trailer(storage, builder.name, keys)
    assert [e.id for e in entries] == [bid for bid, _ in blobs]
    assert size == storage.size(builder.name)
