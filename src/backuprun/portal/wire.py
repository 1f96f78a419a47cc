"""The ``api.php`` wire format: forms in, XML out.

Rules:
- Requests are ``multipart/form-data`` (PHP curl with an array) or
  ``application/x-www-form-urlencoded``; nothing else. Bodies over ``max_request_bytes`` are
  refused before they are parsed; multipart file parts are refused.
- Answers are ``<response>`` documents whose first child is ``<status value="ok|error">``,
  written by ElementTree with explicit end tags (``<x></x>``), attributes in the order the
  handler gave them (the API document's order), names lower case. An error adds
  ``<error code="..." message="..." field="..."></error>`` after the status (``field`` only
  when one field is at fault).
"""

from __future__ import annotations

from typing import Iterable, Mapping
from xml.etree.ElementTree import Element, SubElement, tostring

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response

from backuprun.portal.errors import ErrorCode, PortalError

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_FIELDS = 100
MAX_PART_SIZE = 1024 * 1024
XML_TYPE = "text/xml; charset=utf-8"


def element(tag: str, attributes: Mapping[str, object] | None = None,
            children: Iterable[Element] = ()) -> Element:
    """An element with attributes in the given order; values rendered as the wire wants."""
    el = Element(tag)
    for name, value in (attributes or {}).items():
        el.set(name.lower(), wire_value(value))
    el.extend(children)
    return el


def wire_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def document(status: str, children: Iterable[Element] = ()) -> bytes:
    root = Element("response")
    SubElement(root, "status", {"value": status})
    root.extend(children)
    body = tostring(root, encoding="unicode", short_empty_elements=False)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def error_element(error: PortalError) -> Element:
    attributes = {"code": error.code.value, "message": error.message}
    if error.field:
        attributes["field"] = error.field
    return element("error", attributes)


def ok_response(children: Iterable[Element] = ()) -> Response:
    return Response(document("ok", children), media_type=XML_TYPE)


def error_response(error: PortalError, headers: Mapping[str, str] | None = None) -> Response:
    return Response(document("error", [error_element(error)]), status_code=error.http_status,
                    media_type=XML_TYPE, headers=dict(headers or {}))


async def read_form(request: Request, max_bytes: int) -> dict[str, str]:
    """The request's fields, last value winning, after checking type and size."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in FORM_TYPES:
        raise PortalError(ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise PortalError(ErrorCode.REQUEST_TOO_LARGE if declared.isdigit()
                          else ErrorCode.MALFORMED_REQUEST)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PortalError(ErrorCode.REQUEST_TOO_LARGE)
    replay = Request(request.scope, receive=_replay(bytes(body)))
    try:
        form = await replay.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_PART_SIZE)
    except (MultiPartException, ValueError, KeyError) as exc:
        raise PortalError(ErrorCode.MALFORMED_REQUEST) from exc
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            raise PortalError(ErrorCode.MALFORMED_REQUEST, name)
        fields[name] = value
    return fields


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
