"""The backup server stores a blob from an agent only if its content matches its id."""

from __future__ import annotations

import blake3
import msgpack
import pytest

from backuprun.backupserver.backup import BlobMismatch, MissingData, _check, _check_references
from backuprun.disksafe.compress import compress
from backuprun.disksafe.format import BLOB_DATA, BLOB_TREE

KEY = bytes(range(32))


def chunk_id(data: bytes) -> bytes:
    return blake3.blake3(data, key=KEY).digest()


def test_a_blob_that_matches_its_id_passes():
    data = b"some file content " * 1000
    flags, payload = compress(data)
    _check(chunk_id, BLOB_DATA, chunk_id(data), flags, bytes(payload), len(data))


@pytest.mark.parametrize("tamper", ["id", "payload", "length", "codec"])
def test_a_blob_that_does_not_match_is_refused(tamper):
    data = b"some file content " * 1000
    flags, payload = compress(data)
    blob_id, payload, raw_len = chunk_id(data), bytes(payload), len(data)
    if tamper == "id":
        blob_id = chunk_id(b"something else")
    elif tamper == "payload":
        flags, payload = 0, b"x" + data[1:]
    elif tamper == "length":
        raw_len += 1
    else:
        payload = b"\x00garbage" + payload
    with pytest.raises(BlobMismatch):
        _check(chunk_id, BLOB_DATA, blob_id, flags, payload, raw_len)


def test_a_tree_blob_must_be_a_tree():
    not_a_tree = msgpack.packb([1, 2, 3])
    with pytest.raises(BlobMismatch):
        _check(chunk_id, BLOB_TREE, chunk_id(not_a_tree), 0, not_a_tree, len(not_a_tree))


class Writer:
    def __init__(self, held: set[bytes]):
        self.held = held

    def lacks(self, blob_id: bytes) -> bool:
        return blob_id not in self.held


def test_a_tree_may_name_only_what_the_safe_holds_or_received():
    held = {b"a" * 32, b"b" * 32, b"t" * 32}
    entries = [{"n": b"f", "t": "f", "c": [b"a" * 32, b"b" * 32]},
               {"n": b"d", "t": "d", "st": b"t" * 32}, {"n": b"e", "t": "f", "sz": 0}]
    _check_references(Writer(held), b"x" * 32, entries)
    with pytest.raises(MissingData) as missing:
        _check_references(Writer(held - {b"b" * 32}), b"x" * 32, entries)
    assert missing.value.blob_id == b"b" * 32
    with pytest.raises(MissingData):
        _check_references(Writer(held - {b"t" * 32}), b"x" * 32, entries)
