"""The agent's trust store: the certificates of the backup servers it serves, one PEM file
each in ``<data-dir>/trusted/``, named by fingerprint (``<sha256 hex>.pem``).

Rules:
- A trusted certificate is a peer's own certificate, never a CA's (``cA=TRUE`` is refused):
  the agent's TLS server takes each one as a trust anchor, and an anchor that may sign
  others would let through any certificate it signed.
- A file appears whole or not at all (:func:`backuprun.transport.files.create_exclusive`);
  adding a certificate that is already trusted changes nothing.
- Adding from a URL is trust on first use, as R1Soft's ``--get-key``: the certificate the
  server presents in the TLS handshake, which must also be what it serves at
  ``GET /server.pem`` (so the URL is a backup server's public page, not any HTTPS site).
  Nothing is verified: the caller shows the fingerprint for a human to compare with the one
  the portal shows. A backup server behind a TLS-terminating proxy presents another
  certificate: fetch its ``server.pem`` yourself and add it as a file.
- A fingerprint given to :meth:`TrustStore.remove` may be written as we print it
  (``SHA256:<hex>``), as ``openssl x509 -fingerprint -sha256`` does (hex pairs with colons,
  any case), or as a unique prefix of at least :data:`MIN_PREFIX` hex digits.
"""

from __future__ import annotations

import http.client
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from backuprun.transport.files import create_exclusive
from backuprun.transport.tls import fingerprint_of

TRUSTED = "trusted"
PEM_PATH = "/server.pem"  # where a backup server's public page serves its certificate
MAX_PEM_BYTES = 64 * 1024
MIN_PREFIX = 4
_HEX = re.compile(r"[0-9a-f]+")


class TrustError(Exception):
    """A certificate that cannot be trusted, or a trust-store operation that failed."""


class BadUrl(TrustError):
    """Not an ``https://HOST[:PORT]`` address."""


class ServerUnreachable(TrustError):
    """Nothing answers TLS at the URL."""


class NotABackupServer(TrustError):
    """The URL answers, but not with a backup server's certificate at ``/server.pem``."""


class NotACertificate(TrustError):
    """Data (a file, a stored entry) that is not exactly one usable certificate."""


class UnknownServer(TrustError):
    """No trusted certificate (or more than one) matches the given fingerprint."""


@dataclass(frozen=True)
class TrustedServer:
    fingerprint: str
    name: str  # the certificate's common name, e.g. "backuprun backup server 528"
    path: Path
    pem: bytes


class TrustStore:
    """The trusted backup servers in ``<data_dir>/trusted``."""

    def __init__(self, data_dir: Path | str):
        self.folder = Path(data_dir) / TRUSTED

    def servers(self) -> list[TrustedServer]:
        """Every trusted server, by fingerprint; a stored file that is not a certificate
        raises :class:`NotACertificate` naming it."""
        found = [_entry(path) for path in self._files()]
        return sorted(found, key=lambda server: server.fingerprint)

    def state(self) -> tuple:
        """Changes whenever a certificate is added, removed or rewritten."""
        result = []
        for path in self._files():
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            result.append((path.name, info.st_ino, info.st_size, info.st_mtime_ns))
        return tuple(result)

    def add(self, data: bytes, source: str) -> tuple[TrustedServer, bool]:
        """Trust the certificate in ``data`` (PEM or DER, from ``source``); True when it was
        not trusted before."""
        pem = certificate_pem(data, source)
        fingerprint = fingerprint_of(pem)
        path = self.folder / f"{_hex_of(fingerprint)}.pem"
        self.folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data folder
        self.folder.mkdir(mode=0o755, exist_ok=True)
        created = create_exclusive(path, pem, 0o644)
        return _entry(path), created

    def add_file(self, path: Path | str) -> tuple[TrustedServer, bool]:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise NotACertificate(f"cannot read {path}: {exc.strerror or exc}") from None
        return self.add(data, str(path))

    def add_url(self, url: str, timeout: float = 10.0) -> tuple[TrustedServer, bool]:
        return self.add(fetch_server_certificate(url, timeout), url)

    def remove(self, fingerprint: str) -> TrustedServer:
        """Stop trusting the one server whose fingerprint is or starts with ``fingerprint``."""
        wanted = _normalize(fingerprint)
        matches = [s for s in self.servers() if _hex_of(s.fingerprint).startswith(wanted)]
        if len(matches) != 1:
            raise UnknownServer(
                f"no trusted backup server has the fingerprint {fingerprint}" if not matches
                else f"{fingerprint} matches {len(matches)} trusted backup servers: give more "
                     "of the fingerprint")
        matches[0].path.unlink()
        _sync_folder(self.folder)
        return matches[0]

    def _files(self) -> list[Path]:
        try:
            return sorted(path for path in self.folder.iterdir()
                          if path.suffix == ".pem" and not path.name.startswith("."))
        except FileNotFoundError:
            return []


def certificate_pem(data: bytes, source: str) -> bytes:
    """The one certificate in ``data`` (PEM or DER) as PEM; refuses anything else, and CA
    certificates (see the module's rules)."""
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise NotACertificate(f"{source} holds no certificate (PEM or DER)") from None
    if len(certs) != 1:
        raise NotACertificate(f"{source} holds {len(certs)} certificates; give only the "
                              "backup server's own")
    try:
        is_ca = certs[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        raise NotACertificate(f"{source} is a CA certificate; give the backup server's own")
    return certs[0].public_bytes(serialization.Encoding.PEM)


def parse_url(url: str) -> tuple[str, int]:
    """``(host, port)`` of ``https://HOST[:PORT][/...]`` (the port defaults to 443)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 443
    except ValueError:
        parts, port = None, 0
    if parts is None or parts.scheme != "https" or not parts.hostname:
        raise BadUrl(f"{url!r} is not a backup server's address: give https://HOST:PORT")
    return parts.hostname, port


def fetch_server_certificate(url: str, timeout: float = 10.0) -> bytes:
    """The certificate (PEM) the backup server at ``url`` presents and serves at
    ``/server.pem``: unverified, trust on first use (see the module's rules)."""
    host, port = parse_url(url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # trust on first use: the human checks the fingerprint
    connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    try:
        connection.connect()
        presented = connection.sock.getpeercert(binary_form=True)
        connection.request("GET", PEM_PATH)
        response = connection.getresponse()
        status, body = response.status, response.read(MAX_PEM_BYTES + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise ServerUnreachable(f"cannot reach {host}:{port}: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None
    finally:
        connection.close()
    if status != 200 or len(body) > MAX_PEM_BYTES:
        raise NotABackupServer(f"{url} is not a backup server's public page: GET {PEM_PATH} "
                               f"answered {status}")
    try:
        served = certificate_pem(body, f"{url}{PEM_PATH}")
    except NotACertificate as exc:
        raise NotABackupServer(str(exc)) from None
    if x509.load_pem_x509_certificate(served).public_bytes(serialization.Encoding.DER) \
            != presented:
        raise NotABackupServer(f"{url} presents one certificate and serves another at "
                               f"{PEM_PATH}; get the right one and use --key-file")
    return served


def _entry(path: Path) -> TrustedServer:
    try:
        pem = certificate_pem(path.read_bytes(), str(path))
    except NotACertificate as exc:
        raise NotACertificate(f"{exc}: remove it from the trust store") from None
    cert = x509.load_pem_x509_certificate(pem)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(names[0].value) if names else cert.subject.rfc4514_string()
    return TrustedServer(fingerprint_of(pem), name, path, pem)


def _hex_of(fingerprint: str) -> str:
    return fingerprint.split(":", 1)[1]


def _normalize(fingerprint: str) -> str:
    text = fingerprint.strip().lower()
    text = text.removeprefix("sha256:").removeprefix("sha256 fingerprint=").replace(":", "")
    if len(text) < MIN_PREFIX or not _HEX.fullmatch(text):
        raise UnknownServer(f"{fingerprint!r} is not a fingerprint: give SHA256:<hex> (as "
                            f"'backuprun agent trust --list' prints) or at least {MIN_PREFIX} "
                            "of its first hex digits")
    return text


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
