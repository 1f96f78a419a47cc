"""Every recovery point gives back its tree byte for byte and by metadata: through the
agent and as a download, encrypted and not, on a local folder and on S3. Also the schedule,
retention, the killed backup server, and who may restore what."""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile

import pytest

from tests.disksafe.treeutil import describe
from tests.e2e.conftest import PASSWORD, Client, make_tree, start_system, wait_for, write


def comparable(tree: dict, xattrs: bool = True) -> dict:
    """What a restore must give back: bytes, modes, times, owners (everything runs as one
    user here), links, and extended attributes (not in a tar that ``tarfile`` extracts)."""
    return {path: {k: v for k, v in d.items() if xattrs or k != "xattrs"}
            for path, d in tree.items()}


def assert_same(got: dict, want: dict, slack_ns: int = 0, xattrs: bool = True) -> None:
    """``got`` as ``want``; with ``slack_ns`` (a tar extracted by ``tarfile``, which reads
    times as floats and leaves symbolic links' times alone) mtimes may differ that much."""
    got, want = comparable(got, xattrs), comparable(want, xattrs)
    assert got.keys() == want.keys()
    for path, d in want.items():
        g = dict(got[path])
        if slack_ns:
            if d["type"] == 0o120000:
                g["mtime"] = d["mtime"]
            elif abs(g["mtime"] - d["mtime"]) <= slack_ns:
                g["mtime"] = d["mtime"]
        assert g == d, path


def restore_all(client, service, point_id: str, target: str) -> None:
    answer = client.call("restoreFiles", service_id=service.wire_id, recoverypoint_id=point_id,
                         target=target, overwrite=1, **{"path[]": "/"}).ok()
    task_id = answer.root.find("task").get("taskexecutioncontextid")
    assert service.wait_task(task_id)["state"] == "FINISHED", service.messages(task_id)


def downloaded(client, service, point_id: str, tmp_path, name: str) -> dict:
    response = client.http.post(client.url, data={
        "apiCALL": "downloadFiles", "service_id": service.wire_id,
        "recoverypoint_id": point_id, "path[]": "/", "format": "tar"})
    assert response.status_code == 200, response.text
    out = tmp_path / name
    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        archive.extractall(out, filter="fully_trusted")
    return describe(os.fsencode(out))


def points_of(client, service) -> list[str]:
    answer = client.call("getRecoveryPoints", service_id=service.wire_id).ok()
    return [p.get("id") for p in answer.root.findall("recoverypoint")]


def roundtrip(system, tmp_path, encrypt: bool) -> None:
    client, service, root, _ = system.protected(tmp_path, encrypt=encrypt)
    os.chmod(root / "etc/hosts", 0o640)
    client.call("setPolicy", service_id=service.wire_id,
                **{"exclude[]": ["/restored", "/restored2"]}).ok()
    before = describe(os.fsencode(root))
    assert service.wait_task(service.run_backup())["state"] == "FINISHED"
    write(os.path.join(root, "home/u/new"), b"added later")
    os.remove(root / "etc/hosts")
    after = describe(os.fsencode(root))
    assert service.wait_task(service.run_backup())["state"] == "FINISHED"
    second, first = points_of(client, service)
    expected = {first: before, second: after}
    for point_id, tree in expected.items():
        shown = {p: d for p, d in tree.items() if not p.startswith((b"tmp", b"proc"))}
        restore_all(client, service, point_id, f"/restored-{point_id[:6]}")
        assert_same(describe(os.fsencode(root / f"restored-{point_id[:6]}")), shown)
        assert_same(downloaded(client, service, point_id, tmp_path, point_id), shown,
                    slack_ns=2000, xattrs=False)


def test_roundtrip_local(system, tmp_path):
    roundtrip(system, tmp_path, encrypt=False)


@pytest.mark.slow
def test_roundtrip_encrypted(system, tmp_path):
    roundtrip(system, tmp_path, encrypt=True)


@pytest.mark.s3
@pytest.mark.slow
def test_roundtrip_on_s3(s3_server, tmp_path):
    config = f'[locations.528]\nstorage = "s3://{s3_server.bucket}/e2e-{os.getpid()}"\n'
    s3 = start_system(tmp_path, env=s3_server.env(), config=config)
    try:
        roundtrip(s3, tmp_path, encrypt=True)
    finally:
        s3.stop()


@pytest.mark.slow
def test_the_schedule_fires_and_retention_removes_the_oldest(system, tmp_path):
    client, service, root, _ = system.protected(tmp_path)
    policy = client.call("setPolicy", service_id=service.wire_id, schedule="every 2s",
                         keep_last=2).ok().root.find("policy")
    assert (policy.get("schedule"), policy.get("keep_last")) == ("every 2s", "2")
    first = service.wait_task(service.run_backup())
    assert first["state"] == "FINISHED"

    def scheduled():
        status = service.status()
        tasks = [t for t in json.loads(status["alert_history"])
                 if t["scheduled"] and t["state"] == "FINISHED"]
        return len(tasks) >= 2
    wait_for("two scheduled backups", scheduled)
    client.call("setPolicy", service_id=service.wire_id, schedule="manual").ok()
    wait_for("the last one to end", lambda: service.status()["running"] == "0")
    kept = points_of(client, service)
    assert len(kept) == 2
    assert first["recoveryPointId"] not in kept
    assert first["recoveryPointId"]


@pytest.mark.slow
def test_backup_server_killed_mid_backup(tmp_path):
    system = start_system(tmp_path / "a", env={"BACKUPRUN_PROVISIONING_LEASE_SECONDS": "2"})
    try:
        client = system.client()
        service = system.add_service(client)
        root = tmp_path / "root"
        make_tree(root)
        for i in range(48):
            write(os.path.join(root, f"data/{i}.bin"), os.urandom(4 * 1024 * 1024))
        agent = system.start_agent(service, root)
        task_id = service.run_backup()
        wait_for("the backup to run",
                 lambda: "Messages.Main.backup-started" in service.keys(task_id), every=0.02)
        system.proc.send_signal(signal.SIGKILL)
        system.proc.wait()
        agent.stop()
    finally:
        system.stop()
    again = start_system(tmp_path / "a", env={"BACKUPRUN_PROVISIONING_LEASE_SECONDS": "2"})
    try:
        client2 = Client(again.url)
        client2.call("login", email=client.email, password=PASSWORD).ok()
        service.client = client2
        task = service.wait_task(task_id)
        assert task["state"] == "ERROR"
        assert "Errors.Main.task-interrupted" in service.keys(task_id)
        assert points_of(client2, service) == []
        again.start_agent(service, root, trust=None, data_dir=agent.data_dir)
        assert service.wait_task(service.run_backup())["state"] == "FINISHED"
        assert len(points_of(client2, service)) == 1
    finally:
        again.stop()


def test_a_subuser_restores_only_what_is_assigned(system, tmp_path):
    owner = system.client()
    mine = system.add_service(owner)
    other = system.add_service(owner)
    root = tmp_path / "root"
    make_tree(root)
    system.start_agent(mine, root)
    task = mine.wait_task(mine.run_backup())
    point_id = task["recoveryPointId"]
    contact = owner.call("addContact", email=(email := f"sub-{os.getpid()}-{id(owner)}@e.com"),
                         name="Sub", password="correct horse battery", role=4).ok()
    sub_id = contact.root.find("contact").get("id")
    owner.call("editService", service_action="set_subuser", service_type="custom",
               sc_id=mine.number, subuser_id=sub_id).ok()
    sub = Client(system.url)
    sub.call("login", email=email, password="correct horse battery").ok()
    ok = sub.call("restoreFiles", service_id=mine.wire_id, recoverypoint_id=point_id,
                  target="/by-sub", **{"path[]": "/etc"}).ok()
    task_id = ok.root.find("task").get("taskexecutioncontextid")
    mine.client = sub
    assert mine.wait_task(task_id)["state"] == "FINISHED"
    assert (root / "by-sub/etc/hosts").read_bytes() == (root / "etc/hosts").read_bytes()
    sub.call("restoreFiles", service_id=other.wire_id, recoverypoint_id=point_id,
             **{"path[]": "/etc"}).fails("service_not_found")
    sub.call("getRecoveryPoints", service_id=other.wire_id).fails("service_not_found")
    sub.call("setPolicy", service_id=mine.wire_id, keep_last=3).fails("not_allowed")
    # paths cannot escape the point nor the agent's root
    sub.call("restoreFiles", service_id=mine.wire_id, recoverypoint_id=point_id,
             target="/../outside", **{"path[]": "/etc"}).fails("invalid_path")
    sub.call("restoreFiles", service_id=mine.wire_id, recoverypoint_id=point_id,
             **{"path[]": "/../etc"}).fails("invalid_path")
    sub.call("getTaskDetailById", taskExecutionContextId=task["taskExecutionContextId"]).ok()
    # nor can a symbolic link under the root lead the agent's writes out of it
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "outlink")
    answer = sub.call("restoreFiles", service_id=mine.wire_id, recoverypoint_id=point_id,
                      target="/outlink", **{"path[]": "/etc"}).ok()
    escaped = mine.wait_task(answer.root.find("task").get("taskexecutioncontextid"))
    assert escaped["state"] == "FINISHED" and escaped["warnings"] >= 1
    assert list(outside.iterdir()) == []
