"""Client invoices, credit notes and self-billed driver invoices (money.md "Invoices and usage";
workflows.md Finance 4 and 7).

* A **client invoice** groups a corporate client's completed trips of a period (trips carry
  the client's reference in ``metadata.client_ref``); the draft holds them
  (``trp_trips.client_invoice_id``) so a trip is invoiced once. It gets its number only when
  it is finalised.
* A **credit note** corrects an issued invoice (all or part of what is left of it); it is a
  draft until finalised, numbered in the invoice's series.
* A **self-billed invoice** is issued by the fleet in the name of a driver who works as an
  independent contractor (terms in force that week not ``salaried``), when the tenant has
  self-billing on (``tax_settings.self_billing``): one per driver and confirmed week whose
  statement total is positive, for that total.

Numbers come from :func:`fleetcore.admin.numbering.take_numbers` in the finalising
transaction: gapless per tenant, series and year, never reused, concurrent finalisations
serialised on the series' row. Amounts: the tax is computed on the subtotal; when the
tenant's prices include VAT (``tax_settings.prices_include_vat``, the default) the subtotal is
taken out of the total first (``total / (1 + rate)`` rounded to the minor unit). Services
flush, never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fleetcore.admin.numbering import format_number, lock_series, take_numbers, yearly_series
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import Conflict, NotFound, PreconditionFailed, ValidationProblem
from fleetcore.core.money import Money, round_minor
from fleetcore.core.orm import new_id
from fleetcore.core.pagination import PageParams, keyset_page
from fleetcore.core.periods import period_of_week
from fleetcore.core.versioning import etag
from fleetcore.trips.models import ClientInvoice, ClientInvoiceKind, ClientInvoiceStatus

__all__ = [
    "CLIENT_SERIES",
    "SELF_BILLING_SERIES",
    "ClientInvoiceDraft",
    "Taxed",
    "create_client_invoice",
    "create_credit_note",
    "finalise_invoice",
    "get_invoice",
    "issue_after_confirmation",
    "issue_self_billed_invoices",
    "list_invoices",
    "split_tax",
]

CLIENT_SERIES = "client_invoice"
SELF_BILLING_SERIES = "self_billing"
_PREFIX = {CLIENT_SERIES: "F-{year}-", SELF_BILLING_SERIES: "AF-{year}-"}


@dataclass(frozen=True, slots=True)
class Taxed:
    """Subtotal, tax and total of an invoice (``total = subtotal + tax``)."""

    subtotal: Decimal
    tax: Decimal
    total: Decimal


def split_tax(amount: Decimal, rate_pct: Decimal, currency: str, *, inclusive: bool) -> Taxed:
    """Subtotal and tax of ``amount`` at ``rate_pct``: taken out of it when ``inclusive``,
    else added to it; the tax is always computed on the (rounded) subtotal."""
    if inclusive:
        subtotal = round_minor(amount * 100 / (100 + rate_pct), currency)
        tax = round_minor(amount, currency) - subtotal
    else:
        subtotal = round_minor(amount, currency)
        tax = round_minor(subtotal * rate_pct / 100, currency)
    return Taxed(subtotal=subtotal, tax=tax, total=subtotal + tax)


@dataclass(frozen=True, slots=True)
class _TenantTax:
    country: str
    zone: str
    currency: str
    rate: Decimal
    inclusive: bool
    self_billing: bool
    payment_days: int

    def today(self) -> date:
        return datetime.now(UTC).astimezone(ZoneInfo(self.zone)).date()


def _tenant_tax(session: Session, tenant_id: uuid.UUID) -> _TenantTax:
    row = session.execute(text("""
        SELECT country, timezone, default_currency, vat_rate_pct, tax_settings
          FROM adm_tenants WHERE id = :t"""), {"t": tenant_id}).one_or_none()
    if row is None:
        raise NotFound("No tenant is open.")
    settings: dict[str, Any] = row.tax_settings if isinstance(row.tax_settings, dict) else {}
    days = settings.get("payment_terms_days", 30)
    return _TenantTax(
        country=row.country, zone=row.timezone, currency=row.default_currency,
        rate=Decimal(row.vat_rate_pct or 0),
        inclusive=bool(settings.get("prices_include_vat", True)),
        self_billing=settings.get("self_billing") is True,
        payment_days=days if isinstance(days, int) and 0 <= days <= 365 else 30)


# --- reading -------------------------------------------------------------------------------


def get_invoice(session: Session, actor: Actor, invoice_id: uuid.UUID, *,
                for_update: bool = False) -> ClientInvoice:
    """An invoice or credit note of the actor's tenant (404 otherwise)."""
    stmt = select(ClientInvoice).where(ClientInvoice.tenant_id == tenant_of(actor),
                                       ClientInvoice.id == invoice_id,
                                       ClientInvoice.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    found = session.scalars(stmt).one_or_none()
    if found is None:
        raise NotFound("No such invoice in this tenant.")
    return found


def invoice_trip_count(session: Session, invoice: ClientInvoice) -> int:
    """How many trips the invoice groups."""
    return int(session.execute(text(
        "SELECT count(*) FROM trp_trips WHERE tenant_id = :t AND client_invoice_id = :i"),
        {"t": invoice.tenant_id, "i": invoice.id}).scalar_one())


def list_invoices(
    session: Session, actor: Actor, params: PageParams, *, self_billed: bool | None = None,
    kind: str | None = None, status: str | None = None,
) -> tuple[list[ClientInvoice], str | None]:
    """A page of the tenant's invoices and credit notes, newest first (one query):
    ``self_billed`` True = the drivers' self-billed invoices, False = client invoices."""
    stmt = select(ClientInvoice).where(ClientInvoice.tenant_id == tenant_of(actor),
                                       ClientInvoice.deleted_at.is_(None))
    if self_billed is not None:
        stmt = stmt.where(ClientInvoice.driver_id.is_not(None) if self_billed
                          else ClientInvoice.driver_id.is_(None))
    if kind is not None:
        stmt = stmt.where(ClientInvoice.kind == kind)
    if status is not None:
        stmt = stmt.where(ClientInvoice.status == status)
    return keyset_page(session, stmt, [ClientInvoice.created_at, ClientInvoice.id], params,
                       descending=True)


# --- client invoices -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientInvoiceDraft:
    """What a client invoice groups: the client's trips of a period, in one currency."""

    client_ref: str
    client_name: str
    period_start: date
    period_end: date
    currency: str
    client_tax_id: str | None = None
    client_address: str | None = None
    client_email: str | None = None


def create_client_invoice(session: Session, actor: Actor,
                          data: ClientInvoiceDraft) -> ClientInvoice:
    """A draft invoice of the client's completed, not yet invoiced trips that ended in
    ``[period_start, period_end]`` (local days), priced at their gross fares; the trips are
    attached to it in the same statement. 409 when there is no such trip."""
    tenant_id = tenant_of(actor)
    tax = _tenant_tax(session, tenant_id)
    if data.period_end < data.period_start:
        message = "The period ends before it starts."
        raise ValidationProblem(message, errors=[{"field": "period_end", "message": message}])
    invoice_id = new_id()
    # Insert the draft first (trips reference it), then attach the trips and total them.
    invoice = ClientInvoice(
        tenant_id=tenant_id, id=invoice_id, kind=ClientInvoiceKind.INVOICE.value,
        client_name=data.client_name, client_tax_id=data.client_tax_id,
        client_address=data.client_address, client_email=data.client_email,
        series=CLIENT_SERIES, period_start=data.period_start, period_end=data.period_end,
        currency=data.currency, tax_rate_pct=tax.rate, created_by=actor.id,
        updated_by=actor.id)
    session.add(invoice)
    session.flush()
    attached = session.execute(text("""
        WITH picked AS (
          UPDATE trp_trips t SET client_invoice_id = :i
           WHERE t.tenant_id = :t AND t.deleted_at IS NULL AND t.client_invoice_id IS NULL
             AND t.status = 'completed' AND t.metadata ->> 'client_ref' = :ref
             AND t.currency = :c AND t.fare_gross IS NOT NULL
             AND (coalesce(t.ended_at, t.started_at) AT TIME ZONE :tz)::date
                 BETWEEN :start AND :end
          RETURNING t.fare_gross)
        SELECT count(*), coalesce(sum(fare_gross), 0) FROM picked"""),
        {"t": tenant_id, "i": invoice_id, "ref": data.client_ref, "c": data.currency,
         "tz": tax.zone, "start": data.period_start, "end": data.period_end}).one()
    count, gross = int(attached[0]), Decimal(attached[1])
    if count == 0:
        raise Conflict(f"No completed trip of client {data.client_ref!r} in {data.currency} "
                       f"ended between {data.period_start} and {data.period_end} that is not "
                       "invoiced yet.", client_ref=data.client_ref)
    amounts = split_tax(gross, tax.rate, data.currency, inclusive=tax.inclusive)
    invoice.subtotal, invoice.tax, invoice.total = amounts.subtotal, amounts.tax, amounts.total
    session.flush()
    session.refresh(invoice)
    return invoice


def _check_version(invoice: ClientInvoice, expected: int | None) -> None:
    if expected is not None and expected != invoice.version:
        raise PreconditionFailed(
            f"The invoice is at version {invoice.version}; re-read it and finalise what you "
            "see.", current_etag=etag(invoice.version))


def finalise_invoice(session: Session, actor: Actor, invoice_id: uuid.UUID,
                     expected_version: int | None) -> ClientInvoice:
    """Issue a draft invoice or credit note: it takes the next number of its series for this
    year, in this transaction (gapless; concurrent finalisations wait for each other), and
    its issue and due dates. 409 unless it is a draft; 412 on a stale version."""
    invoice = get_invoice(session, actor, invoice_id, for_update=True)
    if invoice.status != ClientInvoiceStatus.DRAFT.value:
        raise Conflict(f"The invoice is {invoice.status} (number {invoice.invoice_number}); "
                       "an issued invoice never changes: correct it with a credit note.",
                       status_now=invoice.status)
    _check_version(invoice, expected_version)
    tax = _tenant_tax(session, invoice.tenant_id)
    today = tax.today()
    series = yearly_series(invoice.series, today.year)
    taken = take_numbers(session, invoice.tenant_id, series,
                         prefix=_PREFIX.get(invoice.series, "").format(year=today.year))
    invoice.series = series
    invoice.invoice_number = taken.formatted()[0]
    invoice.status = ClientInvoiceStatus.ISSUED.value
    invoice.issued_on = today
    invoice.due_on = today + timedelta(days=tax.payment_days)
    invoice.updated_by = actor.id
    session.flush()
    session.refresh(invoice)
    return invoice


def create_credit_note(session: Session, actor: Actor, invoice_id: uuid.UUID, *,
                       amount: Decimal | None, reason: str,
                       expected_version: int | None) -> ClientInvoice:
    """A draft credit note correcting issued invoice ``invoice_id`` by ``amount`` (tax
    included as the invoice's total is; None: all that is left of it). 409 for a draft or a
    credit note, or when the invoice's credit notes would credit more than its total."""
    invoice = get_invoice(session, actor, invoice_id, for_update=True)
    if invoice.status not in (ClientInvoiceStatus.ISSUED.value, ClientInvoiceStatus.PAID.value):
        raise Conflict("Only an issued invoice is corrected by a credit note; a draft is "
                       "changed or deleted.", status_now=invoice.status)
    if invoice.kind != ClientInvoiceKind.INVOICE.value:
        raise Conflict("A credit note is not corrected by another credit note.")
    _check_version(invoice, expected_version)
    credited = Decimal(session.execute(text("""
        SELECT coalesce(sum(total), 0) FROM trp_client_invoices
         WHERE tenant_id = :t AND corrects_invoice_id = :i AND deleted_at IS NULL
           AND status <> 'void'"""), {"t": invoice.tenant_id, "i": invoice.id}).scalar_one())
    left = invoice.total - credited
    wanted = left if amount is None else round_minor(amount, invoice.currency)
    if amount is not None and wanted != amount:
        message = f"{amount} is not a whole number of minor units of {invoice.currency}."
        raise ValidationProblem(message, errors=[{"field": "amount.amount", "message": message}])
    if wanted <= 0 or wanted > left:
        left_text = Money(left, invoice.currency).amount_str()
        raise Conflict(f"{left_text} {invoice.currency} of invoice {invoice.invoice_number} is "
                       f"left to credit; a credit note of "
                       f"{Money(wanted, invoice.currency).amount_str()} is not possible.",
                       left=left_text)
    rate = Decimal(invoice.tax_rate_pct or 0)
    amounts = split_tax(wanted, rate, invoice.currency, inclusive=True)
    note = ClientInvoice(
        tenant_id=invoice.tenant_id, id=new_id(), kind=ClientInvoiceKind.CREDIT_NOTE.value,
        corrects_invoice_id=invoice.id, client_name=invoice.client_name,
        client_tax_id=invoice.client_tax_id, client_address=invoice.client_address,
        client_email=invoice.client_email, driver_id=invoice.driver_id,
        series=invoice.series.rsplit("_", 1)[0] if invoice.series[-4:].isdigit()
        else invoice.series,
        period_start=invoice.period_start, period_end=invoice.period_end,
        subtotal=amounts.subtotal, tax=amounts.tax, total=amounts.total,
        tax_rate_pct=invoice.tax_rate_pct, currency=invoice.currency,
        created_by=actor.id, updated_by=actor.id)
    session.add(note)
    session.flush()
    _audit_reason(session, actor, note, reason)
    session.refresh(note)
    return note


def _audit_reason(session: Session, actor: Actor, note: ClientInvoice, reason: str) -> None:
    """The credit note's reason goes into the audit trail (the table has no column for it)."""
    session.execute(text(
        "INSERT INTO adm_audit_logs (id, tenant_id, actor_type, actor_id, action, entity_type,"
        " entity_id, changes, ip, user_agent, request_id, occurred_at)"
        " VALUES (gen_random_uuid(), :t, fc_audit_actor_type(),"
        " coalesce(NULLIF(current_setting('app.actor_id', true), '')::uuid, :actor),"
        " 'credit_note_reason', 'trp_client_invoices', :n,"
        " jsonb_build_object('reason', CAST(:r AS text),"
        " 'corrects_invoice_id', CAST(:c AS text)),"
        " NULLIF(current_setting('app.ip', true), '')::inet,"
        " NULLIF(current_setting('app.user_agent', true), ''),"
        " NULLIF(current_setting('app.request_id', true), ''), clock_timestamp())"),
        {"t": note.tenant_id, "actor": actor.id, "n": note.id, "r": reason,
         "c": str(note.corrects_invoice_id)})


# --- self-billed invoices ------------------------------------------------------------------


def issue_self_billed_invoices(session: Session, actor: Actor, week: date, *,
                               driver_ids: list[uuid.UUID] | None = None,
                               ) -> list[ClientInvoice]:
    """Issue the self-billed invoices of the tenant week holding ``week``: one per
    independent-contractor driver (of ``driver_ids``, default all) whose settlements of the
    week are all confirmed and total more than zero (per currency), and who has none for that
    week yet. Numbers are taken in one step, in the drivers' name order. 409 when the tenant
    has self-billing off.

    Idempotent: issuing the week again issues only what is missing.
    """
    tenant_id = tenant_of(actor)
    tax = _tenant_tax(session, tenant_id)
    if not tax.self_billing:
        raise Conflict("Self-billing is off for this fleet (tax settings): drivers invoice "
                       "the fleet themselves.")
    return _issue(session, actor, tax, week, driver_ids)


def issue_after_confirmation(session: Session, actor: Actor, driver_id: uuid.UUID,
                             period_start: datetime) -> list[ClientInvoice]:
    """Called when a settlement is confirmed: when self-billing is on and that completes the
    driver's week, its self-billed invoice is issued in the same transaction (nothing
    otherwise)."""
    tax = _tenant_tax(session, tenant_of(actor))
    if not tax.self_billing:
        return []
    week = period_start.astimezone(ZoneInfo(tax.zone)).date()
    return _issue(session, actor, tax, week, [driver_id])


def _issue(session: Session, actor: Actor, tax: _TenantTax, week: date,
           driver_ids: list[uuid.UUID] | None) -> list[ClientInvoice]:
    tenant_id = tenant_of(actor)
    period = period_of_week(week, tax.zone)
    today = tax.today()
    series = yearly_series(SELF_BILLING_SERIES, today.year)
    # The series' row first: concurrent issuers of this tenant wait here, then see each
    # other's invoices (no duplicate, no gap).
    lock_series(session, tenant_id, series,
                prefix=_PREFIX[SELF_BILLING_SERIES].format(year=today.year))
    due = session.execute(text("""
        SELECT s.driver_id, s.currency, sum(s.net) AS total,
               d.first_name || ' ' || d.last_name AS name, d.email,
               nullif(d.metadata #>> '{tax,vat_number}', '') AS vat_number,
               nullif(d.metadata #>> '{tax,address}', '') AS address,
               coalesce((d.metadata #>> '{tax,vat_registered}')::boolean, false) AS vat
          FROM trp_settlements s
          JOIN rid_drivers d ON d.tenant_id = s.tenant_id AND d.id = s.driver_id
         WHERE s.tenant_id = :t AND s.period_start = :start
           AND (CAST(:drivers AS uuid[]) IS NULL OR s.driver_id = ANY(CAST(:drivers AS uuid[])))
           AND EXISTS (
             SELECT 1 FROM rid_driver_cooperation_terms c
              WHERE c.tenant_id = s.tenant_id AND c.driver_id = s.driver_id
                AND c.accepted_at IS NOT NULL AND c.deleted_at IS NULL
                AND c.settlement_model <> 'salaried'
                AND c.effective_from < :end
                AND (c.effective_to IS NULL OR c.effective_to > :start))
           AND NOT EXISTS (
             SELECT 1 FROM trp_settlements x
              WHERE x.tenant_id = s.tenant_id AND x.driver_id = s.driver_id
                AND x.period_start = :start AND x.status = 'draft')
           AND NOT EXISTS (
             SELECT 1 FROM trp_client_invoices i
              WHERE i.tenant_id = s.tenant_id AND i.driver_id = s.driver_id
                AND i.kind = 'invoice' AND i.period_start = :first AND i.currency = s.currency
                AND i.deleted_at IS NULL)
         GROUP BY s.driver_id, s.currency, d.first_name, d.last_name, d.email, d.metadata
        HAVING sum(s.net) > 0
         ORDER BY d.last_name, d.first_name, s.driver_id, s.currency"""),
        {"t": tenant_id, "start": period.start, "end": period.end,
         "first": period.first_day, "drivers": driver_ids}).all()
    if not due:
        return []
    taken = take_numbers(session, tenant_id, series, len(due))
    invoices = []
    for row, number in zip(due, range(taken.first, taken.first + taken.count), strict=True):
        rate = tax.rate if row.vat else Decimal(0)
        amounts = split_tax(Decimal(row.total), rate, row.currency, inclusive=True)
        invoices.append(ClientInvoice(
            tenant_id=tenant_id, id=new_id(), kind=ClientInvoiceKind.INVOICE.value,
            driver_id=row.driver_id, client_name=row.name, client_tax_id=row.vat_number,
            client_address=row.address, client_email=row.email, series=series,
            invoice_number=format_number(taken.prefix, number, taken.padding),
            period_start=period.first_day, period_end=period.first_day + timedelta(days=6),
            subtotal=amounts.subtotal, tax=amounts.tax, total=amounts.total,
            tax_rate_pct=rate, currency=row.currency,
            status=ClientInvoiceStatus.ISSUED.value, issued_on=today, due_on=today,
            created_by=actor.id, updated_by=actor.id))
    session.add_all(invoices)
    session.flush()
    return invoices
