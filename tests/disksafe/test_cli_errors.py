"""The real ``backuprun disksafe`` command fails like a well-made tool: one line saying what
is wrong and what to do, a distinct exit code (``exitcodes``), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backuprun.disksafe import exitcodes as ec

EXE = str(Path(sys.executable).with_name("backuprun"))


@pytest.fixture
def env() -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**clean, "BACKUPRUN_DISKSAFE_PASSWORD": "pw", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}


@pytest.fixture
def safe(tmp_path: Path, env: dict) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2000):  # more ls output than a pipe holds
        (src / f"file-{i:05}").write_bytes(b"x")
    s = tmp_path / "safe"
    for args in (["init", str(s)], ["backup", str(s), str(src)]):
        assert subprocess.run([EXE, "disksafe", *args], env=env, capture_output=True).returncode == 0
    return s


def fails(env: dict, *args: str, code: int, says: str) -> str:
    p = subprocess.run([EXE, "disksafe", *args], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == code, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    for bad in ("Traceback", "Errno", "b'"):
        assert bad not in p.stderr, p.stderr
    assert says in lines[0], p.stderr
    return lines[0]


def test_local_mistakes(safe: Path, tmp_path: Path, env: dict) -> None:
    fails(env, "backup", str(safe), str(tmp_path / "nope"), code=ec.LOCAL_PATH,
          says=f"{tmp_path / 'nope'}: no such file or directory: check the path")
    fails(env, "backup", str(safe), str(tmp_path / "src" / "file-00001"), code=ec.LOCAL_PATH,
          says="not a directory: name a folder")
    fails(env, "list", str(safe), "--password-file", str(tmp_path / "nope"),
          code=ec.LOCAL_PATH, says="cannot read the password file")
    fails(env, "list", str(safe), "--password-file", str(tmp_path), code=ec.LOCAL_PATH,
          says="cannot read the password file")
    a_file = tmp_path / "src" / "file-00002"
    for command in ("init", "list"):
        fails(env, command, str(a_file), code=ec.LOCAL_PATH, says="is a file, not a folder")
    fails(env, "restore", str(safe), "latest", str(a_file), code=ec.LOCAL_PATH,
          says="not a folder")
    fails(env, "list", str(tmp_path / "none"), code=ec.NO_SAFE, says="init")
    fails({**env, "BACKUPRUN_DISKSAFE_PASSWORD": "bad"}, "list", str(safe), code=ec.PASSWORD,
          says="wrong password")


def test_s3_mistakes(env: dict) -> None:
    fails(env, "list", "s3://", code=ec.USAGE, says="not an s3://BUCKET/PREFIX location")
    fails(env, "list", "s3://bucket/x", code=ec.STORAGE, says="AWS_ACCESS_KEY_ID")
    unreachable = {**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "a",
                   "AWS_SECRET_ACCESS_KEY": "b"}
    fails(unreachable, "list", "s3://bucket/x", code=ec.STORAGE, says="cannot reach")


def test_ls_into_a_closed_pipe_exits_quietly(safe: Path, env: dict) -> None:
    for args in (["ls", str(safe), "latest"], ["ls", str(safe), "latest", "--json"]):
        p = subprocess.Popen([EXE, "disksafe", *args], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        assert p.stdout.readline()
        p.stdout.close()  # as `| head -1` does
        assert p.wait(60) == ec.PIPE_CLOSED
        assert p.stderr.read() == b""
        p.stderr.close()
    assert not list((safe / "locks").iterdir())  # the shared lock was released


def test_restore_refuses_to_overwrite(safe: Path, tmp_path: Path, env: dict) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine").write_bytes(b"keep me")
    p = subprocess.run([EXE, "disksafe", "restore", str(safe), "latest", str(out)], env=env,
                       capture_output=True)
    assert p.returncode == 0, p.stderr  # nothing in the way
    (out / "file-00003").write_bytes(b"changed")
    (out / "file-00007").write_bytes(b"changed")
    line = fails(env, "restore", str(safe), "latest", str(out), code=ec.LOCAL_PATH,
                 says="2000 files in")
    assert "file-00000, file-00001" in line and "and 1995 more" in line and "--overwrite" in line
    assert (out / "file-00003").read_bytes() == b"changed"
    fails(env, "restore", str(safe), "latest", str(out), "--path", "file-00003",
          code=ec.LOCAL_PATH, says="1 files in")
    p = subprocess.run([EXE, "disksafe", "restore", str(safe), "latest", str(out),
                        "--overwrite"], env=env, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert (out / "file-00003").read_bytes() == b"x" and (out / "mine").read_bytes() == b"keep me"
