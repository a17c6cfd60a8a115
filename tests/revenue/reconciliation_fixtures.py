"""Data for the reconciliation tests: report rows and trips written straight into the tables
(the import pipeline's output), in the caller's session under the tenant's context.

:class:`RecData` works on any session bound to its tenant: the rolled-back ``db`` session of
service tests, or a committed ``context_session`` for API tests (see :func:`committed`).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, bind_context, context_session
from fleetcore.core.orm import new_id

WEEK_START = datetime(2026, 11, 16, tzinfo=UTC)
WEEK_END = WEEK_START + timedelta(days=7)
IN_WEEK = WEEK_START + timedelta(days=2, hours=9)
"""A time inside the week every test reconciles."""


def insert(session: Session, table: str, **values: Any) -> uuid.UUID:
    """Insert one row with plain SQL; its id."""
    values.setdefault("id", new_id())
    columns = ", ".join(values)
    params = ", ".join(f":{c}" for c in values)
    session.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)
    return values["id"]  # type: ignore[no-any-return]


def new_platform(session: Session) -> uuid.UUID:
    """A platform of the shared catalogue (written in the system context, then back)."""
    previous = session.info.get("fleetcore.db_context")
    bind_context(session, DbContext.system())
    platform = insert(session, "dir_platforms", code=f"p{uuid.uuid4().hex[:10]}",
                      name="Test platform")
    if previous is not None:
        bind_context(session, previous)
    return platform


def new_tenant(session: Session, *, currency: str = "EUR",
               timezone: str = "Europe/Paris") -> uuid.UUID:
    """A tenant row (system context; the caller binds a context afterwards)."""
    bind_context(session, DbContext.system())
    return insert(session, "adm_tenants", name="Reconciliation test",
                  slug=f"rec-{uuid.uuid4().hex[:10]}", country="FR", default_currency=currency,
                  timezone=timezone, status="active")


def member_actor(tenant_id: uuid.UUID) -> Actor:
    return Actor(type=ActorType.MEMBER, id=new_id(), clerk_user_id="user_rec_test",
                 tenant_id=tenant_id, tenant_status="active", permissions=frozenset({"*"}))


@dataclass
class RecData:
    """One tenant's platform, its committed payments import, trips and report rows."""

    session: Session
    tenant_id: uuid.UUID
    platform_id: uuid.UUID
    import_id: uuid.UUID = field(init=False)
    _rows: Iterator[int] = field(default_factory=lambda: itertools.count(2))

    def __post_init__(self) -> None:
        self.import_id = self.new_import()

    def new_import(self, *, status: str = "committed", report_type: str = "payments_order",
                   platform_id: uuid.UUID | None = None,
                   period: tuple[datetime, datetime] = (WEEK_START, WEEK_END)) -> uuid.UUID:
        return insert(
            self.session, "rev_revenue_imports", tenant_id=self.tenant_id,
            platform_id=platform_id or self.platform_id, report_type=report_type,
            period_start=period[0], period_end=period[1], file_name="report.csv",
            sha256=uuid.uuid4().hex * 2, size_bytes=100, storage_key="k", status=status,
            committed_at=datetime(2026, 11, 23, tzinfo=UTC)
            if status in ("committed", "rolled_back") else None,
            rolled_back_at=datetime(2026, 11, 24, tzinfo=UTC) if status == "rolled_back"
            else None)

    def driver(self, name: str = "Driver") -> uuid.UUID:
        return insert(self.session, "rid_drivers", tenant_id=self.tenant_id, first_name=name,
                      last_name="Test", status="active")

    def trip(self, xid: str, fare: str | Decimal | None, commission: str | Decimal | None = "0",
             *, at: datetime = IN_WEEK, currency: str | None = "EUR",
             platform_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
             status: str = "completed", deleted: bool = False, ended: bool = True,
             **values: Any) -> uuid.UUID:
        """A trip whose time is ``at`` (as ``ended_at``, or ``started_at`` when not ended)."""
        times: dict[str, Any] = ({"requested_at": at - timedelta(minutes=20),
                                  "started_at": at - timedelta(minutes=15), "ended_at": at}
                                 if ended else {"requested_at": at - timedelta(minutes=5),
                                                "started_at": at})
        return insert(
            self.session, "trp_trips", tenant_id=self.tenant_id,
            platform_id=platform_id or self.platform_id, external_trip_id=xid,
            fare_gross=Decimal(fare) if fare is not None else None,
            platform_commission=Decimal(commission) if commission is not None else None,
            currency=currency, driver_id=driver_id, status=status,
            deleted_at=datetime(2026, 11, 20, tzinfo=UTC) if deleted else None,
            **times, **values)

    def row(self, xid: str | None, fare: str | Decimal | None,
            commission: str | Decimal | None = "0", *, at: datetime | None = IN_WEEK,
            currency: str = "EUR", import_id: uuid.UUID | None = None,
            platform_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
            description: str = "trip completed order", **values: Any) -> uuid.UUID:
        """A committed report row of the trip ``xid``."""
        return insert(
            self.session, "rev_import_rows", tenant_id=self.tenant_id,
            import_id=import_id or self.import_id, row_number=next(self._rows),
            platform_id=platform_id or self.platform_id, external_trip_id=xid,
            occurred_at=at, description=description,
            fare_gross=Decimal(fare) if fare is not None else None,
            commission=Decimal(commission) if commission is not None else None,
            currency=currency, driver_id=driver_id, **values)

    def both(self, xid: str, fare: str, commission: str = "0", **values: Any) -> uuid.UUID:
        """A trip and its one report row, agreeing."""
        self.row(xid, fare, commission)
        return self.trip(xid, fare, commission, **values)

    def revenue(self, driver_id: uuid.UUID, *, status: str = "provisional",
                platform_id: uuid.UUID | None = None, currency: str = "EUR") -> uuid.UUID:
        return insert(self.session, "rev_driver_revenues", tenant_id=self.tenant_id,
                      driver_id=driver_id, platform_id=platform_id or self.platform_id,
                      period_start=WEEK_START, period_end=WEEK_END, gross=100, net=80,
                      currency=currency, status=status)


def rec_world(session: Session) -> tuple[RecData, Actor]:
    """A fresh tenant and platform in ``session`` (bound to the tenant), and a member actor."""
    tenant = new_tenant(session)
    platform = new_platform(session)
    bind_context(session, DbContext.for_tenant(tenant))
    return RecData(session, tenant, platform), member_actor(tenant)


@contextmanager
def committed(sessions: Any, tenant_id: uuid.UUID,
              platform_id: uuid.UUID | None = None) -> Iterator[RecData]:
    """A :class:`RecData` of a committed tenant whose writes are committed on exit."""
    with context_session(sessions, DbContext.for_tenant(tenant_id)) as session:
        yield RecData(session, tenant_id, platform_id or new_platform(session))


def committed_platform(sessions: Any) -> uuid.UUID:
    with context_session(sessions, DbContext.system()) as session:
        return insert(session, "dir_platforms", code=f"p{uuid.uuid4().hex[:10]}",
                      name="Test platform")


Reader = Callable[..., list[Any]]
