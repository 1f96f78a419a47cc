"""The portal serves the dashboard (docs/dashboard.md): the page at ``/``, its files under
``/dashboard/``, with a policy of ``'self'`` only and nothing from another site."""

from __future__ import annotations

import re

import httpx
import pytest

from backuprun.portal.pages.dashboard import POLICY, assets


@pytest.fixture
def http():
    with httpx.Client(timeout=30) as client:
        yield client


def test_the_page_and_its_files(portal, http):
    page = http.get(portal.url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="dashboard/app.js"></script>' in page.text
    for name, kind in (("app.js", "text/javascript"), ("views/restore.js", "text/javascript"),
                       ("app.css", "text/css"), ("icon.svg", "image/svg+xml")):
        answer = http.get(f"{portal.url}/dashboard/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith(kind), name
        assert answer.headers["content-security-policy"] == POLICY


def test_an_unchanged_file_is_not_sent_again(portal, http):
    first = http.get(portal.url + "/dashboard/api.js")
    again = http.get(portal.url + "/dashboard/api.js",
                     headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize("path", ["/dashboard/nope.js", "/dashboard/../app.py",
                                  "/dashboard/%2e%2e/pages/dashboard.py", "/dashboard/",
                                  "/dashboard/views", "/index.html"])
def test_anything_else_is_the_apis_not_found(portal, http, path):
    answer = http.get(portal.url + path)
    assert answer.status_code == 404
    assert 'code="not_found"' in answer.text


def test_the_policy_allows_only_the_portal_itself():
    parts = dict(part.strip().split(" ", 1) for part in POLICY.split(";"))
    assert parts["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src", "form-action", "frame-src"):
        assert parts[directive] == "'self'", directive
    assert "unsafe" not in POLICY


def test_no_inline_code_and_nothing_from_another_site():
    """No inline script, style or handler (the policy refuses them), and no address of
    another site in any file: everything the dashboard runs comes from the portal."""
    for name, asset in assets().items():
        text = asset.body.decode("utf-8")
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)[a-z0-9]", text), name
        if name.endswith(".html"):
            assert not re.search(r"<script(?![^>]*\bsrc=)", text), name
            assert "<style" not in text and " style=" not in text, name
            assert not re.search(r"\son[a-z]+=", text), name


def test_every_kind_of_file_served_is_shipped_in_the_package():
    import tomllib
    from pathlib import Path

    from backuprun.portal.pages.dashboard import MEDIA_TYPES

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    shipped = project["tool"]["setuptools"]["package-data"]["backuprun"]
    for suffix in MEDIA_TYPES:
        assert f"**/*{suffix}" in shipped, suffix
