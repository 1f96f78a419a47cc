"""A deleted contact's id is never given to another contact, on SQLite and PostgreSQL."""

from __future__ import annotations


def test_contact_ids_are_never_reused(api):
    api.new_account()
    first, highest = api.add_contact(), api.add_contact()
    api.call("removeContact", contact_id=highest).ok()  # the highest id goes
    after_highest = api.add_contact()
    assert after_highest > highest
    api.call("removeContact", contact_id=first).ok()  # one below the highest goes
    api.call("removeContact", contact_id=after_highest).ok()
    newest = api.add_contact()
    assert newest not in (first, highest, after_highest) and newest > after_highest
    api.call("updateContactData", contact_id=highest, name="x").fails("contact_not_found")
