"""Smoke tests of the benchmarks that run the whole system (bench/e2e.py, bench/growth.py,
bench/api_poll.py) at a tiny size: they run end to end, every step finishes, every restore
equals its source, every call is answered. Timings are not asserted (they are the
benchmarks' business, not a test's)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
pytestmark = pytest.mark.slow


def _run(tmp_path: Path, script: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(BENCH / script), "--work", str(tmp_path / "work"),
                           "--out", str(out), *args], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (report,) = out.glob("*.json")
    assert not (tmp_path / "work").exists()  # the benchmark cleans up after itself
    return done, json.loads(report.read_text())


def test_e2e_backs_up_restores_and_downloads_through_the_agent(tmp_path):
    done, report = _run(tmp_path, "e2e.py", "--size-mb", "8", "--only", "backuprun",
                        "--no-tmpfs")
    ours = report["tools"]["backuprun"]
    for step in ("full", "unchanged", "changed", "restore_cold", "restore_warm",
                 "download_cold", "download_warm"):
        result = ours["steps"][step]
        assert result["state"] == "FINISHED", (step, result)
        assert result["seconds"] > 0 and result["server_peak_mb"] > 0
    assert ours["verify_cold"]["ok"] and ours["verify_warm"]["ok"]
    # the whole tree (hard links once: tree_stats counts them twice)
    assert ours["steps"]["download_cold"]["archive_bytes"] > report["tree_after"]["bytes"] // 2
    assert "restore throughput, cold" in done.stdout


def test_growth_backs_up_many_small_files_twice(tmp_path):
    done, report = _run(tmp_path, "growth.py", "--files", "300,600")
    assert [row["files"] for row in report["rows"]] == [300, 600]
    for row in report["rows"]:
        for step in ("full", "unchanged"):
            assert row[step]["state"] == "FINISHED", row
            assert row[step]["agent_peak_mb"] > 0
    assert "us/file wall" in done.stdout


@pytest.mark.parametrize("backing_up", [[], ["--while-backing-up", "4"]],
                         ids=["idle", "while-backing-up"])
def test_api_poll_runs_against_the_portal_and_its_ceiling(backing_up):
    done = subprocess.run([sys.executable, str(BENCH / "api_poll.py"), "--clients", "4",
                           "--seconds", "1", "--every", "0.3", "--services", "3",
                           *backing_up], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for line in ("ceiling (fixed document)", "getBackupStatus", "getStatus",
                 "as dashboards poll", "one account with     3 services"):
        assert line in done.stdout, done.stdout
    for part in done.stdout.split("getBackupStatus")[1:]:  # back to back, then paced
        assert "errors 0" in part.splitlines()[0], done.stdout
    if backing_up:
        assert "0 not FINISHED" in done.stdout, done.stdout
