"""Every way a call can fail answers a stable error code (HTTP 200 for application errors)."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD, unique_email


def test_unknown_and_missing_call(api):
    api.call("noSuchCall").fails("unknown_call", "apiCALL")
    api.call("").fails("missing_field", "apiCALL")
    answer = api.post({"email": "x@example.com"})
    assert answer.status_code == 200 and b'code="missing_field"' in answer.content


@pytest.mark.parametrize("call, fields, field", [
    ("registerNewUser", {"name": "J", "password": PASSWORD}, "email"),
    ("registerNewUser", {"email": "a@example.com", "password": PASSWORD}, "name"),
    ("registerNewUser", {"email": "a@example.com", "name": "J"}, "password"),
    ("registerNewUser", {"email": "a@example.com", "name": "  ", "password": PASSWORD}, "name"),
    ("login", {"password": PASSWORD}, "email"),
    ("login", {"email": "a@example.com"}, "password"),
    ("recoverPassword", {}, "email"),
    ("resetPassword", {"password": PASSWORD}, "recoverycode"),
])
def test_missing_fields(api, call, fields, field):
    api.call(call, **fields).fails("missing_field", field)


def test_missing_fields_when_logged_in(api):
    api.new_account()
    api.call("addContact", name="S", password=PASSWORD).fails("missing_field", "email")
    api.call("addContact", email=unique_email(), password=PASSWORD).fails("missing_field", "name")
    api.call("addContact", email=unique_email(), name="S").fails("missing_field", "password")
    api.call("updateContactData", name="x").fails("missing_field", "contact_id")
    api.call("removeContact").fails("missing_field", "contact_id")


def test_invalid_fields(api):
    api.call("registerNewUser", email="not-an-address", name="J",
             password=PASSWORD).fails("invalid_email", "email")
    api.call("registerNewUser", email=unique_email(), name="J",
             password="short").fails("password_too_short", "password")
    api.call("login", email="a@example.com", password=PASSWORD,
             remember="yes").fails("invalid_field", "remember")
    api.call("recoverPassword", email="nobody at example").fails("invalid_email", "email")
    api.new_account()
    api.call("addContact", email=unique_email(), name="S", password=PASSWORD,
             role="3").fails("invalid_field", "role")
    api.call("addContact", email="bad@", name="S", password=PASSWORD).fails("invalid_email")
    for bad_id in ("abc", "-1", "0", "1.5", "99999999999", "１２"):
        api.call("removeContact", contact_id=bad_id).fails("invalid_field", "contact_id")
    api.call("updateUserData", notify="2").fails("invalid_field", "notify")
    api.call("updateUserData", notify_email="nope").fails("invalid_email", "notify_email")
    api.call("updateUserData", password="short").fails("password_too_short", "password")
    api.call("updateUserData", name="").fails("missing_field", "name")


def test_field_too_long(api):
    api.call("registerNewUser", email=unique_email(), name="n" * 201,
             password=PASSWORD).fails("field_too_long", "name")
    api.call("registerNewUser", email="a" * 250 + "@example.com", name="J",
             password=PASSWORD).fails("field_too_long", "email")
    api.call("registerNewUser", email=unique_email(), name="J",
             password="p" * 1025).fails("field_too_long", "password")
    api.new_account()
    api.call("updateUserData", **{"fixed-phone": "1" * 41}).fails("field_too_long", "fixed-phone")
    api.call("addContact", email=unique_email(), name="S", password=PASSWORD,
             telephone="1" * 41).fails("field_too_long", "telephone")


def test_email_taken_case_insensitive(api):
    email = api.register()
    api.call("registerNewUser", email=email.upper(), name="Again",
             password=PASSWORD).fails("email_taken", "email")
    other = api.register()
    api.login(other).ok()
    api.call("updateUserData", email=email.title()).fails("email_taken", "email")
    api.call("addContact", email=email, name="S", password=PASSWORD).fails("email_taken")


def test_wrong_credentials_same_for_unknown_address(api):
    email = api.register()
    api.login(email, "wrong password").fails("wrong_credentials")
    api.login(unique_email(), PASSWORD).fails("wrong_credentials")
    api.login("not an address", PASSWORD).fails("wrong_credentials")


@pytest.mark.parametrize("call", ["addContact", "updateContactData", "removeContact",
                                  "updateUserData"])
def test_not_logged_in(api, call):
    api.call(call, contact_id="1", email=unique_email(), name="S",
             password=PASSWORD).fails("not_logged_in")


def test_forged_cookie_is_not_logged_in(api, portal):
    api.http.cookies.set(portal.settings.cookie_name, "forged-token", domain="127.0.0.1")
    answer = api.call("updateUserData").fails("not_logged_in")
    assert portal.settings.cookie_name in answer.response.headers.get("set-cookie", "")


def test_subuser_is_not_allowed_to_manage_subusers(api, new_api):
    api.new_account()
    sub_email = unique_email("sub")
    contact_id = api.add_contact(sub_email)
    sub = new_api()
    sub.login(sub_email).ok()
    sub.call("addContact", email=unique_email(), name="S", password=PASSWORD,
             role="4").fails("not_allowed")
    sub.call("updateContactData", contact_id=contact_id, name="x").fails("not_allowed")
    sub.call("removeContact", contact_id=contact_id).fails("not_allowed")


def test_recovery_code_errors(api, portal, new_api):
    from .conftest import read_outbox, recovery_code

    api.call("resetPassword", recoverycode="no-such-code",
             password=PASSWORD).fails("invalid_recovery_code", "recoverycode")
    api.call("resetPassword", recoverycode="x" * 500,
             password=PASSWORD).fails("invalid_recovery_code", "recoverycode")
    email = api.register()
    api.call("recoverPassword", email=email).ok()
    code = recovery_code(read_outbox(portal.outbox, email)[0])
    api.call("resetPassword", recoverycode=code, password="x").fails("password_too_short")
    api.call("resetPassword", recoverycode=code, password="first reset").ok()  # still usable
    new_api().call("resetPassword", recoverycode=code,
                   password="second reset").fails("recovery_code_used", "recoverycode")


@pytest.mark.parametrize("encoding", ["urlencoded"])  # waits; one encoding
def test_recovery_code_expires(make_portal, new_api):
    import time

    from .conftest import read_outbox, recovery_code

    portal = make_portal(recovery_code_lifetime=1)
    api = new_api(portal)
    email = api.register()
    api.call("recoverPassword", email=email).ok()
    code = recovery_code(read_outbox(portal.outbox, email)[0])
    time.sleep(1.2)
    api.call("resetPassword", recoverycode=code,
             password="too late now").fails("recovery_code_expired", "recoverycode")
    api.login(email).ok()  # the old password still works


def test_error_message_is_readable(api):
    answer = api.call("login", email="a@example.com", password="wrong password")
    error = answer.root.find("error")
    assert list(error.attrib) == ["code", "message"]
    assert "password" in error.get("message")
