"""Driver statements: one per driver and week, every platform and charge together (workflows.md
Trips 3 and Finance 2; money.md "Settlements and payouts").

A statement reads the week's settlements of one driver (the platform ones and the driver-level
one) and sorts their lines into groups people recognise — earnings per platform, commission,
cash, money the platform paid the driver directly, fleet share, rent, deposit and advances,
recharged expenses, tolls, fines, adjustments, carried balance — each with the lines that make
it, so every cent links to its source (report row, trip, expense, toll, fine, term). The groups
sum to the statement's ``total``, which is the sum of the settlements' nets, hence the driver's
ledger balance movement of the week once they are confirmed (``ledger``).

The *payment* group reads ``fin_driver_payments`` of that driver for the week (a payment of a
batch the week's settlements belong to, or of a batch covering exactly the week); without one
the total is "to be paid" (≥ 0) or "carried" to the next week (< 0, never paid).

Everything is read in a handful of set-based queries whatever the number of lines; the driver
and its settlements are read under the tenant's row-level security, so another tenant's driver
is simply not found (404).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.admin.notifications import language_for
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import NotFound
from fleetcore.core.periods import Period, period_of_week

__all__ = [
    "GROUP_ORDER",
    "FleetIdentity",
    "Statement",
    "StatementGroup",
    "StatementPayment",
    "StatementSource",
    "build_statement",
    "driver_email",
    "group_of",
    "statement_of",
]

GROUP_ORDER = (
    "earnings", "commission", "cash", "platform_payout", "fleet_share", "rent", "deposit",
    "expenses", "tolls", "fines", "adjustments", "carried",
)
"""The statement's groups, in the order they are printed (``earnings`` once per platform)."""

_GROUP_OF_TYPE = {
    "platform_earning": "earnings", "tip": "earnings", "promotion": "earnings",
    "toll_refund": "earnings", "commission": "commission", "cash_collected": "cash",
    "fleet_share": "fleet_share", "rent": "rent", "deposit": "deposit", "advance": "deposit",
    "fuel": "expenses", "damage": "expenses", "expense": "expenses", "toll": "tolls",
    "fine": "fines", "carry_over": "carried",
}


def group_of(line_type: str, source_type: str) -> str:
    """The statement group of a settlement line.

    ``adjustment`` lines are told apart by their source, as the ledger does: the platform's
    direct payout taken back (source ``settlement``), a fleet share returned (``term``), a
    reimbursed expense (``expense``); others (manual, late report rows) are adjustments.
    """
    if line_type == "adjustment":
        return {"settlement": "platform_payout", "term": "fleet_share",
                "expense": "expenses"}.get(source_type, "adjustments")
    return _GROUP_OF_TYPE.get(line_type, "adjustments")


@dataclass(frozen=True, slots=True)
class FleetIdentity:
    """Who issues the statement: the tenant's legal identity."""

    name: str
    legal_name: str
    country: str
    vat_number: str | None
    registration_number: str | None
    address: str | None
    contact_email: str | None


@dataclass(frozen=True, slots=True)
class StatementSource:
    """One settlement line of a group and the source it comes from."""

    line_id: uuid.UUID
    settlement_id: uuid.UUID
    line_type: str
    source_type: str
    source_id: uuid.UUID | None
    reference: str | None
    description: str
    service_date: date | None
    amount: Decimal


@dataclass
class StatementGroup:
    """A group of the statement: its total and its sources (signed as they affect the driver)."""

    key: str
    currency: str
    platform_id: uuid.UUID | None = None
    platform_name: str | None = None
    amount: Decimal = Decimal(0)
    sources: list[StatementSource] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StatementPayment:
    """A payment of the driver for the week (``fin_driver_payments``)."""

    id: uuid.UUID
    batch_id: uuid.UUID
    status: str
    net: Decimal
    currency: str
    paid_at: datetime | None


@dataclass
class Statement:
    """One driver's week: the groups, the total and how it is settled."""

    fleet: FleetIdentity
    driver_id: uuid.UUID
    driver_name: str
    language: str
    period: Period
    currency: str
    groups: list[StatementGroup]
    total: Decimal
    settlement_ids: list[uuid.UUID]
    status: str
    """``confirmed`` (every settlement confirmed or paid), ``provisional`` (some are drafts),
    ``empty`` (no settlement this week)."""
    payments: list[StatementPayment]
    ledger: Decimal | None
    """The driver's balance movement posted for these settlements (None while any is a draft)."""
    other_currencies: list[str]
    timezone: str
    invoice_number: str | None = None
    """The week's self-billed invoice, when the fleet self-bills (docs/statements.md)."""

    @property
    def payment_state(self) -> str:
        """``paid``, ``in_payment`` (a payment exists, not yet paid), ``to_be_paid`` or
        ``carried`` (a negative total is never paid: it carries over)."""
        live = [p for p in self.payments if p.status not in ("failed", "cancelled")]
        if live and all(p.status == "paid" for p in live):
            return "paid"
        if live:
            return "in_payment"
        return "carried" if self.total < 0 else "to_be_paid"

    @property
    def paid(self) -> Decimal:
        """What the payments of the week pay (failed and cancelled ones excluded)."""
        return sum((p.net for p in self.payments if p.status not in ("failed", "cancelled")),
                   Decimal(0))


def _fleet(session: Session, tenant_id: uuid.UUID) -> tuple[FleetIdentity, str, str, str]:
    row = session.execute(text("""
        SELECT name, legal_name, country, vat_number, contact_email, tax_settings, timezone,
               default_currency, settings
          FROM adm_tenants WHERE id = :t"""), {"t": tenant_id}).mappings().one_or_none()
    if row is None:
        raise NotFound("No tenant is open.")
    tax = row["tax_settings"] if isinstance(row["tax_settings"], dict) else {}
    settings = row["settings"] if isinstance(row["settings"], dict) else {}
    identity = FleetIdentity(
        name=row["name"], legal_name=row["legal_name"] or row["name"], country=row["country"],
        vat_number=row["vat_number"],
        registration_number=_text(tax.get("registration_number")),
        address=_text(tax.get("address")), contact_email=row["contact_email"])
    locale = _text(settings.get("locale")) or _text(settings.get("language")) or ""
    return identity, str(row["timezone"]), str(row["default_currency"]), locale


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value).strip() else None


def build_statement(
    session: Session, actor: Actor, driver_id: uuid.UUID, week: date, *,
    language: str | None = None, currency: str | None = None,
) -> Statement:
    """The statement of ``driver_id`` for the tenant week holding local day ``week``.

    ``language`` (en, fr) overrides the driver's preferred language; ``currency`` picks the
    settlements of that currency when the driver has several (else the only one, or the
    tenant's). 404 for a driver not in the actor's tenant.
    """
    return statement_of(session, tenant_of(actor), driver_id, week, language=language,
                        currency=currency)


def statement_of(
    session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID, week: date, *,
    language: str | None = None, currency: str | None = None,
) -> Statement:
    """:func:`build_statement` for a tenant (jobs, which act for no member)."""
    fleet, zone, default_currency, tenant_locale = _fleet(session, tenant_id)
    driver = session.execute(text("""
        SELECT first_name, last_name, preferred_language FROM rid_drivers
         WHERE tenant_id = :t AND id = :d AND deleted_at IS NULL"""),
        {"t": tenant_id, "d": driver_id}).one_or_none()
    if driver is None:
        raise NotFound("No such driver in this tenant.")
    period = period_of_week(week, zone)
    settlements = session.execute(text("""
        SELECT id, currency, status, payment_batch_id, net FROM trp_settlements
         WHERE tenant_id = :t AND driver_id = :d AND period_start = :start
         ORDER BY platform_id NULLS LAST, id"""),
        {"t": tenant_id, "d": driver_id, "start": period.start}).all()
    currencies = sorted({s.currency for s in settlements})
    chosen = currency or (currencies[0] if len(currencies) == 1 else default_currency)
    settlements = [s for s in settlements if s.currency == chosen]
    ids = [s.id for s in settlements]
    groups = _groups(session, tenant_id, ids, chosen)
    total = sum((s.net for s in settlements), Decimal(0))
    drafts = any(s.status == "draft" for s in settlements)
    return Statement(
        fleet=fleet, driver_id=driver_id,
        driver_name=f"{driver.first_name} {driver.last_name}".strip(),
        language=language_for(language or driver.preferred_language or tenant_locale,
                              fleet.country),
        period=period, currency=chosen, groups=groups, total=total, settlement_ids=ids,
        status="empty" if not ids else "provisional" if drafts else "confirmed",
        payments=_payments(session, tenant_id, driver_id, period,
                           [s.payment_batch_id for s in settlements if s.payment_batch_id],
                           chosen),
        ledger=None if drafts or not ids else _ledger(session, tenant_id, driver_id, ids),
        other_currencies=[c for c in currencies if c != chosen], timezone=zone,
        invoice_number=session.execute(text("""
            SELECT invoice_number FROM trp_client_invoices
             WHERE tenant_id = :t AND driver_id = :d AND kind = 'invoice'
               AND period_start = :first AND currency = :c AND deleted_at IS NULL"""),
            {"t": tenant_id, "d": driver_id, "first": period.first_day, "c": chosen},
        ).scalar_one_or_none())


def _groups(session: Session, tenant_id: uuid.UUID, settlement_ids: list[uuid.UUID],
            currency: str) -> list[StatementGroup]:
    """The lines of the settlements, grouped (one query)."""
    if not settlement_ids:
        return []
    rows = session.execute(text("""
        SELECT l.id, l.settlement_id, l.line_type, l.source_type, l.source_id, l.description,
               l.service_date, l.amount, s.platform_id, p.name AS platform_name,
               coalesce(r.external_trip_id, f.fine_reference, tl.gate,
                        t.terms_version) AS reference
          FROM trp_settlement_lines l
          JOIN trp_settlements s ON s.tenant_id = l.tenant_id AND s.id = l.settlement_id
          LEFT JOIN dir_platforms p ON p.id = s.platform_id
          LEFT JOIN rev_import_rows r ON r.tenant_id = l.tenant_id AND r.id = l.import_row_id
          LEFT JOIN fin_traffic_fines f ON l.source_type = 'fine'
               AND f.tenant_id = l.tenant_id AND f.id = l.source_id
          LEFT JOIN fin_toll_transactions tl ON l.source_type = 'toll'
               AND tl.tenant_id = l.tenant_id AND tl.id = l.source_id
          LEFT JOIN rid_driver_cooperation_terms t ON l.source_type = 'term'
               AND t.tenant_id = l.tenant_id AND t.id = l.source_id
         WHERE l.tenant_id = :t AND l.settlement_id = ANY(:ids)
         ORDER BY l.service_date NULLS LAST, l.consumed_key, l.line_type, l.id"""),
        {"t": tenant_id, "ids": settlement_ids}).all()
    groups: dict[tuple[str, uuid.UUID | None], StatementGroup] = {}
    for row in rows:
        key = group_of(row.line_type, row.source_type)
        platform = row.platform_id if key == "earnings" else None
        group = groups.get((key, platform))
        if group is None:
            group = groups[(key, platform)] = StatementGroup(
                key=key, currency=currency, platform_id=platform,
                platform_name=row.platform_name if platform else None)
        group.amount += row.amount
        group.sources.append(StatementSource(
            line_id=row.id, settlement_id=row.settlement_id, line_type=row.line_type,
            source_type=row.source_type, source_id=row.source_id,
            reference=row.reference, description=row.description,
            service_date=row.service_date, amount=row.amount))
    order = {k: i for i, k in enumerate(GROUP_ORDER)}
    return sorted(groups.values(), key=lambda g: (order[g.key], g.platform_name or "",
                                                  str(g.platform_id or "")))


def _payments(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID, period: Period,
              batch_ids: list[uuid.UUID], currency: str) -> list[StatementPayment]:
    rows = session.execute(text("""
        SELECT p.id, p.batch_id, p.status, p.net, p.currency, p.paid_at
          FROM fin_driver_payments p
          JOIN fin_driver_payment_batches b ON b.tenant_id = p.tenant_id AND b.id = p.batch_id
         WHERE p.tenant_id = :t AND p.driver_id = :d AND p.currency = :c
           AND (p.batch_id = ANY(:batches)
                OR (b.period_start = :start AND b.period_end = :end))
         ORDER BY p.created_at, p.id"""),
        {"t": tenant_id, "d": driver_id, "c": currency, "batches": batch_ids,
         "start": period.start, "end": period.end}).all()
    return [StatementPayment(id=r.id, batch_id=r.batch_id, status=r.status, net=r.net,
                             currency=r.currency, paid_at=r.paid_at) for r in rows]


def _ledger(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID,
            settlement_ids: list[uuid.UUID]) -> Decimal:
    """How much the settlements moved the driver's balance in the ledger (credit: the fleet
    owes the driver more)."""
    moved = session.execute(text("""
        SELECT coalesce(sum(CASE WHEN t.credit_account_id = a.id THEN t.amount
                                 ELSE -t.amount END), 0)
          FROM fin_transactions t
          JOIN fin_accounts a ON a.tenant_id = t.tenant_id AND a.kind = 'driver_balance'
               AND a.driver_id = :d AND a.id IN (t.debit_account_id, t.credit_account_id)
         WHERE t.tenant_id = :t AND t.settlement_id = ANY(:ids)"""),
        {"t": tenant_id, "d": driver_id, "ids": settlement_ids}).scalar_one()
    return Decimal(moved)


def group_totals(statement: Statement) -> dict[str, Decimal]:
    """Group amounts by key (earnings summed over platforms): for checks and summaries."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for group in statement.groups:
        totals[group.key] += group.amount
    return dict(totals)


def driver_email(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID) -> str | None:
    """The driver's e-mail address (404 for a driver not in the tenant)."""
    row = session.execute(text("""
        SELECT email FROM rid_drivers WHERE tenant_id = :t AND id = :d AND deleted_at IS NULL"""),
        {"t": tenant_id, "d": driver_id}).one_or_none()
    if row is None:
        raise NotFound("No such driver in this tenant.")
    return str(row.email) if row.email else None
