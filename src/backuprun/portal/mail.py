"""Outgoing e-mail: ``.eml`` files in ``<data-dir>/outbox/`` by default, SMTP when configured.

Rules:
- ``BACKUPRUN_SMTP_URL`` (setting ``smtp_url``) chooses SMTP:
  ``smtp://[user:pass@]host[:port]`` plain (port 25), ``smtp+starttls://...`` upgrades with
  STARTTLS (port 587), ``smtps://...`` implicit TLS (port 465). User and password are
  percent-decoded. The server's certificate is verified against the system's trust store,
  or against ``?cafile=/path/ca.pem`` when the URL names one.
- Sending happens after the answer, in a background task (:meth:`Mailer.submit`): a call
  never waits on, nor reveals, the delivery. Work whose outcome must not show in the answer
  (which account, if any, gets a mail) runs in that task too (:meth:`Mailer.submit_after`).
  Failures are logged, never raised to a caller.
- Outbox files are written to a temporary name and renamed, so a reader never sees half.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Awaitable, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from backuprun.config import ConfigError, Settings

log = logging.getLogger(__name__)


class Transport(Protocol):
    async def deliver(self, message: EmailMessage) -> None: ...


class OutboxTransport:
    def __init__(self, directory: Path):
        self.directory = directory

    async def deliver(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(bytes(message))
        os.replace(tmp, self.directory / name)


class SmtpTransport:
    def __init__(self, url: str):
        parts = urlsplit(url)
        schemes = {"smtp": (25, False, False), "smtp+starttls": (587, True, False),
                   "smtps": (465, False, True)}
        if parts.scheme not in schemes or not parts.hostname:
            raise ConfigError(f"smtp_url must look like smtp://host:port, not {parts.scheme}://")
        default_port, self.start_tls, self.use_tls = schemes[parts.scheme]
        self.host = parts.hostname
        self.port = parts.port or default_port
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        query = parse_qs(parts.query)
        unknown = set(query) - {"cafile"}
        if unknown:
            raise ConfigError(f"smtp_url: unknown parameter(s) {', '.join(sorted(unknown))}")
        cafile = query.get("cafile", [None])[-1]
        self.tls_context = ssl.create_default_context(cafile=cafile) if cafile else None

    async def deliver(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message, hostname=self.host, port=self.port, username=self.username,
            password=self.password, start_tls=self.start_tls, use_tls=self.use_tls,
            tls_context=self.tls_context, timeout=30,
        )


class Mailer:
    def __init__(self, settings: Settings, transport: Transport | None = None):
        self.sender = settings.mail_from
        if transport is None:
            transport = (SmtpTransport(settings.smtp_url) if settings.smtp_url
                         else OutboxTransport(settings.outbox_dir))
        self.transport = transport
        self._pending: set[asyncio.Task] = set()

    def compose(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="backuprun")
        # plain 7bit keeps links and codes readable in the raw message when it can
        message.set_content(body, cte="7bit" if body.isascii() else "quoted-printable")
        return message

    def submit(self, message: EmailMessage) -> None:
        """Send in the background; the caller does not wait."""
        self._spawn(self._send(message))

    def submit_after(self, work: Awaitable[EmailMessage | None]) -> None:
        """Run ``work`` in the background and send the message it makes, if any: the
        caller's answer neither waits for nor reveals the work (e.g. whether an address has
        an account)."""
        self._spawn(self._send_after(work))

    def _spawn(self, job: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_after(self, work: Awaitable[EmailMessage | None]) -> None:
        try:
            message = await work
        except Exception:  # noqa: BLE001 - as for sending: logged, never raised
            log.exception("preparing mail failed")
            return
        if message is not None:
            await self._send(message)

    async def _send(self, message: EmailMessage) -> None:
        try:
            await self.transport.deliver(message)
        except Exception:  # noqa: BLE001 - a lost mail must not take the portal down
            log.exception("sending mail to %s failed", message["To"])

    async def drain(self) -> None:
        """Wait for mail still being sent (on shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
