"""The backup server's side of a connection to an agent: mutual TLS, the agent's key pinned.

``connect(host, port, identity, pinned_fingerprint)`` opens TLS with the backup server's
identity as client certificate, checks the agent's certificate, and asks ``GET /v1/hello``.

Rules:
- At first contact (``pinned_fingerprint`` None) the agent's certificate is accepted and its
  fingerprint returned, for the caller to store in ``BsAgent.key_fingerprint``. Afterwards
  an agent presenting any other certificate is :class:`AgentImpostor`, and nothing is sent
  to it. The owner resets the pin (``activateAgent``) when an agent really got a new key.
- The context does not verify a chain (``CERT_NONE``; the pin is a fingerprint, not a
  certificate to anchor on), and that is safe because of the order: the TLS 1.3 handshake
  makes the agent prove, by signing the handshake (CertificateVerify, checked by OpenSSL
  whatever the verify mode), that it holds the key of the certificate it presented; then
  that certificate's SHA-256 fingerprint is compared with the pin BEFORE a byte of the
  request is written. An impostor gets the handshake and nothing more; our client
  certificate is public anyway.
- An agent that does not trust this backup server completes the client's side of a TLS 1.3
  handshake and then sends an alert (unknown CA, certificate required): it surfaces when
  the answer is read, as :class:`AgentRefused`; so does a connection closed (or reset)
  after the handshake with no answer at all, which is how the alert may reach us (an agent
  that accepted us always answers).
- Nothing listening, no route, a timeout: :class:`AgentUnreachable`. Anything else that is
  not an agent's answer (not TLS, not HTTP, not JSON): :class:`AgentLinkError`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl

import websockets.exceptions
import websockets.sync.client

from backuprun.transport import messages
from backuprun.transport.tls import Identity, fingerprint_of

HELLO_PATH = "/v1/hello"
MAX_HELLO_BYTES = 64 * 1024
RECV_BUFSIZE = 1024 * 1024  # bytes a task channel reads from its socket at a time
REFUSED = ("refused this backup server's key in the TLS handshake: it does not trust this "
           "backup server (run 'backuprun agent trust https://SERVERIP:HTTPS_PORT' there)")
_REFUSALS = ("UNKNOWN_CA", "CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "ACCESS_DENIED",
             "HANDSHAKE_FAILURE")


class AgentLinkError(Exception):
    """No usable connection to the agent at ``host:port``."""

    def __init__(self, host: str, port: int, message: str):
        super().__init__(f"agent at {host}:{port}: {message}")
        self.host, self.port = host, port


class AgentUnreachable(AgentLinkError):
    """Nothing answers at the agent's address (refused, no route, timeout)."""


class AgentRefused(AgentLinkError):
    """The agent refused this backup server in the TLS handshake: it does not trust it."""


class AgentImpostor(AgentLinkError):
    """The agent's certificate is not the one pinned at first contact."""

    def __init__(self, host: str, port: int, pinned: str, presented: str):
        super().__init__(host, port, f"presented the key {presented}, not the pinned "
                                     f"{pinned}; refusing it (if the agent was reinstalled, "
                                     "its owner resets the pin by activating the agent again)")
        self.pinned, self.presented = pinned, presented


def connect(host: str, port: int, identity: Identity, pinned_fingerprint: str | None,
            timeout: float = 10.0) -> tuple[dict, str]:
    """The agent's hello and its certificate's fingerprint (see the module's rules)."""
    with _linked(host, port, identity, pinned_fingerprint, timeout) as (tls, fingerprint):
        return _hello(tls, host, port), fingerprint


def open_channel(host: str, port: int, identity: Identity, pinned_fingerprint: str | None,
                 path: str, timeout: float = 10.0) -> tuple["Channel", str]:
    """A task's WebSocket to the agent at ``path`` (:mod:`backuprun.transport.messages`),
    and the agent's fingerprint; the same checks and errors as :func:`connect`."""
    with _linked(host, port, identity, pinned_fingerprint, timeout,
                 keep=True) as (tls, fingerprint):
        opened = contextlib.ExitStack()  # connect() is a context manager (websockets 17)
        websocket = opened.enter_context(websockets.sync.client.connect(
            f"ws://{host}:{port}{path}", sock=tls, max_size=messages.MAX_FRAME,
            open_timeout=timeout, close_timeout=5, compression=None,
            ping_interval=None))  # liveness is the task's own silence timeout: a ping
        # unanswered while the disk safe's writer holds the reader back must not end a task
        # Reads of up to 1 MiB instead of 64 KiB: a 8 MiB frame is 8 turns of the reader
        # thread's Python parser, not 128 (the measured cost of a backup's receiving side).
        websocket.recv_bufsize = RECV_BUFSIZE
        return Channel(websocket, host, port, opened), fingerprint


class Channel:
    """A task's WebSocket, as the backup server uses it: send and receive messages."""

    def __init__(self, websocket, host: str, port: int, opened: contextlib.ExitStack):
        self.websocket, self.host, self.port = websocket, host, port
        self._opened = opened

    def send(self, kind: str, **fields) -> None:
        try:
            self.websocket.send(messages.pack(kind, **fields))
        except websockets.exceptions.ConnectionClosed as exc:
            raise AgentLost(self.host, self.port, _closed(exc)) from None

    def receive(self, timeout: float | None = None) -> dict:
        """The next message; :class:`AgentLost` when the connection ends or stays silent
        ``timeout`` seconds."""
        try:
            return messages.unpack(self.websocket.recv(timeout=timeout))
        except TimeoutError:
            raise AgentSilent(self.host, self.port,
                              f"the agent sent nothing for {timeout:.0f} s") from None
        except websockets.exceptions.ConnectionClosed as exc:
            raise AgentLost(self.host, self.port, _closed(exc)) from None
        except messages.ProtocolError as exc:
            raise AgentLinkError(self.host, self.port, str(exc)) from None

    def poll(self) -> dict | None:
        """The next message if one has arrived, else None (never waits)."""
        try:
            return messages.unpack(self.websocket.recv(timeout=0))
        except TimeoutError:
            return None
        except websockets.exceptions.ConnectionClosed as exc:
            raise AgentLost(self.host, self.port, _closed(exc)) from None
        except messages.ProtocolError as exc:
            raise AgentLinkError(self.host, self.port, str(exc)) from None

    def close(self) -> None:
        self._opened.close()


class AgentLost(AgentLinkError):
    """The connection to the agent ended in the middle of a task."""


class AgentSilent(AgentLost):
    """The agent sent nothing for as long as the caller would wait."""


def _closed(exc: Exception) -> str:
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None and rcvd.reason:
        return f"the connection was closed: {rcvd.reason}"
    return "the connection was lost"


@contextlib.contextmanager
def _linked(host: str, port: int, identity: Identity, pinned: str | None, timeout: float,
            keep: bool = False):
    """``(tls socket, fingerprint)`` after the pin check, errors mapped (module's rules);
    the socket is closed on leaving unless ``keep`` (the caller then owns it)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise AgentUnreachable(host, port, _reason(exc)) from None
    shaken = False
    tls = None
    try:
        tls = _context(identity).wrap_socket(sock)
        shaken = True
        fingerprint = _check_pin(tls, host, port, pinned)
        yield tls, fingerprint
        if not keep:
            tls.close()
    except ssl.SSLError as exc:
        _close(tls or sock)
        if any(name in str(exc) for name in _REFUSALS):
            raise AgentRefused(host, port, REFUSED) from None
        raise AgentLinkError(host, port, f"TLS failed: {exc.reason or exc}") from None
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, EOFError,
            websockets.exceptions.InvalidMessage, websockets.exceptions.ConnectionClosed):
        _close(tls or sock)
        if shaken:
            raise AgentRefused(host, port, REFUSED) from None
        raise AgentUnreachable(host, port, "the connection was closed at once") from None
    except (TimeoutError, socket.timeout) as exc:
        _close(tls or sock)
        raise AgentUnreachable(host, port, _reason(exc)) from None
    except (OSError, http.client.HTTPException, websockets.exceptions.InvalidHandshake) as exc:
        _close(tls or sock)
        raise AgentLinkError(host, port, f"the connection failed: {_reason(exc)}") from None
    except BaseException:
        _close(tls or sock)
        raise


def _close(sock) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _context(identity: Identity) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the pin is checked by hand, first (module's rules)
    context.load_cert_chain(str(identity.cert_path), str(identity.key_path))
    return context


def _check_pin(tls: ssl.SSLSocket, host: str, port: int, pinned: str | None) -> str:
    der = tls.getpeercert(binary_form=True)
    if not der:
        raise AgentLinkError(host, port, "presented no certificate")
    fingerprint = fingerprint_of(ssl.DER_cert_to_PEM_cert(der).encode("ascii"))
    if pinned is not None and fingerprint != pinned:
        raise AgentImpostor(host, port, pinned, fingerprint)
    return fingerprint


def _hello(tls: ssl.SSLSocket, host: str, port: int) -> dict:
    connection = http.client.HTTPConnection(host, port)
    connection.sock = tls  # the checked connection: http.client never opens its own
    connection.request("GET", HELLO_PATH, headers={"Accept": "application/json"})
    response = connection.getresponse()
    body = response.read(MAX_HELLO_BYTES + 1)
    if response.status != 200 or len(body) > MAX_HELLO_BYTES:
        raise AgentLinkError(host, port, f"GET {HELLO_PATH} answered {response.status}")
    try:
        hello = json.loads(body)
    except ValueError:
        hello = None
    if not isinstance(hello, dict):
        raise AgentLinkError(host, port, f"GET {HELLO_PATH} did not answer a JSON object")
    return hello


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
