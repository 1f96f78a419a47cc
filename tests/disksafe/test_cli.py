"""The ``backuprun disksafe`` commands, through typer's runner and one real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backuprun.disksafe.cli import app
from tests.disksafe.treeutil import describe, make_sample_tree, write

PW = "cli password"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BACKUPRUN_DISKSAFE_PASSWORD", PW)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, env: dict | None = None):
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return invoke


def test_init_backup_list_ls_restore_passwd(run, tmp_path: Path) -> None:
    safe, src, out = tmp_path / "safe", tmp_path / "src", tmp_path / "out"
    os.makedirs(src)
    make_sample_tree(os.fsencode(src))
    assert "created encrypted disk safe" in run("init", str(safe)).output
    first = run("backup", str(safe), str(src)).output
    assert "recovery point" in first and "files" in first and "added" in first
    second = run("backup", "--quiet", str(safe), str(src)).output
    assert "0.0 MB read" in second  # incremental against the latest of the same source
    listing = run("list", str(safe)).output.splitlines()
    assert len(listing) == 2
    point = listing[0].split()[0]
    ls = run("ls", str(safe), point).stdout_bytes
    assert b"/dir/sub/big.bin" in ls and b"/link -> dir/a.txt" in ls
    assert b"\xff\xfe" in ls
    sub = run("ls", str(safe), "latest", "dir/sub").stdout_bytes
    assert b"/dir/a.txt" not in sub and b"/dir/sub/big.bin" in sub
    run("restore", str(safe), "latest", str(out))
    assert describe(os.fsencode(out)) == describe(os.fsencode(src))
    run("restore", str(safe), point[:8], str(tmp_path / "part"), "--path", "dir/sub")
    assert sorted(os.listdir(tmp_path / "part" / "dir")) == ["sub"]
    newpw = tmp_path / "newpw"
    newpw.write_text("second password\n")
    run("passwd", str(safe), "--new-password-file", str(newpw))
    run("list", str(safe), code=12)  # the old password
    run("list", str(safe), env={"BACKUPRUN_DISKSAFE_PASSWORD": "second password"})
    run("list", str(safe), "--password-file", str(newpw))


def test_clear_errors(run, tmp_path: Path) -> None:
    safe, src = tmp_path / "safe", tmp_path / "src"
    os.makedirs(src)
    write(os.fsencode(src / "f"), b"x")
    r = run("list", str(tmp_path / "nothing"), code=10)
    assert "no disk safe" in r.output
    run("init", str(safe))
    assert "already exists" in run("init", str(safe), code=1).output
    r = run("backup", str(safe), str(src), code=12, env={"BACKUPRUN_DISKSAFE_PASSWORD": "wrong"})
    assert "wrong password" in r.output
    assert list((safe).glob("points/*")) == []
    assert "no recovery point" in run("restore", str(safe), "latest", str(tmp_path / "o"), code=1).output
    assert "no recovery point" in run("ls", str(safe), "feedbeef", code=1).output
    from backuprun.disksafe.repository import Repository
    from backuprun.storage.local import LocalStorage

    repo = Repository.open(LocalStorage(safe), PW.encode())
    with repo.lock(True, "prune"):
        r = run("backup", str(safe), str(src), code=11)
        assert "locked" in r.output and "prune" in r.output
    assert list((safe).glob("points/*")) == []


def test_unencrypted_needs_no_password(tmp_path: Path) -> None:
    runner = CliRunner()
    src = tmp_path / "src"
    os.makedirs(src)
    write(os.fsencode(src / "f"), b"x")
    env = {"BACKUPRUN_DISKSAFE_PASSWORD": None}
    assert runner.invoke(app, ["init", str(tmp_path / "s"), "--no-encrypt"], env=env).exit_code == 0
    assert runner.invoke(app, ["backup", str(tmp_path / "s"), str(src)], env=env).exit_code == 0
    r = runner.invoke(app, ["passwd", str(tmp_path / "s")], env=env)
    assert r.exit_code == 1 and "not encrypted" in r.output


def test_real_command_line(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("backuprun")
    env = dict(os.environ, BACKUPRUN_DISKSAFE_PASSWORD="pw")
    src = tmp_path / "src"
    os.makedirs(src)
    write(os.fsencode(src / "f"), b"hello")
    for args in (["init", str(tmp_path / "s")], ["backup", str(tmp_path / "s"), str(src)],
                 ["restore", str(tmp_path / "s"), "latest", str(tmp_path / "o")]):
        p = subprocess.run([str(exe), "disksafe", *args], env=env, capture_output=True, timeout=120)
        assert p.returncode == 0, p.stderr
    assert (tmp_path / "o" / "f").read_bytes() == b"hello"
    p = subprocess.run([str(exe), "disksafe", "list", str(tmp_path / "s")],
                       env=dict(env, BACKUPRUN_DISKSAFE_PASSWORD="bad"), capture_output=True)
    assert p.returncode == 12 and b"wrong password" in p.stderr


def test_missing_path_is_an_error(run, tmp_path: Path) -> None:
    safe, src = tmp_path / "safe", tmp_path / "src"
    os.makedirs(src)
    write(os.fsencode(src / "f"), b"x")
    run("init", str(safe))
    run("backup", str(safe), str(src))
    assert "no nope" in run("ls", str(safe), "latest", "nope", code=1).output
    r = run("restore", str(safe), "latest", str(tmp_path / "o"), "--path", "nope", code=1)
    assert "no nope" in r.output
    assert not (tmp_path / "o").exists()


@pytest.mark.s3
def test_cli_on_s3_location(s3_location, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("backuprun")
    env = dict(s3_location.env, BACKUPRUN_DISKSAFE_PASSWORD="pw")
    src = tmp_path / "src"
    os.makedirs(src)
    make_sample_tree(os.fsencode(src))
    url = s3_location.url
    for args in (["init", url], ["backup", url, str(src)], ["backup", url, str(src)],
                 ["restore", url, "latest", str(tmp_path / "o")]):
        p = subprocess.run([str(exe), "disksafe", *args], env=env, capture_output=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr
    assert describe(os.fsencode(tmp_path / "o")) == describe(os.fsencode(src))
    p = subprocess.run([str(exe), "disksafe", "list", url], env=env, capture_output=True)
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 2
    for args, expect in ((["forget", url, "--keep-last", "1", "--prune"], b"forgot 1 of 2"),
                         (["verify", url, "--read-data"], b"no damage found"),
                         (["rebuild-index", url], b"indexed")):
        p = subprocess.run([str(exe), "disksafe", *args], env=env, capture_output=True,
                           timeout=300)
        assert p.returncode == 0 and expect in p.stdout, (args, p.stdout, p.stderr)


def test_verify_forget_prune_rebuild_index(run, tmp_path: Path) -> None:
    safe, src = tmp_path / "safe", tmp_path / "src"
    os.makedirs(src)
    write(os.fsencode(src / "victim"), os.urandom(400_000))
    write(os.fsencode(src / "other"), os.urandom(400_000))
    run("init", str(safe))
    run("backup", str(safe), str(src))
    write(os.fsencode(src / "victim"), os.urandom(400_000))
    run("backup", str(safe), str(src))
    assert "no damage found" in run("verify", str(safe), "--read-data").output
    assert "no damage found" in run("verify", str(safe), "--read-data-subset", "50%").output
    run("verify", str(safe), "--read-data-subset", "150%", code=2)
    first = run("list", str(safe)).output.split()[0]
    dry = run("forget", str(safe), "--keep-last", "1", "--dry-run").output
    assert f"forget {first}" in dry and "would forget 1 of 2" in dry
    run("forget", str(safe), code=2)  # neither points nor a policy
    out = run("forget", str(safe), "--keep-last", "1", "--prune").output
    assert "forgot 1 of 2" in out and "1 removed" in out
    assert len(run("list", str(safe)).output.splitlines()) == 1
    assert "0 removed" in run("prune", str(safe), "--max-unused", "0%").output
    for name in (safe / "index").iterdir():
        name.unlink()
    r = run("verify", str(safe), code=3)
    assert "damaged:" in r.output and "directory unreadable" in r.output  # the root tree
    assert "packs are in no index" in r.output
    assert "indexed" in run("rebuild-index", str(safe)).output
    pack = max((safe / "packs").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    raw = bytearray(pack.read_bytes())
    raw[len(raw) // 2] ^= 1
    pack.write_bytes(bytes(raw))
    r = run("verify", str(safe), "--read-data", code=3)
    assert "damaged:" in r.output and "1 damaged files" in r.output


def test_maintenance_commands_refuse_cleanly(run, tmp_path: Path) -> None:
    safe, src = tmp_path / "safe", tmp_path / "src"
    os.makedirs(src)
    write(os.fsencode(src / "f"), os.urandom(100_000))
    run("init", str(safe))
    run("backup", str(safe), str(src))
    run("backup", str(safe), str(src))

    def contents() -> dict:
        return {p.relative_to(safe): p.read_bytes() for p in safe.rglob("*")
                if p.is_file() and p.relative_to(safe).parts[0] != "locks"}

    before = contents()
    wrong = {"BACKUPRUN_DISKSAFE_PASSWORD": "wrong"}
    for args in (["verify", str(safe)], ["prune", str(safe)], ["rebuild-index", str(safe)],
                 ["forget", str(safe), "--keep-last", "1"]):
        assert "wrong password" in run(*args, code=12, env=wrong).output
    assert "no disk safe" in run("prune", str(tmp_path / "nothing"), code=10).output
    from backuprun.disksafe.repository import Repository
    from backuprun.storage.local import LocalStorage

    repo = Repository.open(LocalStorage(safe), PW.encode())
    with repo.lock(True, "backup"):  # a backup is running
        for args in (["prune", str(safe)], ["forget", str(safe), "--keep-last", "1"],
                     ["rebuild-index", str(safe)], ["verify", str(safe)]):
            r = run(*args, code=11)
            assert "locked" in r.output and "backup" in r.output, args
    assert contents() == before
    assert not list((safe / "locks").iterdir())
    assert len(run("list", str(safe)).output.splitlines()) == 2
