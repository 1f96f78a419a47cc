"""Smoke test of the benchmark machinery (bench/gen_tree.py, bench/run.py) at a tiny size.

Asserts that the harness runs end to end and that every restore it made compared equal to
the source; timings are not asserted (they are the benchmark's business, not a test's).
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
BACKUPRUN = ROOT / ".venv" / "bin" / "backuprun"
if not BACKUPRUN.exists():
    BACKUPRUN = Path(shutil.which("backuprun") or BACKUPRUN)
sys.path.insert(0, str(BENCH))
import gen_tree  # noqa: E402


def _run_bench(tmp_path: Path, tools: list[str]) -> dict:
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path
    target = shm / f"bench-smoke-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out"
    cmd = [sys.executable, str(BENCH / "run.py"), "--size-mb", "20", "--only", ",".join(tools),
           "--work", str(tmp_path / "work"), "--shm", str(target), "--out", str(out),
           "--backuprun", str(BACKUPRUN)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(target, ignore_errors=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    files = glob.glob(str(out / "bench-*.json"))
    assert len(files) == 1, (files, r.stderr[-2000:])
    rep = json.loads(Path(files[0]).read_text())
    assert "restore == source" in r.stdout
    for name in tools:
        res = rep["tools"][name]
        assert not res.get("failed"), (name, res)
        for step in ("init", "full", "unchanged", "changed", "restore_cold", "restore_warm"):
            assert res["steps"][step]["rc"] == 0, (name, step)
            assert res["steps"][step]["max_rss_mb"] > 1
        v = res["verify"]
        assert v["ok"], (name, v)
        assert v["entries"] >= rep["tree_after"]["files"]
        assert res["size_full"]["disk_mb"] > 0
    assert rep["mutation"]["modified"] > 0 and rep["mutation"]["added"] > 0
    assert rep["mutation"]["deleted"] > 0
    return rep


def test_gen_tree_is_deterministic_and_mutates_once(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    gen_tree.generate(str(a), 3, seed=7)
    gen_tree.generate(str(b), 3, seed=7)
    r = subprocess.run(["diff", "-r", "--no-dereference", str(a), str(b)], capture_output=True)
    assert r.returncode == 0, r.stdout[-2000:]
    names = set(os.listdir(os.fsencode(a / "odd")))
    assert b"latin1-caf\xe9-\xff\xfe.bin" in names  # a name that is not valid UTF-8
    assert os.path.islink(a / "odd" / "dangling-link")
    st = gen_tree.mutate(str(a))
    assert st["changes"]["modified"] > 0
    with pytest.raises(SystemExit):
        gen_tree.mutate(str(a))


def test_bench_backuprun_tiny(tmp_path: Path) -> None:
    if not BACKUPRUN.exists():
        pytest.skip("backuprun command not installed")
    _run_bench(tmp_path, ["backuprun"])


@pytest.mark.slow
def test_bench_with_peers_tiny(tmp_path: Path) -> None:
    peers = []
    if shutil.which("restic"):
        peers.append("restic")
    if shutil.which("borg"):
        peers += ["borg-lz4", "borg-zstd3"]
    if not peers:
        pytest.skip("no peers installed (apt-get install -y restic borgbackup)")
    rep = _run_bench(tmp_path, ["backuprun"] + peers)
    table = {row["key"]: row for row in rep["table"]}
    assert "ratio" in table["full_mbs"] and "pass" in table["rss_max"]


def test_compare_trees_finds_differences(tmp_path: Path) -> None:
    import run

    src = tmp_path / "src"
    gen_tree.generate(str(src), 2, seed=3)
    dst = tmp_path / "dst"
    shutil.copytree(src, dst, symlinks=True)
    assert run.compare_trees(str(src), str(dst))["ok"]
    victim = next(p for p in sorted(dst.rglob("*.py")) if p.is_file() and p.stat().st_size > 10)
    data = bytearray(victim.read_bytes())
    data[5] ^= 1
    victim.write_bytes(bytes(data))
    os.unlink(os.fsencode(dst / "odd") + b"/latin1-caf\xe9-\xff\xfe.bin")
    (dst / "odd" / "dangling-link").unlink()
    (dst / "odd" / "dangling-link").symlink_to("elsewhere")
    os.chmod(dst / "odd" / "empty-file", 0o600)
    res = run.compare_trees(str(src), str(dst))
    assert not res["ok"] and res["differences"] == 4, res
