"""Fixtures for the backup server's network side: a fake server, identities, listeners.

- ``FakeServer`` is a ``BackupServer`` whose bodies keep services in a dict, so the real
  ``rpc`` door of ``server.py`` is what the internal API calls. ``calls`` lists every call
  that reached it (a refused caller must leave it empty).
- ``ids``: identities ``server`` (the backup server), ``portal`` and ``stranger`` (another
  self-signed certificate), each in its own folder under ``tmp_path``.
- ``serve(*listeners)``: starts ``Listeners`` in the test's event loop, stopped afterwards.
"""

from __future__ import annotations

import pytest

from backuprun.backupserver.client import BackupServerError, ServiceSpec, ServiceState
from backuprun.backupserver.listeners import Listener, Listeners
from backuprun.backupserver.server import BackupServer
from backuprun.transport.tls import Identity

HOSTILE = "<script>alert('x')</script>"


class FakeServer(BackupServer):
    location_id = 528

    def __init__(self):
        self.services: dict[int, ServiceState] = {}
        self.specs: dict[int, ServiceSpec] = {}
        self.calls: list[str] = []
        self.logins = {"S42": ("service-password", 42)}

    def _state(self, service_id: int, create_status: int) -> ServiceState:
        state = ServiceState(service_id, create_status, username=f"S{service_id}",
                             recovery_points=3)
        self.services[service_id] = state
        return state

    def provision(self, spec):
        self.calls.append("provision")
        self.specs[spec.service_id] = spec
        return self._state(spec.service_id, 0)

    def change(self, spec):
        self.calls.append("change")
        if spec.encrypt != self.specs[spec.service_id].encrypt:
            raise BackupServerError("has_recovery_points",
                                    "encryption cannot change: the service has recovery points")
        return self._state(spec.service_id, -1)

    def terminate(self, service_id, grace_seconds):
        self.calls.append("terminate")
        return self._state(service_id, -4)

    def cancel_termination(self, service_id):
        self.calls.append("cancel_termination")
        return self._state(service_id, 10)

    def states(self, service_ids):
        self.calls.append("states")
        return {i: self.services[i] for i in service_ids if i in self.services}

    def authenticate(self, username, password):
        self.calls.append("authenticate")
        found = self.logins.get(username)
        return found[1] if found and found[0] == password else None

    def view(self, service_id):
        self.calls.append("view")
        return {"service": {"id": service_id, "name": HOSTILE},
                "volume": {"name": "Volume S42", "quota": "10 GB"},
                "disksafe": {"encrypted": "yes", "size": 0},
                "policy": {"schedule": "daily", "keep": 7},
                "recovery_points": [],
                "tasks": [{"id": 1, "type": "provision", "message": f"made {HOSTILE}"}]}


@pytest.fixture
def fake():
    return FakeServer()


@pytest.fixture
def ids(tmp_path):
    return {name: Identity.load_or_create(tmp_path / name, name, ["127.0.0.1"])
            for name in ("server", "portal", "stranger")}


@pytest.fixture
async def serve():
    started = []

    async def start(*listeners: Listener) -> Listeners:
        group = Listeners(list(listeners))
        await group.start()
        started.append(group)
        return group

    yield start
    for group in started:
        await group.stop()
