"""``backuprun disksafe backup`` skips typer's parsing for plain command lines
(start-up time); everything else must still go through typer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backuprun.cli import backup_fast_args


def test_plain_command_lines_are_parsed() -> None:
    assert backup_fast_args(["disksafe", "backup", "s", "src"]) == {
        "location": "s", "source": "src", "parent": None, "password_file": None,
        "quiet": False, "json_out": False}
    got = backup_fast_args(["disksafe", "backup", "-q", "--parent", "abc", "s",
                            "--password-file=pw", "src", "--json"])
    assert got == {"location": "s", "source": "src", "parent": "abc", "password_file": "pw",
                   "quiet": True, "json_out": True}
    assert backup_fast_args(["disksafe", "backup", "s", "--", "-odd"])["source"] == "-odd"


@pytest.mark.parametrize("args", [
    ["disksafe", "backup", "--help"],
    ["disksafe", "backup", "s"],
    ["disksafe", "backup", "s", "src", "extra"],
    ["disksafe", "backup", "s", "src", "--parent"],
    ["disksafe", "backup", "s", "src", "--unknown"],
    ["disksafe", "backup", "-qx", "s", "src"],
    ["disksafe", "restore", "s", "latest", "o"],
    ["--version"],
    [],
])
def test_other_command_lines_go_to_typer(args) -> None:
    assert backup_fast_args(args) is None


def test_fast_backup_exit_codes(tmp_path: Path) -> None:
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
