"""Password recovery through the dashboard and the e-mail's link: the recover page, the
message in the outbox, the portal's reset page it opens, and back to the dashboard logged
in with the new password."""

from __future__ import annotations

import email
import email.policy
import re

import pytest

from tests.dashboard.conftest import FAST, log_in, register
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.browser
LINK = re.compile(r"(http\S+/reset-password\?recoverycode=\S+)")


def mailed_link(system, address: str) -> str:
    outbox = system.tmp / "data" / "outbox"

    def find():
        for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == address:
                return LINK.search(message.get_content()).group(1)
        return None
    return wait_for("the recovery e-mail", find, 30)


def test_recover_the_password_through_the_outbox_link(system, new_dash):
    owner = new_dash()
    address = register(owner)
    owner.page.get_by_role("button", name="Log out").click()

    dash = new_dash()
    page = dash.page
    dash.open("login")
    page.get_by_role("link", name="Forgot your password?").click()
    dash.heading("Recover your password")
    page.get_by_label("E-mail address").fill("not an address")
    page.get_by_role("button", name="Send me a link").click()
    dash.text("The e-mail address is not valid.")
    page.get_by_label("E-mail address").fill(address)
    page.get_by_role("button", name="Send me a link").click()
    dash.text("If an account has this address")
    dash.axe("recover")
    dash.shot("recover")

    page.goto(mailed_link(system, address))
    page.get_by_role("heading", name="Choose a new password").wait_for(timeout=FAST)
    assert "recoverycode" not in page.url  # taken out of the address bar
    dash.axe("the reset page")
    page.get_by_label("New password").fill("a new password 2")
    page.get_by_label("The same password again").fill("a new password 2")
    page.get_by_role("button", name="Set the new password").click()
    dash.text("Your password is changed, and you are logged in.")
    page.get_by_role("link", name="Go to your dashboard").click()
    dash.heading("Your services")

    other = new_dash()
    log_in(other, address, "a new password 2")
