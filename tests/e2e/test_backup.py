"""A tree backed up through a real agent, changed, backed up again, and the status calls
telling what happened."""

from __future__ import annotations

import json
import os



def write(path, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def make_tree(root) -> None:
    write(os.path.join(root, "etc/hosts"), b"127.0.0.1 localhost\n")
    write(os.path.join(root, "home/u/big.bin"), os.urandom(3 * 1024 * 1024))
    write(os.path.join(root, "home/u/empty"), b"")
    os.symlink("big.bin", os.path.join(root, "home/u/link"))
    write(os.path.join(root, "tmp/scratch"), b"not backed up")
    write(os.path.join(root, "proc/1/status"), b"not backed up either")


def test_backup_through_the_agent_and_status(system, tmp_path):
    client = system.client()
    service = system.add_service(client)
    root = tmp_path / "root"
    make_tree(root)
    system.start_agent(service, root)

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

    # changed, and backed up again: only the change travels
    write(os.path.join(root, "etc/hosts"), b"127.0.0.1 localhost changed\n")
    second = service.run_backup()
    task2 = service.wait_task(second)
    assert task2["state"] == "FINISHED", service.messages(second)
    assert task2["bytes_added"] < 1024 * 1024
