"""The agent's copy of its last backup's trees (:mod:`backuprun.agent.treecache`)."""

from __future__ import annotations

import os

import blake3

from backuprun.agent.treecache import FOLDER, NoCache, TreeCache, open_cache
from backuprun.disksafe.chunker import ChunkerSpec

SPEC = ChunkerSpec(b"s" * 32, b"k" * 32, 512 * 1024, 1024 * 1024, 8 * 1024 * 1024)
OTHER = ChunkerSpec(b"s" * 32, b"o" * 32, 512 * 1024, 1024 * 1024, 8 * 1024 * 1024)


def tree(text: bytes, key: bytes = SPEC.id_key) -> tuple[bytes, bytes]:
    return blake3.blake3(text, key=key).digest(), text


def test_a_backup_done_is_what_the_next_one_reads(tmp_path):
    a, b = tree(b"tree a" * 100), tree(b"tree b" * 100)
    first = TreeCache(tmp_path, SPEC)
    assert first.get(a[0]) is None
    first.put(*a)
    first.put(*b)
    first.commit()

    second = TreeCache(tmp_path, SPEC)
    assert second.get(a[0]) == a[1] and second.get(b[0]) == b[1]
    assert (second.hits, second.misses) == (2, 0)
    second.put(*a)  # only a is in the new point
    second.commit()
    third = TreeCache(tmp_path, SPEC)
    assert third.get(a[0]) == a[1] and third.get(b[0]) is None
    third.discard()
    assert os.listdir(tmp_path / FOLDER) == [third.path.name]


def test_a_backup_that_fails_keeps_the_last_ones_trees(tmp_path):
    a, b = tree(b"tree a"), tree(b"tree b")
    first = TreeCache(tmp_path, SPEC)
    first.put(*a)
    first.commit()
    failed = TreeCache(tmp_path, SPEC)
    failed.put(*b)
    failed.discard()
    again = TreeCache(tmp_path, SPEC)
    assert again.get(a[0]) == a[1] and again.get(b[0]) is None
    again.discard()


def test_each_safe_has_its_own_and_a_wrong_entry_is_not_used(tmp_path):
    a = tree(b"tree a")
    mine = TreeCache(tmp_path, SPEC)
    mine.put(*a)
    mine.put(blake3.blake3(b"x", key=SPEC.id_key).digest(), b"not x")  # a lie
    mine.commit()
    other = TreeCache(tmp_path, OTHER)
    assert other.path != mine.path and other.get(a[0]) is None
    other.discard()
    again = TreeCache(tmp_path, SPEC)
    assert again.get(blake3.blake3(b"x", key=SPEC.id_key).digest()) is None
    again.discard()


def test_a_damaged_or_unwritable_cache_only_costs_time(tmp_path):
    a = tree(b"tree a")
    first = TreeCache(tmp_path, SPEC)
    first.put(*a)
    first.commit()
    first.path.write_bytes(b"this is not a database" * 100)
    damaged = TreeCache(tmp_path, SPEC)
    assert damaged.get(a[0]) is None
    damaged.put(*a)
    damaged.commit()
    assert TreeCache(tmp_path, SPEC).get(a[0]) == a[1]

    (tmp_path / "file").write_bytes(b"")
    assert isinstance(open_cache(tmp_path / "file", SPEC), NoCache)  # not a folder
