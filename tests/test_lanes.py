"""``backuprun.lanes``: short synchronous work runs on a few threads, never more at once."""

from __future__ import annotations

import asyncio
import threading
import time

from backuprun.lanes import Lane, threads_for


def test_a_lane_runs_at_most_its_threads_at_once():
    lock = threading.Lock()
    running, peak, threads = 0, 0, set()

    def work(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.get_ident())
        time.sleep(0.02)
        with lock:
            running -= 1
        return n * 2

    async def main():
        lane = Lane(2)
        return await asyncio.gather(*(lane.run(work, n) for n in range(12)))

    assert asyncio.run(main()) == [n * 2 for n in range(12)]
    assert peak == 2
    assert threading.get_ident() not in threads


def test_a_database_across_the_network_gets_more_threads_than_sqlite():
    # a PostgreSQL read mostly waits with the interpreter lock released; a SQLite one holds it
    assert threads_for("sqlite+aiosqlite:///x.db") == 2
    assert threads_for("postgresql+psycopg://u@db/backuprun") > 2
