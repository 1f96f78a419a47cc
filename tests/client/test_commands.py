"""``backuprun portal ...`` against a real system: log in, list, back up through the agent,
restore, download, and fail the documented way."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import zipfile

import pytest

from backuprun.client.exitcodes import (API_ERROR, LOGIN_FAILED, NOT_LOGGED_IN, TASK_ERROR,
                                        UNREACHABLE, USAGE)
from tests.client.conftest import BIG, run_portal
from tests.e2e.conftest import free_port
from tests.portal.conftest import PASSWORD


@pytest.fixture(scope="module")
def backed_up(world, portal_cli):
    """A backup made with ``backup SERVICE_ID`` (waiting for it)."""
    done = portal_cli("backup", world.service.wire_id)
    assert done.code == 0, done.err
    return done


def test_login_with_a_wrong_password(world, tmp_path):
    session = tmp_path / "session.json"
    done = run_portal("login", world.portal_url, "--email", world.email, "--password-stdin",
                      session=session, home=tmp_path, stdin="not the password\n")
    assert done.code == LOGIN_FAILED
    assert done.err.splitlines() == done.error_lines
    assert done.error_lines[0].startswith("error: wrong_credentials: ")
    assert not session.exists()


def test_login_keeps_a_private_session_and_logout_ends_it(world, tmp_path):
    env = {"BACKUPRUN_PASSWORD": PASSWORD}
    done = run_portal("login", world.system.url, "--email", world.email, session=None,
                      home=tmp_path, env=env)
    assert done.code == 0, done.err
    path = tmp_path / ".config/backuprun/session.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())
    assert saved["url"] == world.system.url and saved["email"] == world.email
    assert PASSWORD not in path.read_text()
    before_logout = path.read_text()

    assert run_portal("services", session=None, home=tmp_path).code == 0
    done = run_portal("logout", session=None, home=tmp_path)
    assert done.code == 0, done.err
    assert not path.exists()
    done = run_portal("services", session=None, home=tmp_path)
    assert done.code == NOT_LOGGED_IN and done.error_lines[0].startswith("error: not logged in")

    # a session the portal ended (here: logged out) is told apart from none at all
    stale = tmp_path / "stale.json"
    stale.write_text(before_logout)
    done = run_portal("services", session=stale, home=tmp_path)
    assert done.code == NOT_LOGGED_IN
    assert "ended this session" in done.error_lines[0]
    assert run_portal("logout", session=tmp_path / "none.json", home=tmp_path).code == 0


def test_services_table_and_json(world, portal_cli):
    done = portal_cli("services")
    assert done.code == 0, done.err
    header, *rows = done.out.splitlines()
    assert header.split()[:3] == ["SERVICE", "NAME", "AGENT"]
    (row,) = [r for r in rows if r.startswith(world.service.wire_id + " ")]
    assert f"127.0.0.1:{world.service.port}" in row and "Los Angeles" in row
    assert "10 ready" in row

    done = portal_cli("services", "--json")
    (found,) = [s for s in json.loads(done.out) if s["service_id"] == world.service.wire_id]
    assert found["create_status"] == 10 and found["port"] == world.service.port
    assert isinstance(found["alert_history"], list) and found["server"]["https_port"] > 0


def test_backup_waits_for_the_task(world, portal_cli, backed_up):
    (line,) = backed_up.out.splitlines()
    assert line.startswith("backup ") and " FINISHED: " in line
    assert backed_up.err == ""  # off a terminal: no progress bar, nothing to warn about

    started = portal_cli("backup", world.service.wire_id, "--no-wait")
    assert started.code == 0, started.err
    task_id = started.out.strip()
    assert len(task_id) >= 32
    done = portal_cli("backup", world.service.wire_id, "--json")
    assert done.code == 0, done.err
    task = json.loads(done.out)
    assert task["state"] == "FINISHED" and task["type"] == "backup"
    assert task["files"] >= 3 and task["messages"] == []

    listed = json.loads(portal_cli("services", "--json").out)
    (service,) = [s for s in listed if s["service_id"] == world.service.wire_id]
    history = {t["taskExecutionContextId"]: t["state"] for t in service["alert_history"]}
    assert history[task_id] in ("RUNNING", "FINISHED")  # its own, or waited for by --json
    assert service["status"] == 1 and service["disk_usage"] > len(BIG) // 2


def test_points_and_ls(world, portal_cli, backed_up):
    points = json.loads(portal_cli("points", world.service.wire_id, "--json").out)
    assert points and points[0]["files"] >= 3 and points[0]["bytes"] >= len(BIG)
    assert points[0]["created"].endswith("+00:00")
    newest = points[0]["id"]
    table = portal_cli("points", world.service.wire_id).out.splitlines()
    assert table[0].startswith("RECOVERY POINT") and table[1].startswith(newest)

    done = portal_cli("ls", world.service.wire_id, "latest")
    assert done.code == 0, done.err
    names = [line.split()[-1] for line in done.out.splitlines()]
    assert names == ["etc/", "home/"]  # /tmp is left out

    done = portal_cli("ls", world.service.wire_id, newest[:10], "/home/u", "--json")
    entries = {e["name"]: e for e in json.loads(done.out)}
    assert entries["big.bin"]["type"] == "file" and entries["big.bin"]["size"] == len(BIG)
    assert entries["link"]["type"] == "symlink" and entries["empty"]["size"] == 0


def test_restore_to_a_target(world, portal_cli, backed_up):
    args = ("restore", world.service.wire_id, "latest", "/home", "/etc/hosts",
            "--target", "/restored")
    done = portal_cli(*args)
    assert done.code == 0, done.err
    assert " FINISHED: " in done.out
    out = world.root / "restored"
    assert (out / "home/u/big.bin").read_bytes() == BIG
    assert (out / "etc/hosts").read_bytes() == (world.root / "etc/hosts").read_bytes()
    assert os.readlink(out / "home/u/link") == "big.bin"

    # again, without --overwrite: the files in the way are named, the task still finishes
    (out / "etc/hosts").write_bytes(b"changed here")
    done = portal_cli(*args)
    assert done.code == 0, done.err
    assert any(line.startswith("warning: ") for line in done.err.splitlines())
    assert (out / "etc/hosts").read_bytes() == b"changed here"
    done = portal_cli(*args, "--overwrite", "--json")
    assert done.code == 0 and json.loads(done.out)["state"] == "FINISHED"
    assert (out / "etc/hosts").read_bytes() == (world.root / "etc/hosts").read_bytes()


def test_download_tar_and_zip(world, portal_cli, backed_up, tmp_path):
    sid = world.service.wire_id
    done = portal_cli("download", sid, "latest", "/home/u", "/etc/hosts",
                      "-o", tmp_path / "a.tar")
    assert done.code == 0, done.err
    with tarfile.open(tmp_path / "a.tar") as archive:
        assert archive.extractfile("home/u/big.bin").read() == BIG
        assert archive.extractfile("etc/hosts").read() == b"127.0.0.1 localhost\n"
        assert archive.getmember("home/u/link").linkname == "big.bin"

    folder = tmp_path / "zips"
    folder.mkdir()
    done = portal_cli("download", sid, "latest", "/home/u", "--format", "zip", "-o", folder)
    assert done.code == 0, done.err
    (made,) = folder.iterdir()
    assert made.name.startswith("recoverypoint-") and made.suffix == ".zip"
    with zipfile.ZipFile(made) as archive:
        assert archive.read("home/u/big.bin") == BIG

    done = portal_cli("download", sid, "latest", "/etc/hosts", "-o", "-", "-q")
    assert done.code == 0, done.err
    with tarfile.open(fileobj=io.BytesIO(done.raw)) as archive:
        assert archive.extractfile("etc/hosts").read() == b"127.0.0.1 localhost\n"


def test_download_error_leaves_no_file(world, portal_cli, backed_up, tmp_path):
    done = portal_cli("download", world.service.wire_id, "latest", "/nope", cwd=tmp_path)
    assert done.code == API_ERROR
    assert done.error_lines[0].startswith("error: path_not_found")
    assert list(tmp_path.iterdir()) == []


def test_errors(world, portal_cli, tmp_path):
    done = portal_cli("points", "S999999")
    assert done.code == API_ERROR
    assert done.error_lines == done.err.splitlines()
    assert done.error_lines[0].startswith("error: service_not_found: ")
    done = portal_cli("ls", world.service.wire_id, "f" * 64)
    assert done.code == API_ERROR and "recovery_point_not_found" in done.err

    done = run_portal("points", world.service.wire_id, session=tmp_path / "none.json",
                      home=tmp_path)
    assert done.code == NOT_LOGGED_IN

    nobody = f"http://127.0.0.1:{free_port()}"
    done = run_portal("login", nobody, "--email", world.email, "--password-stdin",
                      session=tmp_path / "s.json", home=tmp_path, stdin=PASSWORD + "\n")
    assert done.code == UNREACHABLE and done.error_lines[0].startswith("error: cannot reach ")
    done = run_portal("login", "ftp://example.com", "--email", world.email,
                      session=tmp_path / "s.json", home=tmp_path)
    assert done.code == USAGE

    done = portal_cli("download", world.service.wire_id, "latest", "/etc", "--format", "rar")
    assert done.code == USAGE


def test_a_failed_backup_has_its_exit_code(world, portal_cli):
    no_agent = world.system.add_service(world.client)  # nothing listens at its port
    done = portal_cli("backup", no_agent.wire_id)
    assert done.code == TASK_ERROR
    assert any(line.startswith("severe: Connecting to agent") for line in done.err.splitlines())
    assert done.error_lines[-1].startswith("error: the backup ")
    assert done.error_lines[-1].endswith(" ended in ERROR")
