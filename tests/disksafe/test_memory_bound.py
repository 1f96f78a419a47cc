"""Memory does not grow with the tree: backup, ls and restore of 10x more files.

Each step runs in a child process that reports its own peak RSS. The files share one
content, so the index (which does grow with distinct chunks) stays the same size and
what is measured is the tree: holding it whole would cost ~0.5 KB per file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent("""
    import json, os, resource, sys
    from backuprun.disksafe import keys
    keys.KDF_TIME, keys.KDF_MEMORY_KIB = 1, 8 * 1024
    from backuprun.disksafe.archiver import backup
    from backuprun.disksafe.listing import list_entries
    from backuprun.disksafe.repository import Repository
    from backuprun.disksafe.restorer import restore
    from backuprun.storage.local import LocalStorage
    step, safe, path = sys.argv[1:4]
    storage = LocalStorage(safe)
    if step == "backup":
        repo = Repository.init(storage, b"pw")
        point, _ = backup(repo, os.fsencode(path), None)
        count = point.stats["files"]
    else:
        repo = Repository.open(storage, b"pw")
        point = repo.points()[-1]
        if step == "ls":
            count = sum(1 for _ in list_entries(repo, point, None))
        else:
            count = restore(repo, point, os.fsencode(path)).files
    print(json.dumps({"count": count,
                      "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""")


def _make(root: Path, files: int) -> None:
    per_dir = 500
    data = b"the same small file\n" * 20
    for d in range(files // per_dir):
        folder = root / f"dir{d:04d}"
        folder.mkdir(parents=True)
        for f in range(per_dir):
            (folder / f"file-{f:04d}-with-a-longish-name.txt").write_bytes(data)


def _peaks(tmp_path: Path, files: int) -> dict[str, int]:
    src, safe, out = tmp_path / f"src{files}", tmp_path / f"safe{files}", tmp_path / f"out{files}"
    _make(src, files)
    peaks = {}
    for step, path in (("backup", src), ("ls", src), ("restore", out)):
        p = subprocess.run([sys.executable, "-c", CHILD, step, str(safe), str(path)],
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr
        result = json.loads(p.stdout.splitlines()[-1])
        assert result["count"] >= files
        peaks[step] = result["rss_kb"]
    return peaks


@pytest.mark.slow
def test_peak_memory_does_not_follow_the_number_of_files(tmp_path: Path) -> None:
    small = _peaks(tmp_path, 20_000)
    large = _peaks(tmp_path, 200_000)
    for step in small:
        grown_kb = large[step] - small[step]
        # 180 000 more files: holding them would be ~90 MB; allow 20 MB of noise.
        assert grown_kb < 20 * 1024, (step, small[step], large[step])
