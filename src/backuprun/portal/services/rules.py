"""Field rules for services: type, host, port, name, location, activation hints."""

from __future__ import annotations

import ipaddress
import re

from backuprun.portal.accounts import rules as text_rules
from backuprun.portal.errors import ErrorCode, PortalError

SERVER, VDS = 1, 3
TYPES = {"SERVER": SERVER, "VDS": VDS, "1": SERVER, "3": VDS}
LETTERS = {SERVER: "S", VDS: "V"}
MAX_NAME = 64
MAX_HOST = 253
DEFAULT_AGENT_PORT = 1167
ACTIVATION_HINTS = (
    "install-on-Linux", "install-on-Windows", "linux-manual-install",
    "linux-express-install", "install-on-CentOS", "install-on-Ubuntu", "install-on-Fedora",
    "install-on-Debian", "install-on-Redhat-Enterprise-Linux", "install-on-Proxmox",
)
HINT_SPELLINGS = {**{h: h for h in ACTIVATION_HINTS},
                  "install-on-Proxomx": "install-on-Proxmox"}  # the document's spelling
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def service_type(field: str, value: str | None) -> int:
    value = (value or "").strip()
    if not value:
        raise PortalError(ErrorCode.MISSING_FIELD, field)
    kind = TYPES.get(value.upper())
    if kind is None:
        raise PortalError(ErrorCode.INVALID_FIELD, field, "type is VDS or SERVER.")
    return kind


def host(field: str, value: str | None) -> str:
    """A hostname (letters, digits, hyphens; dot-separated labels) or an IP address."""
    value = (value or "").strip()
    if not value:
        raise PortalError(ErrorCode.MISSING_FIELD, field)
    if len(value) > MAX_HOST:
        raise PortalError(ErrorCode.FIELD_TOO_LONG, field)
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        pass
    name = value.rstrip(".")
    labels = name.split(".")
    if not value.isascii() or not all(_LABEL.match(label) for label in labels) or \
            labels[-1].isdigit():
        raise PortalError(ErrorCode.INVALID_HOST, field)
    return name.lower()


def port(field: str, value: str | None, default: int | None = DEFAULT_AGENT_PORT) -> int:
    value = (value or "").strip()
    if not value and default is not None:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 5 or \
            not 1 <= int(value) <= 65535:
        raise PortalError(ErrorCode.INVALID_PORT, field)
    return int(value)


def name(field: str, value: str | None) -> str:
    return text_rules.text(field, value, MAX_NAME, required=True)


def location_id(field: str, value: str | None) -> int:
    value = (value or "").strip()
    if not value:
        raise PortalError(ErrorCode.MISSING_FIELD, field)
    if not value.isascii() or not value.isdigit() or len(value) > 7:
        raise PortalError(ErrorCode.UNKNOWN_LOCATION, field)
    return int(value)


def activation_hint(field: str, value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise PortalError(ErrorCode.MISSING_FIELD, field)
    hint = HINT_SPELLINGS.get(value)
    if hint is None:
        raise PortalError(ErrorCode.INVALID_ACTIVATION_HINT, field)
    return hint


def service_number(field: str, value: str | None) -> tuple[int | None, int]:
    """``S12``/``V12`` -> (type, 12); a bare number -> (None, number)."""
    value = (value or "").strip()
    if not value:
        raise PortalError(ErrorCode.MISSING_FIELD, field)
    kind = None
    if value[:1].upper() in ("S", "V"):
        kind = SERVER if value[0].upper() == "S" else VDS
        value = value[1:]
    if not value.isascii() or not value.isdigit() or len(value) > 10 or \
            not 0 < int(value) < 2**31:
        raise PortalError(ErrorCode.SERVICE_NOT_FOUND, field)
    return kind, int(value)


def wire_service_id(kind: int, number: int) -> str:
    return f"{LETTERS[kind]}{number}"
