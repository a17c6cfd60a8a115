"""Builders for payout tests: a tenant with drivers whose ledger balances are written as real
``fin_transactions`` rows (and, when asked, the confirmed settlements they come from)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, bind_context, context_session
from fleetcore.core.orm import new_id
from fleetcore.finance.models import PaymentBatchMethod
from fleetcore.finance.payout_schemas import BatchDraft

PARIS = ZoneInfo("Europe/Paris")
WEEK = date(2026, 11, 16)  # a Monday
WEEK_START = datetime(2026, 11, 16, tzinfo=PARIS)
WEEK_END = WEEK_START + timedelta(days=7)
IBANS = ["DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300",
         "BE68539007547034", "ES9121000418450200051332"]

Run = Callable[[str, dict[str, Any], bool], list[Any]]


def member(tenant_id: uuid.UUID, member_id: uuid.UUID | None = None,
           permissions: frozenset[str] = frozenset({"*"})) -> Actor:
    return Actor(type=ActorType.MEMBER, id=member_id or new_id(), clerk_user_id="user_payouts",
                 tenant_id=tenant_id, tenant_status="active", permissions=permissions)


@dataclass
class Fleet:
    """One tenant's payout data, written through ``run``."""

    run: Run
    tenant_id: uuid.UUID
    actor: Actor
    platform_id: uuid.UUID | None = None
    _accounts: dict[tuple[str, Any], uuid.UUID] = field(default_factory=dict)
    _entries: int = 0

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

    def driver(self, first_name: str = "Ana") -> uuid.UUID:
        return self.insert("rid_drivers", first_name=first_name, last_name="Borg",
                           status="active")

    def platform(self) -> uuid.UUID:
        if self.platform_id is None:
            self.platform_id = self.insert("dir_platforms", system=True,
                                           code=f"uber_{uuid.uuid4().hex[:10]}", name="Uber")
        return self.platform_id

    def _account(self, kind: str, driver_id: uuid.UUID | None = None) -> uuid.UUID:
        key = (kind, driver_id)
        if key not in self._accounts:
            self._accounts[key] = self.insert(
                "fin_accounts", owner_type="driver" if driver_id else "tenant",
                driver_id=driver_id, kind=kind, name=kind, currency="EUR",
                allow_negative=True, platform_id=self.platform() if kind ==
                "platform_receivable" else None)
        return self._accounts[key]

    def owe(self, driver_id: uuid.UUID, amount: str, *, settlement_id: uuid.UUID | None = None,
            posted_at: datetime | None = None, effective_on: date = WEEK) -> None:
        """A ledger entry moving ``amount`` (signed: + the fleet owes the driver more) between
        the platform receivable and the driver's balance, economically on ``effective_on``
        (what balances "as of" a batch's last day read; WEEK by default: owed by then)."""
        value = Decimal(amount)
        driver_side = self._account("driver_balance", driver_id)
        other = self._account("platform_receivable")
        debit, credit = (other, driver_side) if value > 0 else (driver_side, other)
        self._entries += 1
        self.insert("fin_transactions", event_id=new_id(), transaction_type="adjustment",
                    debit_account_id=debit, credit_account_id=credit, amount=abs(value),
                    currency="EUR", posted_at=posted_at or datetime.now(UTC),
                    idempotency_key=f"test:{uuid.uuid4()}", payload_sha256="0" * 64,
                    settlement_id=settlement_id, effective_on=effective_on)

    def settlement(self, driver_id: uuid.UUID, net: str, *, platform: bool = True,
                   start: datetime = WEEK_START, status: str = "confirmed") -> uuid.UUID:
        """A confirmed settlement of ``net`` and its ledger entry."""
        value = Decimal(net)
        values: dict[str, Any] = {"driver_id": driver_id, "period_start": start,
                                  "period_end": start + timedelta(days=7), "currency": "EUR",
                                  "status": status, "net": value,
                                  "confirmed_at": datetime.now(UTC), "confirmed_by": new_id()}
        if platform:
            values.update(platform_id=self.platform(), payout_receiver="fleet", gross=value)
        else:
            values.update(charges=-value)
        sid = self.insert("trp_settlements", **values)
        # As the ledger posts a settlement: dated its week's last local day.
        self.owe(driver_id, net, settlement_id=sid,
                 effective_on=(start + timedelta(days=6)).astimezone(PARIS).date())
        return sid

    def bank(self, driver_id: uuid.UUID, n: int = 0) -> uuid.UUID:
        return self.insert("fin_accounts", owner_type="driver", driver_id=driver_id,
                           kind="bank", name="Ana Borg", currency="EUR", iban=IBANS[n % 5],
                           allow_negative=True)

    def debtor(self) -> None:
        self.run("UPDATE adm_tenants SET settings = settings || CAST(:s AS jsonb) WHERE id = :t",
                 {"t": self.tenant_id, "s": '{"payouts": {"four_eyes": false, "debtor": '
                  '{"name": "Fleet SAS", "iban": "FR1420041010050500013M02606", '
                  '"bic": "PSSTFRPPXXX"}}}'}, True)

    def four_eyes(self) -> None:
        self.run("UPDATE adm_tenants SET settings = settings || CAST(:s AS jsonb) WHERE id = :t",
                 {"t": self.tenant_id, "s": '{"payouts": {"four_eyes": true}}'}, True)

    def balance(self, driver_id: uuid.UUID) -> Decimal:
        rows = self.sql("""
            SELECT coalesce(sum(CASE WHEN t.credit_account_id = a.id THEN t.amount
                                     ELSE -t.amount END), 0)
              FROM fin_accounts a JOIN fin_transactions t ON t.tenant_id = a.tenant_id
                   AND a.id IN (t.debit_account_id, t.credit_account_id)
             WHERE a.tenant_id = :t AND a.kind = 'driver_balance' AND a.driver_id = :d""",
                        t=self.tenant_id, d=driver_id)
        return Decimal(rows[0][0])

    def ledger_sums_to_zero(self) -> bool:
        """M2: debits and credits of all accounts net to zero (each entry balances)."""
        rows = self.sql("""
            SELECT coalesce(sum(CASE WHEN a.id = t.debit_account_id THEN t.amount
                                     ELSE -t.amount END), 0)
              FROM fin_transactions t JOIN fin_accounts a ON a.tenant_id = t.tenant_id
                   AND a.id IN (t.debit_account_id, t.credit_account_id)
             WHERE t.tenant_id = :t""", t=self.tenant_id)
        return Decimal(rows[0][0]) == 0


def draft(method: PaymentBatchMethod = PaymentBatchMethod.SEPA_TRANSFER,
          **extra: Any) -> BatchDraft:
    return BatchDraft(period_first_day=WEEK, period_last_day=WEEK + timedelta(days=6),
                      method=method, **extra)


def _new_tenant(run: Run) -> uuid.UUID:
    tenant_id = new_id()
    run("INSERT INTO adm_tenants (id, name, slug, country, default_currency, timezone)"
        " VALUES (:id, 'Payout test', :slug, 'FR', 'EUR', 'Europe/Paris')",
        {"id": tenant_id, "slug": f"p-{uuid.uuid4().hex[:12]}"}, True)
    return tenant_id


def fleet_on(session: Session) -> Fleet:
    """A new tenant in the rolled-back ``session``, left bound to that tenant."""
    holder: dict[str, uuid.UUID] = {}

    def run(statement: str, params: dict[str, Any], system: bool) -> list[Any]:
        if system or "tenant" not in holder:
            bind_context(session, DbContext.system())
        result = session.execute(text(statement), params)
        rows = list(result.all()) if result.returns_rows else []
        if "tenant" in holder:
            bind_context(session, DbContext.for_tenant(holder["tenant"]))
        return rows

    holder["tenant"] = _new_tenant(run)
    bind_context(session, DbContext.for_tenant(holder["tenant"]))
    return Fleet(run, holder["tenant"], member(holder["tenant"]))


def committed_fleet(sessions: Any, tenant_id: uuid.UUID | None = None) -> Fleet:
    """Builders whose every write commits on its own (for concurrency and API tests)."""
    holder: dict[str, uuid.UUID] = {}

    def run(statement: str, params: dict[str, Any], system: bool) -> list[Any]:
        ctx = DbContext.system() if system or "tenant" not in holder \
            else DbContext.for_tenant(holder["tenant"])
        with context_session(sessions, ctx) as session:
            result = session.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []

    holder["tenant"] = tenant_id or _new_tenant(run)
    return Fleet(run, holder["tenant"], member(holder["tenant"]))
