"""Sessions on the wire: cookie flags, remember, new token at login, expiry, password change."""

from __future__ import annotations

import pytest

import time

from .conftest import PASSWORD, read_outbox, recovery_code


def session_cookie(answer, portal) -> str:
    headers = answer.response.headers.get_list("set-cookie")
    [cookie] = [h for h in headers if h.startswith(portal.settings.cookie_name + "=")]
    return cookie


def test_cookie_flags(api, portal):
    email = api.register()
    cookie = session_cookie(api.login(email).ok(), portal)
    lower = cookie.lower()
    assert "httponly" in lower
    assert "samesite=lax" in lower
    assert "secure" not in lower  # plain http here; see test_https for Secure
    assert "max-age" not in lower and "expires" not in lower  # ends with the browser


def test_remember_makes_a_long_lived_cookie(api, portal):
    email = api.register()
    cookie = session_cookie(api.login(email, remember="1").ok(), portal)
    assert f"max-age={portal.settings.remember_lifetime}" in cookie.lower()
    cookie = session_cookie(api.login(email, remember="0").ok(), portal)
    assert "max-age" not in cookie.lower()


def token_of(answer, portal) -> str:
    return session_cookie(answer, portal).split(";", 1)[0].split("=", 1)[1]


def test_token_is_random_and_new_at_each_login(api, new_api, portal):
    email = api.register()
    token1 = token_of(api.login(email).ok(), portal)
    token2 = token_of(api.login(email).ok(), portal)
    assert token1 != token2 and len(token1) >= 40
    # the session replaced by the new login is over (no fixation, no leftovers)
    stale = new_api()
    stale.http.cookies.set(portal.settings.cookie_name, token1)
    assert not stale.is_logged_in()
    assert api.is_logged_in()


def test_fixated_token_is_not_adopted(api, portal):
    email = api.register()
    api.http.cookies.set(portal.settings.cookie_name, "attacker-chosen-token")
    token = token_of(api.login(email).ok(), portal)
    assert token != "attacker-chosen-token" and len(token) >= 40


def test_sessions_are_separate_per_client(api, new_api):
    email = api.new_account()
    other = new_api()
    assert not other.is_logged_in()
    other.login(email).ok()
    api.call("logout").ok()
    assert other.is_logged_in()  # logging out ends only this session


def test_password_change_ends_other_sessions(api, new_api):
    email = api.new_account()
    laptop = new_api()
    laptop.login(email).ok()
    api.call("updateUserData", password="changed password").ok()
    assert api.is_logged_in()
    assert not laptop.is_logged_in()


def test_contact_password_change_ends_its_sessions(api, new_api):
    api.new_account()
    contact_id = api.add_contact(sub_email := f"sub-{time.time_ns()}@example.com")
    sub = new_api()
    sub.login(sub_email).ok()
    api.call("updateContactData", contact_id=contact_id, password="changed password").ok()
    assert not sub.is_logged_in()


def test_reset_password_ends_all_sessions(api, new_api, portal):
    email = api.new_account()
    api.call("recoverPassword", email=email).ok()
    code = recovery_code(read_outbox(portal.outbox, email)[0])
    other = new_api()
    other.call("resetPassword", recoverycode=code, password="reset password").ok()
    assert other.is_logged_in()
    assert not api.is_logged_in()


@pytest.mark.parametrize("encoding", ["urlencoded"])  # waits; one encoding
def test_session_expires(make_portal, new_api):
    portal = make_portal(session_lifetime=1)
    api = new_api(portal)
    email = api.register()
    api.login(email).ok()
    assert api.is_logged_in()
    time.sleep(1.2)
    assert not api.is_logged_in()
    api.login(email, PASSWORD).ok()
    assert api.is_logged_in()
