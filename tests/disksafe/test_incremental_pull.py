"""Incremental backups read only what changed; the pull-model API (chunker + lacking)."""

from __future__ import annotations

import io
import os
import time

import pytest

from backuprun.disksafe import archiver as archiver_mod
from backuprun.disksafe.archiver import backup, latest_point_for
from backuprun.disksafe.chunker import Chunker, ChunkerSpec
from backuprun.disksafe.repository import Repository
from tests.disksafe.treeutil import write


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []
    real = archiver_mod.Archiver._read_file

    def counting(self, e, path):
        seen.append(path)
        return real(self, e, path)

    monkeypatch.setattr(archiver_mod.Archiver, "_read_file", counting)
    return seen


def test_unchanged_files_are_not_read_again(repo: Repository, source: bytes, reads) -> None:
    for i in range(50):
        write(os.path.join(source, b"f%d" % i), os.urandom(1000 + i))
    os.makedirs(os.path.join(source, b"d"))
    write(os.path.join(source, b"d/big"), os.urandom(2_000_000))
    p1, _ = backup(repo, source, None)
    assert len(reads) == 51
    reads.clear()
    p2, _ = backup(repo, source, latest_point_for(repo, source))
    assert reads == []
    assert p2.tree == p1.tree
    assert p2.stats["bytes_read"] == 0 and p2.stats["bytes_added"] == 0
    # change one file (new mtime and size): only it is read
    time.sleep(0.01)
    write(os.path.join(source, b"f7"), b"changed")
    p3, _ = backup(repo, source, p2)
    assert reads == [os.path.join(source, b"f7")]
    assert p3.parent == p2.id


def test_same_size_and_mtime_but_new_ctime_is_read(repo: Repository, source: bytes, reads) -> None:
    path = os.path.join(source, b"f")
    write(path, b"aaaa", mtime_ns=10**18)
    p1, _ = backup(repo, source, None)
    write(path, b"bbbb", mtime_ns=10**18)  # same size and mtime; ctime moves
    reads.clear()
    backup(repo, source, p1)
    assert reads == [path]


def test_chunker_is_usable_apart_from_the_safe(repo: Repository) -> None:
    spec = ChunkerSpec.from_dict(repo.chunker_spec().to_dict())
    data = os.urandom(5_000_000)
    pairs = [(cid, bytes(chunk)) for cid, chunk in Chunker(spec).chunks(io.BytesIO(data))]
    assert b"".join(c for _, c in pairs) == data
    assert len(pairs) > 1
    assert all(cid == repo.keys.chunk_id(c) for cid, c in pairs)
    # the safe lacks all of them; after storing the first, it lacks the rest
    ids = [cid for cid, _ in pairs]
    assert repo.lacking(ids) == ids
    from backuprun.disksafe.compress import compress
    from backuprun.disksafe.format import BLOB_DATA

    with repo.writer() as w:
        flags, payload = compress(pairs[0][1])  # as an agent would send it
        assert w.claim(ids[0])
        w.add_compressed(BLOB_DATA, ids[0], flags, bytes(payload), len(pairs[0][1]))
        assert not w.lacks(ids[0]) and w.lacks(ids[1])
    assert repo.lacking(ids) == ids[1:]
    assert Repository.open(repo.storage, b"correct horse battery staple").lacking(ids) == ids[1:]


@pytest.mark.parametrize("size", [0, 1, 100_000, 262_143, 262_144, 5_000_000, 20_000_001])
def test_reused_buffer_cuts_like_one_buffer(size: int) -> None:
    from pyfastcdc import FastCDC

    spec = ChunkerSpec(seed=12345, id_key=b"k" * 32)
    data = os.urandom(size)
    got = [bytes(c) for _, c in Chunker(spec, buffer_size=1).chunks(io.BytesIO(data), size)]
    if size < spec.min_size:
        want = [data] if data else []
    else:
        cdc = FastCDC(spec.avg_size, min_size=spec.min_size, max_size=spec.max_size, seed=spec.seed)
        want = [bytes(c.data) for c in cdc.cut_buf(data)]
    assert got == want


def test_chunk_boundaries_are_keyed_per_safe() -> None:
    data = os.urandom(8_000_000)
    a = [len(c) for _, c in Chunker(ChunkerSpec(1, b"k" * 32)).chunks(io.BytesIO(data))]
    b = [len(c) for _, c in Chunker(ChunkerSpec(2, b"k" * 32)).chunks(io.BytesIO(data))]
    assert a != b


def test_parent_chunks_missing_from_index_are_read_again(repo: Repository, source: bytes,
                                                         reads) -> None:
    write(os.path.join(source, b"f"), os.urandom(5000))
    p1, _ = backup(repo, source, None)
    for name in list(repo.storage.list("index/")):
        repo.storage.remove(name)  # as if the index were lost
    reads.clear()
    p2, _ = backup(repo, source, p1)
    assert reads == [os.path.join(source, b"f")]
    assert p2.tree in repo.index
