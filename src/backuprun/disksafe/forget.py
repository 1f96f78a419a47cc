"""Forget recovery points: by id, or by a retention policy. Space comes back with ``prune``.

A policy is applied to each group of points with the same host and source, newest first
(local time):

- ``last=N`` keeps the N newest points;
- ``hourly/daily/weekly/monthly/yearly=N`` keep the newest point of each of the N newest
  hours, days, ISO weeks, months, years that have points;
- ``within=S`` keeps every point less than S seconds older than the group's newest.

A point is kept when any rule keeps it. An empty policy keeps everything: forgetting by
policy never removes a whole group by accident. Forgetting removes only ``points/``
objects, under the exclusive lock; the data they used stays until ``prune``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields

from backuprun.disksafe.format import POINTS_PREFIX
from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.disksafe.repository import Repository

_BUCKETS: dict[str, Callable[[time.struct_time], tuple]] = {
    "hourly": lambda t: (t.tm_year, t.tm_yday, t.tm_hour),
    "daily": lambda t: (t.tm_year, t.tm_yday),
    "weekly": lambda t: tuple(time.strftime("%G %V", t).split()),
    "monthly": lambda t: (t.tm_year, t.tm_mon),
    "yearly": lambda t: (t.tm_year,),
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION = re.compile(r"(\d+)([smhdwy])")


def parse_duration(text: str) -> float:
    """``"90d"``, ``"2w3d"``, ``"36h"`` -> seconds (s, m, h, d, w, y = 365 d)."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r} (like 36h, 30d, 2w3d, 1y)")
    return float(sum(int(n) * _UNITS[u] for n, u in parts))


@dataclass(frozen=True)
class Policy:
    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: float = 0.0  # seconds

    def __post_init__(self) -> None:
        if any(getattr(self, f.name) < 0 for f in fields(self)):
            raise ValueError("keep counts and durations cannot be negative")

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))


def _reasons(group: list[RecoveryPoint], policy: Policy) -> dict[str, list[str]]:
    """Point id -> why the policy keeps it (points of one group, newest first)."""
    why: dict[str, list[str]] = {}
    for i, p in enumerate(group[:policy.last]):
        why.setdefault(p.id, []).append(f"last {i + 1}")
    for rule, bucket_of in _BUCKETS.items():
        left = getattr(policy, rule)
        seen = None
        for p in group:
            if left <= 0:
                break
            bucket = bucket_of(time.localtime(p.time))
            if bucket != seen:
                seen = bucket
                left -= 1
                why.setdefault(p.id, []).append(rule)
    if policy.within and group:
        for p in group:
            if group[0].time - p.time < policy.within:
                why.setdefault(p.id, []).append("within")
    return why


@dataclass
class Decision:
    point: RecoveryPoint
    keep: bool
    reasons: list[str]


def plan(points: Iterable[RecoveryPoint], policy: Policy,
         ids: Iterable[RecoveryPoint] = ()) -> list[Decision]:
    """Which points to keep: ``ids`` are forgotten outright; the policy (if not empty)
    decides the rest, group by group. Oldest first, as ``list`` shows them."""
    forced = {p.id for p in ids}
    groups: dict[tuple[str, bytes], list[RecoveryPoint]] = {}
    for p in sorted(points, key=lambda p: (p.time, p.id), reverse=True):
        groups.setdefault((p.host, p.source), []).append(p)
    decisions = []
    for group in groups.values():
        kept = {} if policy.empty else _reasons([p for p in group if p.id not in forced], policy)
        for p in group:
            if p.id in forced:
                decisions.append(Decision(p, False, ["named"]))
            elif policy.empty:
                decisions.append(Decision(p, True, ["no policy"]))
            else:
                decisions.append(Decision(p, p.id in kept, kept.get(p.id, [])))
    decisions.sort(key=lambda d: (d.point.time, d.point.id))
    return decisions


def forget(repo: Repository, refs: Iterable[str] = (), policy: Policy = Policy(),
           dry_run: bool = False) -> list[Decision]:
    """Forget the points named by ``refs`` (ids, prefixes, ``latest``) and those the policy
    does not keep. Takes the exclusive lock; with ``dry_run`` only says what it would do."""
    refs = list(refs)
    if not refs and policy.empty:
        raise ValueError("name the recovery points to forget, or give a --keep-* policy")
    with repo.lock(True, "forget") as lock:
        named = [repo.find_point(r) for r in refs]
        decisions = plan(repo.points(), policy, named)
        if not dry_run:
            lock.check()
            for d in decisions:
                if not d.keep:
                    repo.storage.remove(POINTS_PREFIX + d.point.id)
            repo.storage.sync()
    return decisions

