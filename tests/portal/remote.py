"""A location's backup server as its own process (``backuprun backup-server``), for tests that
run the service calls with the portal reaching it over the internal API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from backuprun.portal.fleet import PORTAL_IDENTITY
from backuprun.transport.tls import Identity


@dataclass
class BackupServerProcess:
    proc: subprocess.Popen
    url: str
    cert: Path
    log: Path

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_backup_server(location: int, data_dir: Path, portal_data_dir: Path, storage: Path,
                        port_base: int, env: dict | None = None) -> BackupServerProcess:
    """Start the backup server of ``location`` with its own data folder (and so its own
    SQLite database and task queue), pinning the portal's identity (made here first)."""
    portal = Identity.load_or_create(portal_data_dir / PORTAL_IDENTITY, "backuprun-portal")
    identity = Identity.load_or_create(data_dir / "locations" / str(location) / "identity",
                                       "localhost", ["localhost", "127.0.0.1"])
    config = data_dir / "backup-server.toml"
    config.write_text(f'[locations.{location}]\nstorage = "{storage}"\n')
    port = free_port()
    log = data_dir / "backup-server.log"
    script = Path(sys.executable).with_name("backuprun")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BACKUPRUN_")}
    environ.update({"BACKUPRUN_LOCATION_HTTPS_PORT_BASE": str(port_base), **(env or {})})
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(script), "backup-server", "--location", str(location), "--listen",
             f"127.0.0.1:{port}", "--data-dir", str(data_dir), "--config", str(config),
             "--portal-cert", str(portal.cert_path)],
            env=environ, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(log.read_text())
            time.sleep(0.05)
    return BackupServerProcess(proc, f"https://127.0.0.1:{port}", identity.cert_path, log)
