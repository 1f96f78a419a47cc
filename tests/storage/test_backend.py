"""The shared suite: every backend keeps the rules of ``backuprun.storage``.

Runs once per backend through the ``storage_factory`` fixture (local, memory, s3).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from backuprun.storage import AlreadyExists, NotFound, Storage

ALL_BYTES = bytes(range(256)) * 4


def test_is_a_storage(storage: Storage) -> None:
    assert isinstance(storage, Storage)
    assert isinstance(storage.url, str) and storage.url


def test_fresh_storages_are_empty_and_apart(storage_factory) -> None:
    first, second = storage_factory(), storage_factory()
    assert list(first.list()) == []
    first.save("config", b"one")
    assert list(second.list()) == []
    assert not second.exists("config")


def test_save_load_round_trip(storage: Storage) -> None:
    storage.save("config", b"hello")
    assert storage.load("config") == b"hello"
    assert storage.size("config") == 5
    assert storage.exists("config")


def test_binary_content_survives(storage: Storage) -> None:
    storage.save("data/00/bin", ALL_BYTES)
    assert storage.load("data/00/bin") == ALL_BYTES


def test_empty_blob(storage: Storage) -> None:
    storage.save("empty", b"")
    assert storage.load("empty") == b""
    assert storage.size("empty") == 0
    assert storage.exists("empty")
    assert storage.load("empty", 0, 10) == b""
    assert list(storage.list()) == ["empty"]


def test_memoryview_and_bytearray_are_accepted(storage: Storage) -> None:
    buffer = bytearray(b"xxpayloadxx")
    storage.save("view", memoryview(buffer)[2:-2])
    storage.save("array", bytearray(b"array"))
    assert storage.load("view") == b"payload"
    assert storage.load("array") == b"array"


def test_large_blob_and_ranges(storage: Storage) -> None:
    blob = os.urandom(4 * 1024 * 1024 + 17)
    storage.save("data/ab/pack", blob)
    assert storage.size("data/ab/pack") == len(blob)
    assert storage.load("data/ab/pack") == blob
    assert storage.load("data/ab/pack", 3_000_000, 70_000) == blob[3_000_000:3_070_000]


@pytest.mark.parametrize(("offset", "length", "expected"), [
    (0, None, ALL_BYTES),
    (10, None, ALL_BYTES[10:]),
    (0, 7, ALL_BYTES[:7]),
    (100, 50, ALL_BYTES[100:150]),
    (1000, 100, ALL_BYTES[1000:]),  # runs past the end: what there is
    (len(ALL_BYTES) - 1, None, ALL_BYTES[-1:]),
    (len(ALL_BYTES), None, b""),  # starts at the end
    (len(ALL_BYTES) + 5, 10, b""),  # starts past the end
    (5, 0, b""),
])
def test_ranged_load(storage: Storage, offset: int, length: int | None,
                     expected: bytes) -> None:
    storage.save("blob", ALL_BYTES)
    assert storage.load("blob", offset, length) == expected


def test_missing_names_raise_not_found(storage: Storage) -> None:
    storage.save("present", b"x")
    with pytest.raises(NotFound):
        storage.load("absent")
    with pytest.raises(NotFound):
        storage.load("absent", 2, 5)
    with pytest.raises(NotFound):
        storage.load("absent", 0, 0)
    with pytest.raises(NotFound):
        storage.size("absent")
    with pytest.raises(NotFound):
        storage.remove("absent")
    assert not storage.exists("absent")


def test_missing_names_in_an_empty_storage(storage: Storage) -> None:
    with pytest.raises(NotFound):
        storage.load("config")
    assert not storage.exists("config")
    assert list(storage.list()) == []
    assert list(storage.list("data/")) == []


def test_save_refuses_to_replace_without_overwrite(storage: Storage) -> None:
    storage.save("lock", b"first")
    with pytest.raises(AlreadyExists):
        storage.save("lock", b"second")
    assert storage.load("lock") == b"first"


def test_overwrite_replaces(storage: Storage) -> None:
    storage.save("index/latest", b"a longer first version")
    storage.save("index/latest", b"short", overwrite=True)
    assert storage.load("index/latest") == b"short"
    assert storage.size("index/latest") == 5
    assert list(storage.list()) == ["index/latest"]


def test_overwrite_creates_when_absent(storage: Storage) -> None:
    storage.save("new", b"v1", overwrite=True)
    assert storage.load("new") == b"v1"


def test_remove(storage: Storage) -> None:
    storage.save("data/aa/one", b"1")
    storage.save("data/aa/two", b"2")
    storage.remove("data/aa/one")
    assert not storage.exists("data/aa/one")
    with pytest.raises(NotFound):
        storage.load("data/aa/one")
    with pytest.raises(NotFound):
        storage.remove("data/aa/one")
    assert list(storage.list()) == ["data/aa/two"]
    storage.save("data/aa/one", b"again")  # a removed name can be created anew
    assert storage.load("data/aa/one") == b"again"


NAMES = ["config", "keys/default", "data/ab/ab01", "data/ab/ab02", "data/abc/x",
         "data/abd", "data/b0/b0ff", "index/0001", "locks/host-1.lock", "snapshots/s1"]


@pytest.mark.parametrize(("prefix", "expected"), [
    ("", NAMES),
    ("data/", [n for n in NAMES if n.startswith("data/")]),
    ("data/ab/", ["data/ab/ab01", "data/ab/ab02"]),
    ("data/ab", ["data/ab/ab01", "data/ab/ab02", "data/abc/x", "data/abd"]),
    ("data/a", ["data/ab/ab01", "data/ab/ab02", "data/abc/x", "data/abd"]),
    ("d", [n for n in NAMES if n.startswith("data/")]),
    ("lock", ["locks/host-1.lock"]),
    ("config", ["config"]),
    ("data/ab/ab01", ["data/ab/ab01"]),
    ("nothing", []),
    ("nothing/", []),
    ("data/zz/", []),
])
def test_list_by_prefix(storage: Storage, prefix: str, expected: list[str]) -> None:
    for name in NAMES:
        storage.save(name, name.encode())
    listed = list(storage.list(prefix))
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(expected)


def test_list_many_names(storage: Storage) -> None:
    names = [f"data/{i % 7:02x}/{i:064x}" for i in range(350)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: storage.save(n, b""), names))
    storage.save("other", b"")
    listed = list(storage.list("data/"))
    assert len(listed) == len(names)
    assert set(listed) == set(names)
    assert sorted(storage.list("data/03/")) == sorted(n for n in names if n.startswith("data/03/"))


@pytest.mark.parametrize("name", [
    "", "/", "/abs", "trailing/", "a//b", ".", "..", "../up", "a/../b", "a/./b", "sp ace",
    "back\\slash", "colon:", "ümlaut", "new\nline", "star*", "a/b/", ".tmp-x",
    "data/.tmp-pack-123",
])
def test_invalid_names_are_refused(storage: Storage, name: str) -> None:
    with pytest.raises(ValueError):
        storage.save(name, b"x")
    with pytest.raises(ValueError):
        storage.load(name)
    with pytest.raises(ValueError):
        storage.exists(name)
    with pytest.raises(ValueError):
        storage.size(name)
    with pytest.raises(ValueError):
        storage.remove(name)
    assert list(storage.list()) == []


def test_names_with_dots_dashes_and_underscores(storage: Storage) -> None:
    names = ["a.b", "-lead", "_under", "x/.dotted", "x/y.z-1_2", "..x", "x/..y"]
    for name in names:
        storage.save(name, name.encode())
    for name in names:
        assert storage.load(name) == name.encode()
    assert sorted(storage.list()) == sorted(names)


def test_concurrent_saves_from_threads(storage: Storage) -> None:
    def work(thread: int) -> None:
        for i in range(20):
            name = f"data/{thread:02d}/{i:04d}"
            storage.save(name, f"{thread}:{i}".encode() * 100)
            assert storage.load(name) == f"{thread}:{i}".encode() * 100

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(work, t) for t in range(8)]:
            future.result()
    assert len(list(storage.list("data/"))) == 160
    assert storage.load("data/07/0019") == b"7:19" * 100


def test_concurrent_exclusive_create_has_one_winner(storage: Storage) -> None:
    """The lock primitive: many racing non-overwriting saves of one name, one wins.

    Four names are raced at once, six contenders each, to cover several races in the
    time of one (SeaweedFS makes the losers of a race wait a second or more).
    """
    names, contenders = [f"locks/lock-{i}" for i in range(4)], 6
    barrier = threading.Barrier(len(names) * contenders)

    def contend(job: tuple[str, int]) -> bool:
        name, i = job
        barrier.wait()
        try:
            storage.save(name, f"holder-{i}".encode() * (i + 1))
        except AlreadyExists:
            return False
        return True

    jobs = [(name, i) for name in names for i in range(contenders)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        won = dict(zip(jobs, pool.map(contend, jobs)))
    for name in names:
        winners = [i for (n, i), w in won.items() if n == name and w]
        assert len(winners) == 1, f"{name}: {winners}"
        assert storage.load(name) == f"holder-{winners[0]}".encode() * (winners[0] + 1)
    assert sorted(storage.list("locks/")) == names


def test_concurrent_overwrites_leave_one_whole_blob(storage: Storage) -> None:
    versions = [bytes([i]) * (50_000 + i) for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda v: storage.save("index/latest", v, overwrite=True), versions))
    assert storage.load("index/latest") in versions
    assert list(storage.list()) == ["index/latest"]


def test_sync_after_saves_and_removes(storage: Storage) -> None:
    storage.save("data/aa/1", b"1")
    storage.save("data/bb/2", b"2")
    storage.remove("data/aa/1")
    storage.sync()
    storage.sync()
    assert list(storage.list()) == ["data/bb/2"]


@pytest.mark.parametrize(("offset", "length"), [(-1, None), (-1, 5), (0, -1), (3, -2)])
def test_negative_ranges_are_refused(storage: Storage, offset: int, length: int | None) -> None:
    storage.save("blob", b"0123456789")
    with pytest.raises(ValueError):
        storage.load("blob", offset, length)


def test_a_folder_of_names_is_not_a_blob(storage: Storage) -> None:
    storage.save("data/ab/cdef", b"x")
    for folder in ("data", "data/ab"):
        assert not storage.exists(folder)
        with pytest.raises(NotFound):
            storage.load(folder)
        with pytest.raises(NotFound):
            storage.size(folder)
        with pytest.raises(NotFound):
            storage.remove(folder)
    assert list(storage.list()) == ["data/ab/cdef"]


def test_removing_the_last_name_of_a_folder_keeps_listing_right(storage: Storage) -> None:
    storage.save("data/ab/only", b"x")
    storage.remove("data/ab/only")
    assert list(storage.list()) == []
    assert list(storage.list("data/")) == []
    storage.save("data/ab/next", b"y")
    assert list(storage.list("data/ab/")) == ["data/ab/next"]


def test_sync_while_other_threads_save(storage: Storage) -> None:
    stop = threading.Event()

    def keep_syncing() -> None:
        while not stop.is_set():
            storage.sync()

    syncer = threading.Thread(target=keep_syncing)
    syncer.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: storage.save(f"data/{i % 8:02d}/{i:04d}", b"x"),
                          range(80)))
    finally:
        stop.set()
        syncer.join()
    storage.sync()
    assert len(list(storage.list("data/"))) == 80


@pytest.mark.parametrize("prefix", ["../", "..", "/", "//", "./", "a/../", "../storage-1/"])
def test_list_never_leaves_the_storage(storage_factory, prefix: str) -> None:
    neighbour, storage = storage_factory(), storage_factory()
    neighbour.save("config", b"n")
    storage.save("a/b", b"x")
    assert [n for n in storage.list(prefix) if not n.startswith(prefix)] == []
    assert list(storage.list(prefix)) == []


def test_prefetch_is_a_hint_that_never_fails(storage: Storage) -> None:
    storage.save("packs/ab/cd", b"0123456789")
    storage.prefetch("packs/ab/cd", 2, 5)
    storage.prefetch("packs/ab/cd", 100, 5)  # past the end
    storage.prefetch("packs/no/such", 0, 5)  # missing
    assert storage.load("packs/ab/cd", 2, 5) == b"23456"
