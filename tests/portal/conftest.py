"""Fixtures for the portal: a real server on a free port, clients in both form encodings.

- ``database_url`` is parametrized: every portal test runs on SQLite and on PostgreSQL.
  PostgreSQL comes from ``BACKUPRUN_TEST_POSTGRES_URL`` (``scripts/test`` creates a throwaway
  database); each server gets a schema of its own, dropped afterwards. Without the variable
  the PostgreSQL runs are skipped, except under CI (``CI`` set), where they fail.
- ``portal`` is one server per test module and database; ``make_portal`` starts extra ones
  with other settings on a fresh database.
- ``api`` is an HTTP client with its own cookie jar, parametrized over
  ``multipart/form-data`` and ``application/x-www-form-urlencoded``.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
import uvicorn

from backuprun.config import Settings
from backuprun.portal.app import create_app
from ports import free_location_port_base

POSTGRES_URL = os.environ.get("BACKUPRUN_TEST_POSTGRES_URL")
ENCODINGS = ("multipart", "urlencoded")
PASSWORD = "correct horse battery"

# cheap Argon2 for tests only (documented setting); production defaults stay in Settings
# and per-address limits out of the way: every test client comes from 127.0.0.1
TEST_SETTINGS = dict(argon2_time_cost=1, argon2_memory_kib=256, argon2_parallelism=1,
                     login_max_failures_per_address=10_000, register_max_per_address=10_000,
                     register_max_per_email=10_000, recovery_max_per_address=10_000)


# -- databases ---------------------------------------------------------------------------


class Databases:
    """Makes fresh, empty databases of one kind and removes them at the end."""

    def __init__(self, kind: str, tmp: Path):
        self.kind, self.tmp, self.schemas = kind, tmp, []

    def new(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        if self.kind == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp / name}.db"
        with _pg_connect() as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        self.schemas.append(name)
        separator = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{name}"

    def drop_all(self) -> None:
        if self.schemas:
            with _pg_connect() as conn:
                for name in self.schemas:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _pg_connect():
    import psycopg

    return psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True)


@pytest.fixture(scope="module", params=[
    "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def databases(request, tmp_path_factory):
    if request.param == "postgresql" and not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("BACKUPRUN_TEST_POSTGRES_URL is not set; CI must test PostgreSQL")
        pytest.skip("BACKUPRUN_TEST_POSTGRES_URL is not set")
    dbs = Databases(request.param, tmp_path_factory.mktemp("db"))
    yield dbs
    dbs.drop_all()


# -- servers -----------------------------------------------------------------------------


@dataclass
class Portal:
    settings: Settings
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def api_url(self) -> str:
        return self.url + "/api.php"

    @property
    def outbox(self) -> Path:
        return self.settings.outbox_dir

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_portal(settings: Settings) -> Portal:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    scheme = "https" if settings.certfile else "http"
    settings = settings.replace(port=port, public_url=f"{scheme}://127.0.0.1:{port}")
    from backuprun.portal.cli import uvicorn_config

    config = uvicorn_config(settings, create_app(settings))
    config.log_level = "warning"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("portal did not start")
        time.sleep(0.02)
    return Portal(settings, f"{scheme}://127.0.0.1:{port}", server, thread)


def portal_settings(databases: Databases, tmp: Path, **overrides) -> Settings:
    return Settings(data_dir=tmp, database_url=databases.new(),
                    location_https_port_base=free_location_port_base(),
                    **{**TEST_SETTINGS, **overrides})


@pytest.fixture(scope="module")
def portal(databases, tmp_path_factory):
    p = start_portal(portal_settings(databases, tmp_path_factory.mktemp("data")))
    yield p
    p.stop()


@pytest.fixture
def make_portal(databases, tmp_path_factory):
    """Start a portal with other settings, on a fresh database: ``make_portal(**settings)``."""
    started = []

    def make(**overrides) -> Portal:
        p = start_portal(portal_settings(databases, tmp_path_factory.mktemp("data"),
                                         **overrides))
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()


# -- clients -----------------------------------------------------------------------------


@dataclass
class Answer:
    response: httpx.Response
    root: ElementTree.Element = field(init=False)

    def __post_init__(self):
        self.root = ElementTree.fromstring(self.response.content)

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def status(self) -> str:
        assert self.root.tag == "response"
        first = self.root[0]
        assert first.tag == "status", "status must be the first child"
        return first.get("value")

    @property
    def error(self) -> str | None:
        el = self.root.find("error")
        return None if el is None else el.get("code")

    @property
    def error_field(self) -> str | None:
        el = self.root.find("error")
        return None if el is None else el.get("field")

    def ok(self) -> "Answer":
        assert self.status == "ok", self.text
        assert self.response.status_code == 200
        return self

    def fails(self, code: str, field: str | None = None, http: int = 200) -> "Answer":
        assert self.status == "error", self.text
        assert self.error == code, self.text
        assert self.response.status_code == http, self.text
        if field is not None:
            assert self.error_field == field, self.text
        return self


class Api:
    """One client (one cookie jar) speaking one form encoding to a portal."""

    def __init__(self, portal: Portal, encoding: str):
        self.portal, self.encoding = portal, encoding
        self.http = httpx.Client(verify=False, timeout=30)

    def post(self, fields: dict, **kwargs) -> httpx.Response:
        fields = {k: str(v) for k, v in fields.items()}
        if self.encoding == "multipart":
            return self.http.post(self.portal.api_url,
                                  files={k: (None, v) for k, v in fields.items()}, **kwargs)
        return self.http.post(self.portal.api_url, data=fields, **kwargs)

    def call(self, api_call: str, **fields) -> Answer:
        return Answer(self.post({"apiCALL": api_call, **fields}))

    def register(self, email: str | None = None, name: str = "John Doe",
                 password: str = PASSWORD) -> str:
        email = email or unique_email()
        self.call("registerNewUser", email=email, name=name, password=password).ok()
        return email

    def login(self, email: str, password: str = PASSWORD, **extra) -> Answer:
        return self.call("login", email=email, password=password, **extra)

    def new_account(self, **kwargs) -> str:
        email = self.register(**kwargs)
        self.login(email, kwargs.get("password", PASSWORD)).ok()
        return email

    def is_logged_in(self) -> bool:
        answer = self.call("updateUserData")
        if answer.status == "ok":
            return True
        assert answer.error == "not_logged_in", answer.text
        return False

    def add_contact(self, email: str | None = None, **fields) -> int:
        fields = {"name": "Sub User", "password": PASSWORD, "role": "4", **fields}
        answer = self.call("addContact", email=email or unique_email(), **fields).ok()
        return int(answer.root.find("contact").get("id"))

    def close(self):
        self.http.close()


def at_once(portal: Portal, forms: list[dict], headers: list[dict] | None = None
            ) -> list[Answer]:
    """Post all ``forms`` (urlencoded) at the same moment, each on its own connection, with
    the matching ``headers``; their answers in order."""
    import asyncio

    async def send():
        limits = httpx.Limits(max_connections=len(forms))
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            return await asyncio.gather(*(
                http.post(portal.api_url, data=form, headers=extra)
                for form, extra in zip(forms, headers or [{}] * len(forms))))

    return [Answer(r) for r in asyncio.run(send())]


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture(params=ENCODINGS)
def encoding(request):
    return request.param


@pytest.fixture
def new_api(portal, encoding):
    """``new_api()``: another client (own cookies) to the module's portal;
    ``new_api(other_portal)`` for a portal from ``make_portal``."""
    clients = []

    def make(target: Portal | None = None) -> Api:
        client = Api(target or portal, encoding)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def api(new_api) -> Api:
    return new_api()


# -- TLS -------------------------------------------------------------------------------


def self_signed(tmp: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files: ``(certfile, keyfile)``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = tmp / "cert.pem", tmp / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(certfile), str(keyfile)


# -- mail --------------------------------------------------------------------------------

CODE_RE = re.compile(r"recoverycode=([A-Za-z0-9_\-]+)")


def read_outbox(outbox: Path, to: str, timeout: float = 10) -> list[email.message.EmailMessage]:
    """The messages in ``outbox`` addressed to ``to`` (waits for at least one)."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        if outbox.exists():
            for path in sorted(outbox.glob("*.eml")):
                msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if msg["To"].lower() == to.lower():
                    found.append(msg)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def recovery_code(message: email.message.EmailMessage) -> str:
    match = CODE_RE.search(message.get_content())
    assert match, message.get_content()
    return match.group(1)
