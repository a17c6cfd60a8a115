"""Builders of settlement test data: what the import pipeline leaves in the database (committed
imports and their rows), cooperation terms, vehicles with expenses, tolls and fines.

:class:`Books` writes through one callable, so the same builders serve the rolled-back ``db``
session of service tests (:func:`books_on`) and committed data for API tests
(:func:`committed_books`, each write its own committed transaction).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, bind_context, context_session
from fleetcore.core.orm import new_id

Run = Callable[[str, dict[str, Any], bool], list[Any]]
"""``run(sql, params, system)``: execute as the tenant (or in the provider context)."""

WEEK = date(2026, 11, 16)
"""A Monday: the week most tests settle (Europe/Paris, no DST change in it)."""


def at(day: date, hour: int = 12, zone: str = "Europe/Paris") -> datetime:
    """``hour`` o'clock local time on ``day`` in ``zone``, as an aware UTC datetime."""
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def midnight(day: date, zone: str = "Europe/Paris") -> datetime:
    """Local midnight starting ``day`` in ``zone``."""
    return at(day, 0, zone)


@dataclass
class Books:
    """One tenant's data for settlement tests, written through ``run``."""

    run: Run
    tenant_id: uuid.UUID
    zone: str
    actor: Actor
    currency: str = "EUR"
    _rows: int = 0
    platforms: dict[str, uuid.UUID] = field(default_factory=dict)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        return self.run(statement, params, False)

    def insert(self, table: str, *, system: bool = False, **values: Any) -> uuid.UUID:
        values.setdefault("id", new_id())
        if not system:
            values.setdefault("tenant_id", self.tenant_id)
        columns = ", ".join(values)
        params = ", ".join(f":{c}" for c in values)
        self.run(f"INSERT INTO {table} ({columns}) VALUES ({params})", values, system)
        return values["id"]  # type: ignore[no-any-return]

    # --- reference and people ----------------------------------------------------------------

    def platform(self, name: str = "uber") -> uuid.UUID:
        """A platform (shared catalogue, unique code per call site)."""
        if name not in self.platforms:
            self.platforms[name] = self.insert(
                "dir_platforms", system=True, code=f"{name}_{uuid.uuid4().hex[:10]}",
                name=name.title())
        return self.platforms[name]

    def driver(self, first_name: str = "Ana") -> uuid.UUID:
        return self.insert("rid_drivers", first_name=first_name, last_name="Borg",
                           status="active")

    def account(self, driver_id: uuid.UUID | None, platform_id: uuid.UUID, *,
                receiver: str = "fleet", ref: str | None = None) -> str:
        """A platform account (uuid kind); its external id, which rows carry."""
        ref = ref or str(uuid.uuid4())
        self.insert("trp_platform_accounts", platform_id=platform_id, driver_id=driver_id,
                    external_account_id=ref, external_account_kind="uuid",
                    payout_receiver=receiver,
                    status="active" if driver_id else "unlinked",
                    unlinked_at=None if driver_id else datetime.now(UTC),
                    vehicle_id=self.vehicle() if driver_id is None else None)
        return ref

    # --- imports -----------------------------------------------------------------------------

    def report(self, platform_id: uuid.UUID, report_type: str = "payments_order", *,
               week: date = WEEK, status: str = "committed") -> uuid.UUID:
        """A committed import of ``report_type`` covering the tenant week of ``week``."""
        start = midnight(week - timedelta(days=week.weekday()), self.zone)
        end = midnight(week - timedelta(days=week.weekday()) + timedelta(days=7), self.zone)
        digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
        committed = datetime.now(UTC) if status in ("committed", "rolled_back") else None
        return self.insert(
            "rev_revenue_imports", platform_id=platform_id, report_type=report_type,
            period_start=start, period_end=end, file_name=f"{report_type}.csv", sha256=digest,
            size_bytes=100, storage_key=f"imports/{digest}", status=status,
            committed_at=committed,
            rolled_back_at=datetime.now(UTC) if status == "rolled_back" else None)

    def row(self, import_id: uuid.UUID, platform_id: uuid.UUID, driver_id: uuid.UUID | None,
            occurred_at: datetime | None, *, currency: str | None = None,
            ref: str | None = None, trip: str | None = None,
            description: str = "trip completed order", **amounts: str) -> uuid.UUID:
        """A committed report row; ``amounts`` by canonical column name (strings)."""
        self._rows += 1
        values = {k: Decimal(v) for k, v in amounts.items()}
        return self.insert(
            "rev_import_rows", import_id=import_id, row_number=self._rows + 1,
            platform_id=platform_id, driver_id=driver_id, occurred_at=occurred_at,
            currency=currency or self.currency, platform_account_ref=ref,
            external_trip_id=trip, description=description, **values)

    # --- terms -------------------------------------------------------------------------------

    def terms(self, driver_id: uuid.UUID, start: datetime, end: datetime | None = None, *,
              model: str = "revenue_share", pct: str | None = None, rent: str | None = None,
              rent_period: str | None = None, currency: str | None = None,
              version: str = "v1", **options: Any) -> uuid.UUID:
        """Accepted cooperation terms in force over ``[start, end)``."""
        if model == "revenue_share" and pct is None:
            pct = "25"
        return self.insert(
            "rid_driver_cooperation_terms", driver_id=driver_id, terms_version=version,
            status="active" if end is None else "expired",
            accepted_at=start - timedelta(days=1), effective_from=start, effective_to=end,
            settlement_model=model, fleet_share_pct=Decimal(pct) if pct else None,
            rent_amount=Decimal(rent) if rent else None, rent_period=rent_period,
            currency=currency or self.currency, **options)

    # --- costs -------------------------------------------------------------------------------

    def vehicle(self) -> uuid.UUID:
        make = self.insert("dir_car_makes", name=f"Make {uuid.uuid4().hex[:6]}")
        return self.insert("flt_vehicles", make_id=make,
                           licence_plate=f"T-{uuid.uuid4().hex[:6]}", country="FR",
                           year=2022, fuel_type="hybrid", ownership_type="owned")

    def expense(self, driver_id: uuid.UUID, incurred_on: date, amount: str, *,
                category: str = "fuel", rechargeable: bool = True, reimbursable: bool = False,
                payment_method: str = "fuel_card", currency: str | None = None) -> uuid.UUID:
        return self.insert(
            "flt_vehicle_expenses", vehicle_id=self.vehicle(), driver_id=driver_id,
            category=category, payment_method=payment_method, amount=Decimal(amount),
            currency=currency or self.currency, incurred_on=incurred_on,
            is_rechargeable=rechargeable, is_reimbursable=reimbursable)

    def toll(self, driver_id: uuid.UUID, occurred_at: datetime, amount: str, *,
             status: str = "assigned") -> uuid.UUID:
        return self.insert(
            "fin_toll_transactions", plate="AB-123-CD", driver_id=driver_id,
            occurred_at=occurred_at, amount=Decimal(amount), currency=self.currency,
            source="manual", status=status, operator="Sanef", gate="A1 Senlis")

    def fine(self, driver_id: uuid.UUID, offence_at: datetime, amount: str, *,
             status: str = "paid") -> uuid.UUID:
        return self.insert(
            "fin_traffic_fines", plate="AB-123-CD", driver_id=driver_id,
            fine_reference=f"F-{uuid.uuid4().hex[:8]}", offence_at=offence_at,
            amount=Decimal(amount), currency=self.currency, status=status,
            designated_at=offence_at if status == "driver_designated" else None)

    # --- reading back ------------------------------------------------------------------------

    def settlements(self, **where: Any) -> list[Any]:
        """The tenant's settlements (``where``: column = value), oldest period first."""
        clauses = "".join(f" AND {k} IS NOT DISTINCT FROM :{k}" for k in where)
        return self.sql(
            "SELECT * FROM trp_settlements WHERE tenant_id = :tenant" + clauses
            + " ORDER BY period_start, driver_id, platform_id NULLS LAST",
            tenant=self.tenant_id, **where)

    def settlement(self, driver_id: uuid.UUID, platform_id: uuid.UUID | None,
                   week: date = WEEK) -> Any:
        rows = [s for s in self.settlements(driver_id=driver_id, platform_id=platform_id)
                if s.period_start.astimezone(ZoneInfo(self.zone)).date()
                == week - timedelta(days=week.weekday())]
        assert len(rows) == 1, rows
        return rows[0]

    def lines(self, settlement_id: uuid.UUID) -> list[Any]:
        return self.sql(
            "SELECT * FROM trp_settlement_lines WHERE settlement_id = :s"
            " ORDER BY consumed_key, line_type", s=settlement_id)

    def amounts(self, settlement_id: uuid.UUID) -> dict[str, Decimal]:
        """Line amounts summed by line type."""
        totals: dict[str, Decimal] = {}
        for line in self.lines(settlement_id):
            totals[line.line_type] = totals.get(line.line_type, Decimal(0)) + line.amount
        return totals


def _member_actor(tenant_id: uuid.UUID) -> Actor:
    return Actor(type=ActorType.MEMBER, id=new_id(), clerk_user_id="user_settlements",
                 tenant_id=tenant_id, tenant_status="active", permissions=frozenset({"*"}))


def new_tenant(run: Run, zone: str, currency: str) -> uuid.UUID:
    tenant_id = new_id()
    run("INSERT INTO adm_tenants (id, name, slug, country, default_currency, timezone)"
        " VALUES (:id, 'Settlement test', :slug, 'FR', :currency, :zone)",
        {"id": tenant_id, "slug": f"s-{uuid.uuid4().hex[:12]}", "currency": currency,
         "zone": zone}, True)
    return tenant_id


def books_on(session: Session, *, zone: str = "Europe/Paris", currency: str = "EUR") -> Books:
    """A new tenant in the rolled-back ``session``, which is left bound to that tenant."""
    holder: dict[str, uuid.UUID] = {}

    def run(statement: str, params: dict[str, Any], system: bool) -> list[Any]:
        if system or "tenant" not in holder:
            bind_context(session, DbContext.system())
        result = session.execute(text(statement), params)
        rows = list(result.all()) if result.returns_rows else []
        if "tenant" in holder:
            bind_context(session, DbContext.for_tenant(holder["tenant"]))
        return rows

    holder["tenant"] = new_tenant(run, zone, currency)
    bind_context(session, DbContext.for_tenant(holder["tenant"]))
    return Books(run, holder["tenant"], zone, _member_actor(holder["tenant"]), currency)


def committed_books(sessions: Any, tenant_id: uuid.UUID, *, zone: str = "Europe/Paris",
                    currency: str = "EUR") -> Books:
    """Builders on an existing committed tenant: every write commits on its own."""

    def run(statement: str, params: dict[str, Any], system: bool) -> list[Any]:
        ctx = DbContext.system() if system else DbContext.for_tenant(tenant_id)
        with context_session(sessions, ctx) as session:
            result = session.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []

    return Books(run, tenant_id, zone, _member_actor(tenant_id), currency)
