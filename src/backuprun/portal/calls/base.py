"""What a handler receives (:class:`Call`) and returns (:class:`Answer`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable, Mapping
from xml.etree.ElementTree import Element

from backuprun.portal.accounts.service import AccountService, Caller
from backuprun.portal.errors import ErrorCode, PortalError
from backuprun.portal.services.manager import ServiceManager

MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Services:
    """The domain services handlers may use."""

    accounts: AccountService
    services: ServiceManager


MAX_TIMEZONE_OFFSET = 24 * 60


class Fields:
    """The request's form fields, read the way the API document means them."""

    def __init__(self, values: Mapping[str, str]):
        self._values = values

    def get(self, name: str) -> str | None:
        """The value as sent, or ``None`` when the field is absent (or is an array)."""
        value = self._values.get(name)
        return value if isinstance(value, str) else None

    def values(self, name: str) -> list[str]:
        """The values of the array field ``name[]`` (``path[]=a`` or ``path[0]=a``), in
        order; a plain ``name=a`` counts as one value."""
        found = self._values.get(name + "[]")
        if isinstance(found, list):
            return found
        single = self.get(name)
        return [single] if single is not None else []

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None or value.strip() == "":
            raise PortalError(ErrorCode.MISSING_FIELD, name)
        return value

    def flag(self, name: str, default: bool | None = False) -> bool | None:
        """A 0/1 switch; absent or empty gives ``default``."""
        value = (self.get(name) or "").strip()
        if value == "":
            return default
        if value not in ("0", "1"):
            raise PortalError(ErrorCode.INVALID_FIELD, name)
        return value == "1"

    def identifier(self, name: str) -> int:
        """A positive integer id."""
        value = self.required(name).strip()
        if not value.isascii() or not value.isdigit() or len(value) > 10 or \
                not 0 < int(value) <= MAX_ID:
            raise PortalError(ErrorCode.INVALID_FIELD, name)
        return int(value)

    def assignee(self, name: str) -> int:
        """``editService``'s subuser_id: a subuser's id, -1 (main account) or 0 (nobody)."""
        value = self.required(name).strip()
        if value in ("0", "-1"):
            return int(value)
        return self.identifier(name)

    def timezone_offset(self) -> int:
        """``timezoneOffset``: minutes, as a browser reports them (120: two hours behind
        UTC); absent means 0."""
        value = (self.get("timezoneOffset") or "0").strip()
        try:
            minutes = int(value)
        except ValueError:
            minutes = MAX_TIMEZONE_OFFSET + 1
        if abs(minutes) > MAX_TIMEZONE_OFFSET:
            raise PortalError(ErrorCode.INVALID_FIELD, "timezoneOffset",
                              "timezoneOffset is a number of minutes, as a browser reports "
                              "it (-1440 to 1440).")
        return minutes

    def choice(self, name: str, allowed: Mapping[str, int], default: int) -> int:
        value = (self.get(name) or "").strip()
        if value == "":
            return default
        if value not in allowed:
            raise PortalError(ErrorCode.INVALID_FIELD, name)
        return allowed[value]


@dataclass
class Call:
    fields: Fields
    services: Services
    address: str  # the client's address (the proxy's client when proxy headers are trusted)
    token: str | None  # the session cookie as sent, if any
    caller: Caller | None = None  # the logged-in account, once :meth:`authenticate` found it
    authenticated: bool = False  # whether :meth:`authenticate` ran

    async def authenticate(self) -> Caller | None:
        """Look the session cookie up (once; only calls that need a session do)."""
        if not self.authenticated:
            if self.token:
                self.caller = await self.services.accounts.authenticate(self.token)
            self.authenticated = True
        return self.caller

    @property
    def logged_in(self) -> Caller:
        """The caller, in a handler wrapped in :func:`login_required`."""
        if self.caller is None:
            raise PortalError(ErrorCode.NOT_LOGGED_IN)
        return self.caller


@dataclass
class Download:
    """A file the answer streams instead of XML (``downloadFiles``)."""

    pieces: AsyncIterator[bytes]
    filename: str
    media_type: str


@dataclass
class Answer:
    elements: list[Element] = field(default_factory=list)
    download: Download | None = None
    new_session: tuple[str, int | None] | None = None  # (token, cookie max-age)
    end_session: bool = False


Handler = Callable[[Call], Awaitable[Answer]]


def login_required(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapper(call: Call) -> Answer:
        if await call.authenticate() is None:
            raise PortalError(ErrorCode.NOT_LOGGED_IN)
        return await handler(call)

    return wrapper
