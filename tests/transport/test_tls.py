"""Identities and pinned contexts, over real sockets on 127.0.0.1."""

from __future__ import annotations

import hashlib
import socket
import queue
import ssl
import stat
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from backuprun.transport import tls
from backuprun.transport.tls import Identity, IdentityError


def test_identity_is_created_once_and_reused(tmp_path):
    first = Identity.load_or_create(tmp_path / "id", "backup server 528",
                                    ["127.0.0.1", "bs528.example.com"])
    again = Identity.load_or_create(tmp_path / "id", "another name", ["10.0.0.1"])
    assert again == first
    assert again.fingerprint == first.fingerprint
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "id").iterdir()) == ["cert.pem", "key.pem"]


def test_certificate_names_and_key(tmp_path):
    identity = Identity.load_or_create(tmp_path, "bs", ["127.0.0.1", "bs.example.com"])
    cert = x509.load_pem_x509_certificate(identity.cert_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["bs.example.com"]
    key = serialization.load_pem_private_key(identity.key_path.read_bytes(), None)
    assert key.curve.name == "secp256r1"
    assert cert.public_key() == key.public_key()


def test_fingerprint_is_sha256_of_der(tmp_path):
    identity = Identity.load_or_create(tmp_path, "bs", [])
    der = x509.load_pem_x509_certificate(identity.cert_pem).public_bytes(
        serialization.Encoding.DER)
    assert identity.fingerprint == "SHA256:" + hashlib.sha256(der).hexdigest()
    assert tls.fingerprint_of(identity.cert_path.read_bytes()) == identity.fingerprint
    other = Identity.load_or_create(tmp_path / "other", "bs", [])
    assert other.fingerprint != identity.fingerprint


def test_key_without_certificate_gets_one(tmp_path):
    identity = Identity.load_or_create(tmp_path, "bs", [])
    identity.cert_path.unlink()
    again = Identity.load_or_create(tmp_path, "bs", [])
    assert again.cert_pem != identity.cert_pem  # a new certificate, of the same key
    assert (x509.load_pem_x509_certificate(again.cert_pem).public_key()
            == x509.load_pem_x509_certificate(identity.cert_pem).public_key())


def test_certificate_without_key_is_refused(tmp_path):
    Identity.load_or_create(tmp_path, "bs", []).key_path.unlink()
    with pytest.raises(IdentityError, match="restore the key"):
        Identity.load_or_create(tmp_path, "bs", [])


def test_mismatched_pair_is_refused(tmp_path):
    one = Identity.load_or_create(tmp_path / "one", "bs", [])
    two = Identity.load_or_create(tmp_path / "two", "bs", [])
    one.cert_path.write_bytes(two.cert_pem)
    with pytest.raises(IdentityError, match="not the certificate"):
        Identity.load_or_create(tmp_path / "one", "bs", [])


# -- pinned contexts over a real TLS socket ------------------------------------------------


@pytest.fixture
def ids(tmp_path):
    return {name: Identity.load_or_create(tmp_path / name, name, ["127.0.0.1"])
            for name in ("server", "portal", "stranger")}


@pytest.fixture
def echo_server(ids):
    """A TLS server presenting ``server`` that requires the ``portal`` certificate; each
    connection's outcome ("ok" or the server's exception) goes to the queue it yields."""
    context = tls.server_context(ids["server"], [ids["portal"].cert_path])
    listener = socket.create_server(("127.0.0.1", 0))
    outcomes = queue.Queue()

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.sendall(tls_conn.recv(16))
                outcomes.put("ok")
            except (ssl.SSLError, OSError) as exc:
                outcomes.put(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], outcomes
    listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
    listener.close()
    thread.join(timeout=5)


def talk(port, context) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with context.wrap_socket(sock) as conn:
            conn.sendall(b"hello")
            return conn.recv(16)


def test_pinned_client_and_server_talk(ids, echo_server):
    port, outcomes = echo_server
    assert talk(port, tls.client_context(ids["portal"], ids["server"].cert_path)) == b"hello"
    assert talk(port, tls.client_context(ids["portal"], ids["server"].cert_pem)) == b"hello"
    assert [outcomes.get(timeout=10), outcomes.get(timeout=10)] == ["ok", "ok"]


@pytest.mark.parametrize("client", [None, "stranger"])
def test_server_refuses_a_client_without_the_pinned_certificate(ids, echo_server, client):
    port, outcomes = echo_server
    context = tls.client_context(ids[client] if client else None, ids["server"].cert_path)
    with pytest.raises((ssl.SSLError, OSError)):
        talk(port, context)
    assert isinstance(outcomes.get(timeout=10), ssl.SSLError)  # refused by the server


def test_client_refuses_a_server_it_did_not_pin(ids, echo_server):
    port, _ = echo_server
    with pytest.raises(ssl.SSLCertVerificationError):
        talk(port, tls.client_context(ids["portal"], ids["stranger"].cert_pem))


def test_fetch_certificate_reads_what_the_server_presents(ids, echo_server):
    port, _ = echo_server
    pem = tls.fetch_certificate("127.0.0.1", port)
    assert pem == ids["server"].cert_pem
    assert tls.fingerprint_of(pem) == ids["server"].fingerprint


def test_empty_trust_list_is_an_error(ids):
    with pytest.raises(ValueError):
        tls.server_context(ids["server"], [])
