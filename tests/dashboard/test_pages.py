"""Every page from the keyboard, readable at a phone's width and a desktop's, with no serious
accessibility violation: the account settings, and the logged-out pages."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import FAST, PASSWORD, register

pytestmark = pytest.mark.browser


def test_log_in_with_the_keyboard_alone(system, new_dash):
    owner = new_dash()
    address = register(owner)
    dash = new_dash()
    page = dash.page
    dash.open("login")
    page.keyboard.press("Tab")  # from the page's heading to the first field
    page.keyboard.type(address)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # keep me logged in
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    dash.heading("Your services")
    focused = page.evaluate("document.activeElement.tagName + ':' + document.activeElement.textContent")
    assert focused == "H1:Your services"  # the new page's heading has the focus


@pytest.mark.parametrize("width", [360, 768, 1440])
def test_logged_out_pages_fit_every_width(system, new_dash, width):
    dash = new_dash(width=width)
    for route, title in (("login", "Log in"), ("register", "Create your BackupRun account"),
                         ("recover", "Recover your password")):
        dash.open(route)
        dash.heading(title)
        dash.fits()
        dash.axe(f"{route} at {width}px")


def test_account_settings(system, new_dash):
    dash = new_dash()
    page = dash.page
    register(dash, name="Set Tings")
    dash.open("settings")
    dash.heading("Your account")
    contact = page.locator("form", has=page.get_by_role("button", name="Save the contact data"))
    contact.get_by_label("Mobile phone", exact=True).fill("+40 700 000 000")
    contact.get_by_label("E-mail address").fill("not an address")
    contact.get_by_role("button", name="Save the contact data").click()
    dash.text("The e-mail address is not valid.")
    assert contact.get_by_label("E-mail address").get_attribute("aria-invalid") == "true"
    contact.get_by_label("E-mail address").fill("set.tings@example.com")
    contact.get_by_role("button", name="Save the contact data").click()
    contact.get_by_text("Saved.").wait_for(timeout=FAST)

    password = page.locator("form", has=page.get_by_role("button", name="Change the password"))
    password.get_by_label("New password").fill("a changed password")
    password.get_by_label("The same password again").fill("another one")
    password.get_by_role("button", name="Change the password").click()
    dash.text("The two passwords differ.")
    password.get_by_label("The same password again").fill("a changed password")
    password.get_by_role("button", name="Change the password").click()
    dash.text("The password is changed.")

    notices = page.locator("form", has=page.get_by_role("button", name="Save the notices"))
    notices.get_by_label("E-mail me when a backup fails").uncheck()
    notices.get_by_label("Send the notices to").fill("alerts@example.com")
    notices.get_by_role("button", name="Save the notices").click()
    notices.get_by_text("Saved.").wait_for(timeout=FAST)
    dash.axe("settings")
    dash.shot("settings")

    dash.page.reload()  # what the server kept
    dash.heading("Your account")
    assert page.get_by_label("Mobile phone", exact=True).input_value() == "+40 700 000 000"
    assert page.get_by_label("E-mail address").input_value() == "set.tings@example.com"
    assert not page.get_by_label("E-mail me when a backup fails").is_checked()
    assert page.get_by_label("Send the notices to").input_value() == "alerts@example.com"
