"""INTERIM stand-in (replaced by the huey-based queue being built on the tasks branch)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


class _Keyed:
    def __init__(self, queue, fn):
        self.queue, self.fn = queue, fn

    def submit(self, key, *args):
        self.queue._pool.submit(self._run, key, *args)

    def _run(self, key, *args):
        with self.queue._locks.setdefault(key, threading.Lock()):
            try:
                self.fn(*args)
            except Exception:  # noqa: BLE001
                import logging
                logging.getLogger(__name__).exception("task %s", key)


class TaskQueue:
    def __init__(self, queue_url, engine, name, lease_ttl=60, **_):
        self._pool = ThreadPoolExecutor(2)
        self._locks = {}

    def keyed_task(self, name, **_):
        return lambda fn: _Keyed(self, fn)

    def periodic(self, seconds, name):
        return lambda fn: fn

    def start_workers(self, n):
        return self

    def stop(self):
        self._pool.shutdown(wait=True)
