"""Array fields (``path[]``) arrive the ways PHP sends them, in both encodings."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from starlette.requests import Request

from backuprun.portal import forms
from backuprun.portal.calls.base import Fields


async def read(content: bytes, content_type: str) -> Fields:
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": content, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/api.php", "headers": [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(content)).encode())]}
    return Fields(await forms.read_form(Request(scope, receive), 1 << 20))


def encoded(fields: list[tuple[str, str]], encoding: str) -> tuple[bytes, str]:
    if encoding == "multipart":
        request = httpx.Request("POST", "http://x/", files=[(k, (None, v)) for k, v in fields])
        return request.read(), request.headers["content-type"]
    return urlencode(fields).encode(), "application/x-www-form-urlencoded"


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
async def test_brackets_keep_the_order_sent(encoding):
    fields = await read(*encoded([("path[]", "/b"), ("path[]", "/a"), ("x", "1")], encoding))
    assert fields.values("path") == ["/b", "/a"]
    assert fields.get("x") == "1" and fields.get("path") is None


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
async def test_numbered_ones_follow_their_numbers(encoding):
    fields = await read(*encoded([("path[1]", "/second"), ("path[0]", "/first"),
                                  ("path[10]", "/eleventh")], encoding))
    assert fields.values("path") == ["/first", "/second", "/eleventh"]


async def test_a_plain_field_is_a_list_of_one():
    fields = await read(b"path=%2Fetc", "application/x-www-form-urlencoded")
    assert fields.values("path") == ["/etc"]
    assert fields.values("other") == []
