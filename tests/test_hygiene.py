"""The test run cleans up after itself and never skips a server test silently
(``tests/hygiene.py``), checked on small pytest runs in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent

SAMPLE = '''
import os, tempfile
import pytest

def test_writes_to_tmp_path(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 100_000)

def test_uses_tempfile():
    fd, name = tempfile.mkstemp()
    os.close(fd)
    os.unlink(name)

@pytest.mark.s3
def test_needs_s3():
    pytest.skip("no server here")
'''


def _run(tmp_path: Path, ci: bool, body: str = SAMPLE) -> tuple[subprocess.CompletedProcess, Path]:
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    (tmp_path / "test_sample.py").write_text(body)
    env = {**os.environ, "TMPDIR": str(system_tmp), "PYTHONPATH": str(TESTS),
           "CI": "true" if ci else ""}
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "hygiene", "-p",
                        "no:cacheprovider", "-q", "-o", "tmp_path_retention_policy=failed",
                        str(tmp_path / "test_sample.py")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    return p, system_tmp


def test_a_run_leaves_nothing_and_names_skipped_server_tests(tmp_path: Path) -> None:
    p, system_tmp = _run(tmp_path, ci=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert list(system_tmp.iterdir()) == []
    assert "SERVER TESTS SKIPPED" in p.stdout and "test_needs_s3" in p.stdout


def test_in_ci_a_skipped_server_test_fails(tmp_path: Path) -> None:
    p, _ = _run(tmp_path, ci=True)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "CI must run every s3 test" in p.stdout


def test_a_leak_is_named(tmp_path: Path) -> None:
    leaky = "import tempfile\n\ndef test_leaks():\n    tempfile.mkstemp(prefix='leak-')\n"
    p, system_tmp = _run(tmp_path, ci=True, body=leaky)
    assert p.returncode == 1 and "TEMPORARY FILES LEFT BEHIND" in p.stdout, p.stdout
    assert "leak-" in p.stdout
    assert list(system_tmp.iterdir()) == []


def test_in_ci_a_skipped_browser_test_fails(tmp_path: Path) -> None:
    """The dashboard's browser tests need Chromium and axe-core (scripts/test-tools): under
    CI a missing browser is a failure, not a skip."""
    body = ("import pytest\n\n@pytest.mark.browser\ndef test_needs_chromium():\n"
            "    pytest.skip('chromium is not installed')\n")
    p, _ = _run(tmp_path, ci=True, body=body)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "CI must run every browser test" in p.stdout
    (tmp_path / "local").mkdir()
    p, _ = _run(tmp_path / "local", ci=False, body=body)
    assert p.returncode == 0 and "SERVER TESTS SKIPPED" in p.stdout, p.stdout
