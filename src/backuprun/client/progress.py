"""Progress bars on stderr (rich), only on a terminal and never with ``--quiet``/``--json``.

Off a terminal nothing is started and every update is a no-op, so scripts and pipes get
only results. Totals are unknown (the wire reports counts, not totals): the bar pulses and
the counts grow. The bar is transient: it disappears when done, leaving the summary line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from backuprun.client.output import size

TaskUpdate = Callable[[str, int, int, int], None]  # state, files, bytes, bytes_read
ByteUpdate = Callable[[int], None]  # bytes so far


def wanted(quiet: bool) -> bool:
    """Whether to show progress: not asked to be quiet, and stderr is a terminal."""
    return not quiet and sys.stderr.isatty()


def _progress(*columns):
    from rich.console import Console
    from rich.progress import Progress

    return Progress(*columns, console=Console(stderr=True), transient=True)


@contextmanager
def task_bar(enabled: bool, label: str) -> Iterator[TaskUpdate]:
    """A bar for a task on the server (``backup``, ``restore``): its state and counts."""
    if not enabled:
        yield lambda state, files, nbytes, read: None
        return
    from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

    with _progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.fields[counts]}"), TimeElapsedColumn()) as bar:
        task = bar.add_task(label, total=None, counts="")

        def update(state: str, files: int, nbytes: int, read: int) -> None:
            counts = f"{files} file{'' if files == 1 else 's'}, {size(nbytes)}" + (f", {size(read)} read" if read else "")
            bar.update(task, description=f"{label} {state}", counts=counts)

        yield update


@contextmanager
def byte_bar(enabled: bool, label: str) -> Iterator[ByteUpdate]:
    """A bar for bytes arriving (``download``): how many, how fast."""
    if not enabled:
        yield lambda done: None
        return
    from rich.progress import (BarColumn, DownloadColumn, SpinnerColumn, TextColumn,
                               TimeElapsedColumn, TransferSpeedColumn)

    with _progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done: bar.update(task, completed=done)
