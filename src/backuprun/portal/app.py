"""The portal's Starlette application: ``POST /api.php``, the dashboard (``GET /`` and
``/dashboard/...``, see ``pages.dashboard``), the password reset page
(``GET /reset-password``, see ``pages``), and installing an agent (``GET /agent/install``,
``/agent/install.sh``, ``/agent/wheels/``, see ``pages.agent``).

Rules:
- Every answer of the API, errors included, is an XML ``<response>`` document (see
  ``wire``), as is every 404 and 405; the pages answer HTML, the install script text.
- Wrong path (``/api.php/`` included: no redirects): 404; wrong method: 405 with
  ``Allow: POST``; wrong body type: 415; body over the size cap: 413; unreadable form: 400;
  a bug: 500; the password-hashing pool full: 503 with ``Retry-After``. Application
  errors: 200.
- A client that disconnects mid-request costs one log line, never a traceback.
- The session cookie is HttpOnly, SameSite=Lax, and Secure when the request came over https
  (directly, or through a trusted reverse proxy that says so).
- On start, the database is migrated to the newest schema before the first request (by
  ``backuprun serve``'s main process, once, when it runs the app: :func:`serve_app`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from backuprun import config
from backuprun.config import Settings
from backuprun.lanes import Lane, threads_for
from backuprun.portal import db as database
from backuprun.portal import forms, pages, wire
from backuprun.portal.pages import agent as agent_pages
from backuprun.portal.pages import dashboard
from backuprun.portal.accounts.service import AccountService
from backuprun.portal.calls import CALLS, Call, Fields
from backuprun.portal.calls.base import Services
from backuprun.portal.errors import ErrorCode, PortalError
from backuprun.portal.fleet import Fleet
from backuprun.portal.mail import Mailer
from backuprun.portal.services.manager import ServiceManager
from backuprun.portal.services.notices import Notifier

log = logging.getLogger(__name__)


SETTINGS_ENV = "BACKUPRUN_SERVE_SETTINGS_JSON"  # from ``backuprun serve`` to its processes


def serve_app() -> Starlette:
    """One portal process of ``backuprun serve`` (a uvicorn app factory): its main process
    checked everything and migrated the database, and passes its settings in the
    environment."""
    return create_app(config.loads(os.environ[SETTINGS_ENV]), migrate=False)


def create_app(settings: Settings, mailer: Mailer | None = None, *,
               migrate: bool = True) -> Starlette:
    """The portal app. Its lifespan is what each process starts and stops: the database
    engine (and the migration, unless the caller ran it), the mailer, the services."""
    @asynccontextmanager
    async def lifespan(app: Starlette):
        engine = database.make_engine(settings.resolved_database_url)
        if migrate:
            await database.migrate(engine)
        app.state.mailer = mailer or Mailer(settings)
        # the session lookups and the status reads of every call
        reads = Lane(threads_for(settings.resolved_database_url))
        sessions = database.sessionmaker(engine, reads)
        fleet = Fleet(settings, reads=reads)
        await fleet.start()
        app.state.fleet = fleet
        app.state.services = Services(
            accounts=AccountService(sessions, settings, app.state.mailer),
            services=ServiceManager(sessions, settings, fleet.locations, fleet.clients))
        notifier = asyncio.create_task(Notifier(
            sessions, app.state.mailer, fleet.clients, settings.notify_check_seconds).run())
        try:
            yield
        finally:
            notifier.cancel()
            await fleet.stop()
            await app.state.mailer.drain()
            sessions.close()
            await engine.dispose()

    async def api(request: Request) -> Response:
        services: Services = request.app.state.services
        token = request.cookies.get(settings.cookie_name) or None
        call = None
        try:
            fields = await forms.read_form(request, settings.max_request_bytes)
            name = fields.get("apiCALL", "").strip()
            if not name:
                raise PortalError(ErrorCode.MISSING_FIELD, "apiCALL")
            handler = CALLS.get(name)
            if handler is None:
                raise PortalError(ErrorCode.UNKNOWN_CALL, "apiCALL")
            call = Call(Fields(fields), services, _address(request), token)
            answer = await handler(call)  # looks the session up only if the call needs one
        except forms.ClientGone:
            log.info("%s went away before its request was complete", _address(request))
            return Response(status_code=400)  # nobody is left to read it
        except PortalError as error:
            response = wire.error_response(error)
            if token and call and call.authenticated and call.caller is None:  # dead session
                _clear_cookie(response, request)
            return response
        if answer.download is not None:
            d = answer.download
            return StreamingResponse(d.pieces, media_type=d.media_type, headers={
                "Content-Disposition": f'attachment; filename="{d.filename}"'})
        response = wire.ok_response(answer.elements)
        if answer.new_session:
            token, max_age = answer.new_session
            response.set_cookie(settings.cookie_name, token, max_age=max_age, path="/",
                                secure=_https(request), httponly=True, samesite="lax")
        elif answer.end_session:
            _clear_cookie(response, request)
        return response

    def _clear_cookie(response: Response, request: Request) -> None:
        response.delete_cookie(settings.cookie_name, path="/", secure=_https(request),
                               httponly=True, samesite="lax")

    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ErrorCode.MALFORMED_REQUEST)
        headers = exc.headers if exc.status_code == 405 else None  # Allow: the route's
        return wire.error_response(PortalError(code), headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        return wire.error_response(PortalError(ErrorCode.INTERNAL_ERROR))

    app = Starlette(
        routes=[Route("/api.php", api, methods=["POST"]),
                Route("/", dashboard.index, methods=["GET"]),
                Route("/dashboard/{name:path}", dashboard.asset, methods=["GET"]),
                Route("/reset-password", pages.reset_password, methods=["GET"]),
                Route("/agent/install", agent_pages.install_page, methods=["GET"]),
                Route("/agent/install.sh", agent_pages.install_script, methods=["GET"]),
                Route("/agent/wheels/", agent_pages.wheel_index, methods=["GET"]),
                Route("/agent/wheels/{name}", agent_pages.wheel_file, methods=["GET"])],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.router.redirect_slashes = False  # /api.php/ is not the API: 404, never a redirect
    return app


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _address(request: Request) -> str:
    return (request.client.host if request.client else "unknown")[:64]
