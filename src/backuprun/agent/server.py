"""The agent's HTTPS server: its app, the TLS that lets in only trusted backup servers, and
the runner of ``backuprun agent run``.

Paths:
- ``GET /v1/hello``: who this agent is, as JSON: ``hostname``, ``ostype``
  (``platform.system()``, e.g. ``Linux``), ``platform`` (``platform.platform()``),
  ``version`` (BackupRun's), ``root``, ``user`` (whom it runs as) and ``fingerprint`` (of
  its own certificate), as they were when the agent started.
- ``/v1/backup`` and ``/v1/restore``: WebSockets, one per task, that a trusted backup
  server opens (:mod:`backuprun.transport.messages`; :mod:`.backup`, :mod:`.restore`).

Rules:
- TLS requires a client certificate that is exactly one of the trust store's: the handshake
  refuses every other peer, so no request of theirs reaches the app. The app says so
  (``requires_client_certificate``), as the backup server's internal API does.
- The trust store is read again whenever it changes, checked at each handshake (a listing
  of ``trusted/``, no polling), and on SIGHUP: ``trust`` and ``untrust`` take effect for the
  next connection, without a restart. Connections already open stay open.
- A trust store that becomes empty, or holds a file that is not a certificate, refuses
  every peer until it is fixed (an error in the log); at start, either refuses to start.
- The runner owns the process's signals: SIGINT and SIGTERM stop it gracefully (uvicorn's
  handlers), SIGHUP re-reads the trust store. Nothing at start needs root.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import pwd
import signal
import socket
import ssl
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from backuprun import __version__
from backuprun.agent import backup, restore
from backuprun.agent.session import Session
from backuprun.agent.trust import TrustedServer, TrustError, TrustStore
from backuprun.transport import messages
from backuprun.transport.tls import Identity, server_context

log = logging.getLogger("backuprun.agent")
GRACEFUL_SHUTDOWN_SECONDS = 10


class AgentServerError(Exception):
    """The agent cannot start."""


class NoTrustedServer(AgentServerError):
    """The trust store is empty: no backup server could ever connect."""


class CannotListen(AgentServerError):
    """The address is taken or not this host's."""


def hello(identity: Identity, root: Path) -> dict:
    """The answer of ``GET /v1/hello``."""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name  # not $USER: whom it really runs as
    except KeyError:
        user = str(os.geteuid())
    return {"hostname": socket.gethostname(), "ostype": platform.system(),
            "platform": platform.platform(), "version": __version__, "root": str(root),
            "user": user, "fingerprint": identity.fingerprint}


def create_app(identity: Identity, root: Path, data_dir: Path) -> Starlette:
    """The agent's app; serve it only with :meth:`TrustedPeers.server_context`."""

    answer = hello(identity, root)  # as at start: platform.platform() reads files

    async def hello_endpoint(request: Request) -> JSONResponse:
        return JSONResponse(answer)

    async def start(websocket: WebSocket) -> Session:
        await websocket.accept()
        session = Session(websocket, asyncio.get_running_loop())
        await session.send_async("hello", hostname=answer["hostname"],
                                 ostype=answer["ostype"], version=answer["version"],
                                 root=answer["root"])
        return session

    async def backup_endpoint(websocket: WebSocket) -> None:
        session = await start(websocket)
        known: set[bytes] = set()
        try:
            while (message := await session.receive())["t"] == "known":
                known.update(messages.split_ids(message.get("ids") or b""))
            _expect(message, "begin")
        except Exception as exc:  # noqa: BLE001 - the connection ended, or nonsense came
            log.warning("backup not started: %s", exc)
            return
        log.info("backup started")
        await session.serve(backup.run, session, root, data_dir, message, known)
        log.info("backup ended")

    async def restore_endpoint(websocket: WebSocket) -> None:
        session = await start(websocket)
        try:
            message = _expect(await session.receive(), "begin")
        except Exception as exc:  # noqa: BLE001
            log.warning("restore not started: %s", exc)
            return
        log.info("restore started")
        await session.serve(restore.run, session, root, message)
        log.info("restore ended")

    app = Starlette(routes=[Route("/v1/hello", hello_endpoint, methods=["GET"]),
                            WebSocketRoute(messages.BACKUP_PATH, backup_endpoint),
                            WebSocketRoute(messages.RESTORE_PATH, restore_endpoint)])
    app.requires_client_certificate = True
    return app


def _expect(message: dict, kind: str) -> dict:
    if message["t"] != kind:
        raise messages.ProtocolError(f"{message['t']!r} where {kind!r} was expected")
    return message


def require_trusted(store: TrustStore) -> list[TrustedServer]:
    """The trusted backup servers; raises :class:`NoTrustedServer` when there is none, and
    :class:`TrustError` when the store cannot be read."""
    servers = store.servers()
    if not servers:
        raise NoTrustedServer(
            f"no backup server is trusted yet (in {store.folder}): run "
            "'backuprun agent trust https://SERVERIP:HTTPS_PORT' first")
    return servers


class TrustedPeers:
    """TLS server contexts that accept exactly the trust store's certificates."""

    def __init__(self, identity: Identity, store: TrustStore):
        self.identity, self.store = identity, store
        self._state: tuple | None = None
        self._current: ssl.SSLContext | None = None

    def server_context(self) -> ssl.SSLContext:
        """The context to listen with: at each handshake it hands over to the context of
        the trust store as it is then."""
        base = self._refusing()
        base.sni_callback = self._choose  # called for every handshake, with or without SNI
        return base

    def current(self, force: bool = False) -> ssl.SSLContext:
        """The context for the trust store as it is now, rebuilt when it changed."""
        state = self.store.state()
        if force or state != self._state or self._current is None:
            self._state, self._current = state, self._build()
        return self._current

    def _build(self) -> ssl.SSLContext:
        try:
            servers = self.store.servers()
            if servers:
                context = server_context(self.identity, [item.path for item in servers])
                log.info("trusting %s", ", ".join(f"{s.fingerprint} ({s.name})"
                                                  for s in servers))
                return context
            log.error("no backup server is trusted: every connection is refused")
        except (TrustError, OSError, ssl.SSLError) as exc:
            log.error("the trust store cannot be read, every connection is refused until it "
                      "is fixed: %s", exc)
        return self._refusing()

    def _refusing(self) -> ssl.SSLContext:
        context = server_context(self.identity)
        context.verify_mode = ssl.CERT_REQUIRED  # and no certificate to verify against
        return context

    def _choose(self, ssl_object: ssl.SSLObject, server_name: str | None,
                base: ssl.SSLContext) -> None:
        ssl_object.context = self.current()


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


async def run(identity: Identity, store: TrustStore, root: Path, sock: socket.socket) -> None:
    """Serve on ``sock`` until SIGINT or SIGTERM; SIGHUP re-reads the trust store."""
    peers = TrustedPeers(identity, store)
    context = peers.server_context()
    peers.current()
    config = uvicorn.Config(
        create_app(identity, root, store.folder.parent), log_config=None,
        proxy_headers=False, server_header=False, ws_max_size=messages.MAX_FRAME,
        ws_ping_interval=None,  # a busy backup server reads late; TCP says when it is gone
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ssl_context_factory=lambda _config, _default: context)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, peers.current, True)
    host, port = sock.getsockname()[:2]
    log.info("listening on https://%s:%d as %s, serving %s",
             f"[{host}]" if ":" in host else host, port, identity.fingerprint, root)
    try:
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
