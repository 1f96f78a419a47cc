"""Locks stored in the safe itself, so they work on every backend.

A lock is ``locks/<32 hex>``: ``header(T_LOCK) | msgpack {host, pid, exclusive, purpose,
created, heartbeat, expires}`` (times in Unix seconds). Rules:

- An **exclusive** lock (backup, passwd, forget, prune, gc) conflicts with every other lock;
  a **shared** lock (list, ls, restore, verify) conflicts only with exclusive ones.
- Acquire: drop stale locks, check for conflicts, write ours, then list again; if a
  conflicting lock appeared meanwhile we remove ours and fail (both contenders may fail;
  neither can wrongly win).
- A holder rewrites its lock every ``REFRESH`` seconds. A lock is stale when its
  ``expires`` has passed, or when it was written on this host by a pid that is gone.
  Stale locks are removed by whoever finds them.
- A holder that finds its lock gone (taken over as stale) must not commit: ``check()``.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time

import msgpack

from backuprun.disksafe.errors import DamagedData, SafeLocked
from backuprun.disksafe.format import HEADER_SIZE, LOCKS_PREFIX, T_LOCK, header, parse_header
from backuprun.storage import NotFound, Storage

REFRESH = 60.0
STALE_AFTER = 300.0


def encode_lock(info: dict) -> bytes:
    return header(T_LOCK, 0) + msgpack.packb(info)


def decode_lock(data: bytes, name: str) -> dict:
    parse_header(data, T_LOCK, name)
    try:
        return msgpack.unpackb(data[HEADER_SIZE:])
    except Exception as exc:  # noqa: BLE001
        raise DamagedData(f"{name}: does not parse: {exc}") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(info: dict, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    if info.get("expires", 0) < now:
        return True
    return info.get("host") == socket.gethostname() and not _pid_alive(int(info.get("pid", 0)))


def describe(info: dict) -> str:
    kind = "exclusive" if info.get("exclusive") else "shared"
    age = time.time() - info.get("heartbeat", 0)
    return (f"{kind} lock for {info.get('purpose', '?')} by pid {info.get('pid')} on "
            f"{info.get('host')} (last heartbeat {age:.0f} s ago)")


class Lock:
    """One lock on one safe; use as a context manager."""

    def __init__(self, storage: Storage, exclusive: bool, purpose: str,
                 stale_after: float = STALE_AFTER, refresh: float = REFRESH) -> None:
        self.storage = storage
        self.exclusive = exclusive
        self.purpose = purpose
        self.stale_after = stale_after
        self.refresh = refresh
        self.name = LOCKS_PREFIX + secrets.token_hex(16)
        self._created = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None

    def _info(self) -> dict:
        now = time.time()
        return {"host": socket.gethostname(), "pid": os.getpid(), "exclusive": self.exclusive,
                "purpose": self.purpose, "created": self._created, "heartbeat": now,
                "expires": now + self.stale_after}

    def _conflicts(self, remove_stale: bool) -> list[str]:
        found = []
        for name in list(self.storage.list(LOCKS_PREFIX)):
            if name == self.name:
                continue
            try:
                info = decode_lock(self.storage.load(name), name)
            except NotFound:
                continue
            except DamagedData:
                found.append(f"{name} (unreadable; remove it if no process uses the safe)")
                continue
            if is_stale(info):
                if remove_stale:
                    try:
                        self.storage.remove(name)
                    except NotFound:
                        pass
                continue
            if self.exclusive or info.get("exclusive"):
                found.append(describe(info))
        return found

    def acquire(self) -> Lock:
        conflicts = self._conflicts(remove_stale=True)
        if conflicts:
            raise SafeLocked("disk safe is locked: " + "; ".join(conflicts))
        self.storage.save(self.name, encode_lock(self._info()))
        conflicts = self._conflicts(remove_stale=False)
        if conflicts:
            self._remove()
            raise SafeLocked("disk safe is locked: " + "; ".join(conflicts))
        self._thread = threading.Thread(target=self._heartbeat, name="disksafe-lock",
                                        daemon=True)
        self._thread.start()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.refresh):
            try:
                if not self.storage.exists(self.name):
                    self.lost = "our lock was removed by another process"
                    return
                self.storage.save(self.name, encode_lock(self._info()), overwrite=True)
            except Exception as exc:  # noqa: BLE001 - reported through check()
                self.lost = f"lock refresh failed: {exc}"
                return

    def check(self) -> None:
        """Raise ``SafeLocked`` if the lock was lost; call before committing."""
        if self.lost is None and not self.storage.exists(self.name):
            self.lost = "our lock was removed by another process"
        if self.lost:
            raise SafeLocked(self.lost)

    def _remove(self) -> None:
        try:
            self.storage.remove(self.name)
        except NotFound:
            pass

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._remove()

    def __enter__(self) -> Lock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
