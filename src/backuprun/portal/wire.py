"""The ``api.php`` wire format: XML answers (requests are read by ``forms``).

Rules:
- Answers are ``<response>`` documents whose first child is ``<status value="ok|error">``,
  written by ElementTree with explicit end tags (``<x></x>``), attributes in the order the
  handler gave them (the API document's order), names lower case. An error adds
  ``<error code="..." message="..." field="..."></error>`` after the status (``field`` only
  when one field is at fault).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable, Mapping
from xml.etree.ElementTree import Element, SubElement, tostring

from starlette.responses import Response

from backuprun.portal.errors import PortalError

XML_TYPE = "text/xml; charset=utf-8"


def element(tag: str, attributes: Mapping[str, object] | None = None,
            children: Iterable[Element] = ()) -> Element:
    """An element with attributes in the given order; values rendered as the wire wants."""
    el = Element(tag, {name.lower(): wire_value(value)
                       for name, value in (attributes or {}).items()})
    el.extend(children)
    return el


def wire_value(value: object) -> str:
    if value.__class__ is str:  # the most common case first (getStatus: 41 per service)
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def wire_time(iso: str, offset_minutes: int = 0) -> str:
    """An ISO time (UTC) as the document writes times, ``YYYY-MM-DD HH:MM:SS``, shifted by
    a browser's ``timezoneOffset`` (120: two hours behind UTC); empty stays empty."""
    if not iso:
        return ""
    at = datetime.fromisoformat(iso) - timedelta(minutes=offset_minutes)
    return at.strftime("%Y-%m-%d %H:%M:%S")


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
    headers = dict(headers or {})
    if error.http_status == 503:
        headers["Retry-After"] = "1"
    return Response(document("error", [error_element(error)]), status_code=error.http_status,
                    media_type=XML_TYPE, headers=headers)
