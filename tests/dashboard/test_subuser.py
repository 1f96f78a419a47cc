"""Subusers through the dashboard: the owner adds, edits and assigns one; the subuser sees
only its service and none of the owner's controls; the owner removes it."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import FAST, PASSWORD, add_service, log_in, register
from tests.e2e.conftest import free_port
from tests.portal.conftest import unique_email

pytestmark = pytest.mark.browser


def test_a_subuser_sees_only_its_service_and_no_owner_controls(system, new_dash):
    owner = new_dash()
    page = owner.page
    register(owner)
    add_service(owner, free_port(), name="shared")
    add_service(owner, free_port(), name="private")

    owner.open("subusers")
    owner.heading("Subusers")
    add = page.locator("form", has=page.get_by_role("button", name="Add the subuser"))
    sub_email = unique_email("sub")
    add.get_by_label("Name", exact=True).fill("Sam Sub")
    add.get_by_label("E-mail address").fill(sub_email)
    add.get_by_label("Password", exact=True).fill("short")
    add.get_by_role("button", name="Add the subuser").click()
    owner.text("The password is too short.")  # the API's words, next to the field
    assert add.get_by_label("Password", exact=True).get_attribute("aria-invalid") == "true"
    add.get_by_label("Password", exact=True).fill(PASSWORD)
    add.get_by_label("Mobile phone", exact=True).fill("0722 000 000")
    add.get_by_role("button", name="Add the subuser").click()
    owner.text(f"Sam Sub can now log in with {sub_email}.")
    page.get_by_role("cell", name="0722 000 000").wait_for(timeout=FAST)

    page.get_by_role("button", name="Edit Sam Sub").click()
    edit = page.locator("form", has=page.get_by_role("button", name="Save"))
    edit.get_by_label("Name", exact=True).fill("Sam Subuser")
    edit.get_by_role("button", name="Save").click()
    page.get_by_role("cell", name="Sam Subuser", exact=True).wait_for(timeout=FAST)

    shared = page.get_by_label("shared (")
    shared.select_option(label=f"Sam Subuser ({sub_email})")
    page.locator(".assign li", has=shared).get_by_text("Saved.").wait_for(timeout=FAST)
    owner.axe("subusers")
    owner.shot("subusers")

    sub = new_dash()
    log_in(sub, sub_email)
    subpage = sub.page
    cards = subpage.locator("article.service")
    cards.first.wait_for(timeout=FAST)
    assert cards.count() == 1 and "shared" in cards.first.inner_text()
    nav = subpage.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Subusers").count() == 0
    assert subpage.get_by_role("link", name="Add a service").count() == 0
    assert cards.first.get_by_role("link", name="Install the agent").count() == 0
    assert cards.first.get_by_role("link", name="Continue setting up").count() == 0
    assert nav.get_by_text("Sam Subuser (subuser)").is_visible()
    sub.axe("a subuser's services")
    sub.shot("subuser-view")
    for route in ("subusers", "services/new"):  # the owner's pages lead back to the list
        sub.open(route)
        sub.heading("Your services")
    wire_id = cards.first.get_attribute("aria-labelledby").removeprefix("svc-")
    cards.first.get_by_role("link", name="History").click()
    sub.heading("History of shared")
    sub.open(f"services/{wire_id}/backup")
    sub.heading("Run the first backup of shared")
    assert subpage.get_by_role("heading", name="Schedule and retention").count() == 0
    sub.open("settings")
    sub.heading("Your account")
    subpage.get_by_text("You are a subuser").wait_for(timeout=FAST)

    owner.open("subusers")
    page.get_by_role("button", name="Remove Sam Subuser").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Remove").click()
    owner.text("No subuser yet.")
    sub.open("services")  # its session ended with it
    sub.heading("Log in")
