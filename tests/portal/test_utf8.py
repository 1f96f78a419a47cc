"""Text is UTF-8 both ways, in both form encodings: raw or percent-encoded bytes are read as
UTF-8 (never Latin-1), and bytes that are not UTF-8 are refused, naming the field."""

from __future__ import annotations

from urllib.parse import quote_from_bytes

import pytest

from .conftest import PASSWORD, Answer, unique_email


def raw_body(encoding: str, fields: dict[str, bytes], percent: bool) -> tuple[bytes, str]:
    """The body and content type carrying ``fields`` byte for byte."""
    if encoding == "urlencoded":
        encode = quote_from_bytes if percent else (lambda b: b.decode("latin-1"))
        body = "&".join(f"{k}={encode(v)}" for k, v in fields.items()).encode("latin-1")
        return body, "application/x-www-form-urlencoded"
    parts = [b'--b0und\r\nContent-Disposition: form-data; name="' + k.encode() + b'"\r\n\r\n'
             + v + b"\r\n" for k, v in fields.items()]
    return b"".join(parts) + b"--b0und--\r\n", "multipart/form-data; boundary=b0und"


def post_raw(api, percent: bool, **fields: bytes) -> Answer:
    body, content_type = raw_body(api.encoding, fields, percent)
    return Answer(api.http.post(api.portal.api_url, content=body,
                                headers={"content-type": content_type}))


def register_fields(name: bytes) -> dict[str, bytes]:
    return {"apiCALL": b"registerNewUser", "email": unique_email().encode(), "name": name,
            "password": PASSWORD.encode()}


@pytest.mark.parametrize("percent", [False, True], ids=["raw", "percent"])
def test_utf8_is_read_as_utf8(api, percent):
    fields = register_fields("Zoë Ünïcødé 日本".encode())
    post_raw(api, percent, **fields).ok()
    answer = api.login(fields["email"].decode()).ok()
    assert answer.root.find("user/name").get("value") == "Zoë Ünïcødé 日本"


@pytest.mark.parametrize("percent", [False, True], ids=["raw", "percent"])
@pytest.mark.parametrize("field", ["name", "email", "password"])
def test_invalid_utf8_is_refused_naming_the_field(api, percent, field):
    fields = register_fields(b"Zoe")
    fields[field] = b"Zo\xeb\xff" + fields[field]
    answer = post_raw(api, percent, **fields).fails("invalid_field", field)
    assert "UTF-8" in answer.root.find("error").get("message")
    if field != "email":  # nothing was stored
        api.login(fields["email"].decode()).fails("wrong_credentials")
