"""The internal API: how a portal reaches a backup server that runs as its own process.

``POST /internal/v1/{method}`` with a JSON object body runs ``server.rpc(method, body)`` on a
worker thread and answers its JSON; ``POST /internal/v1/download`` streams the archive of
``server.download`` instead (its errors come before the first byte, as JSON). Every other
answer is JSON:

- 200: the answer of ``rpc``;
- 409 ``{"error": {"code", "message"}}``: a refusal (``BackupServerError``);
- 400 unreadable JSON or not an object, 413 a body over ``max_body_bytes``, 403 a request
  that did not come over TLS with a verified client certificate, 404 another path, 405
  another method, 500 a bug (its traceback goes to the server's log, not to the caller).

Rules:
- Who may call is decided by TLS, before any byte of HTTP: the app is served only by a
  listener whose context requires the pinned portal certificate (``tls.server_context`` with
  ``trusted_client_certs``); a caller without it fails at the handshake and never reaches
  this code. :mod:`listeners` refuses to serve this app on any other listener (the app says
  ``requires_client_certificate``).
- Defence in depth, inside the app: a request must have come over https and, where the ASGI
  server reports the TLS session (the ASGI ``tls`` extension), with a client certificate.
  uvicorn (0.55) does not report it, so there the handshake is the whole check.
"""

from __future__ import annotations

import json

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from backuprun.backupserver.bodies import read_capped
from backuprun.backupserver.client import BackupServerError

PREFIX = "/internal/v1/"
DOWNLOAD = "download"  # streams an archive (application/octet-stream) instead of JSON
MAX_BODY_BYTES = 1024 * 1024


def create_app(server, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The internal API of ``server`` (anything with ``rpc(method, args) -> dict``)."""

    async def arguments(request: Request) -> dict | JSONResponse:
        if not _verified_peer(request):
            return _error(403, "forbidden", "a verified client certificate is required")
        body = await read_capped(request, max_body_bytes)
        if body is None:
            return _error(413, "too_large", f"the body is over {max_body_bytes} bytes")
        try:
            args = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(400, "bad_json", f"the body is not JSON: {exc}")
        if not isinstance(args, dict):
            return _error(400, "bad_json", "the body must be a JSON object")
        return args

    async def call(request: Request) -> Response:
        args = await arguments(request)
        if isinstance(args, JSONResponse):
            return args
        method = request.path_params["method"]
        try:
            answer = await anyio.to_thread.run_sync(server.rpc, method, args)
        except BackupServerError as exc:
            return _error(409, exc.code, exc.message)
        return JSONResponse(answer)

    async def download(request: Request) -> Response:
        args = await arguments(request)
        if isinstance(args, JSONResponse):
            return args
        try:
            pieces = await anyio.to_thread.run_sync(
                server.download, int(args["service_id"]), str(args["point_id"]),
                [str(p) for p in args["paths"]], str(args["fmt"]))
        except (KeyError, TypeError, ValueError):
            return _error(409, "bad_arguments", "download: bad arguments")
        except BackupServerError as exc:
            return _error(409, exc.code, exc.message)

        async def body():
            try:
                while (piece := await anyio.to_thread.run_sync(next, pieces, None)) is not None:
                    yield piece
            finally:
                await anyio.to_thread.run_sync(pieces.close)

        return StreamingResponse(body(), media_type="application/octet-stream")

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = {"Allow": "POST"} if exc.status_code == 405 else None
        return _error(exc.status_code, "http_error", str(exc.detail), headers)

    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, "internal_error", "the backup server failed; see its log")

    app = Starlette(
        routes=[Route(PREFIX + DOWNLOAD, download, methods=["POST"]),
                Route(PREFIX + "{method:str}", call, methods=["POST"])],
        exception_handlers={HTTPException: http_error, Exception: server_error})
    app.requires_client_certificate = True  # see listeners: never served without mTLS
    return app


def _verified_peer(request: Request) -> bool:
    if request.url.scheme != "https":
        return False
    tls = request.scope.get("extensions", {}).get("tls")
    return tls is None or bool(tls.get("client_cert_chain"))


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)
