"""What goes to Stripe Billing: usage to meters, deduplicated by our own durable key, and
finalised invoices, keyed by our ids.

Each ``bil_tenant_usage_metrics`` row is one (tenant, metric, period) quantity (unique). Before
it is sent, the row gets its meter-event identifier, derived from the row's id
(``usage-<uuid>``); it is sent with that identifier and marked ``reported_at`` in the same
transaction. A row already reported is never sent again, whatever Stripe's dedup window: a run
repeated next month finds nothing to send. A run that dies after Stripe accepted the event but
before its commit sends it again with the same identifier, which Stripe's own dedup absorbs
within its window — the gap our key cannot close alone is the few seconds of one transaction.
A reported value is final: :func:`fleetcore.billing.service.compute_usage` no longer changes it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.errors import Conflict, NotFound
from fleetcore.core.money import Money

METER_EVENT_NAMES: dict[str, str] = {
    "active_vehicles": "fleetcore_active_vehicles",
    "active_drivers": "fleetcore_active_drivers",
    "trips": "fleetcore_trips",
    "distance_km": "fleetcore_distance_km",
}
"""The Stripe meter (its ``event_name``) of each metric."""


@dataclass(frozen=True, slots=True)
class MeterEvent:
    """One usage quantity as a Stripe meter event."""

    identifier: str
    event_name: str
    customer: str
    value: Decimal
    timestamp: datetime


class UsageReporter(Protocol):
    """Sends meter events (``fleetcore.integrations.stripe.billing`` implements it)."""

    def report(self, event: MeterEvent) -> None: ...


def meter_identifier(usage_id: uuid.UUID) -> str:
    """The meter-event identifier of a usage row: derived from our id, so stable."""
    return f"usage-{usage_id}"


def report_usage(session: Session, reporter: UsageReporter, tenant_id: uuid.UUID, *,
                 now: datetime) -> int:
    """Send the tenant's usage of ended periods not reported yet; how many were sent.

    The rows are locked (``SKIP LOCKED``: a concurrent run takes the others), stamped with
    their identifier, sent, and marked reported; a tenant without a Stripe customer sends
    nothing (its usage waits)."""
    customer = session.scalar(text(
        "SELECT stripe_customer_id FROM adm_tenants WHERE id = :t"), {"t": tenant_id})
    if not customer:
        return 0
    rows = session.execute(text("""
        UPDATE bil_tenant_usage_metrics u
           SET stripe_meter_event_id = 'usage-' || u.id::text
          FROM (SELECT tenant_id, id FROM bil_tenant_usage_metrics
                 WHERE tenant_id = :t AND reported_at IS NULL AND period_end <= :now
                 ORDER BY period_start, metric FOR UPDATE SKIP LOCKED) AS due
         WHERE u.tenant_id = due.tenant_id AND u.id = due.id
        RETURNING u.id, u.metric, u.value, u.period_end"""),
        {"t": tenant_id, "now": now}).all()
    for row in rows:
        reporter.report(MeterEvent(
            identifier=meter_identifier(row.id), event_name=METER_EVENT_NAMES[row.metric],
            customer=str(customer), value=Decimal(row.value),
            # Stripe files the event in the period it belongs to: its last second.
            timestamp=row.period_end.replace(microsecond=0) - timedelta(seconds=1)))
    if rows:
        session.execute(text(
            "UPDATE bil_tenant_usage_metrics SET reported_at = :now"
            " WHERE tenant_id = :t AND id = ANY(:ids)"),
            {"t": tenant_id, "now": now, "ids": [r.id for r in rows]})
    return len(rows)


# --- invoices to Stripe --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvoiceLinePush:
    line_id: uuid.UUID
    description: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class InvoicePush:
    """One finalised invoice of ours as Stripe needs it (amounts in minor units)."""

    tenant_id: uuid.UUID
    invoice_id: uuid.UUID
    customer: str
    currency: str
    number: str
    lines: tuple[InvoiceLinePush, ...]

    def key(self, suffix: str = "") -> str:
        """The idempotency key of one request about this invoice, derived from our id."""
        return f"invoice-{self.invoice_id}{suffix}"


@dataclass(frozen=True, slots=True)
class MirroredInvoice:
    stripe_invoice_id: str
    hosted_invoice_url: str | None
    invoice_pdf_url: str | None
    number: str | None = None
    """The number Stripe's twin carries: ours, since we set it (decision 0013)."""


STRIPE_NUMBER_KEY = "stripe_number"
"""``metadata`` key of the number Stripe shows on an invoice's twin when it is not ours (an
external reference only: our gapless number stays the invoice's number)."""


def stripe_number_reference(ours: str | None, theirs: object) -> dict[str, str]:
    """The metadata that records Stripe's number of an invoice as an external reference:
    empty when Stripe shows ours (or none)."""
    if isinstance(theirs, str) and theirs and theirs != ours:
        return {STRIPE_NUMBER_KEY: theirs}
    return {}


class InvoiceMirror(Protocol):
    """Creates and finalises the Stripe twin of an invoice (``integrations.stripe.billing``)."""

    def push(self, invoice: InvoicePush) -> MirroredInvoice: ...


def mirror_invoice(session: Session, mirror: InvoiceMirror, tenant_id: uuid.UUID,
                   invoice_id: uuid.UUID) -> MirroredInvoice | None:
    """Push one finalised invoice (ours: number, lines, total) to Stripe, once: every request
    carries an idempotency key derived from our invoice and line ids, so a rerun after a
    failure makes no second Stripe invoice or item. None when the fleet has no Stripe
    customer or the invoice is already mirrored."""
    row = session.execute(text("""
        SELECT i.status, i.invoice_number, i.currency, i.stripe_invoice_id,
               t.stripe_customer_id
          FROM bil_tenant_invoices i JOIN adm_tenants t ON t.id = i.tenant_id
         WHERE i.tenant_id = :t AND i.id = :i FOR UPDATE OF i"""),
        {"t": tenant_id, "i": invoice_id}).one_or_none()
    if row is None:
        raise NotFound("No such invoice.")
    if row.status == "draft" or row.invoice_number is None:
        raise Conflict("Only a finalised invoice is sent to Stripe.")
    if row.stripe_invoice_id or not row.stripe_customer_id:
        return None
    lines = session.execute(text(
        "SELECT id, description, amount FROM bil_tenant_invoice_lines"
        " WHERE tenant_id = :t AND invoice_id = :i ORDER BY created_at, id"),
        {"t": tenant_id, "i": invoice_id}).all()
    push = InvoicePush(
        tenant_id=tenant_id, invoice_id=invoice_id, customer=row.stripe_customer_id,
        currency=row.currency, number=row.invoice_number,
        lines=tuple(InvoiceLinePush(line.id, line.description,
                                    Money(line.amount, row.currency).minor_units())
                    for line in lines))
    mirrored = mirror.push(push)
    session.execute(text(
        "UPDATE bil_tenant_invoices SET stripe_invoice_id = :s, hosted_invoice_url = :h,"
        " invoice_pdf_url = :p, metadata = metadata || CAST(:ref AS jsonb)"
        " WHERE tenant_id = :t AND id = :i"),
        {"s": mirrored.stripe_invoice_id, "h": mirrored.hosted_invoice_url,
         "p": mirrored.invoice_pdf_url, "t": tenant_id, "i": invoice_id,
         "ref": json.dumps(stripe_number_reference(row.invoice_number, mirrored.number))})
    return mirrored
