"""A location's public HTTPS pages: the certificate, the service login and its view."""

from __future__ import annotations

import asyncio
import stat

import httpx
import pytest

from backuprun.backupserver import public
from backuprun.backupserver.listeners import Listener
from backuprun.transport import tls

from .conftest import HOSTILE

LOGIN = {"username": "S42", "password": "service-password"}
WRONG = {"username": "S42", "password": "not it"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
async def site(serve, fake, ids, tmp_path, clock):
    secret = public.load_or_create_secret(tmp_path / "data")
    app = public.create_app(fake, ids["server"], "Los Angeles", secret, max_failures=3,
                            window=60, clock=clock)
    group = await serve(Listener("public", app, "127.0.0.1", 0,
                                 tls.server_context(ids["server"])))
    return group.url("public")


@pytest.fixture
async def browser(site, ids):
    context = tls.client_context(None, ids["server"].cert_pem)
    async with httpx.AsyncClient(base_url=site, verify=context) as http:
        yield http


async def test_index_names_the_server_and_its_fingerprint(browser, ids):
    page = (await browser.get("/")).text
    assert "Los Angeles" in page
    assert ids["server"].fingerprint in page
    assert 'href="/server.pem"' in page


async def test_certificate_is_served_and_matches_what_tls_presents(browser, site, ids):
    response = await browser.get(public.PEM_PATH)
    assert response.status_code == 200
    assert response.content == ids["server"].cert_pem
    host, port = site.removeprefix("https://").rsplit(":", 1)
    fetched = await asyncio.to_thread(tls.fetch_certificate, host, int(port))
    assert fetched == ids["server"].cert_pem
    assert tls.fingerprint_of(fetched) == ids["server"].fingerprint


async def test_login_page_is_a_labelled_form_under_a_strict_policy(browser):
    response = await browser.get("/login")
    assert '<label for="username">' in response.text
    assert '<label for="password">' in response.text
    assert 'type="password"' in response.text
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "http" not in response.text.replace('method="post"', "")  # no external assets


async def test_right_login_opens_the_escaped_view(browser, fake):
    response = await browser.post("/login", data=LOGIN)
    assert response.status_code == 303
    assert response.headers["location"] == "/service"
    cookie = response.headers["set-cookie"]
    for attribute in ("__Host-backuprun_service=", "HttpOnly", "Secure", "SameSite=lax",
                      "Path=/"):
        assert attribute in cookie
    page = await browser.get("/service")
    assert page.status_code == 200
    for heading in ("Volume", "Disk safe", "Policy", "Recovery points", "Tasks"):
        assert f"<h2>{heading}</h2>" in page.text
    assert HOSTILE not in page.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page.text
    assert fake.calls == ["authenticate", "view"]


async def test_wrong_login_fails_and_the_view_needs_a_session(browser, fake):
    response = await browser.post("/login", data=WRONG)
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert "set-cookie" not in response.headers
    response = await browser.get("/service")
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert "view" not in fake.calls


async def test_a_forged_session_is_no_session(browser, site, ids, tmp_path, fake):
    other = public.create_app(fake, ids["server"], "x", b"another secret")
    forged = await _cookie_from(other)
    browser.cookies.set(public.COOKIE, forged)
    response = await browser.get("/service")
    assert response.status_code == 303
    assert "view" not in fake.calls


async def _cookie_from(app) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://test") as http:
        response = await http.post("/login", data=LOGIN)
    return response.cookies[public.COOKIE]


async def test_logout_ends_the_session(browser):
    await browser.post("/login", data=LOGIN)
    assert (await browser.get("/service")).status_code == 200
    response = await browser.post("/logout")
    assert response.status_code == 303
    assert (await browser.get("/service")).status_code == 303


async def test_failed_logins_are_throttled_per_address(browser, clock, fake):
    for _ in range(3):
        assert (await browser.post("/login", data=WRONG)).status_code == 401
    refused = await browser.post("/login", data=LOGIN)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert fake.calls.count("authenticate") == 3  # refused attempts never reach the server
    clock.now += 61
    assert (await browser.post("/login", data=LOGIN)).status_code == 303


async def test_post_from_another_origin_is_refused(browser, fake):
    response = await browser.post("/login", data=LOGIN,
                                  headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert fake.calls == []


async def test_login_needs_a_url_encoded_form(browser):
    response = await browser.post("/login", json=LOGIN)
    assert response.status_code == 400


def test_throttle_window_slides():
    clock = Clock()
    throttle = public.FailedLogins(2, 10, clock)
    throttle.record("2001:db8::1")
    clock.now += 5
    throttle.record("2001:db8::2")  # the same /64
    assert throttle.retry_after("2001:db8::3") == 5
    assert throttle.retry_after("192.0.2.1") == 0
    clock.now += 5
    assert throttle.retry_after("2001:db8::1") == 0


def test_login_url():
    assert public.login_url("bs528.example.com", 9443) == "https://bs528.example.com:9443/login"
    assert public.login_url("2001:db8::5", 443) == "https://[2001:db8::5]:443/login"


def test_secret_is_kept_private_and_reused(tmp_path):
    first = public.load_or_create_secret(tmp_path)
    assert public.load_or_create_secret(tmp_path) == first
    assert len(first) == 64
    assert stat.S_IMODE((tmp_path / public.SECRET_FILE).stat().st_mode) == 0o600
