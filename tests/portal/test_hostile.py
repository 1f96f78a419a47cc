"""Hostile input: metacharacters come back escaped and intact; no account reaches another's."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD, unique_email

NAMES = [
    'John <b>"Bobby"</b> & \'Tables\'',
    "</name><status value=\"ok\"></status><!--",
    "<![CDATA[x]]> &amp; &#x41; &lt;",
    "Robert'); DROP TABLE accounts;--",
    "' OR '1'='1",
    "Ștefan Ñúñez 李小龍 Ωμέγα 🙂",
    "back\\slash % _ ` $1",
]


@pytest.mark.parametrize("name", NAMES)
def test_names_come_back_escaped_and_intact(api, name):
    email = api.register(name=name)
    answer = api.login(email).ok()
    assert answer.root.find("user/name").get("value") == name
    assert "<b>" not in answer.text and "<![CDATA[" not in answer.text


def test_sql_metacharacters_in_login_and_email(api):
    api.login("' OR 1=1 --", "' OR '1'='1").fails("wrong_credentials")
    api.login('a@example.com" OR ""="', PASSWORD).fails("wrong_credentials")
    email = f"o'brien+{unique_email()}"
    api.register(email=email, name="O'Brien")
    answer = api.login(email).ok()
    assert answer.root.find("user/email").get("value") == email


def test_control_characters_are_refused(api):
    for bad in ("a\x00b", "a\x07b", "line\nbreak"):
        api.call("registerNewUser", email=unique_email(), name=bad,
                 password=PASSWORD).fails("invalid_field", "name")


def test_non_ascii_email_and_password(api):
    email = f"jöhn.{unique_email()}"
    api.register(email=email, password="pässwörd ünïcode 🙂")
    api.login(email, "pässwörd ünïcode 🙂").ok()
    api.login(email, "passwörd ünïcode 🙂").fails("wrong_credentials")


def test_oversized_fields_do_not_reach_the_database(api):
    api.call("registerNewUser", email=unique_email(), name="x" * 10_000,
             password=PASSWORD).fails("field_too_long", "name")
    api.login(unique_email(), "p" * 20_000).fails("wrong_credentials")


def test_another_accounts_subusers_are_out_of_reach(api, new_api):
    """Bob sends Alice's contact ids (and every id around them): nothing is found, nothing
    changes."""
    api.new_account()
    alice_sub_email = unique_email("alice-sub")
    alice_sub = api.add_contact(alice_sub_email)

    bob = new_api()
    bob.new_account()
    bob_sub = bob.add_contact()
    for contact_id in range(max(1, alice_sub - 3), bob_sub + 4):
        if contact_id == bob_sub:
            continue
        bob.call("updateContactData", contact_id=contact_id, name="pwned",
                 password="pwned password", email=unique_email("pwned")
                 ).fails("contact_not_found", "contact_id")
        bob.call("removeContact", contact_id=contact_id).fails("contact_not_found")
    bob.call("removeContact", contact_id=bob_sub).ok()
    # Alice's subuser is untouched
    sub = new_api()
    answer = sub.login(alice_sub_email).ok()
    assert answer.root.find("user/name").get("value") == "Sub User"


def test_main_account_id_is_not_a_contact(api, new_api):
    alice = new_api()
    alice.new_account()
    alice_contact = alice.add_contact()
    api.new_account()
    own_contact = api.add_contact()
    # ids of main accounts sit next to contacts; none of them is ours to touch
    for contact_id in {alice_contact - 1, own_contact - 1}:
        api.call("removeContact", contact_id=contact_id).fails("contact_not_found")


def test_subuser_cannot_touch_siblings(api, new_api):
    api.new_account()
    first_email = unique_email("first")
    api.add_contact(first_email)
    second = api.add_contact()
    sub = new_api()
    sub.login(first_email).ok()
    sub.call("updateContactData", contact_id=second, name="x").fails("not_allowed")
    sub.call("removeContact", contact_id=second).fails("not_allowed")
