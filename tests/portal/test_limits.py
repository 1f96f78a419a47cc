"""registerNewUser and recoverPassword are limited per client address and per e-mail address,
with a clear error, whether or not the address has an account; a burst gets no more."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD, Answer, at_once, unique_email

# the limits do not depend on the form encoding (test_calls covers both): one is enough
pytestmark = pytest.mark.parametrize("encoding", ["urlencoded"])


@pytest.fixture
def limited(make_portal):
    return make_portal(register_max_per_address=3, register_max_per_email=2,
                       recovery_max_per_address=3, recovery_max_per_email=2,
                       forwarded_allow_ips="127.0.0.1", argon2_queue=30)  # room for a burst


def send(api, address: str, call: str, **fields) -> Answer:
    return Answer(api.post({"apiCALL": call, **fields}, headers={"X-Forwarded-For": address}))


def register(api, address: str, email: str) -> Answer:
    return send(api, address, "registerNewUser", email=email, name="N", password=PASSWORD)


def test_register_per_address(limited, new_api):
    api = new_api(limited)
    for _ in range(3):
        register(api, "198.51.100.1", unique_email()).ok()
    register(api, "198.51.100.1", unique_email()).fails("request_throttled")
    register(api, "198.51.100.2", unique_email()).ok()  # other clients are unaffected


def test_register_per_email(limited, new_api):
    api = new_api(limited)
    email = unique_email()
    register(api, "198.51.100.10", email).ok()
    register(api, "198.51.100.11", email).fails("email_taken")
    register(api, "198.51.100.12", email.upper()).fails("request_throttled")
    register(api, "198.51.100.12", unique_email()).ok()


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_recover_per_email_and_per_address(limited, new_api, known):
    api = new_api(limited)
    email = unique_email()
    if known:
        register(api, "198.51.100.20", email).ok()
    for address in ("198.51.100.21", "198.51.100.22"):
        send(api, address, "recoverPassword", email=email).ok()
    send(api, "198.51.100.23", "recoverPassword", email=email).fails("request_throttled")
    send(api, "198.51.100.23", "recoverPassword", email=unique_email()).ok()
    send(api, "198.51.100.23", "recoverPassword", email=unique_email()).ok()
    send(api, "198.51.100.23", "recoverPassword", email=unique_email()).ok()
    send(api, "198.51.100.23", "recoverPassword", email=unique_email()
         ).fails("request_throttled")


def test_a_burst_of_registrations_gets_no_more_than_the_limit(limited, encoding):
    forms = [{"apiCALL": "registerNewUser", "email": unique_email(), "name": "N",
              "password": PASSWORD} for _ in range(20)]
    codes = [a.error or "ok" for a in at_once(limited, forms, [{"X-Forwarded-For": "192.0.2.9"}]
                                               * len(forms))]
    assert codes.count("ok") == 3 and codes.count("request_throttled") == 17, codes
