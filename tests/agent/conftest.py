"""Fixtures for the agent: identities, the real ``backuprun`` command, a running agent.

- ``ids``: identities ``server`` and ``other_server`` (two backup servers) under ``tmp_path``.
- ``backuprun(*args)``: runs ``.venv/bin/backuprun`` (the interpreter's own) and returns the
  completed process (text output).
- ``start_agent(data_dir, root, port=0)``: ``backuprun agent run`` as a subprocess on
  127.0.0.1; returns an :class:`Agent` once it logs where it listens. Every agent started is
  stopped (SIGTERM) after the test.
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from backuprun.transport.tls import Identity

BACKUPRUN = str(Path(sys.executable).parent / "backuprun")
LISTENING = re.compile(r"listening on https://127\.0\.0\.1:(\d+)")
START_SECONDS = 60  # a deadline for a broken start, not a timing assertion


def run_backuprun(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([BACKUPRUN, *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def backuprun():
    return run_backuprun


@pytest.fixture
def ids(tmp_path):
    return {name: Identity.load_or_create(tmp_path / "ids" / name, f"backup server {name}")
            for name in ("server", "other_server")}


@dataclass
class Agent:
    process: subprocess.Popen
    port: int
    data_dir: Path
    lines: list[str]

    @property
    def cert_pem(self) -> bytes:
        return (self.data_dir / "identity" / "cert.pem").read_bytes()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def start_agent():
    started: list[Agent] = []

    def start(data_dir: Path, root: Path, port: int = 0) -> Agent:
        process = subprocess.Popen(
            [BACKUPRUN, "agent", "run", "--listen", f"127.0.0.1:{port}", "--data-dir",
             str(data_dir), "--root", str(root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        found: queue.Queue = queue.Queue()

        def read() -> None:
            for line in process.stderr:
                lines.append(line)
                match = LISTENING.search(line)
                if match:
                    found.put(int(match.group(1)))
            found.put(None)

        threading.Thread(target=read, daemon=True).start()
        agent = Agent(process, 0, data_dir, lines)
        started.append(agent)
        try:
            bound = found.get(timeout=START_SECONDS)
        except queue.Empty:
            bound = None
        if bound is None:
            agent.stop()
            raise AssertionError(f"the agent did not start: {''.join(lines)}")
        agent.port = bound
        return agent

    yield start
    for agent in started:
        agent.stop()
