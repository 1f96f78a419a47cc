"""A whole system for the client's commands: ``backuprun serve`` (as tests/e2e starts it), an
account with one ready service and its agent, and ``backuprun portal ...`` run as a user would,
in a subprocess whose HOME and session file are the test's own.

- ``world`` (module): the system, the account's e-mail, the service and the agent's root (a
  small tree, :func:`make_tree`).
- ``portal_cli`` (module): runs ``backuprun portal ARGS`` logged in as that account.
- :func:`run_portal` runs it with any session file and environment.
"""

from __future__ import annotations

import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import BACKUPRUN, Client, Service, System, start_system
from tests.portal.conftest import PASSWORD

BIG = random.Random(1167).randbytes(3 * 1024 * 1024)  # the same in every import


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def make_tree(root: Path) -> None:
    write(root / "etc/hosts", b"127.0.0.1 localhost\n")
    write(root / "home/u/big.bin", BIG)
    write(root / "home/u/empty", b"")
    os.symlink("big.bin", root / "home/u/link")
    write(root / "tmp/scratch", b"not backed up")


@dataclass
class Done:
    """A finished ``backuprun portal`` run."""

    code: int
    raw: bytes
    err: str

    @property
    def out(self) -> str:
        return self.raw.decode()

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error: ")]


def run_portal(*args: str | Path, session: Path | None, home: Path, stdin: str = "",
               env: dict | None = None, cwd: Path | None = None) -> Done:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("BACKUPRUN_") and k != "XDG_CONFIG_HOME"}
    environ["HOME"] = str(home)
    if session is not None:
        environ["BACKUPRUN_SESSION"] = str(session)
    environ.update(env or {})
    p = subprocess.run([BACKUPRUN, "portal", *map(str, args)], input=stdin.encode(),
                       capture_output=True, env=environ, cwd=cwd or home, timeout=180)
    err = p.stderr.decode()
    assert "Traceback" not in err, err
    return Done(p.returncode, p.stdout, err)


@dataclass
class World:
    system: System
    client: Client
    email: str
    service: Service
    root: Path
    home: Path

    @property
    def portal_url(self) -> str:
        return self.system.url.removesuffix("/api.php")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client")
    system = start_system(tmp)
    client = Client(system.url)
    try:
        email = client.register()
        service = system.add_service(client)
        root = tmp / "root"
        make_tree(root)
        system.start_agent(service, root)
        home = tmp / "home"
        home.mkdir()
        yield World(system, client, email, service, root, home)
    finally:
        client.close()
        system.stop()


@pytest.fixture(scope="module")
def portal_cli(world):
    """``backuprun portal ARGS`` logged in (``--password-stdin``) with a session of its own."""
    session = world.home / "logged-in.json"
    done = run_portal("login", world.portal_url, "--email", world.email, "--password-stdin",
                      session=session, home=world.home, stdin=PASSWORD + "\n")
    assert done.code == 0, done.err

    def run(*args: str | Path, **kwargs) -> Done:
        return run_portal(*args, session=session, home=world.home, **kwargs)
    return run
