"""Login throttling per account and per address, with windows that expire.

Distinct client addresses come through a trusted reverse proxy (``X-Forwarded-For``), which
also shows that forwarded headers are honoured when, and only when, configured.
"""

from __future__ import annotations

import time

import pytest

from .conftest import PASSWORD, unique_email


# throttling does not depend on the form encoding (test_calls covers both): one is enough
pytestmark = pytest.mark.parametrize("encoding", ["multipart"])

WINDOW = 2  # seconds, for the test that waits for the window to pass


@pytest.fixture
def throttled(make_portal):
    return make_portal(login_max_failures_per_account=3, login_max_failures_per_address=5,
                       login_window=600, forwarded_allow_ips="127.0.0.1")


@pytest.fixture
def short_window(make_portal):
    return make_portal(login_max_failures_per_account=3, login_window=WINDOW,
                       forwarded_allow_ips="127.0.0.1")


def login_from(api, address, email, password=PASSWORD):
    from .conftest import Answer

    fields = {"apiCALL": "login", "email": email, "password": password}
    return Answer(api.post(fields, headers={"X-Forwarded-For": address}))


def test_account_throttled_then_released(short_window, new_api):
    api = new_api(short_window)
    email = api.register()
    for _ in range(3):
        login_from(api, "203.0.113.1", email, "wrong password").fails("wrong_credentials")
    # the right password from a new address is refused while the window lasts
    login_from(api, "203.0.113.2", email).fails("login_throttled")
    login_from(api, "203.0.113.3", email, "wrong password").fails("login_throttled")
    time.sleep(WINDOW + 0.1)  # the window slides past the failures: never locked out for good
    login_from(api, "203.0.113.2", email).ok()


def test_familiar_address_is_not_locked_out_by_an_attacker(throttled, new_api):
    api = new_api(throttled)
    email = api.register()
    login_from(api, "198.51.100.7", email).ok()  # the owner's usual address
    for i in range(3):
        login_from(api, f"203.0.113.{10 + i}", email, "guess").fails("wrong_credentials")
    login_from(api, "203.0.113.20", email).fails("login_throttled")
    login_from(api, "198.51.100.7", email).ok()


def test_address_throttled_across_accounts(throttled, new_api):
    api = new_api(throttled)
    for _ in range(5):
        login_from(api, "192.0.2.50", unique_email(), "guess").fails("wrong_credentials")
    victim = api.register()
    login_from(api, "192.0.2.50", victim).fails("login_throttled")
    login_from(api, "192.0.2.51", victim).ok()  # other addresses are unaffected


def test_reset_password_lifts_the_account_limit(throttled, new_api):
    from .conftest import read_outbox, recovery_code

    api = new_api(throttled)
    email = api.register()
    for _ in range(3):
        login_from(api, "203.0.113.30", email, "guess").fails("wrong_credentials")
    login_from(api, "203.0.113.31", email).fails("login_throttled")
    api.call("recoverPassword", email=email).ok()
    code = recovery_code(read_outbox(throttled.outbox, email)[0])
    api.call("resetPassword", recoverycode=code, password="brand new password").ok()
    login_from(api, "203.0.113.32", email, "brand new password").ok()


def test_forwarded_header_ignored_without_configuration(make_portal, new_api):
    portal = make_portal(login_max_failures_per_address=2)  # no forwarded_allow_ips
    api = new_api(portal)
    for i in range(2):
        login_from(api, f"203.0.113.{i}", unique_email(), "guess").fails("wrong_credentials")
    # a spoofed X-Forwarded-For does not escape the per-address limit
    login_from(api, "203.0.113.99", unique_email(), "guess").fails("login_throttled")


def test_ipv6_clients_are_counted_by_their_64_network(throttled, new_api):
    api = new_api(throttled)
    for i in range(5):
        login_from(api, f"2001:db8:1:2::{i + 1:x}", unique_email(), "guess"
                   ).fails("wrong_credentials")
    victim = api.register()
    login_from(api, "2001:db8:1:2:ffff::1", victim).fails("login_throttled")  # same /64
    login_from(api, "2001:db8:1:3::1", victim).ok()  # the next /64 is someone else


# -- bursts: every attempt is counted before its password is hashed ------------------------

BURST = 30


@pytest.fixture
def burst_portal(make_portal):
    # a hash that takes a few milliseconds, so that the attempts of a burst truly overlap;
    # room in the hashing pool for the whole burst (test_busy covers a full pool)
    return make_portal(login_max_failures_per_account=5, login_max_failures_per_address=5,
                       login_window=600, forwarded_allow_ips="127.0.0.1",
                       argon2_memory_kib=8192, argon2_time_cost=2, argon2_queue=BURST)


def burst(portal, attempts: list[tuple[str, str, str]]) -> list[str]:
    """Send all ``(address, email, password)`` logins at once; their error codes."""
    from .conftest import at_once

    answers = at_once(portal, [{"apiCALL": "login", "email": e, "password": p}
                               for _, e, p in attempts],
                      [{"X-Forwarded-For": address} for address, _, _ in attempts])
    return [a.error or "ok" for a in answers]


def test_a_burst_on_one_account_gets_no_more_tries_than_the_limit(burst_portal, new_api):
    email = new_api(burst_portal).register()
    codes = burst(burst_portal, [(f"203.0.113.{i}", email, f"guess {i}")
                                 for i in range(BURST)])
    assert codes.count("wrong_credentials") == 5, codes
    assert codes.count("login_throttled") == BURST - 5, codes


def test_a_burst_from_one_address_gets_no_more_tries_than_the_limit(burst_portal, encoding):
    codes = burst(burst_portal, [("192.0.2.77", unique_email(), "guess")
                                 for _ in range(BURST)])
    assert codes.count("wrong_credentials") == 5, codes
    assert codes.count("login_throttled") == BURST - 5, codes
