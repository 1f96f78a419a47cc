"""Open disk safes kept between tasks (:mod:`backuprun.backupserver.safes`)."""

from __future__ import annotations

from backuprun.backupserver.safes import OpenSafes


class FakeSafe:
    def __init__(self, blobs: int):
        self.index = range(blobs)  # only its size matters here
        self.refreshed = 0

    def refresh_index(self) -> None:
        self.refreshed += 1


def test_an_open_safe_is_reused_and_brought_up_to_date():
    safes = OpenSafes()
    first = safes.get("a", lambda: FakeSafe(10), fresh_index=True)
    again = safes.get("a", lambda: FakeSafe(10), fresh_index=True)
    assert again is first and first.refreshed == 1
    safes.get("a", lambda: FakeSafe(10), fresh_index=False)
    assert first.refreshed == 1
    assert safes.get("b", lambda: FakeSafe(10), fresh_index=True) is not first


def test_the_least_recently_used_go_first_by_count_and_by_blobs():
    safes = OpenSafes(capacity=2, max_blobs=100)
    a = safes.get("a", lambda: FakeSafe(10), True)
    safes.get("b", lambda: FakeSafe(10), True)
    safes.get("a", lambda: FakeSafe(10), True)
    safes.get("c", lambda: FakeSafe(10), True)  # b was used least recently
    assert safes.get("a", lambda: FakeSafe(10), True) is a
    opened = []
    safes.get("b", lambda: opened.append(1) or FakeSafe(10), True)
    assert opened == [1]
    big = safes.get("big", lambda: FakeSafe(500), True)  # more than all may hold: not kept
    assert safes.get("big", lambda: FakeSafe(500), True) is not big
