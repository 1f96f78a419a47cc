"""The account rules, in one place for the API, the dashboard and the CLI.

Every method takes values as the user typed them (``None`` for "not sent"), validates them
with :mod:`.rules`, and either does the whole change in one transaction or raises
:class:`~backuprun.portal.errors.PortalError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backuprun.config import Settings
from backuprun.portal.accounts import limits, rules, sessions, throttle
from backuprun.portal.accounts.passwords import Passwords
from backuprun.portal.accounts.sessions import NewSession
from backuprun.portal.accounts.tokens import digest, new_secret
from backuprun.portal.db.models import Account, RecoveryCode
from backuprun.portal.errors import ErrorCode, PortalError
from backuprun.portal.mail import Mailer

SUBUSER_ROLES = (4, 2, 1)  # 4 subuser; 2 billing and 1 technic are deprecated, still accepted
MAX_RECOVERY_CODE = 128
# the field names of updateUserData and of addContact/updateContactData, for error messages
USER_FIELDS = {"email": "email", "name": "name", "fixed_phone": "fixed-phone",
               "mobile": "mobile", "mobile2": "mobile2", "password": "password"}
CONTACT_FIELDS = {**USER_FIELDS, "fixed_phone": "FixedPhone", "mobile": "telephone",
                  "mobile2": "Mobile2"}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Login:
    account: Account
    session: NewSession


@dataclass(frozen=True)
class Caller:
    """Who is calling: the logged-in account and the session it used."""

    account: Account
    session_id: int


class AccountService:
    def __init__(self, db: async_sessionmaker, settings: Settings, mailer: Mailer):
        self.db = db
        self.settings = settings
        self.mailer = mailer
        self.passwords = Passwords(settings)

    # -- registration, login, sessions -------------------------------------------------

    async def register(self, email: str | None, name: str | None, password: str | None,
                       address: str) -> Account:
        now = utcnow()
        account = Account(name=rules.name("name", name), parent_id=None, role=None,
                          fixed_phone="", mobile="", mobile2="", notify=True,
                          notify_email="", special_locations=False,
                          created_at=now, updated_at=now)
        account.email, account.email_key = rules.email("email", email)
        password = rules.password("password", password, self.settings.min_password_length)
        with self.passwords.slot():  # server_busy before anything is counted
            await self._count(limits.REGISTER, account.email_key, address)
            account.password_hash = await self.passwords.hash(password)
        await self._insert(account)
        return account

    async def login(self, email: str | None, password: str | None, remember: bool,
                    address: str, previous_token: str | None = None) -> Login:
        if not email:
            raise PortalError(ErrorCode.MISSING_FIELD, "email")
        if not password:
            raise PortalError(ErrorCode.MISSING_FIELD, "password")
        password = password[:rules.MAX_PASSWORD]
        key = rules.email_key(email)[:rules.MAX_EMAIL]
        account, attempt, rehashed = await self._check_password(key, password, address)
        now = utcnow()
        async with self.db() as db, db.begin():
            account = await db.get(Account, account.id)
            if account is None or account.email_key != key:  # removed or renamed meanwhile
                raise PortalError(ErrorCode.WRONG_CREDENTIALS)
            await throttle.succeeded(db, attempt, now)
            if rehashed:
                account.password_hash = rehashed
            new = await sessions.start(db, self.settings, account, remember, now,
                                       previous_token)
        return Login(account, new)

    async def _check_password(self, key: str, password: str,
                              address: str) -> tuple[Account, int, str | None]:
        """The account ``key`` if ``password`` is its password, the login attempt counted
        for it, and a new hash when the stored one's costs are outdated; otherwise
        ``wrong_credentials`` (the attempt stays counted as a failure)."""
        with self.passwords.slot():  # server_busy before the attempt is counted
            async with self.db() as db, db.begin():
                attempt = await throttle.reserve(db, self.settings, key, address, utcnow())
                account = await db.scalar(select(Account).where(Account.email_key == key))
            # hashing runs outside any transaction: no lock is held while Argon2 works
            if not await self.passwords.verify(account.password_hash if account else None,
                                               password):
                raise PortalError(ErrorCode.WRONG_CREDENTIALS)
            rehashed = None
            if self.passwords.needs_rehash(account.password_hash):
                rehashed = await self.passwords.hash(password)
        return account, attempt, rehashed

    async def authenticate(self, token: str) -> Caller | None:
        found = await self.db.read(sessions.find, token, utcnow())
        if found is None:
            return None
        account, session = found
        return Caller(account, session.id)

    async def logout(self, token: str | None) -> None:
        if token:
            async with self.db() as db, db.begin():
                await sessions.end(db, token)

    # -- own account ---------------------------------------------------------------------

    async def update_user(self, caller: Caller, *, email: str | None = None,
                          name: str | None = None, fixed_phone: str | None = None,
                          mobile: str | None = None, mobile2: str | None = None,
                          notify: bool | None = None, notify_email: str | None = None,
                          password: str | None = None) -> Account:
        changes = await self._changes(USER_FIELDS, email=email, name=name,
                                      fixed_phone=fixed_phone, mobile=mobile, mobile2=mobile2,
                                      password=password)
        if notify is not None:
            changes["notify"] = notify
        if notify_email is not None:
            changes["notify_email"] = rules.email("notify_email", notify_email,
                                                  required=False)[0]
        async with self.db() as db, db.begin():
            account = await db.get(Account, caller.account.id)
            if account is None:
                raise PortalError(ErrorCode.NOT_LOGGED_IN)
            self._apply(account, changes)
            if password is not None:
                await sessions.end_all(db, account.id, keep_session_id=caller.session_id)
            await self._flush(db)
        return account

    async def own_account(self, caller: Caller) -> Account:
        """The caller's account as stored now (what ``getUserData`` answers)."""
        async with self.db.reading() as db:
            account = await db.get(Account, caller.account.id)
        if account is None:
            raise PortalError(ErrorCode.NOT_LOGGED_IN)
        return account

    # -- subusers (contacts) ---------------------------------------------------------------

    async def contacts(self, caller: Caller) -> list[Account]:
        """The caller's subusers, by id (a main account's only)."""
        parent = self._main_account(caller)
        async with self.db.reading() as db:
            found = await db.scalars(select(Account).where(
                Account.parent_id == parent.id).order_by(Account.id))
            return list(found)

    async def add_contact(self, caller: Caller, *, email: str | None, name: str | None,
                          password: str | None, role: int, fixed_phone: str | None = None,
                          mobile: str | None = None, mobile2: str | None = None) -> Account:
        parent = self._main_account(caller)
        if role not in SUBUSER_ROLES:
            raise PortalError(ErrorCode.INVALID_FIELD, "role")
        now = utcnow()
        contact = Account(parent_id=parent.id, role=role, notify=True, notify_email="",
                          special_locations=False, created_at=now, updated_at=now,
                          name=rules.name("name", name),
                          fixed_phone=rules.phone(CONTACT_FIELDS["fixed_phone"], fixed_phone),
                          mobile=rules.phone(CONTACT_FIELDS["mobile"], mobile),
                          mobile2=rules.phone(CONTACT_FIELDS["mobile2"], mobile2))
        contact.email, contact.email_key = rules.email("email", email)
        contact.password_hash = await self.passwords.hash(
            rules.password("password", password, self.settings.min_password_length))
        await self._insert(contact)
        return contact

    async def update_contact(self, caller: Caller, contact_id: int, **changes) -> Account:
        parent = self._main_account(caller)
        new_password = changes.get("password") is not None
        changes = await self._changes(CONTACT_FIELDS, **changes)
        async with self.db() as db, db.begin():
            contact = await self._own_contact(db, parent, contact_id)
            self._apply(contact, changes)
            if new_password:
                await sessions.end_all(db, contact.id)
            await self._flush(db)
        return contact

    async def remove_contact(self, caller: Caller, contact_id: int) -> None:
        parent = self._main_account(caller)
        async with self.db() as db, db.begin():
            contact = await self._own_contact(db, parent, contact_id)
            await db.delete(contact)

    # -- password recovery -----------------------------------------------------------------

    async def recover_password(self, email: str | None, address: str) -> None:
        """Mail a recovery code if the address has an account. The answer is the same either
        way and costs the same: the lookup and the mail happen after it, in the background."""
        _, key = rules.email("email", email)
        await self._count(limits.RECOVER, key, address)
        self.mailer.submit_after(self._recovery_mail(key))

    async def _recovery_mail(self, key: str) -> EmailMessage | None:
        """A new recovery code for the account ``key``, as a mail; None for no such account,
        or when it had ``recovery_mails_per_hour`` codes already."""
        now = utcnow()
        async with self.db() as db, db.begin():
            await db.execute(delete(RecoveryCode).where(
                RecoveryCode.expires_at < now - timedelta(days=1)))
            account = await db.scalar(select(Account).where(Account.email_key == key))
            if account is None:
                return None
            recent = await db.scalar(select(func.count()).where(
                RecoveryCode.account_id == account.id,
                RecoveryCode.created_at > now - timedelta(hours=1)))
            if recent >= self.settings.recovery_mails_per_hour:
                return None
            code = new_secret()
            lifetime = timedelta(seconds=self.settings.recovery_code_lifetime)
            db.add(RecoveryCode(code_hash=digest(code), account_id=account.id,
                                created_at=now, expires_at=now + lifetime))
        return self._compose_recovery_mail(account, code, lifetime)

    async def reset_password(self, code: str | None, password: str | None, remember: bool,
                             address: str) -> Login:
        code = (code or "").strip()
        if not code:
            raise PortalError(ErrorCode.MISSING_FIELD, "recoverycode")
        if len(code) > MAX_RECOVERY_CODE:
            raise PortalError(ErrorCode.INVALID_RECOVERY_CODE, "recoverycode")
        async with self.db() as db, db.begin():
            self._check_code(await self._code(db, code), utcnow())
        new_hash = await self.passwords.hash(
            rules.password("password", password, self.settings.min_password_length))
        now = utcnow()
        async with self.db() as db, db.begin():
            record = self._check_code(await self._code(db, code, lock=True), now)
            account = await db.get(Account, record.account_id)
            account.password_hash = new_hash
            account.updated_at = now
            await db.execute(update(RecoveryCode).where(
                RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None)
            ).values(used_at=now))
            await sessions.end_all(db, account.id)
            await throttle.record_success(db, account.email_key, address, now)
            new = await sessions.start(db, self.settings, account, remember, now)
        return Login(account, new)

    @staticmethod
    async def _code(db: AsyncSession, code: str, lock: bool = False) -> RecoveryCode | None:
        query = select(RecoveryCode).where(RecoveryCode.code_hash == digest(code))
        return await db.scalar(query.with_for_update() if lock else query)

    @staticmethod
    def _check_code(record: RecoveryCode | None, now: datetime) -> RecoveryCode:
        if record is None:
            raise PortalError(ErrorCode.INVALID_RECOVERY_CODE, "recoverycode")
        if record.used_at is not None:
            raise PortalError(ErrorCode.RECOVERY_CODE_USED, "recoverycode")
        if record.expires_at <= now:
            raise PortalError(ErrorCode.RECOVERY_CODE_EXPIRED, "recoverycode")
        return record

    # -- helpers ---------------------------------------------------------------------------

    async def _count(self, limit: limits.Limit, email_key: str, address: str) -> None:
        async with self.db() as db, db.begin():
            await limits.take(db, self.settings, limit, email_key, address, utcnow())

    def _main_account(self, caller: Caller) -> Account:
        if caller.account.is_subuser:
            raise PortalError(ErrorCode.NOT_ALLOWED)
        return caller.account

    async def _own_contact(self, db: AsyncSession, parent: Account, contact_id: int) -> Account:
        """The subuser ``contact_id`` of ``parent``; any other id is simply not found."""
        contact = await db.scalar(select(Account).where(
            Account.id == contact_id, Account.parent_id == parent.id))
        if contact is None:
            raise PortalError(ErrorCode.CONTACT_NOT_FOUND, "contact_id")
        return contact

    async def _changes(self, names: dict[str, str], *, email=None, name=None,
                       fixed_phone=None, mobile=None, mobile2=None,
                       password=None) -> dict[str, object]:
        """The validated new values of the fields that were sent (``None``: leave as is),
        a new password already hashed. ``names`` maps attributes to the form's field names.
        """
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = rules.name(names["name"], name)
        if email is not None:
            changes["email"], changes["email_key"] = rules.email(names["email"], email)
        for attr, value in (("fixed_phone", fixed_phone), ("mobile", mobile),
                            ("mobile2", mobile2)):
            if value is not None:
                changes[attr] = rules.phone(names[attr], value)
        if password is not None:
            changes["password_hash"] = await self.passwords.hash(
                rules.password(names["password"], password, self.settings.min_password_length))
        return changes

    @staticmethod
    def _apply(account: Account, changes: dict[str, object]) -> None:
        for attr, value in changes.items():
            setattr(account, attr, value)
        account.updated_at = utcnow()

    async def _insert(self, account: Account) -> None:
        async with self.db() as db, db.begin():
            taken = await db.scalar(select(Account.id).where(
                Account.email_key == account.email_key))
            if taken is not None:
                raise PortalError(ErrorCode.EMAIL_TAKEN, "email")
            db.add(account)
            await self._flush(db)

    @staticmethod
    async def _flush(db: AsyncSession) -> None:
        try:
            await db.flush()
        except IntegrityError as exc:  # a concurrent registration took the address
            raise PortalError(ErrorCode.EMAIL_TAKEN, "email") from exc

    def _compose_recovery_mail(self, account: Account, code: str,
                               lifetime: timedelta) -> EmailMessage:
        link = f"{self.settings.resolved_public_url}/reset-password?recoverycode={code}"
        minutes = int(lifetime.total_seconds() // 60)
        body = (
            f"Hello {account.name},\n\n"
            "Someone (hopefully you) asked to reset the password of your BackupRun account.\n"
            f"Open this link to choose a new password (valid for {minutes} minutes, once):\n\n"
            f"    {link}\n\n"
            f"Or send this recovery code with resetPassword: {code}\n\n"
            "If you did not ask for this, ignore this message; your password stays as it is.\n"
        )
        return self.mailer.compose(account.email, "BackupRun password recovery", body)
