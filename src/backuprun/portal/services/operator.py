"""What operators do to accounts and services (``backuprun admin``), beside customers' rules:
list accounts and services, set ``readonly``/``restricted``/``maintenance`` and
``special_locations``, show a service's provisioning walk, cancel a termination."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from backuprun.portal.accounts import rules as account_rules
from backuprun.portal.db.models import Account, Service
from backuprun.portal.errors import ErrorCode, PortalError
from backuprun.portal.services.manager import ServiceManager, ServiceView
from backuprun.sqlutil import utcnow

FLAGS = ("readonly", "restricted", "maintenance")


@dataclass(frozen=True)
class AccountRow:
    id: int
    email: str
    name: str
    parent_email: str | None
    special_locations: bool
    services: int


class Operator:
    def __init__(self, db: async_sessionmaker, manager: ServiceManager):
        self.db = db
        self.manager = manager

    async def accounts(self) -> list[AccountRow]:
        async with self.db.reading() as db:
            parent = Account.__table__.alias("parent")
            counts = (select(Service.account_id, func.count().label("n"))
                      .group_by(Service.account_id).subquery())
            rows = await db.execute(
                select(Account, parent.c.email, counts.c.n)
                .outerjoin(parent, parent.c.id == Account.parent_id)
                .outerjoin(counts, counts.c.account_id == Account.id).order_by(Account.id))
            return [AccountRow(a.id, a.email, a.name, parent_email, a.special_locations,
                               n or 0) for a, parent_email, n in rows]

    async def services(self, email: str | None = None) -> list[tuple[str, ServiceView]]:
        """Every service (of one main account), with its owner's address."""
        async with self.db.reading() as db:
            query = select(Service, Account.email).join(Account,
                                                        Account.id == Service.account_id)
            if email:
                query = query.where(Account.email_key == account_rules.email_key(email))
            rows = (await db.execute(query.order_by(Service.id))).all()
        views = await self.manager.views([service for service, _ in rows])
        return [(owner, view) for (_, owner), view in zip(rows, views)]

    async def set_flags(self, number: int, **flags: bool) -> None:
        unknown = set(flags) - set(FLAGS)
        if unknown:
            raise ValueError(f"unknown flag(s): {', '.join(sorted(unknown))}")
        async with self.db() as db, db.begin():
            service = await self._service(db, number)
            for name, value in flags.items():
                setattr(service, name, value)
            service.updated_at = utcnow()

    async def set_special_locations(self, email: str, allowed: bool) -> None:
        async with self.db() as db, db.begin():
            account = await db.scalar(select(Account).where(
                Account.email_key == account_rules.email_key(email)))
            if account is None or account.is_subuser:
                raise PortalError(ErrorCode.INVALID_EMAIL, "email",
                                  "No main account has that e-mail address.")
            account.special_locations = allowed
            account.updated_at = utcnow()

    async def walk(self, number: int) -> list[dict]:
        async with self.db.reading() as db:
            service = await self._service(db, number)
        return await self.manager.servers[service.location_id].walk_log(service.id)

    async def cancel_termination(self, number: int) -> None:
        async with self.db.reading() as db:
            service = await self._service(db, number)
        if service.terminated_at is None:
            return
        await self.manager.servers[service.location_id].cancel_termination(service.id)
        async with self.db() as db, db.begin():
            service = await self._service(db, number)
            service.terminated_at = None
            service.updated_at = utcnow()

    @staticmethod
    async def _service(db, number: int) -> Service:
        service = await db.get(Service, number)
        if service is None:
            raise PortalError(ErrorCode.SERVICE_NOT_FOUND)
        return service
