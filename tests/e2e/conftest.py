"""The whole product as a user runs it: ``backuprun serve`` (portal and backup servers, one
process), agents (``backuprun agent run``), and a client speaking ``api.php``."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ports import free_location_port_base
from tests.agent.conftest import Agent, run_backuprun
from tests.portal.conftest import PASSWORD, Answer, unique_email

BACKUPRUN = str(Path(sys.executable).parent / "backuprun")
FINAL = ("FINISHED", "ERROR", "CANCELLED")
DEADLINE = 120  # seconds: a deadline for something broken, never a timing assertion
FAST_ARGON2 = {"BACKUPRUN_ARGON2_MEMORY_KIB": "256", "BACKUPRUN_ARGON2_TIME_COST": "1",
               "BACKUPRUN_ARGON2_PARALLELISM": "1"}


def write(path, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def make_tree(root) -> None:
    """A small server's tree: a config file, a big file, an empty one, a symbolic and a hard
    link, and what a whole-server backup leaves out (``/tmp``, ``/proc``)."""
    write(os.path.join(root, "etc/hosts"), b"127.0.0.1 localhost\n")
    write(os.path.join(root, "home/u/big.bin"), os.urandom(3 * 1024 * 1024))
    write(os.path.join(root, "home/u/empty"), b"")
    os.symlink("big.bin", os.path.join(root, "home/u/link"))
    write(os.path.join(root, "home/u/notes.txt"), b"one file, two names\n")
    os.setxattr(os.path.join(root, "home/u/notes.txt"), "user.origin", b"e2e")
    os.link(os.path.join(root, "home/u/notes.txt"), os.path.join(root, "home/notes-link.txt"))
    write(os.path.join(root, "tmp/scratch"), b"not backed up")
    write(os.path.join(root, "proc/1/status"), b"not backed up either")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, deadline: float = DEADLINE, every: float = 0.2):
    end = time.monotonic() + deadline
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(every)


class Client:
    """A logged-in account speaking ``api.php`` (urlencoded or multipart)."""

    def __init__(self, url: str, encoding: str = "urlencoded"):
        self.url, self.encoding = url, encoding
        self.http = httpx.Client(timeout=60)

    def call(self, api_call: str, **fields) -> Answer:
        data = {"apiCALL": api_call}
        for name, value in fields.items():
            data[name] = value if isinstance(value, list) else str(value)
        if self.encoding == "multipart":
            files = [(k, (None, v)) for k, vs in data.items()
                     for v in (vs if isinstance(vs, list) else [vs])]
            return Answer(self.http.post(self.url, files=files))
        return Answer(self.http.post(self.url, data=data))

    def register(self) -> str:
        email = unique_email()
        self.call("registerNewUser", email=email, name="E2E", password=PASSWORD,
                  language="en").ok()
        self.call("login", email=email, password=PASSWORD).ok()
        self.email = email
        return email

    def close(self) -> None:
        self.http.close()


@dataclass
class Service:
    client: Client
    wire_id: str
    number: int
    port: int
    server_url: str  # https://SERVERIP:HTTPS_PORT, what `agent trust` takes

    def status(self) -> dict:
        answer = self.client.call("getBackupStatus", service_id=self.wire_id).ok()
        agent = answer.root.find("agent")
        task = agent.find("task")
        return {**agent.attrib, "task": task.attrib}

    def run_backup(self) -> str:
        answer = self.client.call("runPolicy", service_id=self.wire_id).ok()
        return answer.root.find("task").get("taskexecutioncontextid")

    def wait_task(self, task_id: str) -> dict:
        def done():
            status = self.status()
            history = {t["taskExecutionContextId"]: t for t in
                       json.loads(status["alert_history"])}
            task = history.get(task_id)
            return task if task and task["state"] in FINAL else None
        return wait_for(f"task {task_id}", done)

    def messages(self, task_id: str) -> list[dict]:
        answer = self.client.call("getTaskDetailById", taskExecutionContextId=task_id).ok()
        return [m.attrib for m in answer.root.find("task")]

    def keys(self, task_id: str) -> list[str]:
        return [m["messagekey"] for m in self.messages(task_id)]


@dataclass
class System:
    tmp: Path
    url: str
    proc: subprocess.Popen
    log: Path
    agents: list = field(default_factory=list)

    def client(self, encoding: str = "urlencoded") -> Client:
        client = Client(self.url, encoding)
        client.register()
        return client

    def add_service(self, client: Client, encrypt: bool = False, location: int = 528,
                    port: int | None = None) -> Service:
        port = port or free_port()
        fields = dict(type=1, location=location, name="e2e", agent="127.0.0.1",
                      agent_port=port, encrypt=int(encrypt))
        if encrypt:
            fields["password"] = "disk safe password 1"
        agent = client.call("addService", **fields).ok().root.find("agent")
        wire_id, number = agent.get("service_id"), int(agent.get("id"))

        def ready():
            status = client.call("getStatus").ok()
            for a in status.root.iter("agent"):
                if a.get("id") == str(number) and a.get("create_status") == "10":
                    return a
            return None
        found = wait_for("the service to be ready", ready)
        server = found.find("server")
        return Service(client, wire_id, number, port,
                       f"https://{found.get('serverip')}:{server.get('https_port')}")

    def protected(self, tmp: Path, encoding: str = "urlencoded", encrypt: bool = False):
        """A new account with a ready service whose agent serves a fresh :func:`make_tree`
        under ``tmp/root``: ``(client, service, root, agent)``."""
        client = self.client(encoding)
        service = self.add_service(client, encrypt=encrypt)
        root = tmp / "root"
        make_tree(root)
        return client, service, root, self.start_agent(service, root)

    def start_agent(self, service: Service, root: Path, trust: bool | None = True,
                    data_dir: Path | None = None, user: str | None = None) -> Agent:
        """An agent for ``service`` serving ``root``; it trusts the service's backup server
        (``trust``), another one only (False) or as its data folder says already (None).
        With ``user`` (tests run as root) the agent runs as that ordinary user."""
        data_dir = data_dir or self.tmp / f"agent-{service.number}-{len(self.agents)}"
        if trust is None:
            pass
        elif trust:
            done = run_backuprun("agent", "trust", service.server_url, "--data-dir", data_dir)
            assert done.returncode == 0, done.stderr
        else:  # trusts some other server only
            other = self.tmp / "other-server.pem"
            if not other.exists():
                from backuprun.transport.tls import Identity

                ident = Identity.load_or_create(self.tmp / "other-id", "someone else")
                other.write_bytes(ident.cert_path.read_bytes())
            done = run_backuprun("agent", "trust", "--key-file", other, "--data-dir", data_dir)
            assert done.returncode == 0, done.stderr
        log = (self.tmp / f"agent-{len(self.agents)}.log").open("wb")
        as_user = []
        if user is not None:
            shutil.chown(data_dir, user)
            for folder, dirs, files in os.walk(data_dir):
                for name in dirs + files:
                    shutil.chown(os.path.join(folder, name), user)
            gid = pwd.getpwnam(user).pw_gid
            as_user = ["setpriv", f"--reuid={user}", f"--regid={gid}", "--clear-groups"]
        process = subprocess.Popen(
            [*as_user, BACKUPRUN, "agent", "run", "--listen", f"127.0.0.1:{service.port}",
             "--data-dir", str(data_dir), "--root", str(root)],
            stdout=log, stderr=subprocess.STDOUT)
        agent = Agent(process, service.port, data_dir, [])
        self.agents.append(agent)
        wait_for("the agent to listen", lambda: _listening(service.port) or
                 process.poll() is not None)
        assert process.poll() is None, "the agent did not start"
        return agent

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_system(tmp: Path, env: dict | None = None, config: str = "") -> System:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BACKUPRUN_")}
    environ.update(FAST_ARGON2)
    environ.update({"BACKUPRUN_LOCATION_HTTPS_PORT_BASE": str(free_location_port_base()),
                    "BACKUPRUN_SCHEDULE_CHECK_SECONDS": "1", "BACKUPRUN_NOTIFY_CHECK_SECONDS": "1",
                    **(env or {})})
    args = [BACKUPRUN, "serve", "--port", str(port), "--data-dir", str(tmp / "data")]
    if config:
        (tmp / "backuprun.toml").write_text(config)
        args += ["--config", str(tmp / "backuprun.toml")]
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=environ, stdout=out, stderr=subprocess.STDOUT)
    system = System(tmp, f"http://127.0.0.1:{port}/api.php", proc, log)
    try:
        wait_for("the portal", lambda: _listening(port) or proc.poll() is not None, 60)
        assert proc.poll() is None, log.read_text()
    except BaseException:
        system.stop()
        raise
    return system


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    s = start_system(tmp_path_factory.mktemp("e2e"))
    yield s
    s.stop()


@pytest.fixture
def postgres_database(tmp_path):
    """A fresh PostgreSQL schema's URL (dropped afterwards); CI must have PostgreSQL."""
    from tests.portal.conftest import POSTGRES_URL, Databases

    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("BACKUPRUN_TEST_POSTGRES_URL is not set; CI must test PostgreSQL")
        pytest.skip("BACKUPRUN_TEST_POSTGRES_URL is not set")
    databases = Databases("postgresql", tmp_path)
    yield databases.new()
    databases.drop_all()
