"""Many clients at once: no request fails for lack of a database lock, none is lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .conftest import PASSWORD, unique_email


def test_parallel_registrations_and_logins(portal, new_api):
    clients = [new_api() for _ in range(12)]

    def work(client):
        email = client.register()
        client.login(email).ok()
        contact = client.add_contact()
        client.call("updateContactData", contact_id=contact, name="Busy").ok()
        client.call("updateUserData", name="Busy Main").ok()
        client.login(unique_email(), PASSWORD).fails("wrong_credentials")
        client.call("removeContact", contact_id=contact).ok()
        return True

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert all(pool.map(work, clients))


def test_same_address_registered_in_parallel_once(portal, new_api):
    email = unique_email("race")
    clients = [new_api() for _ in range(8)]

    def register(client):
        answer = client.call("registerNewUser", email=email, name="Racer", password=PASSWORD)
        return answer.status, answer.error

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(register, clients))
    assert outcomes.count(("ok", None)) == 1, outcomes
    assert outcomes.count(("error", "email_taken")) == 7, outcomes
