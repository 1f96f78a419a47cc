"""Argon2 runs on a bounded pool: when every place is taken, a request that would hash is
refused at once with ``server_busy`` (HTTP 503, ``Retry-After``), and is not counted."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD, at_once, unique_email

pytestmark = pytest.mark.parametrize("encoding", ["multipart"])

AT_ONCE = 8


@pytest.fixture
def one_slot(make_portal):
    # one hash at a time, nobody waiting; a hash slow enough that the requests overlap
    return make_portal(argon2_workers=1, argon2_queue=0, argon2_memory_kib=16384,
                       argon2_time_cost=3, login_max_failures_per_account=AT_ONCE - 2)


def test_full_pool_answers_server_busy_at_once(one_slot, new_api):
    email = new_api(one_slot).register()
    answers = at_once(one_slot, [{"apiCALL": "login", "email": email, "password": PASSWORD}
                                 for _ in range(AT_ONCE)])
    busy = [a for a in answers if a.error == "server_busy"]
    assert busy and len(busy) < AT_ONCE, [a.error for a in answers]
    for answer in busy:
        answer.fails("server_busy", http=503)
        assert answer.response.headers["retry-after"] == "1"
        assert answer.response.headers["content-type"] == "text/xml; charset=utf-8"
    assert all(a.status == "ok" for a in answers if a.error != "server_busy")
    new_api(one_slot).login(email).ok()  # once quiet, logins work again


def test_refused_attempts_are_not_counted(one_slot, new_api):
    api = new_api(one_slot)
    email = api.register()
    codes = [a.error for a in at_once(one_slot, [
        {"apiCALL": "login", "email": email, "password": "guess"} for _ in range(AT_ONCE)])]
    assert "server_busy" in codes, codes
    counted = codes.count("wrong_credentials")
    # the account allows AT_ONCE - 2 failures: the busy ones left room for the rest
    for _ in range(AT_ONCE - 2 - counted):
        api.login(email, "guess").fails("wrong_credentials")
    api.login(email, "guess").fails("login_throttled")


def test_registration_is_refused_when_busy(one_slot, encoding):
    codes = [a.error for a in at_once(one_slot, [
        {"apiCALL": "registerNewUser", "email": unique_email(), "name": "N",
         "password": PASSWORD} for _ in range(AT_ONCE)])]
    assert "server_busy" in codes and None in codes, codes
