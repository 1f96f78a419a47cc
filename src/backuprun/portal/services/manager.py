"""The service rules, in one place for the API, the dashboard and the admin CLI.

Every method takes values as the user typed them (``None`` for "not sent"), validates them
with :mod:`.rules`, checks the caller's right with :mod:`.access`, records the decision in
the portal's database and asks the location's backup server to act.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from backuprun.backupserver.client import (
    BackupServerClient,
    BackupServerError,
    ServiceSpec,
    ServiceState,
    Unreachable,
)
from backuprun.backupserver.locations import Location
from backuprun.config import Settings
from backuprun.portal.accounts import rules as account_rules
from backuprun.portal.accounts.service import Caller
from backuprun.portal.db.models import Account, Service
from backuprun.portal.errors import ErrorCode, PortalError
from backuprun.portal.services import rules
from backuprun.portal.services.access import Need, service_for, visible_services
from backuprun.sqlutil import utcnow

log = logging.getLogger(__name__)

UNASSIGN, MAIN_ACCOUNT = 0, -1
TERMINATED = -4
_SERVER_ERRORS = {"has_recovery_points": ErrorCode.HAS_RECOVERY_POINTS,
                  "terminated": ErrorCode.SERVICE_TERMINATED,
                  "removed": ErrorCode.SERVICE_TERMINATED,
                  "not_ready": ErrorCode.SERVICE_NOT_READY,
                  "unknown_task": ErrorCode.TASK_NOT_FOUND,
                  "unknown_recovery_point": ErrorCode.RECOVERY_POINT_NOT_FOUND,
                  "path_not_found": ErrorCode.PATH_NOT_FOUND,
                  "invalid_path": ErrorCode.INVALID_PATH,
                  "not_a_folder": ErrorCode.NOT_A_FOLDER,
                  "busy": ErrorCode.DISK_SAFE_BUSY,
                  "disk_safe_unavailable": ErrorCode.DISK_SAFE_UNAVAILABLE,
                  "invalid_schedule": ErrorCode.INVALID_SCHEDULE,
                  "invalid_keep_last": ErrorCode.INVALID_KEEP_LAST,
                  "invalid_excludes": ErrorCode.INVALID_EXCLUDES}


@dataclass(frozen=True)
class ServiceView:
    """A service, where it stands on its backup server, and where that is."""

    service: Service
    state: ServiceState
    location: Location


class ServiceManager:
    def __init__(self, db: async_sessionmaker, settings: Settings,
                 locations: dict[int, Location], servers: dict[int, BackupServerClient]):
        self.db = db
        self.settings = settings
        self.locations = locations
        self.servers = servers
        self._last_states: dict[int, ServiceState] = {}  # when a server cannot be reached

    # -- adding and changing ------------------------------------------------------------

    async def add(self, caller: Caller, *, kind: str | None, location: str | None,
                  name: str | None, host: str | None, port: str | None,
                  encrypt: bool, password: str | None) -> ServiceView:
        owner = self._main_account(caller)
        service_kind = rules.service_type("type", kind)
        where = self._location(caller, rules.location_id("location", location))
        values = dict(name=rules.name("name", name), host=rules.host("agent", host),
                      port=rules.port("agent_port", port))
        password = self._disksafe_password(encrypt, password)
        now = utcnow()
        service = Service(account_id=owner.id, subuser_id=None, kind=service_kind,
                          location_id=where.id, encrypt=encrypt, activation_hint="",
                          service_configured=False, readonly=False, restricted=False,
                          maintenance=False, created_at=now, updated_at=now, **values)
        async with self.db() as db, db.begin():
            db.add(service)
        try:
            state = await self._ask(self.servers[where.id].provision(
                self._spec(service, password)))
        except PortalError:  # the backup server did not take it: no service is left
            async with self.db() as db, db.begin():
                await db.delete(await db.get(Service, service.id))
            raise
        return ServiceView(service, state, where)

    async def activate(self, caller: Caller, number: int, *, name: str | None,
                       host: str | None, port: str | None, location: str | None,
                       encrypt: bool | None, password: str | None) -> ServiceView:
        """``activateAgent``: change what was sent; the backup server re-walks (-1).

        Backup servers are asked between two short transactions, never inside one: in the
        embedded default they write to the same SQLite database."""
        service = await self._load(caller, number, "agent-id", Need.CHANGE)
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = rules.name("name", name)
        if host is not None:
            changes["host"] = rules.host("agent", host)
        if port is not None:
            changes["port"] = rules.port("agent_port", port)
        if encrypt is not None:
            changes["encrypt"] = encrypt
        wants_encrypt = changes.get("encrypt", service.encrypt)
        new_password = None
        if password or (wants_encrypt and not service.encrypt):
            new_password = self._disksafe_password(wants_encrypt, password)
        old = self.locations[service.location_id]
        where = old
        if location is not None:
            where = self._location(caller, rules.location_id("location", location))
        for attr, value in changes.items():
            setattr(service, attr, value)
        spec = self._spec(service, new_password)
        if where.id != old.id:
            await self._move(service, old, spec)
            changes["location_id"] = where.id
        state = await self._ask(self.servers[where.id].change(spec))
        service = await self._save(service.id, changes)
        return ServiceView(service, state, where)

    async def _move(self, service: Service, old: Location, spec: ServiceSpec) -> None:
        """To another location: only while the service holds no recovery point (nothing
        to move); the old backup server gives it up with its empty safe at once."""
        if spec.encrypt and not spec.password:
            raise PortalError(ErrorCode.MISSING_FIELD, "password",
                              "Moving an encrypted service needs its disk-safe password.")
        await self._ask(self.servers[old.id].release(service.id))

    async def set_activation_hint(self, caller: Caller, wire_id: str | None, hint: str | None,
                                  configured: bool) -> None:
        """``setActivationHint``; ``setServiceConfigured`` also marks the service configured."""
        kind, number = rules.service_number("service_id", wire_id)
        hint = rules.activation_hint("activation_hint", hint)
        async with self.db() as db, db.begin():
            service = await db.run_sync(service_for, caller, number, "service_id",
                                         Need.CHANGE, kind, True)
            service.activation_hint = hint
            if configured:
                service.service_configured = True
            service.updated_at = utcnow()

    # -- editService -----------------------------------------------------------------------

    async def terminate(self, caller: Caller, number: int) -> None:
        service = await self._load(caller, number, "sc_id", Need.CHANGE)
        await self._ask(self.servers[service.location_id].terminate(
            service.id, self.settings.termination_grace_seconds))
        await self._save(service.id, {"terminated_at": utcnow()})

    async def assign(self, caller: Caller, number: int, subuser_id: int) -> None:
        async with self.db() as db, db.begin():
            service = await db.run_sync(service_for, caller, number, "sc_id", Need.CHANGE,
                                         None, True)
            owner = self._main_account(caller)
            if subuser_id in (UNASSIGN, MAIN_ACCOUNT):
                service.subuser_id = None
            else:
                contact = await db.scalar(select(Account.id).where(
                    Account.id == subuser_id, Account.parent_id == owner.id))
                if contact is None:
                    raise PortalError(ErrorCode.SUBUSER_NOT_FOUND, "subuser_id")
                service.subuser_id = subuser_id
            service.updated_at = utcnow()

    def offered_locations(self, caller: Caller) -> list[Location]:
        """The locations ``caller`` may add a service in (special ones only if allowed)."""
        return [where for where in sorted(self.locations.values(), key=lambda w: w.id)
                if not where.special or caller.account.special_locations]

    # -- tasks -------------------------------------------------------------------------------

    async def run_policy(self, caller: Caller, wire_id: str | None) -> dict:
        """``runPolicy``: queue a backup now (one under way already is answered instead)."""
        service = await self._by_wire_id(caller, wire_id, Need.RUN)
        return await self._ask(self.servers[service.location_id].run_policy(service.id))

    async def backup_status(self, caller: Caller, wire_id: str | None) -> ServiceView:
        service = await self._by_wire_id(caller, wire_id, Need.SEE)
        return (await self.views([service]))[0]

    async def task_detail(self, caller: Caller, task_id: str) -> dict:
        """A task of one of the caller's services: asked of the backup servers of the
        locations the caller has services in; anything else is ``task_not_found``."""
        services = {s.id: s for s in await self.db.read(visible_services, caller)}
        unreachable = None
        for location_id in sorted({s.location_id for s in services.values()}):
            try:
                found = await self.servers[location_id].task_detail(task_id)
            except Unreachable as exc:
                unreachable = exc
                continue
            except BackupServerError as exc:
                if exc.code == "unknown_task":
                    continue
                raise
            service = services.get(found["service_id"])
            if service is not None:
                return {**found, "wire_service_id": rules.wire_service_id(service.kind,
                                                                          service.id)}
        if unreachable is not None:  # it may be there
            log.warning("backup server: %s", unreachable.message)
            raise PortalError(ErrorCode.BACKUP_SERVER_UNAVAILABLE)
        raise PortalError(ErrorCode.TASK_NOT_FOUND, "taskExecutionContextId")

    # -- policy ------------------------------------------------------------------------------

    async def policy(self, caller: Caller, wire_id: str | None) -> dict:
        service = await self._by_wire_id(caller, wire_id, Need.SEE)
        return await self._ask(self.servers[service.location_id].policy(service.id))

    async def set_policy(self, caller: Caller, wire_id: str | None, schedule: str | None,
                         keep_last: int | None, excludes: list[str] | None) -> dict:
        service = await self._by_wire_id(caller, wire_id, Need.CHANGE)
        return await self._ask(self.servers[service.location_id].set_policy(
            service.id, schedule, keep_last, excludes))

    # -- recovery points ---------------------------------------------------------------------

    async def recovery_points(self, caller: Caller, wire_id: str | None) -> list[dict]:
        service = await self._by_wire_id(caller, wire_id, Need.SEE)
        return await self._ask(self.servers[service.location_id].recovery_points(service.id))

    async def browse(self, caller: Caller, wire_id: str | None, point_id: str,
                     path: str) -> list[dict]:
        service = await self._by_wire_id(caller, wire_id, Need.SEE)
        return await self._ask(self.servers[service.location_id].browse(service.id, point_id,
                                                                         path))

    async def restore(self, caller: Caller, wire_id: str | None, point_id: str,
                      paths: list[str], target: str, overwrite: bool) -> dict:
        service = await self._by_wire_id(caller, wire_id, Need.RUN)
        return await self._ask(self.servers[service.location_id].restore(
            service.id, point_id, paths, target, overwrite))

    async def download(self, caller: Caller, wire_id: str | None, point_id: str,
                       paths: list[str], fmt: str) -> AsyncIterator[bytes]:
        """The archive's pieces; every error comes here, before the first byte."""
        service = await self._by_wire_id(caller, wire_id, Need.RUN)
        pieces = self.servers[service.location_id].download(service.id, point_id, paths, fmt)
        try:
            first = await self._ask(anext(pieces, b""))
        except BaseException:
            await pieces.aclose()
            raise

        async def rest() -> AsyncIterator[bytes]:
            try:
                yield first
                async for piece in pieces:
                    yield piece
            finally:
                await pieces.aclose()
        return rest()

    async def _by_wire_id(self, caller: Caller, wire_id: str | None, need: Need) -> Service:
        kind, number = rules.service_number("service_id", wire_id)
        return await self.db.read(service_for, caller, number, "service_id", need, kind)

    # -- reading -----------------------------------------------------------------------------

    async def list(self, caller: Caller) -> list[ServiceView]:
        """The caller's services (a subuser: those assigned to it), removed ones left out."""
        services = await self.db.read(visible_services, caller)
        views = await self.views(services)
        return [v for v in views if not v.state.removed]

    async def view(self, caller: Caller, number: int, field: str = "agent-id") -> ServiceView:
        service = await self.db.read(service_for, caller, number, field, Need.SEE)
        return (await self.views([service]))[0]

    async def views(self, services: list[Service]) -> list[ServiceView]:
        by_location: dict[int, list[int]] = {}
        for service in services:
            by_location.setdefault(service.location_id, []).append(service.id)
        states: dict[int, ServiceState] = {}
        for location_id, ids in by_location.items():
            try:
                found = await self.servers[location_id].states(ids)
                self._last_states.update(found)
            except Unreachable as exc:
                log.warning("location %s: %s", location_id, exc.message)
                found = {i: self._last_states[i] for i in ids if i in self._last_states}
            states.update(found)
        return [ServiceView(s, states.get(s.id) or ServiceState(s.id, _unknown(s)),
                            self.locations[s.location_id]) for s in services]

    # -- helpers -------------------------------------------------------------------------------

    async def _load(self, caller: Caller, number: int, field: str, need: Need) -> Service:
        return await self.db.read(service_for, caller, number, field, need)

    async def _save(self, number: int, changes: dict[str, object]) -> Service:
        async with self.db() as db, db.begin():
            service = await db.get(Service, number)
            for attr, value in changes.items():
                setattr(service, attr, value)
            service.updated_at = utcnow()
        return service

    @staticmethod
    def _main_account(caller: Caller) -> Account:
        if caller.account.is_subuser:
            raise PortalError(ErrorCode.NOT_ALLOWED)
        return caller.account

    def _location(self, caller: Caller, location_id: int) -> Location:
        where = self.locations.get(location_id)
        if where is None:
            raise PortalError(ErrorCode.UNKNOWN_LOCATION, "location")
        if where.special and not caller.account.special_locations:
            raise PortalError(ErrorCode.LOCATION_NOT_ALLOWED, "location")
        return where

    def _disksafe_password(self, encrypt: bool, password: str | None) -> str | None:
        if not encrypt:
            return None
        return account_rules.password("password", password, self.settings.min_password_length)

    @staticmethod
    def _spec(service: Service, password: str | None) -> ServiceSpec:
        return ServiceSpec(service_id=service.id, name=service.name, host=service.host,
                           port=service.port, encrypt=service.encrypt, password=password)

    @staticmethod
    async def _ask(request):
        try:
            return await request
        except Unreachable as exc:
            log.warning("backup server: %s", exc.message)
            raise PortalError(ErrorCode.BACKUP_SERVER_UNAVAILABLE) from exc
        except BackupServerError as exc:
            code = _SERVER_ERRORS.get(exc.code)
            if code is None:
                raise
            raise PortalError(code) from exc


def _unknown(service: Service) -> int:
    """``create_status`` when the backup server has not answered yet."""
    return TERMINATED if service.terminated_at is not None else 0
