"""Configuration: one TOML file plus environment variables; the embedded default needs neither.

Rules:
- Every setting is a field of :class:`Settings` with a sound production default.
- Precedence, highest first: explicit overrides (command-line options), environment variables
  ``BACKUPRUN_<KEY>`` (the key upper-cased, e.g. ``BACKUPRUN_DATABASE_URL``), the config file
  (top-level ``key = value`` pairs), the default.
- The config file is named by ``--config`` or ``BACKUPRUN_CONFIG``; without one, none is read.
- Unknown keys in the file are an error (a typo must not silently fall back to a default).
- Locations are the one nested part: ``[locations.<id>]`` tables in the file, kept as given in
  ``Settings.locations`` and read by :mod:`backuprun.backupserver.locations`.

Every key is documented in ``docs/portal.md``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

ENV_PREFIX = "BACKUPRUN_"


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


def sync_url(database_url: str) -> str:
    """A database URL for synchronous code: the same database without aiosqlite."""
    return database_url.replace("sqlite+aiosqlite://", "sqlite://")


@dataclass(frozen=True)
class Settings:
    # where things live
    data_dir: Path = Path("backuprun-data")
    database_url: str | None = None  # default: SQLite at <data_dir>/backuprun.db
    # the portal's listener
    host: str = "127.0.0.1"
    port: int = 8080
    certfile: str | None = None
    keyfile: str | None = None
    workers: int = 1  # portal processes on the one port
    forwarded_allow_ips: str | None = None  # None: never trust X-Forwarded-* headers
    public_url: str | None = None  # base of links in e-mails; default from host/port/https
    max_request_bytes: int = 64 * 1024
    # e-mail
    smtp_url: str | None = None  # None: write .eml files to <data_dir>/outbox/
    mail_from: str = "BackupRun <no-reply@localhost>"
    # sessions and passwords
    cookie_name: str = "backuprun_session"
    session_lifetime: int = 12 * 3600
    remember_lifetime: int = 30 * 24 * 3600
    recovery_code_lifetime: int = 3600
    min_password_length: int = 8
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 1  # one lane: see docs/api.md, "Passwords"
    argon2_workers: int = 0  # hashes at a time; 0: half the CPUs, at least one
    argon2_queue: int = 16  # hashes that may wait; beyond: server_busy
    # login throttling (sliding window)
    login_window: int = 15 * 60
    login_max_failures_per_account: int = 10
    login_max_failures_per_address: int = 50
    login_familiar_days: int = 30
    recovery_mails_per_hour: int = 5
    # services, backup servers and their task queue
    task_queue_url: str | None = None  # default: SQLite at <data_dir>/tasks.db
    termination_grace_seconds: int = 7 * 24 * 3600  # terminate -> data deleted after this
    volume_quota_gb: int = 1024  # a new service's volume quota
    provisioning_lease_seconds: int = 60  # a walk whose worker died is taken up after this
    task_cooldown_seconds: int = 300  # a task whose retries ran out is tried again after this
    schedule_check_seconds: int = 30  # how often policies' schedules are looked at
    task_workers: int = 4  # serve: task threads per local location, in each portal process
    notify_check_seconds: int = 30  # how often failed backups are looked for, to mail about
    location_https_port_base: int = 9000  # a location's default https_port: this + its id
    portal_cert: str | None = None  # backup-server process: the portal's pinned certificate
    agent_wheels_dir: str | None = None  # the agent's wheels; default <data_dir>/agent-wheels
    locations: dict = dataclasses.field(default_factory=dict)  # [locations.<id>] tables
    # limits on registerNewUser and recoverPassword (sliding window)
    request_window: int = 3600
    register_max_per_address: int = 20
    register_max_per_email: int = 5
    recovery_max_per_address: int = 20
    recovery_max_per_email: int = 10

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'backuprun.db'}"

    @property
    def resolved_task_queue_url(self) -> str:
        if self.task_queue_url:
            return self.task_queue_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'tasks.db'}"

    @property
    def sync_database_url(self) -> str:
        """The database URL for synchronous code (backup servers, task workers)."""
        return sync_url(self.resolved_database_url)

    @property
    def outbox_dir(self) -> Path:
        return Path(self.data_dir) / "outbox"

    @property
    def resolved_agent_wheels_dir(self) -> Path:
        if self.agent_wheels_dir:
            return Path(self.agent_wheels_dir)
        return Path(self.data_dir) / "agent-wheels"

    @property
    def https(self) -> bool:
        return bool(self.certfile)

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.https else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def replace(self, **changes: Any) -> "Settings":
        locations = changes.pop("locations", self.locations)
        return dataclasses.replace(self, locations=locations,
                                   **_coerce_all(changes, "override"))


def dumps(settings: Settings) -> str:
    """The settings as JSON, for processes started from this one (:func:`loads`)."""
    return json.dumps({k: str(v) if isinstance(v, Path) else v
                       for k, v in dataclasses.asdict(settings).items()})


def loads(text: str) -> Settings:
    values = json.loads(text)
    locations = values.pop("locations", {})
    return Settings(locations=locations, **_coerce_all(values, "the parent process"))


def setting_names() -> list[str]:
    """The flat settings (each also an environment variable); ``locations`` is file-only."""
    return [f.name for f in fields(Settings) if f.name != "locations"]


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from defaults, the config file, the environment and explicit overrides.

    Overrides whose value is ``None`` are ignored (an option the user did not give).
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        from_file = _read_file(Path(path))
        locations = from_file.pop("locations", {})
        if not isinstance(locations, dict):
            raise ConfigError(f"config file {path}: locations must be [locations.<id>] tables")
        values.update(_coerce_all(from_file, f"config file {path}"))
        values["locations"] = locations
    names = setting_names()
    for name in names:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw, ENV_PREFIX + name.upper())
    values.update(_coerce_all({k: v for k, v in overrides.items() if v is not None}, "option"))
    return Settings(**values)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    return data


def _coerce_all(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    known = set(setting_names())
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) in {source}: {', '.join(unknown)}")
    return {k: _coerce(k, v, source) for k, v in values.items()}


_TYPES = {f.name: f.type for f in fields(Settings)}


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = _TYPES[name]
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("not a number")
            result = int(value)
            if result < 0:
                raise ValueError("negative")
            return result
        if kind == "Path":
            return Path(value)
        return None if value is None else str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} from {source}: bad value {value!r} ({exc})") from exc
