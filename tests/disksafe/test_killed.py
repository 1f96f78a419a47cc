"""A backup killed with SIGKILL leaves no recovery point, nothing corrupt, reusable chunks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from backuprun.disksafe.archiver import backup
from backuprun.disksafe.check import verify
from backuprun.disksafe.prune import prune
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.restorer import restore
from backuprun.storage.local import LocalStorage
from tests.disksafe.treeutil import describe, write

CHILD = textwrap.dedent("""
    import sys
    from backuprun.disksafe import keys
    keys.KDF_TIME, keys.KDF_MEMORY_KIB = 1, 8 * 1024
    from backuprun.disksafe.archiver import backup
    from backuprun.disksafe.repository import Repository
    from backuprun.storage.local import LocalStorage
    repo = Repository.open(LocalStorage(sys.argv[1]), b"pw")
    backup(repo, sys.argv[2].encode(), None,
           writer_options={"pack_size": 256 * 1024, "index_every": 2, "queue_bytes": 1 << 20})
""")


@pytest.mark.slow
def test_sigkill_mid_backup(tmp_path: Path) -> None:
    safe, src = tmp_path / "safe", os.fsencode(tmp_path / "src")
    os.makedirs(src)
    for i in range(400):
        write(os.path.join(src, b"f%03d" % i), os.urandom(200_000))
    Repository.init(LocalStorage(safe), b"pw", encrypted=True)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(safe), os.fsdecode(src)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(safe.glob("index/*"))) < 3:
        assert child.poll() is None, "the child backup ended before it was killed"
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert list(safe.glob("index/*")), "the child never wrote an index object"
    storage = LocalStorage(safe)
    repo = Repository.open(storage, b"pw")
    assert repo.points() == []
    assert list(storage.list("locks/"))  # the dead writer's lock is still there...
    kept = len(repo.index)
    assert kept > 0
    for pack in repo.index.packs():  # every indexed pack exists and every blob opens
        assert storage.exists(pack.name)
    for _pack, entry in repo.index.blobs():
        repo.load_blob(entry.id)
    report = verify(repo, read_fraction=1.0)
    assert report.clean, (report.errors, report.damaged)
    stray = len(report.unindexed_packs)  # packs saved after the last index object
    point, _ = backup(repo, src, None)  # ...and is taken over: its pid is gone
    assert point.stats["bytes_read"] == 400 * 200_000
    assert point.stats["blobs_added"] < 400 + 10 - kept + 2
    assert list(storage.list("locks/")) == []
    restore(repo, point, os.fsencode(tmp_path / "out"))
    assert describe(os.fsencode(tmp_path / "out")) == describe(src)
    stats = prune(repo)  # the killed run's unindexed packs are garbage now
    assert stats.stray_packs == stray and stats.packs_removed >= stray
    assert verify(repo, read_fraction=1.0).clean
