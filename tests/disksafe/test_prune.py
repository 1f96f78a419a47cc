"""prune: space comes back, and nothing a recovery point or a running backup needs goes."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from backuprun.disksafe import archiver as archiver_module
from backuprun.disksafe.archiver import backup
from backuprun.disksafe.check import verify
from backuprun.disksafe.errors import SafeLocked
from backuprun.disksafe.forget import Policy, forget
from backuprun.disksafe.prune import PruneStopped, prune
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.restorer import restore
from backuprun.storage import Storage
from tests.disksafe.conftest import PASSWORD
from tests.disksafe.treeutil import describe, make_sample_tree, write

SMALL_PACKS = {"pack_size": 256 * 1024, "index_every": 2}


def pack_bytes(storage: Storage) -> int:
    return sum(storage.size(n) for n in storage.list("packs/"))


def snapshot(storage: Storage) -> dict[str, bytes]:
    return {n: storage.load(n) for n in storage.list("") if not n.startswith("locks/")}


def assert_restores(repo: Repository, expected: dict, tmp_path: Path) -> None:
    for point in repo.points():
        out = os.fsencode(tmp_path / f"restore-{point.id}")
        stats = restore(repo, point, out)
        assert not stats.damaged
        assert describe(out) == expected[point.id], point.id


def test_forget_then_prune_reclaims_space(storage_factory, tmp_path: Path) -> None:
    src = os.fsencode(tmp_path / "src")
    os.makedirs(src)
    make_sample_tree(src)
    repo = Repository.init(storage_factory(), PASSWORD, encrypted=True)
    expected = {}
    for i in range(3):
        write(os.path.join(src, b"gen-%d" % i), os.urandom(400_000))
        if i:
            os.unlink(os.path.join(src, b"gen-%d" % (i - 1)))
        point, _ = backup(repo, src, None, writer_options=SMALL_PACKS)
        expected[point.id] = describe(src)
    before = pack_bytes(repo.storage)
    assert prune(repo).packs_removed == 0  # every pack is still needed
    assert pack_bytes(repo.storage) == before
    forget(repo, policy=Policy(last=1))
    untouched = snapshot(repo.storage)
    dry = prune(repo, dry_run=True)
    assert dry.packs_removed + dry.packs_repacked > 0 and dry.bytes_freed > 700_000
    assert snapshot(repo.storage) == untouched
    stats = prune(repo)
    after = pack_bytes(repo.storage)
    assert before - after == stats.bytes_freed >= 700_000  # gen-0 and gen-1 are gone
    assert len(repo.index_names()) == 1  # compacted into one index object
    assert verify(Repository.open(repo.storage, PASSWORD), read_fraction=1.0).clean
    assert_restores(Repository.open(repo.storage, PASSWORD), expected, tmp_path)


def test_repack_keeps_needed_blobs_of_mostly_garbage_packs(local_storage, source: bytes,
                                                          tmp_path: Path) -> None:
    repo = Repository.init(local_storage, PASSWORD, encrypted=True)
    for i in range(20):  # small files share packs
        write(os.path.join(source, b"f%02d" % i), os.urandom(20_000))
    backup(repo, source, None)
    for i in range(2, 20):
        os.unlink(os.path.join(source, b"f%02d" % i))
    point, _ = backup(repo, source, None)
    forget(repo, policy=Policy(last=1))
    stats = prune(repo)
    assert stats.packs_repacked >= 1 and stats.packs_written >= 1
    assert pack_bytes(local_storage) < 100_000
    assert verify(repo, read_fraction=1.0).clean
    assert_restores(repo, {point.id: describe(source)}, tmp_path)
    assert prune(repo, max_unused=0.0).packs_repacked == 0  # nothing left to repack


def test_prune_removes_what_a_killed_backup_left(local_storage, source: bytes, tmp_path: Path) -> None:
    repo = Repository.init(local_storage, PASSWORD, encrypted=True)
    write(os.path.join(source, b"keep"), os.urandom(300_000))
    point, _ = backup(repo, source, None)
    # What a backup killed mid-run leaves: an indexed pack and a pack in no index.
    with repo.lock(True, "backup"):
        writer = repo.writer(pack_size=64 * 1024)
        data = os.urandom(200_000)
        blob_id = repo.keys.chunk_id(data)
        writer.claim(blob_id)
        writer.add(1, blob_id, data)
        writer.flush()
        stray = os.urandom(200_000)
        writer = repo.writer()
        writer.add(1, repo.keys.chunk_id(stray), stray)
        writer._stop_threads()  # its pack is saved, no index object names it
    half = local_storage.root / "packs" / ".tmp-half-written-0123"  # a killed save's file
    half.write_bytes(b"partial")
    os.utime(half, (time.time() - 7200, time.time() - 7200))
    assert verify(repo).unindexed_packs
    stats = prune(repo)
    assert stats.stray_packs == 1 and stats.packs_removed == 2
    assert stats.leftovers_removed == 1 and not half.exists()
    report = verify(repo, read_fraction=1.0)
    assert report.clean and not report.unindexed_packs
    assert_restores(repo, {point.id: describe(source)}, tmp_path)


def test_prune_with_a_lost_index_object_deletes_nothing_needed(local_storage, source: bytes,
                                                               tmp_path: Path) -> None:
    repo = Repository.init(local_storage, PASSWORD, encrypted=True)
    make_sample_tree(source)
    point, _ = backup(repo, source, None)
    for name in repo.index_names():
        local_storage.remove(name)
    stats = prune(Repository.open(local_storage, PASSWORD))
    assert stats.packs_removed == 0 and stats.stray_packs > 0
    repo = Repository.open(local_storage, PASSWORD)
    assert verify(repo, read_fraction=1.0).clean
    assert_restores(repo, {point.id: describe(source)}, tmp_path)


def test_prune_stops_when_it_cannot_see_what_points_need(local_storage, source: bytes) -> None:
    repo = Repository.init(local_storage, PASSWORD, encrypted=True)
    make_sample_tree(source)
    backup(repo, source, None)
    tree_pack = min(repo.index.packs(), key=lambda p: p.size)  # the trees' pack
    local_storage.remove(tree_pack.name)
    before = snapshot(local_storage)
    with pytest.raises(PruneStopped):
        prune(Repository.open(local_storage, PASSWORD))
    assert snapshot(local_storage) == before


def test_backup_whose_lock_was_taken_over_does_not_commit(local_storage, source: bytes,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A backup frozen past its lock's expiry loses the lock to a prune, which may delete
    chunks the backup deduplicated against; the backup must then refuse to commit."""
    repo = Repository.init(local_storage, PASSWORD, encrypted=True)
    write(os.path.join(source, b"f"), os.urandom(500_000))
    old, _ = backup(repo, source, None)
    forget(repo, [old.id])  # its chunks are garbage now, but the next backup reuses them
    real_run = archiver_module.Archiver.run

    def run_then_lose_lock(self, *args):
        tree = real_run(self, *args)
        for name in list(local_storage.list("locks/")):
            local_storage.remove(name)  # taken over as stale...
        prune(Repository.open(local_storage, PASSWORD))  # ...by a prune that deletes them
        return tree

    monkeypatch.setattr(archiver_module.Archiver, "run", run_then_lose_lock)
    with pytest.raises(SafeLocked):
        backup(Repository.open(local_storage, PASSWORD), source, None)
    assert local_storage.exists("config") and not list(local_storage.list("points/"))
    assert verify(Repository.open(local_storage, PASSWORD)).clean


@pytest.mark.slow
def test_gc_against_concurrent_backups_loses_nothing(local_storage, tmp_path: Path) -> None:
    """Backups and forget+prune race for the safe; every surviving point restores exactly."""
    src = os.fsencode(tmp_path / "src")
    os.makedirs(src)
    rng = random.Random(7)
    shared = os.urandom(300_000)
    Repository.init(local_storage, PASSWORD, encrypted=True)
    expected: dict[str, dict] = {}
    done = threading.Event()
    errors: list[BaseException] = []
    counts = {"backups": 0, "prunes": 0, "locked": 0}

    def backups() -> None:
        try:
            repo = Repository.open(local_storage, PASSWORD)
            for i in range(12):
                for j in range(rng.randrange(3, 8)):  # new files, some sharing old chunks
                    write(os.path.join(src, b"f%02d-%d" % (i, j)),
                          shared if j == 0 else os.urandom(rng.randrange(1_000, 120_000)))
                for name in sorted(os.listdir(src))[: rng.randrange(0, 4)]:
                    os.unlink(os.path.join(src, name))
                state = describe(src)
                while True:
                    try:
                        point, _ = backup(repo, src, None, writer_options=SMALL_PACKS)
                        break
                    except SafeLocked:
                        counts["locked"] += 1
                        time.sleep(0.01)
                expected[point.id] = state
                counts["backups"] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            done.set()

    def gc() -> None:
        repo = Repository.open(local_storage, PASSWORD)
        while not done.is_set():
            try:
                forget(repo, policy=Policy(last=3))
                prune(repo, max_unused=0.05)
                counts["prunes"] += 1
            except SafeLocked:
                counts["locked"] += 1
            except ValueError:
                pass
            time.sleep(0.005)

    writer = threading.Thread(target=backups)
    writer.start()
    gc()
    writer.join()
    assert not errors, errors
    assert counts["backups"] == 12 and counts["prunes"] > 0, counts
    repo = Repository.open(local_storage, PASSWORD)
    prune(repo, max_unused=0.05)
    report = verify(repo, read_fraction=1.0)
    assert report.clean, (report.errors, report.damaged)
    assert len(repo.points()) >= 3
    assert_restores(repo, expected, tmp_path)
