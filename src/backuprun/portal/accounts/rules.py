"""Field rules for accounts: lengths, e-mail addresses, passwords, names and phones.

Every value that reaches the database passes one of these checks first, whichever door it
came through (API, dashboard, CLI). Text may be any Unicode except control characters
(they cannot travel in XML 1.0 and have no place in a name or a phone number).
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from backuprun.portal.errors import ErrorCode, PortalError

MAX_NAME = 200
MAX_EMAIL = 254
MAX_PHONE = 40
MAX_PASSWORD = 1024  # characters; bounds the cost of hashing hostile input


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)


def text(field: str, value: str | None, max_len: int, *, required: bool = False) -> str:
    """A trimmed one-line text; ``""`` when absent and not required."""
    value = (value or "").strip()
    if required and not value:
        raise PortalError(ErrorCode.MISSING_FIELD, field)
    if len(value) > max_len:
        raise PortalError(ErrorCode.FIELD_TOO_LONG, field)
    if _has_control(value):
        raise PortalError(ErrorCode.INVALID_FIELD, field)
    return value


def name(field: str, value: str | None, *, required: bool = True) -> str:
    return text(field, value, MAX_NAME, required=required)


def phone(field: str, value: str | None) -> str:
    return text(field, value, MAX_PHONE)


def email(field: str, value: str | None, *, required: bool = True) -> tuple[str, str]:
    """``(address as normalised for display, key compared case-insensitively)``.

    Returns ``("", "")`` for an empty optional address.
    """
    value = text(field, value, MAX_EMAIL, required=required)
    if not value:
        return "", ""
    try:
        normalized = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PortalError(ErrorCode.INVALID_EMAIL, field) from exc
    if len(normalized) > MAX_EMAIL:
        raise PortalError(ErrorCode.FIELD_TOO_LONG, field)
    return normalized, email_key(normalized)


def email_key(value: str) -> str:
    """The form two addresses are compared in: NFC, lower case, trimmed (not case-folded:
    ``ß`` and ``ss`` are different mailboxes)."""
    return unicodedata.normalize("NFC", value.strip()).lower()


def password(field: str, value: str | None, min_len: int) -> str:
    """A new password: at least ``min_len`` characters, kept exactly as typed."""
    if value is None or value == "":
        raise PortalError(ErrorCode.MISSING_FIELD, field)
    if len(value) > MAX_PASSWORD:
        raise PortalError(ErrorCode.FIELD_TOO_LONG, field)
    if "\x00" in value:
        raise PortalError(ErrorCode.INVALID_FIELD, field)
    if len(value) < min_len:
        raise PortalError(ErrorCode.PASSWORD_TOO_SHORT, field)
    return value
