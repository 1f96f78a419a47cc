"""What goes wrong, and how it ends: the agent down, an agent that does not trust us, an
impostor, an agent killed mid-backup. Each ends in a clear state; the next backup succeeds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.conftest import make_tree, start_system, wait_for, write


def severe(service, task_id: str) -> list[dict]:
    return [m for m in service.messages(task_id) if m["messagelevel"] == "SEVERE"]


def test_agent_down_then_up(system, tmp_path):
    client = system.client()
    service = system.add_service(client)
    task_id = service.run_backup()
    task = service.wait_task(task_id)
    assert task["state"] == "ERROR"
    (failed,) = severe(service, task_id)
    assert failed["messagekey"] == "Errors.Main.connecting-to-agent-at-port-failed"
    assert json.loads(failed["messagekeyparameters"]) == ["127.0.0.1", str(service.port),
                                                          "Connection refused"]
    assert failed["messagestring"] == (f"Connecting to agent 127.0.0.1 at port {service.port} "
                                       "failed: Connection refused")
    assert service.keys(task_id)[-1] == "Errors.Main.task-finished"
    status = service.status()
    assert (status["status"], status["n_alerts"], status["startup_ok"]) == ("3", "1000", "0")

    root = tmp_path / "root"
    make_tree(root)
    system.start_agent(service, root)
    assert service.wait_task(service.run_backup())["state"] == "FINISHED"
    assert service.status()["status"] == "1"


def test_an_agent_that_does_not_trust_the_server(system, tmp_path):
    client = system.client()
    service = system.add_service(client)
    (tmp_path / "root").mkdir()
    system.start_agent(service, tmp_path / "root", trust=False)
    task_id = service.run_backup()
    assert service.wait_task(task_id)["state"] == "ERROR"
    (failed,) = severe(service, task_id)
    assert failed["messagekey"] == "Errors.Main.agent-does-not-trust-server"
    assert service.server_url in failed["messagestring"]


def test_an_impostor_is_refused_until_the_owner_resets_the_pin(system, tmp_path):
    client, service, root, first = system.protected(tmp_path)
    assert service.wait_task(service.run_backup())["state"] == "FINISHED"
    first.stop()
    system.start_agent(service, root, data_dir=tmp_path / "another-agent")  # a new key
    task_id = service.run_backup()
    assert service.wait_task(task_id)["state"] == "ERROR"
    (failed,) = severe(service, task_id)
    assert failed["messagekey"] == "Errors.Main.agent-key-mismatch"
    # the owner says the agent was reinstalled: activateAgent resets the pin
    client.call("activateAgent", **{"agent-id": service.number}, name="e2e",
                agent="127.0.0.1", agent_port=service.port, location=528).ok()
    wait_for("the change", lambda: service.status()["create_status"] == "10")
    again = service.run_backup()
    assert service.wait_task(again)["state"] == "FINISHED", service.messages(again)
    assert "Messages.Main.agent-key-pinned" in service.keys(again)


def test_a_second_run_policy_does_not_start_a_duplicate(system, tmp_path):
    _, service, _, _ = system.protected(tmp_path)
    first, second = service.run_backup(), service.run_backup()
    assert first == second
    assert service.wait_task(first)["state"] == "FINISHED"
    with ThreadPoolExecutor(8) as pool:  # a burst at once: still one backup
        burst = set(pool.map(lambda _: service.run_backup(), range(8)))
    assert len(burst) == 1 and first not in burst
    assert service.wait_task(burst.pop())["state"] == "FINISHED"


@pytest.mark.slow
def test_agent_killed_mid_backup(system, tmp_path):
    client, service, root, agent = system.protected(tmp_path)
    assert service.wait_task(service.run_backup())["state"] == "FINISHED"
    for i in range(48):  # enough that the backup is surely still running when it stops
        write(os.path.join(root, f"data/{i}.bin"), os.urandom(4 * 1024 * 1024))
    task_id = service.run_backup()
    wait_for("the backup to run",
             lambda: "Messages.Main.backup-started" in service.keys(task_id), every=0.02)
    agent.process.send_signal(signal.SIGSTOP)
    assert service.status()["task"]["taskstate"] == "RUNNING", service.messages(task_id)
    agent.process.kill()
    agent.process.wait()
    task = service.wait_task(task_id)
    assert task["state"] == "ERROR", service.messages(task_id)
    assert [m["messagekey"] for m in severe(service, task_id)] == \
        ["Errors.Main.connection-to-agent-lost"], service.messages(task_id)
    points = client.call("getRecoveryPoints", service_id=service.wire_id).ok()
    assert len(points.root.findall("recoverypoint")) == 1  # no half recovery point

    system.start_agent(service, root, data_dir=agent.data_dir)
    third = service.run_backup()
    assert service.wait_task(third)["state"] == "FINISHED", service.messages(third)
    points = client.call("getRecoveryPoints", service_id=service.wire_id).ok()
    assert len(points.root.findall("recoverypoint")) == 2


def test_a_failed_backup_mails_the_owner_once(system, tmp_path):
    client = system.client()
    client.call("updateUserData", notify=1, notify_email="alerts@example.com").ok()
    service = system.add_service(client)
    task_id = service.run_backup()  # no agent: ERROR
    assert service.wait_task(task_id)["state"] == "ERROR"
    outbox = system.tmp / "data" / "outbox"

    def mailed():
        found = [p for p in outbox.glob("*.eml") if task_id in p.read_text()]
        return found or None
    (mail,) = wait_for("the mail", mailed)
    text = mail.read_text()
    assert "To: alerts@example.com" in text
    assert f"Backup failed: e2e ({service.wire_id})" in text
    assert "Connection refused" in text


@pytest.mark.slow
def test_terminating_the_service_cancels_its_backup(system, tmp_path):
    client, service, root, agent = system.protected(tmp_path)
    for i in range(8):
        write(os.path.join(root, f"data/{i}.bin"), os.urandom(4 * 1024 * 1024))
    task_id = service.run_backup()
    wait_for("the backup to run",
             lambda: "Messages.Main.backup-started" in service.keys(task_id), every=0.02)
    agent.process.send_signal(signal.SIGSTOP)  # a backup that is surely still running
    try:
        client.call("editService", service_action="terminate", service_type="custom",
                    sc_id=service.number).ok()
        task = service.wait_task(task_id)
    finally:
        agent.process.send_signal(signal.SIGCONT)
    assert task["state"] == "CANCELLED", service.messages(task_id)
    assert "Messages.Main.task-cancelled" in service.keys(task_id)
    client.call("runPolicy", service_id=service.wire_id).fails("service_terminated")


@pytest.mark.slow
def test_a_restore_asked_for_during_a_backup_waits_for_it(system, tmp_path):
    client, service, root, agent = system.protected(tmp_path)
    first = service.wait_task(service.run_backup())
    for i in range(8):
        write(os.path.join(root, f"data/{i}.bin"), os.urandom(4 * 1024 * 1024))
    backup_id = service.run_backup()
    wait_for("the backup to run",
             lambda: "Messages.Main.backup-started" in service.keys(backup_id), every=0.02)
    agent.process.send_signal(signal.SIGSTOP)  # the backup holds the disk safe, stalled
    try:
        answer = client.call("restoreFiles", service_id=service.wire_id,
                             recoverypoint_id=first["recoveryPointId"], target="/back",
                             **{"path[]": "/etc"}).ok()
        restore_id = answer.root.find("task").get("taskexecutioncontextid")
        wait_for("the restore to wait",
                 lambda: "Messages.Main.waiting-for-disk-safe" in service.keys(restore_id))
    finally:
        agent.process.send_signal(signal.SIGCONT)
    assert service.wait_task(backup_id)["state"] == "FINISHED", service.messages(backup_id)
    assert service.wait_task(restore_id)["state"] == "FINISHED", service.messages(restore_id)
    assert (root / "back/etc/hosts").read_bytes() == (root / "etc/hosts").read_bytes()


@pytest.fixture
def shared_folder():
    """A folder an ordinary user may enter (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="backuprun-e2e-user-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the agent as another user")
def test_an_agent_run_by_an_ordinary_user_backs_up_what_it_can_read(system, shared_folder):
    client = system.client()
    service = system.add_service(client)
    root = shared_folder / "root"
    make_tree(root)
    secret = root / "etc/shadow-like"
    secret.write_bytes(b"root only")
    secret.chmod(0o600)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if path != str(secret) and not os.path.islink(path):
                os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)
    data_dir = shared_folder / "agent"
    data_dir.mkdir()
    system.start_agent(service, root, data_dir=data_dir, user="nobody")
    task_id = service.run_backup()
    task = service.wait_task(task_id)
    assert task["state"] == "FINISHED" and task["warnings"] == 1, service.messages(task_id)
    (warning,) = [m for m in service.messages(task_id) if m["messagelevel"] == "WARNING"]
    assert warning["messagesource"] == "AGENT" and "shadow-like" in warning["messagestring"]
    status = service.status()
    assert (status["status"], status["n_alerts"]) == ("2", "1")
    listing = client.call("browseRecoveryPoint", service_id=service.wire_id,
                          recoverypoint_id=task["recoveryPointId"], path="/etc").ok()
    assert [e.get("name") for e in listing.root.findall("entry")] == ["hosts"]


def test_a_restore_gives_back_what_is_whole_when_some_data_is_damaged(tmp_path):
    system = start_system(tmp_path / "system")
    try:
        client = system.client()
        service = system.add_service(client)
        root = tmp_path / "root"
        write(root / "old/big.bin", os.urandom(3 * 1024 * 1024))  # streamed in pieces
        write(root / "old/small.bin", os.urandom(100 * 1024))  # sent in a batch
        system.start_agent(service, root)
        assert service.wait_task(service.run_backup())["state"] == "FINISHED"
        (data_pack,) = [p for p in (tmp_path / "system/data").rglob("packs/*/*")
                        if p.stat().st_size > 2 * 1024 * 1024]
        write(root / "new/a.txt", b"whole" * 1000)
        write(root / "new/b.txt", b"also whole")
        point = service.wait_task(service.run_backup())["recoveryPointId"]
        damaged = bytearray(data_pack.read_bytes())
        for offset in range(100, len(damaged) - 8192, 32 * 1024):  # every blob, not the trailer
            damaged[offset] ^= 0xFF
        data_pack.write_bytes(bytes(damaged))

        answer = client.call("restoreFiles", service_id=service.wire_id, recoverypoint_id=point,
                             target="/back", overwrite=1, **{"path[]": "/"}).ok()
        task_id = answer.root.find("task").get("taskexecutioncontextid")
        task = service.wait_task(task_id)
        assert task["state"] == "FINISHED"
        bad = [json.loads(m["messagekeyparameters"])[0] for m in severe(service, task_id)
               if m["messagekey"] == "Errors.Main.file-damaged"]
        assert sorted(bad) == ["/old/big.bin", "/old/small.bin"]
        assert task["errors"] == 2
        back = root / "back"
        assert (back / "new/a.txt").read_bytes() == b"whole" * 1000
        assert (back / "new/b.txt").read_bytes() == b"also whole"
        assert sorted(os.listdir(back / "old")) == []  # nothing half-written left behind
    finally:
        system.stop()
