"""Identities and pinned TLS: each of our programs has a key and a self-signed certificate,
and a peer is trusted when it presents exactly the certificate it was pinned to.

Rules:
- An :class:`Identity` is an ECDSA P-256 key (``key.pem``, PKCS#8, mode 0600) and a
  self-signed X.509 certificate (``cert.pem``) in a folder of its own. It is created once,
  atomically (see :mod:`files`), and reused from then on: the certificate is what peers pin,
  so it never changes by itself (its names are not refreshed and it never expires, using the
  RFC 5280 "no well-defined expiration" date).
- A fingerprint is ``"SHA256:"`` + the lowercase hex SHA-256 of the certificate's DER bytes,
  the digest ``openssl x509 -noout -fingerprint -sha256`` prints (there upper-case, with
  colons). It names the certificate, hence the key.
- A pinned context trusts exactly the given certificates as its only trust anchors: no
  system CAs. Hostname checking is off on the client side, and that is safe here: with a
  self-signed certificate as the sole anchor, a handshake succeeds only against a peer that
  proves possession of that certificate's private key (the certificate is not a CA, so it
  cannot vouch for another one). Names add nothing to that proof; the key is the identity.
- Our clients speak only TLS 1.3 (both ends are ours); server contexts also accept TLS 1.2,
  for browsers on a backup server's public page.
- :func:`fetch_certificate` is the one place that reads a certificate without verifying it:
  trust on first use. Its caller must show the fingerprint for a human to compare.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from backuprun.transport.files import create_exclusive

KEY_FILE = "key.pem"
CERT_FILE = "cert.pem"
NO_EXPIRY = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)


class IdentityError(Exception):
    """An identity folder that cannot be used as it is."""


@dataclass(frozen=True)
class Identity:
    """A key and its self-signed certificate, as PEM files in ``folder``."""

    folder: Path
    cert_pem: bytes

    @property
    def key_path(self) -> Path:
        return self.folder / KEY_FILE

    @property
    def cert_path(self) -> Path:
        return self.folder / CERT_FILE

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.cert_pem)

    @classmethod
    def load_or_create(cls, folder: Path | str, common_name: str,
                       names: list[str] = ()) -> "Identity":
        """The identity in ``folder``, created first if there is none. ``names`` (hostnames
        and IP addresses) go into a new certificate's subjectAltName; an existing identity is
        reused as it is."""
        folder = Path(folder)
        key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
        if cert_path.exists() and not key_path.exists():
            raise IdentityError(
                f"{cert_path} has no {KEY_FILE} beside it: restore the key, or remove the "
                "certificate to make a new identity (peers that pinned it must pin the new one)")
        if not key_path.exists():
            create_exclusive(key_path, ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        key = _load_key(key_path)
        if not cert_path.exists():
            cert = _self_signed(key, common_name, names)
            create_exclusive(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        cert_pem = cert_path.read_bytes()
        _check_pair(key, cert_pem, folder)
        return cls(folder, cert_pem)


def fingerprint_of(cert_pem: bytes) -> str:
    """``"SHA256:<hex>"`` of the (first) certificate in ``cert_pem``."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def server_context(identity: Identity,
                   trusted_client_certs: list[Path] | None = None) -> ssl.SSLContext:
    """A server context presenting ``identity``; with ``trusted_client_certs``, a client must
    present one of exactly those certificates (CERT_REQUIRED) or the handshake fails."""
    return server_context_from_files(identity.cert_path, identity.key_path,
                                     trusted_client_certs)


def server_context_from_files(certfile: Path | str, keyfile: Path | str,
                              trusted_client_certs: list[Path] | None = None) -> ssl.SSLContext:
    """:func:`server_context` for a certificate and key given as files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certfile), str(keyfile))
    if trusted_client_certs is not None:
        if not trusted_client_certs:
            raise ValueError("trusted_client_certs is empty: no client could ever connect")
        context.verify_mode = ssl.CERT_REQUIRED
        for path in trusted_client_certs:
            context.load_verify_locations(cadata=Path(path).read_text())
    return context


def client_context(identity: Identity | None, pinned_server_cert: Path | bytes) -> ssl.SSLContext:
    """A client context that trusts exactly ``pinned_server_cert`` (a path or PEM bytes) and,
    with ``identity``, presents it as the client certificate."""
    pem = pinned_server_cert if isinstance(pinned_server_cert, bytes) else \
        Path(pinned_server_cert).read_bytes()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # the pinned key is the identity (see the module's rules)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=pem.decode("ascii"))
    if identity is not None:
        context.load_cert_chain(str(identity.cert_path), str(identity.key_path))
    return context


def fetch_certificate(host: str, port: int, timeout: float = 10.0) -> bytes:
    """The certificate (PEM) the TLS server at ``host:port`` presents, NOT verified: trust on
    first use. Show ``fingerprint_of`` the answer to a human before pinning it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=_sni(host)) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError(f"{host}:{port} presented no certificate")
    return ssl.DER_cert_to_PEM_cert(der).encode("ascii")


def _sni(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


def _self_signed(key: ec.EllipticCurvePrivateKey, common_name: str,
                 names: list[str]) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(NO_EXPIRY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False))
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
    return builder.sign(key, hashes.SHA256())


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise IdentityError(f"{path} is not an ECDSA key")
    return key


def _check_pair(key: ec.EllipticCurvePrivateKey, cert_pem: bytes, folder: Path) -> None:
    cert = x509.load_pem_x509_certificate(cert_pem)
    if cert.public_key() != key.public_key():
        raise IdentityError(f"{folder}: {CERT_FILE} is not the certificate of {KEY_FILE}")
