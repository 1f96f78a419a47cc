"""A location's public HTTPS app, served on its ``https_port`` with its own identity.

Paths:
- ``GET /``: names the backup server (its location) and shows its certificate's fingerprint.
- ``GET /server.pem``: the certificate (PEM). This is what agents fetch to pin the server
  (``backuprun agent trust URL``): the trust-on-first-use fetch, checked by fingerprint.
- ``GET /login``, ``POST /login`` (form fields ``username``, ``password``): a service's own
  login, checked by ``server.authenticate``; the portal's ``serverurl`` is
  :func:`login_url`. ``GET /service``: that one service, read-only (``server.view``).
  ``POST /logout``.

Rules:
- A login is a signed cookie (itsdangerous, HMAC-SHA256 over the service id and the time it
  was signed) with the secret in ``<data folder>/session-secret``: valid in every process
  that shares the folder, for ``session_lifetime`` seconds, and not revocable before then
  (logout removes it from the browser; changing the secret ends every login). The cookie is
  ``__Host-`` prefixed, Secure, HttpOnly, SameSite=Lax.
- Failed logins are throttled per client address (an IPv6 client by its /64) in a sliding
  window kept in this process's memory: ``max_failures`` in ``window`` seconds, then 429
  until the oldest failure leaves the window. Refused attempts are not counted. Each process
  counts on its own; a restart forgets.
- No GET changes anything; POSTs with an ``Origin`` other than this server are refused
  (403), on top of SameSite=Lax.
- HTML comes only from :mod:`pages`; every page has a strict CSP and is not cached.
"""

from __future__ import annotations

import collections
import hashlib
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs

import anyio
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from backuprun.backupserver import pages
from backuprun.backupserver.client import BackupServerError
from backuprun.backupserver.bodies import read_capped
from backuprun.netaddr import address_key
from backuprun.transport.files import create_exclusive
from backuprun.transport.tls import Identity

PEM_PATH = "/server.pem"
COOKIE = "__Host-backuprun_service"
SECRET_FILE = "session-secret"
MAX_FORM_BYTES = 16 * 1024
SECURITY_HEADERS = {"Content-Security-Policy": pages.CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                    "Cache-Control": "no-store"}


def login_url(hostname: str, https_port: int) -> str:
    """The ``serverurl`` of a backup server: its login page."""
    host = f"[{hostname}]" if ":" in hostname else hostname
    return f"https://{host}:{https_port}/login"


def load_or_create_secret(data_dir: Path | str) -> bytes:
    """The session secret kept in ``data_dir`` (made on first use, mode 0600)."""
    path = Path(data_dir) / SECRET_FILE
    create_exclusive(path, secrets.token_hex(32).encode())
    return path.read_bytes().strip()


class FailedLogins:
    """Failed logins per client address in a sliding window (see the module's rules)."""

    def __init__(self, max_failures: int, window: float, clock=time.monotonic):
        self.max_failures, self.window, self.clock = max_failures, window, clock
        self._failures: dict[str, collections.deque] = {}

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may now."""
        failures = self._recent(address_key(address))
        if len(failures) < self.max_failures:
            return 0.0
        return failures[0] + self.window - self.clock()  # > 0: older ones were dropped

    def record(self, address: str) -> None:
        key = address_key(address)
        self._recent(key).append(self.clock())
        if len(self._failures) > 10_000:  # forget addresses whose failures all expired
            for other in [k for k in self._failures if not self._recent(k)]:
                del self._failures[other]

    def _recent(self, key: str) -> collections.deque:
        failures = self._failures.setdefault(key, collections.deque())
        while failures and failures[0] <= self.clock() - self.window:
            failures.popleft()
        return failures


def create_app(server, identity: Identity, location_name: str, secret: bytes, *,
               session_lifetime: int = 8 * 3600, max_failures: int = 10,
               window: float = 15 * 60, clock=time.monotonic) -> Starlette:
    """The public app of ``server`` (``authenticate`` and ``view``, see BackupServer)."""
    signer = URLSafeTimedSerializer(secret, salt="backuprun.backupserver.public.login",
                                    signer_kwargs={"digest_method": hashlib.sha256})
    throttle = FailedLogins(max_failures, window, clock)

    def session(request: Request) -> int | None:
        try:
            return int(signer.loads(request.cookies.get(COOKIE, ""), max_age=session_lifetime))
        except (BadSignature, TypeError, ValueError):
            return None

    async def index(request: Request) -> Response:
        return _html(pages.index(location_name, identity.fingerprint, PEM_PATH))

    async def certificate(request: Request) -> Response:
        return Response(identity.cert_pem, media_type="application/x-pem-file",
                        headers={"Cache-Control": "no-cache"})

    async def login_form(request: Request) -> Response:
        return _html(pages.login(location_name))

    async def login(request: Request) -> Response:
        address = request.client.host if request.client else "unknown"
        wait = throttle.retry_after(address)
        if wait:
            return _html(pages.message("Too many failed logins",
                                       f"Try again in {int(wait) + 1} seconds."), 429,
                         {"Retry-After": str(int(wait) + 1)})
        fields = await _read_form(request)
        if fields is None:
            return _html(pages.message("Bad request", "Send the login form."), 400)
        username, password = fields.get("username", ""), fields.get("password", "")
        service_id = None
        if username and password:
            service_id = await anyio.to_thread.run_sync(server.authenticate, username, password)
        if service_id is None:
            throttle.record(address)
            return _html(pages.login(location_name, "Wrong username or password.", username),
                         401)
        response = RedirectResponse("/service", status_code=303)
        response.set_cookie(COOKIE, signer.dumps(int(service_id)), max_age=session_lifetime,
                            path="/", secure=True, httponly=True, samesite="lax")
        return response

    async def service(request: Request) -> Response:
        service_id = session(request)
        if service_id is None:
            return RedirectResponse("/login", status_code=303)
        try:
            view = await anyio.to_thread.run_sync(server.view, service_id)
        except BackupServerError as exc:
            return _html(pages.message("Service unavailable", exc.message), 409)
        return _html(pages.service(location_name, view))

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return response

    app = Starlette(routes=[
        Route("/", index, methods=["GET"]),
        Route(PEM_PATH, certificate, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", _same_origin(login), methods=["POST"]),
        Route("/service", service, methods=["GET"]),
        Route("/logout", _same_origin(logout), methods=["POST"]),
    ])
    return app


def _same_origin(endpoint):
    async def checked(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin != f"https://{request.headers.get('host', '')}":
            return _html(pages.message("Forbidden", "This form comes from another site."), 403)
        return await endpoint(request)
    return checked


async def _read_form(request: Request) -> dict[str, str] | None:
    """The url-encoded form, or None (other type, over the size cap, unreadable)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != \
            "application/x-www-form-urlencoded":
        return None
    body = await read_capped(request, MAX_FORM_BYTES)
    if body is None:
        return None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in parsed.items()}


def _html(content: str, status: int = 200, headers: dict | None = None) -> HTMLResponse:
    return HTMLResponse(content, status, headers={**SECURITY_HEADERS, **(headers or {})})
