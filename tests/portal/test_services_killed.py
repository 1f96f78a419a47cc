"""Killing ``backuprun serve`` in the middle of a provisioning walk, then starting it again:
the walk completes once, each step done exactly once, and the disk safe opens."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
from contextlib import closing
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from backuprun.disksafe.repository import Repository
from backuprun.storage import open_storage
from ports import free_location_port_base

from .conftest import PASSWORD, Answer, unique_email
from .test_serve import free_port, serve_command

pytestmark = pytest.mark.slow


def start_serve(data: Path, port: int, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([*serve_command(), "--port", str(port), "--data-dir", str(data)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.05)


def create_status(http: httpx.Client, url: str, number: str) -> int:
    answer = Answer(http.post(url, data={"apiCALL": "getStatus"})).ok()
    agent = answer.root.find(f"account/agent[@id='{number}']")
    return int(agent.get("create_status"))


def test_walk_completes_once_after_a_kill(tmp_path):
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}/api.php"
    env = {**os.environ, "BACKUPRUN_ARGON2_MEMORY_KIB": "256", "BACKUPRUN_ARGON2_TIME_COST": "1",
           "BACKUPRUN_ARGON2_PARALLELISM": "1", "BACKUPRUN_PROVISIONING_LEASE_SECONDS": "2",
           "BACKUPRUN_LOCATION_HTTPS_PORT_BASE": str(free_location_port_base()),
           "BACKUPRUN_TEST_WALK_PAUSE": "0.4"}
    env.pop("BACKUPRUN_DATABASE_URL", None)
    proc = start_serve(data, port, env)
    try:
        with httpx.Client(timeout=30) as http:
            email = unique_email()
            Answer(http.post(url, data={"apiCALL": "registerNewUser", "email": email,
                                        "name": "k", "password": PASSWORD})).ok()
            Answer(http.post(url, data={"apiCALL": "login", "email": email,
                                        "password": PASSWORD})).ok()
            added = Answer(http.post(url, data={
                "apiCALL": "addService", "type": "SERVER", "location": "528", "name": "k",
                "agent": "192.0.2.1", "encrypt": "1", "password": PASSWORD})).ok()
            number = added.root.find("agent").get("id")
            deadline = time.monotonic() + 30
            while create_status(http, url, number) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            stopped_at = _walked(data, number)
            assert stopped_at < 5, "the walk ended before the kill: make the pause longer"

            proc = start_serve(data, port, env)
            deadline = time.monotonic() + 60
            while create_status(http, url, number) != 10:
                assert time.monotonic() < deadline, "the walk did not complete"
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    with closing(sqlite3.connect(data / "backuprun.db")) as db:
        steps = [row[0] for row in db.execute(
            "SELECT what FROM bs_walk_steps WHERE service_id = ? ORDER BY id", (number,))]
        products = {table: db.execute(f"SELECT count(*) FROM {table} WHERE service_id = ?",
                                      (number,)).fetchone()[0]
                    for table in ("bs_volumes", "bs_users", "bs_agents", "bs_disksafes",
                                  "bs_policies")}
    assert steps == ["volume", "user", "agent", "disksafe", "policy", "ready"]
    assert set(products.values()) == {1}
    safe = data / "locations" / "528" / "disksafes" / f"service-{number}"
    Repository.open(open_storage(str(safe)), PASSWORD.encode())


def _walked(data: Path, number: str) -> int:
    with closing(sqlite3.connect(data / "backuprun.db")) as db:
        return db.execute("SELECT walked FROM bs_services WHERE service_id = ?",
                          (number,)).fetchone()[0]
