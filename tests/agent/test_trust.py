"""``backuprun agent trust`` / ``untrust``: through the real command, against a real backup
server's public page, and from files."""

from __future__ import annotations

import asyncio
import datetime
import socket

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette

from backuprun.agent import cli, trust
from backuprun.backupserver import public
from backuprun.backupserver.listeners import Listener, Listeners
from backuprun.transport import tls


@pytest.fixture
async def serve():
    groups: list[Listeners] = []

    async def start(app, identity) -> str:
        group = Listeners([Listener("public", app, "127.0.0.1", 0,
                                    tls.server_context(identity))])
        await group.start()
        groups.append(group)
        return group.url("public")

    yield start
    for group in groups:
        await group.stop()


async def command(*args):
    from .conftest import run_backuprun

    return await asyncio.to_thread(run_backuprun, *args)


def assert_one_error_line(result, code: int) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


async def test_trust_from_a_backup_servers_public_page(serve, ids, tmp_path):
    url = await serve(public.create_app(None, ids["server"], "Los Angeles", b"s"), ids["server"])
    data = tmp_path / "agent"
    result = await command("agent", "trust", url, "--data-dir", data)
    assert result.returncode == 0, result.stderr
    fingerprint = ids["server"].fingerprint
    assert result.stdout.split()[:2] == ["trusted", fingerprint]
    stored = data / "trusted" / f"{fingerprint.removeprefix('SHA256:')}.pem"
    assert stored.read_bytes() == ids["server"].cert_pem

    again = await command("agent", "trust", f"{url}/login", "--data-dir", data)  # serverurl
    assert again.returncode == 0 and again.stdout.startswith(f"already trusted {fingerprint}")
    listed = await command("agent", "trust", "--list", "--data-dir", data)
    assert listed.stdout.splitlines() == [f"{fingerprint}\tbackup server server"]


async def test_a_site_that_is_not_a_backup_server_is_refused(serve, ids, tmp_path):
    url = await serve(Starlette(), ids["server"])  # TLS, but no /server.pem
    result = await command("agent", "trust", url, "--data-dir", tmp_path / "agent")
    line = assert_one_error_line(result, cli.EXIT_NOT_A_SERVER)
    assert "not a backup server's public page" in line
    assert not (tmp_path / "agent" / "trusted").exists()


async def test_served_certificate_must_be_the_presented_one(serve, ids, tmp_path):
    app = public.create_app(None, ids["other_server"], "x", b"s")
    url = await serve(app, ids["server"])
    result = await command("agent", "trust", url, "--data-dir", tmp_path / "agent")
    assert "presents one certificate and serves another" in assert_one_error_line(
        result, cli.EXIT_NOT_A_SERVER)


def test_unreachable_url_and_bad_url(backuprun, tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connection refused
        port = closed.getsockname()[1]
        result = backuprun("agent", "trust", f"https://127.0.0.1:{port}", "--data-dir", tmp_path)
    assert "cannot reach" in assert_one_error_line(result, cli.EXIT_UNREACHABLE)
    result = backuprun("agent", "trust", "http://127.0.0.1:1", "--data-dir", tmp_path)
    assert "https://HOST:PORT" in assert_one_error_line(result, cli.EXIT_USAGE)
    result = backuprun("agent", "trust", "--data-dir", tmp_path)
    assert_one_error_line(result, cli.EXIT_USAGE)


def test_trust_from_file_list_and_untrust(backuprun, ids, tmp_path):
    data = tmp_path / "agent"
    for name in ("server", "other_server"):
        result = backuprun("agent", "trust", "--key-file", ids[name].cert_path,
                           "--data-dir", data)
        assert result.stdout.split()[:2] == ["trusted", ids[name].fingerprint]
    listed = backuprun("agent", "trust", "--list", "--data-dir", data).stdout.splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == sorted(
        ids[name].fingerprint for name in ("server", "other_server"))

    prefix = ids["server"].fingerprint.removeprefix("SHA256:")[:12].upper()
    result = backuprun("agent", "untrust", prefix, "--data-dir", data)
    assert result.returncode == 0 and ids["server"].fingerprint in result.stdout
    result = backuprun("agent", "untrust", ids["other_server"].fingerprint, "--data-dir", data)
    assert result.returncode == 0
    result = backuprun("agent", "trust", "--list", "--data-dir", data)
    assert result.returncode == 0 and result.stdout == ""
    assert "no backup server is trusted" in result.stderr


def test_untrust_an_unknown_fingerprint(backuprun, ids, tmp_path):
    backuprun("agent", "trust", "--key-file", ids["server"].cert_path, "--data-dir", tmp_path)
    other = ids["other_server"].fingerprint
    result = backuprun("agent", "untrust", other, "--data-dir", tmp_path)
    assert other in assert_one_error_line(result, cli.EXIT_UNKNOWN)
    result = backuprun("agent", "untrust", "xyz", "--data-dir", tmp_path)
    assert "is not a fingerprint" in assert_one_error_line(result, cli.EXIT_UNKNOWN)


def test_a_file_that_is_not_one_certificate_is_refused(backuprun, ids, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    result = backuprun("agent", "trust", "--key-file", garbage, "--data-dir", tmp_path / "a")
    assert "holds no certificate" in assert_one_error_line(result, cli.EXIT_BAD_CERTIFICATE)
    result = backuprun("agent", "trust", "--key-file", ids["server"].key_path,
                       "--data-dir", tmp_path / "a")
    assert_one_error_line(result, cli.EXIT_BAD_CERTIFICATE)  # the key, not the certificate
    both = tmp_path / "both.pem"
    both.write_bytes(ids["server"].cert_pem + ids["other_server"].cert_pem)
    result = backuprun("agent", "trust", "--key-file", both, "--data-dir", tmp_path / "a")
    assert "holds 2 certificates" in assert_one_error_line(result, cli.EXIT_BAD_CERTIFICATE)
    assert trust.TrustStore(tmp_path / "a").servers() == []


def test_a_ca_certificate_is_never_trusted(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "some CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
          .public_key(key.public_key()).serial_number(1).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(key, hashes.SHA256()))
    with pytest.raises(trust.NotACertificate, match="CA certificate"):
        trust.TrustStore(tmp_path).add(ca.public_bytes(serialization.Encoding.DER), "ca.der")


def test_der_is_stored_as_pem_and_a_broken_entry_is_named(ids, tmp_path):
    store = trust.TrustStore(tmp_path)
    der = x509.load_pem_x509_certificate(ids["server"].cert_pem).public_bytes(
        serialization.Encoding.DER)
    entry, added = store.add(der, "server.der")
    assert added and entry.pem == ids["server"].cert_pem
    state = store.state()
    (store.folder / "broken.pem").write_text("junk")
    assert store.state() != state
    with pytest.raises(trust.NotACertificate, match="broken.pem.*remove it"):
        store.servers()
