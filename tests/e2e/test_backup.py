"""A tree backed up through a real agent, changed, backed up again, and the status calls
telling what happened."""

from __future__ import annotations

import io
import json
import os
import tarfile
from datetime import datetime, timedelta

import httpx
import pytest

from tests.e2e.conftest import start_system, write



def test_backup_through_the_agent_and_status(system, tmp_path):
    client, service, root, _ = system.protected(tmp_path)

    task_id = service.run_backup()
    task = service.wait_task(task_id)
    assert task["state"] == "FINISHED", service.messages(task_id)
    keys = service.keys(task_id)
    assert keys[0] == "Messages.Main.connecting-to-agent-at-port"
    assert "Messages.Main.agent-key-pinned" in keys
    assert "Messages.Main.recovery-point-created" in keys
    assert keys[-1] == "Errors.Main.task-finished"
    status = service.status()
    assert status["status"] == "1" and status["running"] == "0"
    assert status["first_backup_try"] == "1" and status["startup_ok"] == "1"
    assert status["status_min_ok"] == "1" and status["ostype"] == "Linux"
    assert int(status["disk_usage"]) > 0
    assert status["task"]["taskstate"] == "FINISHED"
    history = json.loads(status["alert_history"])
    assert history[0]["taskExecutionContextId"] == task_id

    # the service's own read-only view on its backup server (serverurl) shows it too
    with httpx.Client(verify=False, timeout=30, follow_redirects=True) as browser:
        login = browser.post(status["serverurl"], data={"username": status["username"],
                                                        "password": status["password"]})
        assert login.status_code == 200, login.text
        assert task["recoveryPointId"] in login.text and "FINISHED" in login.text

    # changed, and backed up again: only the change travels
    write(os.path.join(root, "etc/hosts"), b"127.0.0.1 localhost changed\n")
    second = service.run_backup()
    task2 = service.wait_task(second)
    assert task2["state"] == "FINISHED", service.messages(second)
    assert task2["bytes_added"] < 1024 * 1024
    assert task["bytes_read"] > 3 * 1024 * 1024  # the first backup read everything...
    assert 0 < task2["bytes_read"] < 1024  # ...the second only the changed file

    # timezoneOffset shifts the times answered (120: two hours behind UTC)
    def times(offset: int) -> list[datetime]:
        answer = client.call("getTaskDetailById", taskExecutionContextId=second,
                             timezoneOffset=offset).ok()
        return [datetime.strptime(m.get("messagetime"), "%Y-%m-%d %H:%M:%S")
                for m in answer.root.find("task")]
    assert [a - b for a, b in zip(times(0), times(120))] == [timedelta(hours=2)] * len(times(0))


def test_a_rerun_reads_the_parent_trees_from_the_agents_copy(system, tmp_path):
    """The agent keeps its last backup's trees; a damaged copy only costs round trips."""
    client, service, root, agent = system.protected(tmp_path)
    log = system.tmp / f"agent-{system.agents.index(agent)}.log"

    def trees_said() -> str:
        return [line for line in log.read_text().splitlines() if "parent trees:" in line][-1]

    first = service.wait_task(service.run_backup())
    assert first["state"] == "FINISHED"
    assert trees_said().endswith("0 from the agent's cache, 0 from the backup server")
    write(os.path.join(root, "home/u/notes.txt"), b"changed\n")
    second = service.wait_task(service.run_backup())
    assert second["state"] == "FINISHED"
    assert trees_said().endswith("from the agent's cache, 0 from the backup server")
    assert not trees_said().endswith(" 0 from the agent's cache, 0 from the backup server")

    (cache,) = (agent.data_dir / "tree-cache").iterdir()
    cache.write_bytes(b"damaged" * 1000)
    write(os.path.join(root, "etc/hosts"), b"127.0.0.1 localhost again\n")
    third = service.wait_task(service.run_backup())
    assert third["state"] == "FINISHED", service.messages(third["taskExecutionContextId"])
    assert trees_said().endswith(" 0 from the agent's cache, 4 from the backup server")
    response = client.http.post(client.url, data={
        "apiCALL": "downloadFiles", "service_id": service.wire_id,
        "recoverypoint_id": third["recoveryPointId"], "path[]": "/", "format": "tar"})
    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        for name in ("etc/hosts", "home/u/notes.txt", "home/u/big.bin"):
            assert archive.extractfile(name).read() == (root / name).read_bytes()


def test_restore_through_the_agent_and_download(system, tmp_path):
    client, service, root, _ = system.protected(tmp_path, "multipart", encrypt=True)
    with open(root / "home/u/disk.img", "wb") as sparse:  # 24 MiB, 200 KiB of it data
        sparse.write(os.urandom(100 * 1024))
        sparse.seek(20 * 1024 * 1024)
        sparse.write(os.urandom(100 * 1024))
        sparse.truncate(24 * 1024 * 1024)
    task = service.wait_task(service.run_backup())
    assert task["state"] == "FINISHED", service.messages(task["taskExecutionContextId"])

    points = client.call("getRecoveryPoints", service_id=service.wire_id).ok()
    (point,) = points.root.findall("recoverypoint")
    assert point.get("taskexecutioncontextid") == task["taskExecutionContextId"]
    listing = client.call("browseRecoveryPoint", service_id=service.wire_id,
                          recoverypoint_id=point.get("id"), path="/").ok()
    names = {e.get("name"): e.attrib for e in listing.root.findall("entry")}
    assert set(names) == {"etc", "home"}, names  # /tmp and /proc are left out
    assert names["etc"]["type"] == "dir"
    home = client.call("browseRecoveryPoint", service_id=service.wire_id,
                        recoverypoint_id=point.get("id"), path="/home/u").ok()
    link = [e.attrib for e in home.root.findall("entry") if e.get("name") == "link"]
    assert link == [{**link[0], "type": "symlink", "target": "big.bin"}]

    answer = client.call("restoreFiles", service_id=service.wire_id,
                         recoverypoint_id=point.get("id"), target="/restored",
                         overwrite=0, **{"path[0]": "/home", "path[1]": "/etc/hosts"}).ok()
    restore_id = answer.root.find("task").get("taskexecutioncontextid")
    done = service.wait_task(restore_id)
    assert done["state"] == "FINISHED", service.messages(restore_id)
    assert (root / "restored/home/u/big.bin").read_bytes() == \
        (root / "home/u/big.bin").read_bytes()
    assert (root / "restored/etc/hosts").read_bytes() == (root / "etc/hosts").read_bytes()
    assert os.readlink(root / "restored/home/u/link") == "big.bin"
    restored = root / "restored/home/u/disk.img"
    assert restored.read_bytes() == (root / "home/u/disk.img").read_bytes()
    assert os.stat(restored).st_blocks * 512 < 2 * 1024 * 1024  # its holes came back
    src, out = os.stat(root / "home/u/big.bin"), os.stat(root / "restored/home/u/big.bin")
    assert (src.st_mode, src.st_mtime_ns) == (out.st_mode, out.st_mtime_ns)

    # downloaded as tar: the same bytes and times
    response = client.http.post(client.url, data={
        "apiCALL": "downloadFiles", "service_id": service.wire_id,
        "recoverypoint_id": point.get("id"), "path[]": "/home/u", "format": "tar"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        member = archive.getmember("home/u/big.bin")
        assert archive.extractfile(member).read() == (root / "home/u/big.bin").read_bytes()
        assert int(member.mtime) == int(src.st_mtime)
    bad = client.call("downloadFiles", service_id=service.wire_id,
                      recoverypoint_id=point.get("id"), **{"path[]": "/nope"})
    bad.fails("path_not_found")


@pytest.mark.postgres
def test_backup_and_restore_on_postgresql(postgres_database, tmp_path):
    system = start_system(tmp_path / "pg", env={"BACKUPRUN_DATABASE_URL": postgres_database})
    try:
        client, service, root, _ = system.protected(tmp_path)
        task = service.wait_task(service.run_backup())
        assert task["state"] == "FINISHED", service.messages(task["taskExecutionContextId"])
        answer = client.call("restoreFiles", service_id=service.wire_id,
                             recoverypoint_id=task["recoveryPointId"], target="/back",
                             **{"path[]": "/etc/hosts"}).ok()
        restore_id = answer.root.find("task").get("taskexecutioncontextid")
        assert service.wait_task(restore_id)["state"] == "FINISHED"
        assert (root / "back/etc/hosts").read_bytes() == (root / "etc/hosts").read_bytes()
        assert service.status()["status"] == "1"
    finally:
        system.stop()


def test_two_services_of_one_location_back_up_at_once(system, tmp_path):
    _, first, _, _ = system.protected(tmp_path / "a")
    _, second, _, _ = system.protected(tmp_path / "b")
    ids = first.run_backup(), second.run_backup()
    assert first.wait_task(ids[0])["state"] == "FINISHED"
    assert second.wait_task(ids[1])["state"] == "FINISHED"


def test_what_clients_read_back(system, tmp_path):
    """getLocations, getStatus's encrypt, getTaskDetailById's task attributes, getPolicy's
    next run."""
    client, service, _, _ = system.protected(tmp_path, encrypt=True)
    locations = client.call("getLocations").ok().root.findall("location")
    assert [(loc.get("id"), loc.get("special")) for loc in locations] == \
        [("527", "0"), ("528", "0"), ("529", "0"), ("530", "0")]
    (agent,) = [a for a in client.call("getStatus").ok().root.iter("agent")
                if a.get("service_id") == service.wire_id]
    assert agent.get("encrypt") == "1"
    task_id = service.run_backup()
    service.wait_task(task_id)
    task = client.call("getTaskDetailById", taskExecutionContextId=task_id).ok().root.find("task")
    assert (task.get("taskexecutioncontextid"), task.get("type"), task.get("taskstate"),
            task.get("service_id")) == (task_id, "backup", "FINISHED", service.wire_id)
    policy = client.call("getPolicy", service_id=service.wire_id).ok().root.find("policy")
    assert policy.get("schedule") == "daily" and policy.get("next_run")
    policy = client.call("setPolicy", service_id=service.wire_id,
                         schedule="manual").ok().root.find("policy")
    assert policy.get("next_run") == ""


def test_careless_and_hostile_input_gets_a_clear_error(system, tmp_path):
    client, service, _, _ = system.protected(tmp_path)
    task = service.wait_task(service.run_backup())
    point = task["recoveryPointId"]
    sid = service.wire_id
    calls = [
        (("getBackupStatus", {"service_id": sid, "timezoneOffset": "abc"}), "invalid_field"),
        (("getBackupStatus", {"service_id": "S999999"}), "service_not_found"),
        (("getTaskDetailById", {"taskExecutionContextId": "x" * 65}), "task_not_found"),
        (("getTaskDetailById", {"taskExecutionContextId": "' OR 1=1 --"}), "task_not_found"),
        (("browseRecoveryPoint", {"service_id": sid, "recoverypoint_id": "nope"}),
         "recovery_point_not_found"),
        (("browseRecoveryPoint", {"service_id": sid, "recoverypoint_id": point[:8]}),
         "recovery_point_not_found"),
        (("browseRecoveryPoint", {"service_id": sid, "recoverypoint_id": point,
                                  "path": "/etc/hosts"}), "not_a_folder"),
        (("browseRecoveryPoint", {"service_id": sid, "recoverypoint_id": point,
                                  "path": "/a\x00b"}), "invalid_path"),
        (("restoreFiles", {"service_id": sid, "recoverypoint_id": point}), "missing_field"),
        (("restoreFiles", {"service_id": sid, "recoverypoint_id": point,
                           "path[]": [f"/p{i}" for i in range(65)]}), "invalid_field"),
        (("restoreFiles", {"service_id": sid, "recoverypoint_id": point, "path[]": "/etc",
                           "overwrite": "yes"}), "invalid_field"),
        (("downloadFiles", {"service_id": sid, "recoverypoint_id": point, "path[]": "/etc",
                            "format": "rar"}), "invalid_field"),
        (("setPolicy", {"service_id": sid, "schedule": "every 0s"}), "invalid_schedule"),
        (("setPolicy", {"service_id": sid, "schedule": "sometimes"}), "invalid_schedule"),
        (("setPolicy", {"service_id": sid, "keep_last": "-1"}), "invalid_keep_last"),
        (("setPolicy", {"service_id": sid, "keep_last": "0"}), "invalid_keep_last"),
        (("setPolicy", {"service_id": sid, "exclude[]": ["/x"] * 65}), "invalid_excludes"),
    ]
    for (name, fields), code in calls:
        client.call(name, **fields).fails(code)
    policy = client.call("getPolicy", service_id=sid).ok().root.find("policy")
    assert (policy.get("schedule"), policy.get("keep_last")) == ("daily", "7")  # unchanged
    # another account learns nothing of this one's tasks, points or files
    stranger = system.client()
    task_id = task["taskExecutionContextId"]
    stranger.call("getTaskDetailById", taskExecutionContextId=task_id).fails("task_not_found")
    stranger.call("getRecoveryPoints", service_id=sid).fails("service_not_found")
    stranger.call("downloadFiles", service_id=sid, recoverypoint_id=point,
                  **{"path[]": "/etc"}).fails("service_not_found")
    stranger.call("restoreFiles", service_id=sid, recoverypoint_id=point,
                  **{"path[]": "/etc"}).fails("service_not_found")
    stranger.call("runPolicy", service_id=sid).fails("service_not_found")
