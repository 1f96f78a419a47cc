"""Retention policies: which recovery points forget keeps."""

from __future__ import annotations

import os
import time

import pytest

from backuprun.disksafe.archiver import backup
from backuprun.disksafe.errors import PointNotFound
from backuprun.disksafe.forget import Policy, forget, parse_duration, plan
from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.disksafe.repository import Repository
from tests.disksafe.treeutil import write

HOUR = 3600.0
DAY = 24 * HOUR


def _points(times: list[float], source: bytes = b"/srv", host: str = "h") -> list[RecoveryPoint]:
    return [RecoveryPoint(f"{source.hex()}{i:04d}", t, t, host, source, b"t") for i, t in enumerate(times)]


def _kept(decisions) -> list[float]:
    return sorted(d.point.time for d in decisions if d.keep)


# Noon local time on 2026-03-02 (a Monday), so day and week buckets are easy to read.
BASE = time.mktime((2026, 3, 2, 12, 0, 0, 0, 0, -1))


def test_keep_last() -> None:
    pts = _points([BASE + i for i in range(5)])
    assert _kept(plan(pts, Policy(last=2))) == [BASE + 3, BASE + 4]


def test_keep_daily_takes_the_newest_of_each_day() -> None:
    times = [BASE - d * DAY + h * HOUR for d in range(5) for h in (0, 3)]
    assert _kept(plan(_points(times), Policy(daily=3))) == [
        BASE - 2 * DAY + 3 * HOUR, BASE - DAY + 3 * HOUR, BASE + 3 * HOUR]


def test_weekly_monthly_yearly_and_union_of_rules() -> None:
    times = [BASE - d * DAY for d in range(0, 400, 1)]
    kept = _kept(plan(_points(times), Policy(weekly=2, monthly=2, yearly=2)))
    weekly = {BASE, BASE - 1 * DAY}  # Monday this week; Sunday ends last ISO week
    monthly = {BASE, BASE - 2 * DAY}  # 2 March; 28 February
    newest_2025 = time.mktime((2025, 12, 31, 12, 0, 0, 0, 0, -1))
    assert set(kept) == weekly | monthly | {newest_2025}


def test_keep_within_and_groups() -> None:
    a = _points([BASE - 3 * DAY, BASE - DAY, BASE], source=b"/a")
    b = _points([BASE - 10 * DAY], source=b"/b")  # its own group: its newest is itself
    decisions = plan(a + b, Policy(within=2 * DAY))
    assert _kept(decisions) == [BASE - 10 * DAY, BASE - DAY, BASE]


def test_named_points_go_and_empty_policy_keeps_the_rest() -> None:
    pts = _points([BASE, BASE + 1, BASE + 2])
    decisions = plan(pts, Policy(), ids=[pts[1]])
    assert [d.keep for d in decisions] == [True, False, True]
    assert decisions[1].reasons == ["named"]


def test_parse_duration() -> None:
    assert parse_duration("36h") == 36 * HOUR
    assert parse_duration("2w3d") == 17 * DAY
    for bad in ("", "3", "h", "3x", "3d junk", "-1d"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    with pytest.raises(ValueError):
        Policy(last=-1)


def test_forget_removes_only_point_objects(repo: Repository, source: bytes) -> None:
    write(os.path.join(source, b"f"), b"x" * 1000)
    points = [backup(repo, source, None)[0] for _ in range(3)]
    before = {n for n in repo.storage.list("") if not n.startswith("points/")}
    with pytest.raises(ValueError):
        forget(repo)  # neither ids nor a policy: refuses rather than guess
    dry = forget(repo, policy=Policy(last=1), dry_run=True)
    assert [d.keep for d in dry] == [False, False, True]
    assert len(repo.point_names()) == 3
    forget(repo, [points[0].id[:10]])
    assert [p.id for p in repo.points()] == [p.id for p in points[1:]]
    forget(repo, policy=Policy(last=1))
    assert [p.id for p in repo.points()] == [points[2].id]
    assert {n for n in repo.storage.list("") if not n.startswith("points/")} == before
    with pytest.raises(PointNotFound):
        forget(repo, ["feedbeef"])
