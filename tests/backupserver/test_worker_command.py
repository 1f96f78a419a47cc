"""``backuprun worker`` runs the walks that a process without workers handed to the queue,
and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from backuprun.backupserver.client import ServiceSpec
from backuprun.backupserver.host import BackupServerHost
from backuprun.backupserver.locations import load_locations
from backuprun.config import Settings
from backuprun.schema import migrate_sync
from backuprun.sqlutil import make_sync_engine


def test_worker_runs_queued_walks(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_sync_engine(settings.sync_database_url)
    migrate_sync(engine)
    engine.dispose()
    host = BackupServerHost(settings, [load_locations(settings)[527]])  # no workers here
    server = host.servers[527]
    try:
        for number in (1, 2):
            server.provision(ServiceSpec(number, f"s{number}", "192.0.2.1", 1167, False))
        assert {s.create_status for s in server.states([1, 2]).values()} == {0}
        env = {k: v for k, v in os.environ.items() if not k.startswith("BACKUPRUN_")}
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("backuprun")), "worker", "--location", "527",
             "--data-dir", str(settings.data_dir)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            while {s.create_status for s in server.states([1, 2]).values()} != {10}:
                assert worker.poll() is None, worker.stdout.read()
                assert time.monotonic() < deadline, "the worker did not run the walks"
                time.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=60)[0]
        assert worker.returncode == 0, output
        assert "Traceback" not in output
    finally:
        host.stop()


def test_commands_on_a_database_that_is_down_say_so_in_one_line(tmp_path):
    url = "postgresql+psycopg://someone:s3cret@127.0.0.1:1/nothing"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKUPRUN_")}
    script = str(Path(sys.executable).with_name("backuprun"))
    for command in (["worker"], ["admin", "accounts"],
                    ["backup-server", "--location", "528", "--portal-cert", __file__]):
        done = subprocess.run([script, *command, "--data-dir", str(tmp_path / "d"),
                               "--database-url", url], capture_output=True, text=True,
                              timeout=60, env=env)
        assert done.returncode == 4, (command, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (command, done.stderr)
        assert "cannot use the database" in done.stderr and "s3cret" not in done.stderr
