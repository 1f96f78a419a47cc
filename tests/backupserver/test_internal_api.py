"""The internal API over real mutual TLS: the pinned portal gets answers, nobody else does."""

from __future__ import annotations

import socket

import httpx
import pytest

from backuprun.backupserver import internal_api
from backuprun.backupserver.client import BackupServerError, ServiceSpec, Unreachable
from backuprun.backupserver.listeners import Listener, ListenerError
from backuprun.backupserver.remote import RemoteBackupServer
from backuprun.transport import tls

SPEC = ServiceSpec(service_id=42, name="web1", host="203.0.113.7", port=1167, encrypt=True,
                   password="disk safe password")


@pytest.fixture
async def url(serve, fake, ids):
    context = tls.server_context(ids["server"], [ids["portal"].cert_path])
    group = await serve(Listener("internal", internal_api.create_app(fake, max_body_bytes=4096),
                                 "127.0.0.1", 0, context))
    return group.url("internal")


@pytest.fixture
async def remote(url, ids):
    client = RemoteBackupServer(url, ids["portal"], ids["server"].cert_path)
    yield client
    await client.close()


async def test_pinned_portal_gets_answers(remote, fake):
    state = await remote.provision(SPEC)
    assert (state.service_id, state.create_status, state.username) == (42, 0, "S42")
    assert state.recovery_points == 3
    assert fake.specs[42] == SPEC
    assert (await remote.terminate(42, 0)).create_status == -4
    assert (await remote.cancel_termination(42)).create_status == 10
    assert (await remote.states([42, 7])) == {42: fake.services[42]}
    assert fake.calls == ["provision", "terminate", "cancel_termination", "states"]


async def test_refusal_round_trips(remote):
    await remote.provision(SPEC)
    changed = ServiceSpec(**{**SPEC.to_json(), "encrypt": False})
    with pytest.raises(BackupServerError) as refused:
        await remote.change(changed)
    assert refused.value.code == "has_recovery_points"
    assert refused.value.message == "encryption cannot change: the service has recovery points"
    assert not isinstance(refused.value, Unreachable)


async def test_caller_without_client_certificate_is_refused(url, ids, fake):
    context = tls.client_context(None, ids["server"].cert_path)
    async with httpx.AsyncClient(verify=context) as http:
        with pytest.raises(httpx.TransportError):
            await http.post(f"{url}/internal/v1/states", json={"service_ids": [42]})
    assert fake.calls == []


async def test_caller_with_another_certificate_is_refused(url, ids, fake):
    stranger = RemoteBackupServer(url, ids["stranger"], ids["server"].cert_path)
    with pytest.raises(Unreachable, match=url):
        await stranger.provision(SPEC)
    await stranger.close()
    assert fake.calls == []


async def test_portal_refuses_a_server_it_did_not_pin(url, ids, fake):
    fooled = RemoteBackupServer(url, ids["portal"], ids["stranger"].cert_pem)
    with pytest.raises(Unreachable, match="certificate verify failed"):
        await fooled.provision(SPEC)
    await fooled.close()
    assert fake.calls == []


async def test_closed_port_is_unreachable(ids):
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]  # closed when the block ends: nobody listens there
    url = f"https://127.0.0.1:{port}"
    client = RemoteBackupServer(url, ids["portal"], ids["server"].cert_path)
    with pytest.raises(Unreachable, match=f"backup server at {url} unreachable"):
        await client.states([1])
    await client.close()


@pytest.fixture
async def raw(url, ids):
    context = tls.client_context(ids["portal"], ids["server"].cert_path)
    async with httpx.AsyncClient(base_url=url, verify=context) as http:
        yield http


@pytest.mark.parametrize("body, status, code", [
    (b"{not json", 400, "bad_json"),
    (b"[1, 2]", 400, "bad_json"),
    (b"\xff\xfe", 400, "bad_json"),
    (b"{}" + b" " * 5000, 413, "too_large"),
])
async def test_bad_bodies(raw, fake, body, status, code):
    response = await raw.post("/internal/v1/states", content=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert fake.calls == []


async def test_unknown_method_is_a_refusal(raw):
    response = await raw.post("/internal/v1/format_disk", json={})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "unknown_method"


async def test_wrong_path_and_method(raw):
    assert (await raw.post("/internal/v2/states", json={})).status_code == 404
    response = await raw.get("/internal/v1/states")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_bad_arguments_are_refused(raw):
    response = await raw.post("/internal/v1/terminate", json={"service_id": 1})  # no grace
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "bad_arguments"


async def test_a_bug_is_500_without_details(raw, fake, monkeypatch):
    def broken(service_id, grace_seconds):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(fake, "terminate", broken)
    response = await raw.post("/internal/v1/terminate",
                              json={"service_id": 1, "grace_seconds": 0})
    assert response.status_code == 500
    assert "secret" not in response.text
    assert response.json()["error"] == {"code": "internal_error",
                                         "message": "the backup server failed; see its log"}


async def test_never_served_without_client_certificates(serve, fake, ids):
    app = internal_api.create_app(fake)
    for context in (None, tls.server_context(ids["server"])):
        with pytest.raises(ListenerError, match="requires a client certificate"):
            await serve(Listener("internal", app, "127.0.0.1", 0, context))


async def test_plain_http_request_is_forbidden_by_the_app(fake):
    transport = httpx.ASGITransport(app=internal_api.create_app(fake))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.post("/internal/v1/states", json={"service_ids": [1]})
    assert response.status_code == 403
    assert fake.calls == []


async def test_asgi_tls_extension_without_client_certificate_is_forbidden(fake):
    app = internal_api.create_app(fake)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "scheme": "https", "path": "/internal/v1/states",
             "raw_path": b"/internal/v1/states", "query_string": b"", "headers": [],
             "http_version": "1.1", "server": ("127.0.0.1", 1), "client": ("127.0.0.1", 2),
             "root_path": "", "extensions": {"tls": {"client_cert_chain": []}}}
    await app(scope, receive, send)
    assert sent[0]["status"] == 403
    assert fake.calls == []

