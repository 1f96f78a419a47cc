"""A small client of ``api.php``: one POST per call, urlencoded, an XML answer back.

- Fields are sent as ``application/x-www-form-urlencoded``; a list is an array field,
  ``path[]=a&path[]=b``; ``None`` is left out.
- An answer is accepted only as the API writes it: XML, ``<response>`` at the root and
  ``<status>`` its first child. ``<status value="error">`` raises :class:`ApiError` with the
  ``<error>``'s code, message and field; anything else that answers (a web page, a proxy's
  error) raises :class:`Unreachable`, as does a network failure.
- The session is one cookie, sent as a ``Cookie`` header with every call to this URL; the
  cookies ``login`` sets are read from its ``Set-Cookie`` headers (:meth:`Portal.login`).
- ``downloadFiles`` answers a file, streamed (:meth:`Portal.download`); an error before the
  first byte is an XML answer (``text/xml``), after it the server breaks the connection off.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlencode, urlsplit, urlunsplit
from xml.etree.ElementTree import Element

import httpx
from defusedxml import ElementTree as SafeTree

TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DOWNLOAD_TIMEOUT = httpx.Timeout(300.0, connect=10.0)  # the server may think between pieces
XML_TYPES = ("text/xml", "application/xml")


class ApiError(Exception):
    """The portal refused the call: ``<status value="error">`` and its ``<error>``."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.field = code, message, field

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        return f"{self.code}: {self.message}{where}"


class Unreachable(Exception):
    """Nothing usable answers at the URL: no connection, a timeout, a broken-off transfer,
    or an answer that is not the API's XML."""


def api_url(url: str) -> str:
    """The ``api.php`` address of a portal: ``https://host`` and ``https://host/api.php``
    both name it. Only http and https are accepted (``ValueError`` otherwise)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not a portal address: give http(s)://HOST[:PORT][/api.php]")
    path = parts.path.rstrip("/")
    if not path.endswith("/api.php"):
        path += "/api.php"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def encode(api_call: str, fields: dict) -> bytes:
    """The urlencoded body: ``apiCALL`` first, then the fields, arrays as ``name[]``."""
    pairs: list[tuple[str, str]] = [("apiCALL", api_call)]
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            pairs += [(name + "[]", str(v)) for v in value]
        elif isinstance(value, bool):
            pairs.append((name, "1" if value else "0"))
        else:
            pairs.append((name, str(value)))
    return urlencode(pairs).encode("ascii")


def session_cookies(response: httpx.Response) -> dict[str, str]:
    """The cookies an answer sets (a cleared one, empty or expired, is left out)."""
    found: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            continue
        for name, morsel in jar.items():
            if morsel.value and morsel["max-age"] not in ("0", "-1"):
                found[name] = morsel.value
    return found


def parse(response: httpx.Response, url: str) -> Element:
    """The ``<response>`` of an ok answer; :class:`ApiError` or :class:`Unreachable`."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    root = None
    if kind in XML_TYPES:
        try:
            root = SafeTree.fromstring(response.content)
        except (SafeTree.ParseError, ValueError):
            root = None
    first = root[0] if root is not None and len(root) else None
    if root is None or root.tag != "response" or first is None or first.tag != "status":
        if response.is_redirect and response.headers.get("location"):
            raise Unreachable(f"{url} redirects to {response.headers['location']}: "
                              "log in with that address")
        raise Unreachable(f"{url} does not answer as a BackupRun api.php "
                          f"(HTTP {response.status_code}, {kind or 'no content type'})")
    if first.get("value") != "ok":
        error = root.find("error")
        if error is None:
            raise ApiError("unknown_error", "The portal answered an error without saying which.")
        raise ApiError(error.get("code", "unknown_error"), error.get("message", ""),
                       error.get("field"))
    return root


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


@dataclass
class Download:
    """A file being answered: its name (``Content-Disposition``), type and pieces."""

    filename: str
    media_type: str
    pieces: Iterator[bytes]


class Portal:
    """The portal at ``url`` (its ``api.php``), with the session ``cookies`` if any."""

    def __init__(self, url: str, cookies: dict[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None):
        self.url = api_url(url)
        self.cookies = dict(cookies or {})
        self.http = httpx.Client(timeout=TIMEOUT, transport=transport, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Portal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _post(self, api_call: str, fields: dict) -> httpx.Response:
        self.http.cookies.clear()  # the session is ours to send, never httpx's jar
        try:
            return self.http.post(self.url, content=encode(api_call, fields),
                                  headers=self._headers())
        except httpx.HTTPError as exc:
            raise Unreachable(f"cannot reach {self.url}: {_reason(exc)}") from None

    def call(self, api_call: str, **fields) -> Element:
        """Make the call; the answer's ``<response>``."""
        return parse(self._post(api_call, fields), self.url)

    def login(self, email: str, password: str, remember: bool = False) -> Element:
        """``login``; keeps the session cookie it sets in :attr:`cookies`."""
        self.cookies = {}
        response = self._post("login", {"email": email, "password": password,
                                        "remember": remember})
        root = parse(response, self.url)
        self.cookies = session_cookies(response)
        if not self.cookies:
            raise Unreachable(f"{self.url} answered login without a session cookie")
        return root

    @contextmanager
    def download(self, api_call: str, **fields) -> Iterator[Download]:
        """A call that answers a file: the :class:`Download` while the block reads it.
        An XML answer raises (:func:`parse`) before anything is yielded."""
        self.http.cookies.clear()
        request = self.http.build_request("POST", self.url, content=encode(api_call, fields),
                                          headers=self._headers(), timeout=DOWNLOAD_TIMEOUT)
        try:
            response = self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise Unreachable(f"cannot reach {self.url}: {_reason(exc)}") from None
        try:
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind in XML_TYPES or response.status_code != 200:
                self._read(response)
                parse(response, self.url)
                raise Unreachable(f"{self.url} answered {api_call} without a file")
            yield Download(_filename(response), kind, self._pieces(response))
        finally:
            response.close()

    def _read(self, response: httpx.Response) -> None:
        try:
            response.read()
        except httpx.HTTPError as exc:
            raise Unreachable(f"cannot reach {self.url}: {_reason(exc)}") from None

    def _pieces(self, response: httpx.Response) -> Iterator[bytes]:
        done = 0
        try:
            for piece in response.iter_bytes():
                done += len(piece)
                yield piece
        except httpx.HTTPError as exc:
            raise Unreachable(f"the download broke off after {done} bytes: "
                              f"{_reason(exc)}") from None


def _filename(response: httpx.Response) -> str:
    header = response.headers.get("content-disposition", "")
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "filename" and value:
            return value.strip('"')
    return ""
