"""Several uvicorn servers in the test's event loop: start, serve, stop, ports, signals."""

from __future__ import annotations

import signal
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from backuprun.backupserver.listeners import Listener, ListenerError, Listeners
from backuprun.transport import tls


def app_saying(text: str) -> Starlette:
    async def hello(request):
        return PlainTextResponse(text)
    return Starlette(routes=[Route("/", hello)])


async def test_two_listeners_serve_their_own_apps(serve, ids):
    group = await serve(
        Listener("plain", app_saying("one"), "127.0.0.1", 0),
        Listener("tls", app_saying("two"), "127.0.0.1", 0, tls.server_context(ids["server"])))
    assert group.url("plain").startswith("http://127.0.0.1:")
    assert group.url("tls").startswith("https://127.0.0.1:")
    async with httpx.AsyncClient(
            verify=tls.client_context(None, ids["server"].cert_pem)) as http:
        assert (await http.get(group.url("plain"))).text == "one"
        assert (await http.get(group.url("tls"))).text == "two"


async def test_signal_handlers_are_left_to_the_host(serve):
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    group = await serve(Listener("a", app_saying("a"), "127.0.0.1", 0),
                        Listener("b", app_saying("b"), "127.0.0.1", 0))
    assert {sig: signal.getsignal(sig) for sig in before} == before
    await group.stop()
    assert {sig: signal.getsignal(sig) for sig in before} == before


async def test_a_taken_port_is_a_clear_error_and_nothing_starts(serve):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        free = socket.create_server(("127.0.0.1", 0))
        free_port = free.getsockname()[1]
        free.close()
        group = Listeners([Listener("first", app_saying("x"), "127.0.0.1", free_port),
                           Listener("public", app_saying("y"), "127.0.0.1", port)])
        with pytest.raises(ListenerError, match=f"public cannot listen on 127.0.0.1:{port}"):
            await group.start()
    # the first listener's port was released again
    with socket.create_server(("127.0.0.1", free_port)):
        pass


async def test_stop_releases_the_port(serve):
    group = await serve(Listener("a", app_saying("a"), "127.0.0.1", 0))
    host, port = group.address("a")
    await group.stop()
    with socket.create_server((host, port)):
        pass


async def test_a_failing_app_startup_is_a_listener_error():
    async def lifespan(app):
        raise RuntimeError("no database")
        yield  # pragma: no cover

    from contextlib import asynccontextmanager
    broken = Starlette(lifespan=asynccontextmanager(lifespan))
    group = Listeners([Listener("broken", broken, "127.0.0.1", 0)])
    with pytest.raises(ListenerError, match="broken"):
        await group.start()


def test_names_must_differ():
    with pytest.raises(ValueError):
        Listeners([Listener("a", None, "127.0.0.1", 0), Listener("a", None, "127.0.0.1", 0)])
