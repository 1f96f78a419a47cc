"""The recovery e-mail's link opens a real page that sets the new password via api.php."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from .conftest import PASSWORD, Answer, read_outbox, recovery_code

LINK_RE = re.compile(r"(http\S+/reset-password\?recoverycode=\S+)")


@pytest.fixture
def http():
    with httpx.Client(timeout=30) as client:
        yield client


def mailed_link(api, portal) -> str:
    email = api.register()
    api.call("recoverPassword", email=email).ok()
    message = read_outbox(portal.outbox, email)[0]
    return email, LINK_RE.search(message.get_content()).group(1), recovery_code(message)


def test_the_mailed_link_opens_the_page(api, portal, http):
    _, link, _ = mailed_link(api, portal)
    page = http.get(link)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    html = page.text
    assert '<form id="reset" method="post" action="api.php">' in html
    assert 'name="apiCALL" value="resetPassword"' in html
    assert 'name="recoverycode"' in html and 'name="password"' in html
    assert "http" not in re.sub(r"<script>.*?</script>", "", html, flags=re.S).split(
        "<body>", 1)[1]  # no external assets
    assert http.head(link).status_code == 200


def test_the_policy_allows_exactly_the_inline_script_and_style(portal, http):
    page = http.get(portal.url + "/reset-password?recoverycode=x")
    policy = dict(part.strip().split(" ", 1)
                  for part in page.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'" and policy["form-action"] == "'self'"
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    for kind in ("script", "style"):
        bodies = re.findall(rf"<{kind}>(.*?)</{kind}>", page.text, re.S)
        assert len(bodies) == 1
        digest = base64.b64encode(hashlib.sha256(bodies[0].encode()).digest()).decode()
        assert policy[f"{kind}-src"] == f"'sha256-{digest}'"
    assert len(re.findall(r"<(script|style)\b", page.text)) == 2  # nothing else inline


def test_the_form_as_the_page_sends_it_resets_the_password(api, portal, new_api):
    """What the page's script posts: the form's fields as multipart, to api.php beside it."""
    email, link, code = mailed_link(api, portal)
    target = httpx.URL(link).join("api.php")
    browser = httpx.Client(timeout=30)
    fields = {"apiCALL": "resetPassword", "recoverycode": code, "password": "from the page",
              "remember": "1"}
    Answer(browser.post(target, files={k: (None, v) for k, v in fields.items()})).ok()
    again = Answer(browser.post(target, files={k: (None, v) for k, v in fields.items()}))
    again.fails("recovery_code_used")
    assert 'recovery_code_used' in browser.get(link).text  # the page has words for it
    browser.close()
    new_api().login(email, "from the page").ok()
    new_api().login(email, PASSWORD).fails("wrong_credentials")
