"""Locks: one writer at a time, stale locks taken over, lost locks stop a commit."""

from __future__ import annotations

import os
import socket
import time

import pytest

from backuprun.disksafe.archiver import backup
from backuprun.disksafe.errors import SafeLocked
from backuprun.disksafe.lock import Lock, encode_lock
from backuprun.disksafe.repository import Repository
from tests.disksafe.treeutil import write


def _foreign(storage, **over) -> str:
    info = {"host": "other-host", "pid": 1, "exclusive": True, "purpose": "backup",
            "created": time.time(), "heartbeat": time.time(), "expires": time.time() + 300}
    info.update(over)
    name = "locks/" + "ab" * 16
    storage.save(name, encode_lock(info))
    return name


def test_held_lock_refuses_a_second_writer(repo: Repository, source: bytes) -> None:
    write(os.path.join(source, b"f"), b"x")
    with repo.lock(True, "backup"):
        with pytest.raises(SafeLocked, match="exclusive lock for backup"):
            backup(repo, source, None)
        with pytest.raises(SafeLocked):
            repo.lock(False, "restore").acquire()
    assert list(repo.storage.list("locks/")) == []
    backup(repo, source, None)


def test_shared_locks_coexist(repo: Repository) -> None:
    with repo.lock(False, "restore"), repo.lock(False, "ls"):
        with pytest.raises(SafeLocked):
            repo.lock(True, "prune").acquire()


def test_expired_lock_is_taken_over(repo: Repository, source: bytes) -> None:
    write(os.path.join(source, b"f"), b"x")
    name = _foreign(repo.storage, heartbeat=time.time() - 1000, expires=time.time() - 700)
    backup(repo, source, None)
    assert not repo.storage.exists(name)


def test_lock_of_dead_local_process_is_taken_over(repo: Repository) -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    name = _foreign(repo.storage, host=socket.gethostname(), pid=pid)
    with repo.lock(True, "backup"):
        assert not repo.storage.exists(name)


def test_live_foreign_lock_is_respected(repo: Repository) -> None:
    _foreign(repo.storage)
    with pytest.raises(SafeLocked, match="other-host"):
        repo.lock(True, "backup").acquire()


def test_heartbeat_refreshes_and_lost_lock_is_noticed(local_storage) -> None:
    repo = Repository.init(local_storage, None, encrypted=False)
    lock = Lock(local_storage, True, "backup", refresh=0.05)
    with lock:
        first = local_storage.load(lock.name)
        time.sleep(0.3)
        assert local_storage.load(lock.name) != first
        local_storage.remove(lock.name)
        with pytest.raises(SafeLocked):
            lock.check()
    assert repo.storage is local_storage
