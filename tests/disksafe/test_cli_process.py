"""``backuprun disksafe backup`` as a process: its exit codes and messages, through the one
parser every command line goes through."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_backup_exit_codes(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("backuprun")
    pw = tmp_path / "pw"
    pw.write_bytes(b"secret\n")
    env = {k: v for k, v in os.environ.items() if k != "BACKUPRUN_DISKSAFE_PASSWORD"}
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"hello")
    safe = str(tmp_path / "s")

    def run(*args):
        return subprocess.run([str(exe), "disksafe", *args], env=env, capture_output=True,
                              timeout=120)

    assert run("init", safe, "--password-file", str(pw)).returncode == 0
    p = run("backup", "-q", safe, str(src), f"--password-file={pw}")
    assert p.returncode == 0, p.stderr
    assert b"recovery point" in p.stdout
    p = run("backup", str(tmp_path / "nope"), str(src), "--password-file", str(pw))
    assert p.returncode == 10 and b"no disk safe" in p.stderr
    p = run("backup", safe, str(src), "--parent", "zzz", "--password-file", str(pw))
    assert p.returncode == 1 and b"no recovery point" in p.stderr
    p = run("backup", safe, str(src))  # no password, stdin not a terminal
    assert p.returncode == 12 and b"password" in p.stderr
    p = run("backup", safe)  # typer's usage error
    assert p.returncode == 2 and b"Missing argument" in p.stderr
