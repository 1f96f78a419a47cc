"""Reading an ``api.php`` request: both form encodings, UTF-8 only, a size cap.

Rules:
- The body is ``multipart/form-data`` (PHP curl with an array; parsed by python-multipart) or
  ``application/x-www-form-urlencoded`` (the standard library's parser); anything else is
  ``unsupported_media_type``. A body over ``max_request_bytes`` is refused before it is
  parsed; a body that is not a complete form, or holds a file part, is
  ``malformed_request``.
- Names and values are UTF-8, raw or percent-encoded (``Zoë`` arrives as ``Zo%C3%AB`` from
  PHP's ``http_build_query`` and as raw bytes from some clients). Bytes that are not UTF-8
  are refused with ``invalid_field`` naming the field: never replaced, never read as Latin-1.
- A field sent twice: the last value counts. At most ``MAX_FIELDS`` fields.
- A field that takes several values arrives the ways PHP sends arrays: ``path[]=a&path[]=b``
  (in the order sent) or ``path[0]=a&path[1]=b`` (in the order of the numbers, as
  ``http_build_query`` writes them). Either way it is one list, under ``path[]``.
- A client that goes away before its body is complete raises :class:`ClientGone`: there is
  nobody left to answer.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import FormParser, MultipartState, parse_options_header
from starlette.requests import ClientDisconnect, Request

from backuprun.portal.errors import ErrorCode, PortalError

MULTIPART = b"multipart/form-data"
URLENCODED = b"application/x-www-form-urlencoded"
MAX_FIELDS = 100
_ARRAY = re.compile(r"(.+)\[(\d{0,6})\]")


class ClientGone(Exception):
    """The client disconnected before it sent its whole request."""


async def read_form(request: Request, max_bytes: int) -> dict[str, str | list[str]]:
    """The request's fields, last value winning (arrays: a list under ``name[]``), after
    checking type, size and encoding."""
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    if media_type not in (MULTIPART, URLENCODED):
        raise PortalError(ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    body = await read_body(request, max_bytes)
    pairs = _multipart(body, options) if media_type == MULTIPART else _urlencoded(body)
    if len(pairs) > MAX_FIELDS:
        raise PortalError(ErrorCode.MALFORMED_REQUEST)
    fields: dict[str, str | list[str]] = {}
    arrays: dict[str, list[tuple[int, int, str]]] = {}
    for position, (name, value) in enumerate(pairs):
        name_text = _utf8(name, name.decode("utf-8", "replace"))
        value_text = _utf8(value, name_text)
        array = _ARRAY.fullmatch(name_text)
        if array is None:
            fields[name_text] = value_text
        else:
            index = int(array.group(2)) if array.group(2) else position
            arrays.setdefault(array.group(1) + "[]", []).append((index, position, value_text))
    for name, items in arrays.items():
        fields[name] = [value for _, _, value in sorted(items)]
    return fields


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise PortalError(ErrorCode.REQUEST_TOO_LARGE if declared.isdigit()
                          else ErrorCode.MALFORMED_REQUEST)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise PortalError(ErrorCode.REQUEST_TOO_LARGE)
    except ClientDisconnect as exc:
        raise ClientGone from exc
    return bytes(body)


def _utf8(raw: bytes, field: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PortalError(ErrorCode.INVALID_FIELD, field,
                          "A field is not valid UTF-8 text.") from exc


def _urlencoded(body: bytes) -> list[tuple[bytes, bytes]]:
    # Latin-1 maps each byte to one character and back, so raw and percent-encoded bytes
    # both come out as the bytes that were meant; they are decoded as UTF-8 afterwards.
    try:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1",
                          errors="strict", max_num_fields=MAX_FIELDS)
    except ValueError as exc:  # too many fields
        raise PortalError(ErrorCode.MALFORMED_REQUEST) from exc
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


def _multipart(body: bytes, options: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    boundary = options.get(b"boundary")
    if not boundary:
        raise PortalError(ErrorCode.MALFORMED_REQUEST)
    pairs: list[tuple[bytes, bytes]] = []

    def on_field(field) -> None:
        pairs.append((field.field_name, field.value or b""))

    def on_file(file) -> None:
        name = file.field_name.decode("utf-8", "replace")
        raise PortalError(ErrorCode.MALFORMED_REQUEST, name)

    parser = FormParser(MULTIPART.decode(), on_field, on_file, boundary=boundary)
    try:
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise PortalError(ErrorCode.MALFORMED_REQUEST) from exc
    if parser.parser.state != MultipartState.END:  # cut short: not a whole form
        raise PortalError(ErrorCode.MALFORMED_REQUEST)
    return pairs
