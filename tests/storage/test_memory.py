"""MemoryStorage beyond the shared suite: reopening by URL."""

from __future__ import annotations

from backuprun.storage import open_storage
from backuprun.storage.memory import MemoryStorage


def test_url_reopens_the_live_store() -> None:
    storage = MemoryStorage()
    storage.save("config", b"cfg")
    again = open_storage(storage.url)
    assert again is storage


def test_named_url_makes_a_store_then_finds_it() -> None:
    first = open_storage("memory://named-for-test")
    first.save("x", b"1")
    assert open_storage("memory://named-for-test").load("x") == b"1"


def test_stores_apart() -> None:
    assert MemoryStorage().url != MemoryStorage().url
