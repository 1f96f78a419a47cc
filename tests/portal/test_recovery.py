"""Password recovery: same answer for everyone, mail with a code, through a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from .conftest import PASSWORD, read_outbox, recovery_code, self_signed, unique_email


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def wait_for(self, to: str, timeout: float = 10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, rcpts, message in self.messages:
                if to in rcpts:
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no mail to {to}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["plain", "starttls"])
def smtp_server(request, tmp_path):
    """A real SMTP server (aiosmtpd); the ``starttls`` one refuses mail before STARTTLS."""
    inbox = Inbox()
    tls = {}
    inbox.scheme, inbox.query = "smtp", ""
    if request.param == "starttls":
        certfile, keyfile = self_signed(tmp_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile, keyfile)
        tls = {"tls_context": context, "require_starttls": True}
        inbox.scheme, inbox.query = "smtp+starttls", f"?cafile={certfile}"
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login, auth_data.password) == (b"mailer", b"s3cr:t@")
        logins.append(ok)
        return AuthResult(success=ok)

    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(),
                            authenticator=authenticator, auth_require_tls=False, **tls)
    controller.start()
    inbox.port, inbox.logins = controller.port, logins
    yield inbox
    controller.stop()


def test_round_trip_through_smtp(smtp_server, make_portal, new_api):
    s = smtp_server
    portal = make_portal(smtp_url=f"{s.scheme}://127.0.0.1:{s.port}{s.query}",
                         mail_from="BackupRun <support@example.com>")
    api = new_api(portal)
    email_address = api.register(name="Ann Smtp")
    api.call("recoverPassword", email=email_address.upper()).ok()
    message = smtp_server.wait_for(email_address)
    assert message["From"] == "BackupRun <support@example.com>"
    assert "Ann Smtp" in message.get_content()
    code = recovery_code(message)
    api.call("resetPassword", recoverycode=code, password="from the mail", remember="1").ok()
    assert api.is_logged_in()
    new_api(portal).login(email_address, "from the mail").ok()
    assert not portal.outbox.exists() or not list(portal.outbox.iterdir())


def test_smtp_login_with_percent_encoded_password(smtp_server, make_portal, new_api):
    s = smtp_server
    portal = make_portal(smtp_url=f"{s.scheme}://mailer:s3cr%3At%40@127.0.0.1:{s.port}{s.query}")
    api = new_api(portal)
    email_address = api.register()
    api.call("recoverPassword", email=email_address).ok()
    smtp_server.wait_for(email_address)
    assert smtp_server.logins == [True]


def test_unknown_address_gets_the_same_answer_and_no_mail(api, portal):
    unknown = unique_email("nobody")
    known = api.register()
    a = api.call("recoverPassword", email=unknown).ok()
    b = api.call("recoverPassword", email=known).ok()
    assert a.response.content == b.response.content
    assert read_outbox(portal.outbox, known)
    assert read_outbox(portal.outbox, unknown, timeout=0.3) == []


def test_mail_rate_limit(make_portal, new_api):
    portal = make_portal(recovery_mails_per_hour=2)
    api = new_api(portal)
    email_address = api.register()
    for _ in range(4):
        api.call("recoverPassword", email=email_address).ok()
    time.sleep(0.5)
    assert len(read_outbox(portal.outbox, email_address)) == 2


def test_code_is_random_single_use_and_others_die_with_it(api, portal, new_api):
    email_address = api.register()
    api.call("recoverPassword", email=email_address).ok()
    api.call("recoverPassword", email=email_address).ok()
    deadline = time.monotonic() + 10
    while len(messages := read_outbox(portal.outbox, email_address)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first, second = (recovery_code(m) for m in messages)
    assert first != second and len(first) >= 40
    api.call("resetPassword", recoverycode=second, password="new password 1").ok()
    # the other outstanding code was retired by the reset
    new_api().call("resetPassword", recoverycode=first,
                   password="new password 2").fails("recovery_code_used")
    new_api().login(email_address, "new password 1").ok()
    new_api().login(email_address, PASSWORD).fails("wrong_credentials")


def test_known_and_unknown_addresses_get_byte_identical_answers(api):
    known = api.register()
    answers = [api.call("recoverPassword", email=e).ok().response
               for e in (known, unique_email("nobody"))]
    a, b = ({k: v for k, v in r.headers.items() if k != "date"} for r in answers)
    assert a == b and answers[0].content == answers[1].content
    assert answers[0].status_code == answers[1].status_code == 200


def test_recovery_does_the_same_work_before_answering(databases, tmp_path):
    """Until the answer, a known and an unknown address cost the same: one transaction (the
    request count); the account lookup and the mail happen after it, in the background."""
    import asyncio

    from backuprun.config import Settings
    from backuprun.portal import db as database
    from backuprun.portal.accounts.service import AccountService
    from backuprun.portal.mail import Mailer

    from .conftest import TEST_SETTINGS

    class Sent:
        def __init__(self):
            self.to = []

        async def deliver(self, message):
            self.to.append(message["To"])

    async def check():
        engine = database.make_engine(databases.new())
        await database.migrate(engine)
        maker, opened = database.sessionmaker(engine), []

        def counting():
            opened.append(1)
            return maker()

        settings = Settings(data_dir=tmp_path, **TEST_SETTINGS)
        sent = Sent()
        service = AccountService(counting, settings, Mailer(settings, sent))
        known = (await service.register(unique_email(), "N", PASSWORD, "192.0.2.1")).email
        work = []
        for address in (known, unique_email("nobody")):
            opened.clear()
            await service.recover_password(address, "192.0.2.1")
            work.append(len(opened))
            await service.mailer.drain()
        await engine.dispose()
        return work, sent.to, known

    work, sent_to, known = asyncio.run(check())
    assert work == [1, 1]
    assert sent_to == [known]
