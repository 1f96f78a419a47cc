#!/usr/bin/env python3
"""Portal load benchmark: a cheap authenticated call, alone and while clients log in.

    .venv/bin/python bench/api_load.py [--seconds 5] [--rounds 3] [--cheap-clients 4]
                                       [--login-clients 50] [--workers N] [--database-url URL]
                                       [--ignore-retry-after]

Starts ``backuprun serve`` on a free port with a throwaway data folder (production Argon2
settings unless BACKUPRUN_ARGON2_* say otherwise), then measures, with asyncio + httpx:
  1. alone: ``--cheap-clients`` clients, each logged in, calling ``updateUserData`` with no
     fields (a session lookup and a no-op update) in a loop;
  2. under login load: the same, while ``--login-clients`` clients log in in a loop (right
     password, a new session each time). A login answered ``server_busy`` waits its
     ``Retry-After``, as a well-behaved client does (``--ignore-retry-after``: retries at once).
Phases alternate (alone, loaded, alone, ...) ``--rounds`` times, and the figures are the
medians, so that other work on the machine weighs on both alike.
Prints requests per second of each kind and the cheap calls' share kept (issue 9's target:
at least 70%). A benchmark, not a test: nothing fails on timings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 1234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, data_dir: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [str(Path(sys.executable).with_name("backuprun")), "serve", "--port", str(port),
               "--data-dir", data_dir] + (["--workers", str(args.workers)] if args.workers > 1
                                          else [])
    env = {**os.environ, "BACKUPRUN_REGISTER_MAX_PER_ADDRESS": "100000"}
    if args.database_url:
        command += ["--database-url", args.database_url]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/api.php"
        except OSError:
            if proc.poll() is not None:
                sys.exit("backuprun serve did not start")
            time.sleep(0.1)
    proc.kill()
    sys.exit("backuprun serve did not start in time")


async def call(http: httpx.AsyncClient, url: str, **fields) -> tuple[str, httpx.Response]:
    response = await http.post(url, data=fields)
    code = "ok" if b'<status value="ok">' in response.content else \
        response.content.split(b'code="', 1)[-1].split(b'"', 1)[0].decode()
    return code, response


async def new_client(url: str) -> tuple[httpx.AsyncClient, str]:
    http = httpx.AsyncClient(timeout=120)
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    for name, fields in (("registerNewUser", {"name": "Bench"}), ("login", {})):
        code, _ = await call(http, url, apiCALL=name, email=email, password=PASSWORD, **fields)
        while code == "server_busy":
            await asyncio.sleep(1)
            code, _ = await call(http, url, apiCALL=name, email=email, password=PASSWORD,
                                 **fields)
        assert code == "ok", (name, code)
    return http, email


async def cheap_loop(http, url, stop: float, counts: Counter) -> None:
    while time.monotonic() < stop:
        code, _ = await call(http, url, apiCALL="updateUserData")
        counts["cheap " + code] += 1


async def login_loop(http, url, email, stop: float, counts: Counter, honour: bool) -> None:
    while time.monotonic() < stop:
        code, response = await call(http, url, apiCALL="login", email=email, password=PASSWORD)
        counts["login " + code] += 1
        if code == "server_busy" and honour:
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))


async def phase(url, cheap, logins, seconds: float, honour: bool) -> Counter:
    counts: Counter = Counter()
    stop = time.monotonic() + seconds
    await asyncio.gather(*(cheap_loop(h, url, stop, counts) for h, _ in cheap),
                         *(login_loop(h, url, e, stop, counts, honour) for h, e in logins))
    return counts


async def measure(args, url: str) -> None:
    cheap = [await new_client(url) for _ in range(args.cheap_clients)]
    logins = [await new_client(url) for _ in range(args.login_clients)]
    await phase(url, cheap, [], 1, True)  # warm up
    alone, loaded = [], []
    for _ in range(args.rounds):  # alternating, so that a busier moment of the machine
        alone.append(await phase(url, cheap, [], args.seconds, True))  # hits both alike
        loaded.append(await phase(url, cheap, logins, args.seconds,
                                  not args.ignore_retry_after))
    for http, _ in cheap + logins:
        await http.aclose()
    per_s, loaded_s = rates(alone, args.seconds), rates(loaded, args.seconds)
    kept = loaded_s.get("cheap ok", 0) / max(per_s.get("cheap ok", 0), 1e-9)
    print(f"workers {args.workers}, {args.cheap_clients} cheap clients, {args.rounds} x "
          f"{args.seconds:g} s per phase (medians), CPUs {os.cpu_count()}")
    print(f"alone:       cheap ok {per_s.get('cheap ok', 0):7.1f}/s  " + others(per_s))
    print(f"{args.login_clients} logging in: cheap ok {loaded_s.get('cheap ok', 0):7.1f}/s  "
          f"login ok {loaded_s.get('login ok', 0):6.1f}/s  "
          f"login server_busy {loaded_s.get('login server_busy', 0):6.1f}/s  "
          + others(loaded_s, {"cheap ok", "login ok", "login server_busy"}))
    print(f"cheap calls kept {kept:.0%} of their throughput (target: at least 70%)")


def rates(rounds: list[Counter], seconds: float) -> dict[str, float]:
    """Requests per second of each kind, the median over the rounds."""
    kinds = set().union(*rounds)
    return {k: statistics.median(r[k] for r in rounds) / seconds for k in kinds}


def others(rates: dict, known: set = frozenset({"cheap ok"})) -> str:
    return "  ".join(f"{k} {v:.1f}/s" for k, v in sorted(rates.items()) if k not in known)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5, help="length of one phase")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alone/loaded phase pairs; the figures are their medians")
    parser.add_argument("--cheap-clients", type=int, default=4)
    parser.add_argument("--login-clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", help="default: SQLite in the throwaway folder")
    parser.add_argument("--ignore-retry-after", action="store_true",
                        help="login clients retry a server_busy answer at once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="backuprun-api-load-") as data_dir:
        proc, url = start_server(args, data_dir)
        try:
            asyncio.run(measure(args, url))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
