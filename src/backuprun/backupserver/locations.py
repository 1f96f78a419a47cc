"""Locations: where services are kept, and the backup server that serves each.

Rules:
- The four standard locations (527 Washington, 528 Los Angeles, 529 Frankfurt,
  530 Bucharest) always exist; ``[locations.<id>]`` tables in the config file change them
  or add more. A location marked ``special`` is offered only to accounts allowed special
  locations.
- A location's backup server runs in this process (``server = "local"``, the embedded
  default) or is another process reached over the internal API (``server =
  "https://host:port"`` with ``server_cert``, its pinned certificate).
- The address, ports and URL that service answers carry (``serverip``,
  ``serverhostname``, ``https_port``, ``http_port``, ``serverurl``) are the location's,
  and its backup server really answers there. The embedded default is this machine:
  ``localhost``/``127.0.0.1``, https port ``location_https_port_base`` (9000) + id, no
  plain-http port (``http_port`` 0).
- Disk safes live in ``storage``: a folder (default ``<data_dir>/locations/<id>/disksafes``)
  or an ``s3://bucket/prefix`` URL; each service's safe is ``<storage>/service-<id>``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from backuprun.config import ConfigError, Settings
from backuprun.transport.tls import Identity

STANDARD = {527: "Washington", 528: "Los Angeles", 529: "Frankfurt", 530: "Bucharest"}
LOCAL = "local"
_KEYS = {"name", "hostname", "ip", "http_port", "https_port", "storage", "special", "server",
         "server_cert", "quota_gb"}


@dataclass(frozen=True)
class Location:
    id: int
    name: str
    hostname: str
    ip: str
    http_port: int
    https_port: int
    storage: str
    special: bool
    server: str  # "local", or the internal API's https://host:port
    server_cert: str | None  # a remote backup server's certificate (PEM file), pinned
    quota_bytes: int
    data_dir: Path  # the backup server's own files (identity, secret key) when local

    @property
    def is_local(self) -> bool:
        return self.server == LOCAL

    @property
    def serverurl(self) -> str:
        return f"https://{self.hostname}:{self.https_port}/login"

    def disksafe_location(self, service_id: int) -> str:
        return f"{self.storage.rstrip('/')}/service-{service_id}"


def load_locations(settings: Settings) -> dict[int, Location]:
    """Every location, by id: the standard four and any the config file adds."""
    configured = {_location_id(key): value for key, value in settings.locations.items()}
    ids = sorted(set(STANDARD) | set(configured))
    return {i: _location(settings, i, configured.get(i, {})) for i in ids}


def _location_id(key: object) -> int:
    try:
        value = int(str(key))
    except ValueError:
        raise ConfigError(f"[locations.{key}]: a location id is a number") from None
    if not 0 < value < 1_000_000:
        raise ConfigError(f"[locations.{key}]: location id out of range")
    return value


def _location(settings: Settings, location_id: int, table: object) -> Location:
    where = f"[locations.{location_id}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    name = table.get("name", STANDARD.get(location_id))
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: name is required for a location that is not standard")
    data_dir = Path(settings.data_dir).resolve() / "locations" / str(location_id)
    server = str(table.get("server", LOCAL))
    server_cert = table.get("server_cert")
    if server != LOCAL:
        if not server.startswith("https://"):
            raise ConfigError(f"{where}: server is \"local\" or https://host:port")
        if not server_cert:
            raise ConfigError(f"{where}: a remote backup server needs server_cert "
                              "(its certificate, to pin)")
    ip = str(table.get("ip", "127.0.0.1"))
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise ConfigError(f"{where}: ip {ip!r} is not an IP address") from None
    return Location(
        id=location_id, name=name.strip(), hostname=str(table.get("hostname", "localhost")),
        ip=ip, http_port=_port(where, table.get("http_port", 0), allow_zero=True),
        https_port=_port(where, table.get(
            "https_port", settings.location_https_port_base + location_id)),
        storage=str(table.get("storage", data_dir / "disksafes")),
        special=_flag(where, table.get("special", location_id not in STANDARD)),
        server=server, server_cert=str(server_cert) if server_cert else None,
        quota_bytes=int(table.get("quota_gb", settings.volume_quota_gb)) * 1024**3,
        data_dir=data_dir,
    )


def _port(where: str, value: object, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or \
            not (0 if allow_zero else 1) <= value <= 65535:
        raise ConfigError(f"{where}: bad port {value!r}")
    return value


def _flag(where: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: special is true or false")
    return value


IDENTITY = "identity"  # the folder of a backup server's key and certificate


def identity_of(location: Location) -> Identity:
    """The backup server's key and certificate (made on first use), named for its address."""
    return Identity.load_or_create(location.data_dir / IDENTITY, location.hostname,
                                   [location.hostname, location.ip])
