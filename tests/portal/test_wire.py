"""The HTTP surface: methods, paths, body types and sizes, and well-formed XML always."""

from __future__ import annotations

import httpx
import pytest

from .conftest import PASSWORD, Answer, unique_email


@pytest.fixture
def http():
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405(http, portal, method):
    response = http.request(method, portal.api_url)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    Answer(response).fails("method_not_allowed", http=405)


@pytest.mark.parametrize("path", ["/api", "/api.php/", "/api.php/x", "/index.php"])
def test_wrong_path_is_404(http, portal, path):
    response = http.post(portal.url + path, data={"apiCALL": "login"})
    Answer(response).fails("not_found", http=404)
    assert "location" not in response.headers  # never a redirect


def test_the_dashboard_is_not_the_api(http, portal):
    """``/`` is the dashboard's page (docs/dashboard.md): a post there is a wrong method."""
    response = http.post(portal.url + "/", data={"apiCALL": "login"})
    Answer(response).fails("method_not_allowed", http=405)
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_head_is_405_in_xml(http, portal):
    response = http.head(portal.api_url)
    assert response.status_code == 405
    assert response.headers["content-type"] == "text/xml; charset=utf-8"


def test_other_body_types_are_415(http, portal):
    response = http.post(portal.api_url, content=b'{"apiCALL": "login"}',
                         headers={"content-type": "application/json"})
    Answer(response).fails("unsupported_media_type", http=415)
    response = http.post(portal.api_url, content=b"apiCALL=login")  # no content type
    Answer(response).fails("unsupported_media_type", http=415)


def test_request_over_size_cap_is_413(http, portal):
    cap = portal.settings.max_request_bytes
    response = http.post(portal.api_url, data={"apiCALL": "login", "email": "a" * cap})
    Answer(response).fails("request_too_large", http=413)
    response = http.post(portal.api_url, files={"apiCALL": (None, "login"),
                                                "name": (None, "n" * cap)})
    Answer(response).fails("request_too_large", http=413)


def test_chunked_request_over_size_cap_is_413(http, portal):
    cap = portal.settings.max_request_bytes

    def body():
        yield b"apiCALL=login&email="
        for _ in range(cap // 1024 + 2):
            yield b"a" * 1024

    response = http.post(portal.api_url, content=body(),
                         headers={"content-type": "application/x-www-form-urlencoded"})
    Answer(response).fails("request_too_large", http=413)


def test_file_upload_is_refused(http, portal):
    response = http.post(portal.api_url, data={"apiCALL": "login"},
                         files={"email": ("a.txt", b"a@example.com", "text/plain")})
    Answer(response).fails("malformed_request", http=400)


WHOLE_PART = b'--xyz\r\nContent-Disposition: form-data; name="apiCALL"\r\n\r\nlogin\r\n'


@pytest.mark.parametrize("content_type, body", [
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nnonsense"),
    ("multipart/form-data; boundary=xyz", WHOLE_PART),  # no closing boundary
    ("multipart/form-data; boundary=xyz", WHOLE_PART.replace(b'name="apiCALL"', b"x")),
    ("multipart/form-data", WHOLE_PART + b"--xyz--\r\n"),  # no boundary parameter
    ("multipart/form-data; boundary=abc", WHOLE_PART + b"--xyz--\r\n"),
    ("application/x-www-form-urlencoded", b"&".join([b"a=1"] * 101)),  # too many fields
])
def test_broken_forms_are_400_in_xml(http, portal, content_type, body):
    response = http.post(portal.api_url, content=body, headers={"content-type": content_type})
    Answer(response).fails("malformed_request", http=400)


def test_both_encodings_reach_the_same_account(portal, new_api):
    email = unique_email()
    first = new_api()
    first.register(email)
    # the other encoding, on a raw client
    with httpx.Client(timeout=30) as http:
        fields = {"apiCALL": "login", "email": email, "password": PASSWORD}
        Answer(http.post(portal.api_url, data=fields)).ok()
        Answer(http.post(portal.api_url, files={k: (None, v) for k, v in fields.items()})).ok()


def test_answer_is_xml_with_declaration_and_utf8(api):
    answer = api.call("registerNewUser", email=unique_email(), name="x", password=PASSWORD)
    assert answer.response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert answer.response.headers["content-type"] == "text/xml; charset=utf-8"


def test_server_failure_is_500_with_xml(make_portal, new_api, databases):
    """A broken database gives internal_error, as XML, not a traceback."""
    import sqlalchemy

    portal = make_portal()
    api = new_api(portal)
    api.register()
    url = portal.settings.database_url.replace("+aiosqlite", "")  # a sync driver
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DROP TABLE login_attempts"))
    engine.dispose()
    answer = api.login("someone@example.com", PASSWORD).fails("internal_error", http=500)
    assert "Traceback" not in answer.text
