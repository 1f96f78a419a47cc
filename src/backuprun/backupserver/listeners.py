"""Several uvicorn servers (each its own app, address and TLS) inside a running event loop.

Rules:
- :meth:`Listeners.start` binds and listens on every address first, and only then serves:
  a taken port (or a bad address) raises :class:`ListenerError` naming the listener and
  the address, with nothing left open or running.
- Listeners never touch signal handlers: ``uvicorn.Server.serve()`` would swap the process's
  SIGINT/SIGTERM handlers for its own on each call (and restore them in whatever order the
  servers stop), fighting the host (the portal's own uvicorn, or the ``backup-server``
  command). The host owns signals and calls :meth:`Listeners.stop`.
- Listeners leave logging as the host set it up (uvicorn's ``log_config=None``) and ignore
  ``X-Forwarded-*`` headers (``proxy_headers=False``): client addresses are the peers'.
- An app that says it needs verified client certificates (an attribute
  ``requires_client_certificate = True``, as the internal API sets) is refused on a listener
  whose TLS context does not require them (``ssl.CERT_REQUIRED``). This is defence in depth;
  the TLS handshake is what refuses a caller without the pinned certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import uvicorn

GRACEFUL_SHUTDOWN_SECONDS = 10


class ListenerError(Exception):
    """A listener could not start."""


@dataclass(frozen=True)
class Listener:
    """One server: ``app`` on ``host:port`` (port 0: any free one), over TLS when
    ``ssl_context`` is given (see :mod:`backuprun.transport.tls`)."""

    name: str
    app: Any
    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    reuse_port: bool = False  # several processes of one program serve the port together

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context else "http"


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the host and says when it is serving."""

    def __init__(self, config: uvicorn.Config):
        super().__init__(config)
        self.ready = asyncio.Event()

    def capture_signals(self):
        return contextlib.nullcontext()  # see the module's rules

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


class Listeners:
    """Start with ``await listeners.start()`` (or ``async with``); stop with ``stop()``."""

    def __init__(self, listeners: list[Listener]):
        names = [item.name for item in listeners]
        if len(set(names)) != len(names):
            raise ValueError(f"listener names must differ: {names}")
        self.listeners = list(listeners)
        self._sockets: dict[str, socket.socket] = {}
        self._servers: list[_Server] = []
        self._tasks: list[asyncio.Task] = []

    def address(self, name: str) -> tuple[str, int]:
        """Where listener ``name`` is bound (the real port when it asked for port 0)."""
        host, port = self._sockets[name].getsockname()[:2]
        return host, port

    def url(self, name: str) -> str:
        listener = next(item for item in self.listeners if item.name == name)
        host, port = self.address(name)
        return f"{listener.scheme}://{f'[{host}]' if ':' in host else host}:{port}"

    async def start(self) -> None:
        for listener in self.listeners:
            _check_tls(listener)
        try:
            for listener in self.listeners:
                self._sockets[listener.name] = _bind(listener)
            for listener in self.listeners:
                await self._serve(listener)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for sock in self._sockets.values():
            sock.close()
        self._servers, self._tasks = [], []

    async def __aenter__(self) -> "Listeners":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _serve(self, listener: Listener) -> None:
        context = listener.ssl_context
        config = uvicorn.Config(
            listener.app, log_config=None, proxy_headers=False, server_header=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            ssl_context_factory=(lambda _config, _default: context) if context else None)
        server = _Server(config)
        task = asyncio.create_task(self._run(listener, server),
                                   name=f"listener {listener.name}")
        self._servers.append(server)
        self._tasks.append(task)
        ready = asyncio.create_task(server.ready.wait())
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not server.ready.is_set():
            ready.cancel()
            task.result()  # raises what stopped it
            raise ListenerError(f"{listener.name} stopped before it started")

    async def _run(self, listener: Listener, server: _Server) -> None:
        try:
            await server.serve(sockets=[self._sockets[listener.name]])
        except SystemExit:  # uvicorn's way to say the app's lifespan startup failed
            raise ListenerError(f"{listener.name}: the application failed to start") from None


def _check_tls(listener: Listener) -> None:
    if getattr(listener.app, "requires_client_certificate", False) and (
            listener.ssl_context is None
            or listener.ssl_context.verify_mode != ssl.CERT_REQUIRED):
        raise ListenerError(f"{listener.name} must be served over TLS that requires a client "
                            "certificate (tls.server_context with trusted_client_certs)")


def _bind(listener: Listener) -> socket.socket:
    where = f"{listener.host}:{listener.port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            listener.host, listener.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ListenerError(f"{listener.name} cannot listen on {where}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if listener.reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)  # now: SO_REUSEADDR lets two unlistened binds share
    except OSError as exc:
        sock.close()
        raise ListenerError(f"{listener.name} cannot listen on {where}: "
                            f"{exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock
