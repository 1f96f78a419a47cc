"""What goes wrong is shown in words: a backup that fails shows its SEVERE message, on the
backup page and in the task's log; the services list counts the error."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import FAST, SLOW, add_service, register
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.browser


def test_a_failed_backup_shows_its_severe_message(system, new_dash):
    dash = new_dash()
    page = dash.page
    register(dash)
    port = free_port()  # nothing listens there: no agent
    wire_id = add_service(dash, port, name="down")
    page.locator("[role=status] .badge.ok", has_text="Ready").wait_for(timeout=SLOW)
    page.get_by_role("button", name="Continue").click()
    dash.heading("Run the first backup of down")
    page.get_by_role("button", name="Back up now").click()
    dash.text("The backup failed.", timeout=SLOW)
    failed = page.locator("table.log tbody tr").first
    assert "Severe" in failed.inner_text()
    assert f"Connecting to agent 127.0.0.1 at port {port} failed" in failed.inner_text()
    dash.axe("a failed backup")
    dash.shot("failed-backup")

    page.get_by_role("link", name="The whole log").click()
    dash.heading("Task log of down")
    severe = page.locator("table.log tr.row-error")
    severe.first.wait_for(timeout=FAST)
    assert severe.count() == 1 and "Connection refused" in severe.inner_text()
    page.get_by_text("1 severe, 0 warnings.").wait_for(timeout=FAST)

    dash.open("services")
    card = page.locator("article.service", has_text=wire_id)
    card.get_by_text("Last backup failed").wait_for(timeout=FAST)
    assert card.get_by_text("1 error", exact=True).is_visible()


def test_the_backup_page_before_the_service_is_ready(system, new_dash):
    """Opened at once after the wizard: the page stands, and a refusal of runPolicy
    (service_not_ready) is said in words where the button is."""
    dash = new_dash()
    register(dash)
    wire_id = add_service(dash, free_port(), name="early")
    dash.open(f"services/{wire_id}/backup")
    dash.heading("Run the first backup of early")
    dash.page.get_by_role("button", name="Back up now").click()
    refused = dash.page.get_by_text("The service is still being set up")
    started = dash.page.locator(".progress-box .badge")
    refused.or_(started).first.wait_for(timeout=FAST)
