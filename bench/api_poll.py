#!/usr/bin/env python3
"""Portal polling benchmark: many logged-in clients polling the status calls, beside the
ceiling of the same server stack answering a fixed document.

    .venv/bin/python bench/api_poll.py [--clients 200] [--seconds 5] [--workers 1]
                                       [--database-url URL] [--services 10,100,1000]
                                       [--every 2] [--while-backing-up MB
                                                    [--separate-workers]]

1. Ceiling: ``bench/fixed_app.py`` (one fixed XML answer) served by uvicorn as ``serve``
   serves the portal (same worker count, access log on), polled by ``--clients`` clients.
2. Polling: ``backuprun serve`` (throwaway data folder; SQLite unless ``--database-url``)
   with one account per ten clients, each with a service (no agent: nothing runs), and
   ``--clients`` clients, each logged in with a session of its own, calling
   ``getBackupStatus`` and ``getStatus`` in turn: back to back (the throughput, against
   the ceiling), then each client both calls once every ``--every`` seconds, as the
   dashboard polls (``POLL_MS``, 2 s): the latency a user sees at that load.
3. ``getStatus`` for one account holding each of ``--services`` services: 30 calls in a row.
Prints requests per second and p50/p99 latency of each kind, and ``getBackupStatus`` as a
share of the ceiling. Issue 12's targets: at least 50% of it, and p99 under 50 ms at 200
clients polling as dashboards do (back to back, every client waits behind the other 199:
there p99 is that queue); ``getStatus`` with 1 000 services under 100 ms. Logins use cheap
Argon2 settings here (this measures polling; bench/api_load.py measures logins). A
benchmark, not a test.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from api_load import PASSWORD, call, free_port, new_client, start_server  # noqa: E402

CHEAP_ARGON2 = {"BACKUPRUN_ARGON2_MEMORY_KIB": "256", "BACKUPRUN_ARGON2_TIME_COST": "1",
                "BACKUPRUN_ARGON2_PARALLELISM": "1"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def summary(name: str, latencies: list[float], errors: int, seconds: float) -> str:
    return (f"{name:<34} {len(latencies) / seconds:8.1f} req/s   p50 "
            f"{percentile(latencies, 0.50) * 1000:6.1f} ms   p99 "
            f"{percentile(latencies, 0.99) * 1000:6.1f} ms   errors {errors}")


async def poll(clients, url: str, seconds: float, calls,
               every: float | None = None) -> dict[str, tuple[list, int]]:
    """Each client makes ``calls(i)``'s requests in turn until ``seconds`` are over: back to
    back, or with ``every``, all of them once every ``every`` seconds, as a dashboard page
    polls (each client starting at a random point of the period)."""
    out: dict[str, tuple[list, list]] = {}
    stop = time.monotonic() + seconds

    async def one(i: int, http: httpx.AsyncClient) -> None:
        turn = 0
        sequence = calls(i)
        due = time.monotonic() + (random.uniform(0, every) if every else 0)
        while time.monotonic() < stop:
            if every and turn % len(sequence) == 0:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                due += every
                if time.monotonic() >= stop:
                    break
            name, fields = sequence[turn % len(sequence)]
            turn += 1
            t0 = time.perf_counter()
            try:
                code, _ = await call(http, url, **fields)
            except httpx.TransportError:  # a kept-alive connection the server closed while
                code = "connection closed"  # idle (uvicorn: 5 s); the next call reconnects
            took = time.perf_counter() - t0
            lat, err = out.setdefault(name, ([], [0]))
            lat.append(took) if code == "ok" else None
            err[0] += code != "ok"

    await asyncio.gather(*(one(i, http) for i, http in enumerate(clients)))
    return {name: (lat, err[0]) for name, (lat, err) in out.items()}


async def ceiling(args) -> dict:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "fixed_app:app", "--app-dir",
                             HERE, "--port", str(port), "--workers", str(args.workers),
                             "--no-server-header"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/api.php"
        clients = [httpx.AsyncClient(timeout=120) for _ in range(args.clients)]
        await poll(clients, url, 1, lambda i: [("fixed", {"apiCALL": "getStatus"})])  # warm
        got = await poll(clients, url, args.seconds,
                         lambda i: [("fixed document", {"apiCALL": "getStatus"})])
        for http in clients:
            await http.aclose()
        return got
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Backups:
    """``--while-backing-up MB``: ``serve`` started as bench/e2e.py starts it, with an agent
    serving a generated tree of MB (bench/gen_tree.py) for a service of its own; while the
    clients poll, that service backs up again and again (the first backup full, the next
    ones unchanged re-runs), so the calls are measured beside a backup's work. With
    ``--separate-workers`` the tasks run in a ``backuprun worker`` process beside ``serve``
    (``task_workers = 0``), as a provider scales out, instead of in the portal's process."""

    def __init__(self, args, data_dir: str):
        sys.path[:0] = [REPO_ROOT, os.path.join(REPO_ROOT, "tests")]
        import gen_tree
        from tests.e2e.conftest import start_system

        root = os.path.join(data_dir, "root")
        gen_tree.generate(os.path.join(root, "tree"), args.while_backing_up)
        env = {**CHEAP_ARGON2, "BACKUPRUN_REGISTER_MAX_PER_ADDRESS": "100000"}
        if args.database_url:
            env["BACKUPRUN_DATABASE_URL"] = args.database_url
        if args.separate_workers:
            env["BACKUPRUN_TASK_WORKERS"] = "0"
        from pathlib import Path
        self.system = start_system(Path(data_dir) / "state", env=env)
        self.worker = None
        if args.separate_workers:  # the same settings as serve's, read off its process
            with open(f"/proc/{self.system.proc.pid}/environ", "rb") as f:
                serve_env = dict(item.decode().split("=", 1)
                                 for item in f.read().split(b"\0") if b"=" in item)
            self.worker = subprocess.Popen(
                [str(Path(sys.executable).with_name("backuprun")), "worker", "--data-dir",
                 str(Path(data_dir) / "state" / "data")], env=serve_env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = self.system.url
        self.client = self.system.client()
        self.service = self.system.add_service(self.client, encrypt=True)
        self.system.start_agent(self.service, Path(root))
        self.done: list[tuple[float, str]] = []  # (seconds, final state) of each backup
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            task_id = self.service.run_backup()
            task = self.service.wait_task(task_id)
            self.done.append((time.monotonic() - t0, task["state"]))
            if task["state"] != "FINISHED":
                severe = [m["messagestring"] for m in self.service.messages(task_id)
                          if m["messagelevel"] == "SEVERE"]
                print(f"backup {task_id} ended {task['state']}: {severe[-3:]}", flush=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        """Let the backup under way end, start no other."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def close(self) -> None:
        self.finish()
        if self.worker is not None:
            self.worker.terminate()
            self.worker.wait(timeout=60)
        self.system.stop()


async def add_service(http, url: str, n: int) -> str:
    code, response = await call(http, url, apiCALL="addService", type=1, location=528,
                                name=f"bench {n}", agent="127.0.0.1", agent_port=9000 + n % 1000,
                                encrypt=0)
    assert code == "ok", (code, response.text[:300])
    return response.text.split('service_id="', 1)[1].split('"', 1)[0]


async def portal(args, url: str, backups: Backups | None = None) -> tuple[dict, dict, dict]:
    accounts = []  # (email, service_id)
    for a in range(max(1, args.clients // 10)):
        http, email = await new_client(url)
        accounts.append((email, await add_service(http, url, a)))
        await http.aclose()
    clients = []
    for i in range(args.clients):
        email, _ = accounts[i % len(accounts)]
        http = httpx.AsyncClient(timeout=120)
        code, _ = await call(http, url, apiCALL="login", email=email,
                             password=PASSWORD)
        assert code == "ok", code
        clients.append(http)

    def calls(i: int):
        sid = accounts[i % len(accounts)][1]
        return [("getBackupStatus", {"apiCALL": "getBackupStatus", "service_id": sid}),
                ("getStatus", {"apiCALL": "getStatus"})]

    await poll(clients, url, 1, calls)  # warm up
    if backups:
        backups.start()
    polled = await poll(clients, url, args.seconds, calls)
    paced = await poll(clients, url, max(args.seconds, 3 * args.every), calls, args.every)
    if backups:
        await asyncio.to_thread(backups.finish)
    for http in clients:
        await http.aclose()

    by_count = {}
    http, _ = await new_client(url)
    have = 0
    for count in args.services:
        while have < count:
            batch = range(have, min(count, have + 20))
            await asyncio.gather(*(add_service(http, url, n) for n in batch))
            have = batch.stop
        latencies = []
        for _ in range(30):
            t0 = time.perf_counter()
            code, _ = await call(http, url, apiCALL="getStatus")
            assert code == "ok", code
            latencies.append(time.perf_counter() - t0)
        by_count[count] = latencies
    await http.aclose()
    return polled, paced, by_count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--database-url", help="default: SQLite in the throwaway folder")
    ap.add_argument("--services", default="10,100,1000")
    ap.add_argument("--while-backing-up", type=int, metavar="MB",
                    help="poll while an agent backs up a generated tree of MB, again and "
                    "again (serve started as bench/e2e.py starts it; one portal process)")
    ap.add_argument("--separate-workers", action="store_true",
                    help="with --while-backing-up: the tasks in a backuprun worker process, "
                    "not in serve's")
    ap.add_argument("--every", type=float, default=2.0,
                    help="the dashboard's polling period, for the paced run (seconds)")
    args = ap.parse_args()
    if args.while_backing_up is not None and args.while_backing_up < 1:
        ap.error("--while-backing-up takes the tree's size in MB, 1 or more")
    if args.every <= 0:
        ap.error("--every takes the polling period in seconds, more than 0")
    if args.separate_workers and not args.while_backing_up:
        ap.error("--separate-workers goes with --while-backing-up")
    args.services = [int(x) for x in args.services.split(",") if x.strip()]
    os.environ.update(CHEAP_ARGON2)
    print(f"{args.clients} clients, {args.seconds:g} s, portal workers {args.workers}, "
          f"database {'PostgreSQL' if args.database_url else 'SQLite'}, CPUs {os.cpu_count()}")
    fixed = asyncio.run(ceiling(args))
    backups = None
    with tempfile.TemporaryDirectory(prefix="backuprun-api-poll-") as data_dir:
        if args.while_backing_up:
            backups = Backups(args, data_dir)
            try:
                polled, paced, by_count = asyncio.run(portal(args, backups.url, backups))
            finally:
                backups.close()
        else:
            proc, url = start_server(args, data_dir)
            try:
                polled, paced, by_count = asyncio.run(portal(args, url))
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    (fixed_lat, fixed_err), = fixed.values()
    print(summary("ceiling (fixed document)", fixed_lat, fixed_err, args.seconds))
    for name, (lat, err) in sorted(polled.items()):
        print(summary(name, lat, err, args.seconds))
    both = sum(len(lat) for lat, _ in polled.values())
    print(f"status calls together: {both / args.seconds:.1f} req/s = "
          f"{both / max(len(fixed_lat), 1):.0%} of the ceiling (target: at least 50%, "
          f"p99 under 50 ms)")
    if backups:
        (first, state), rest = backups.done[0], [sec for sec, _ in backups.done[1:]]
        where = "a worker process" if args.separate_workers else "serve's process"
        print(f"while backing up a {args.while_backing_up} MB tree through an agent "
              f"(tasks in {where}): "
              f"{len(backups.done)} backups, the first (full) {first:.1f} s {state}, then "
              f"{len(rest)} unchanged re-runs of {statistics.median(rest) if rest else 0:.1f} s "
              f"(median), {sum(s != 'FINISHED' for _, s in backups.done)} not FINISHED")
    paced_seconds = max(args.seconds, 3 * args.every)
    print(f"as dashboards poll: each client both calls once every {args.every:g} s "
          f"({2 * args.clients / args.every:.0f} calls/s offered)")
    for name, (lat, err) in sorted(paced.items()):
        print(summary(name, lat, err, paced_seconds))
    for count, lat in by_count.items():
        print(f"getStatus, one account with {count:>5} services:  p50 "
              f"{percentile(lat, 0.5) * 1000:6.1f} ms   p99 {percentile(lat, 0.99) * 1000:6.1f} ms"
              f"   (target at 1000: under 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
