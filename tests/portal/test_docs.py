"""The API reference and the portal page agree with the code."""

from __future__ import annotations

from pathlib import Path

from backuprun.config import setting_names
from backuprun.portal.calls import CALLS
from backuprun.portal.errors import HTTP_STATUS, MESSAGES, ErrorCode

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_error_code_is_documented_with_its_message():
    text = (DOCS / "api.md").read_text()
    for code in ErrorCode:
        row = f"| `{code.value}` | {HTTP_STATUS.get(code, 200)} | {MESSAGES[code]} |"
        assert row in text, row


def test_every_call_is_documented():
    text = (DOCS / "api.md").read_text()
    for name in CALLS:
        assert f"### {name}\n" in text, name


def test_every_setting_is_documented_with_its_environment_variable():
    text = (DOCS / "portal.md").read_text()
    for name in setting_names():
        assert f"| `{name}` | `BACKUPRUN_{name.upper()}` |" in text, name
    assert "BACKUPRUN_CONFIG" in text


def test_every_task_message_key_is_documented():
    from backuprun.backupserver.tasklog import CATALOG

    text = (DOCS / "api.md").read_text()
    for key, (level, _) in CATALOG.items():
        assert f"| `{key}` | {level} |" in text, key


def test_the_dashboard_page_shows_every_screenshot_the_tests_make():
    import re

    from tests.dashboard.conftest import SCREENSHOTS

    text = (DOCS / "dashboard.md").read_text()
    shown = set(re.findall(r"\]\(screenshots/([\w-]+)\.png\)", text))
    assert shown == set(SCREENSHOTS)
    for name in SCREENSHOTS:
        assert (DOCS / "screenshots" / f"{name}.png").is_file(), name
