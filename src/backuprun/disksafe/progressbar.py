"""Progress of a long command on stderr: percent done, throughput and time left.

Shown only on a terminal (stdout and stderr both) and without ``--quiet``/``--json``; off
a terminal nothing is started, so scripts and benchmarks pay nothing. A daemon thread
polls the command's counters five times a second (the work itself never calls into the
display). ``poll()`` returns ``(step, done, total)``; a total of 0 means unknown (a
spinner and the count, no percent).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Poll = Callable[[], tuple[str, int, int]]


def wanted(quiet: bool) -> bool:
    """Whether to show progress: not asked to be quiet, and on a terminal."""
    return not quiet and sys.stdout.isatty() and sys.stderr.isatty()


class Steps:
    """The latest ``(step, done, total)`` of a library call's ``progress`` callback."""

    def __init__(self) -> None:
        self.latest = ("starting", 0, 0)

    def __call__(self, step: str, done: int = 0, total: int = 0) -> None:
        self.latest = (step, done, total)

    def poll(self) -> tuple[str, int, int]:
        return self.latest


def tree_size(path: bytes, found: list[int]) -> None:
    """Add up the sizes of the regular files under ``path`` into ``found[0]`` (a quick
    pre-scan giving a first backup its total); run in a daemon thread."""
    total, stack = 0, [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for de in it:
                    try:
                        if de.is_dir(follow_symlinks=False):
                            stack.append(de.path)
                        elif de.is_file(follow_symlinks=False):
                            total += de.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    found[0] = total


def _columns(in_bytes: bool) -> list:
    from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, SpinnerColumn,
                               TaskProgressColumn, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    amount = [DownloadColumn(), TransferSpeedColumn()] if in_bytes else [
        MofNCompleteColumn(), TextColumn("{task.fields[rate]}")]
    return [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            TaskProgressColumn(), *amount, TimeRemainingColumn()]


@contextmanager
def shown(enabled: bool, poll: Poll, in_bytes: bool = False) -> Iterator[None]:
    """Show the progress ``poll`` reports while the block runs (when ``enabled``)."""
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.progress import Progress

    stop = threading.Event()
    with Progress(*_columns(in_bytes), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting", total=None, rate="")

        def loop() -> None:
            step = None
            while not stop.wait(0.2):
                now, done, total = poll()
                if now != step:  # a new step: its own count, rate and time left
                    step = now
                    bar.reset(task, description=now, total=total or None, rate="")
                speed = bar.tasks[0].speed
                bar.update(task, completed=done, total=total or None,
                           rate=f"{speed:.0f}/s" if speed else "")

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
