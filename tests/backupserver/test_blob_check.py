"""The backup server stores a blob from an agent only if its content matches its id."""

from __future__ import annotations

import blake3
import msgpack
import pytest

from backuprun.backupserver.backup import BlobMismatch, _check
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
