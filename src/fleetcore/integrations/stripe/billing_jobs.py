"""Background jobs of SaaS billing (here, beside the Stripe client they use: domains never
import integrations).

- ``fleetcore.dispatch_billing`` (hourly, provider context, one transaction): the dunning step
  (fleets past due beyond the grace period, ``FLEETCORE_BILLING_GRACE_DAYS``, are suspended),
  then the set-based close of every due billing period
  (:func:`fleetcore.billing.closing.close_due_periods`: usage, invoices, numbers and the next
  periods of all due fleets in a few statements), then one ``fleetcore.bill_tenant`` per fleet
  that has something to send to Stripe.
- ``fleetcore.bill_tenant``: in the fleet's context, brings its subscription up to now (a
  period the hourly pass left because another run held it), reports its ended periods' usage
  to Stripe meters and pushes its numbered invoices that Stripe does not have yet.
  Idempotent: every step is keyed on (tenant, metric, period) or (subscription, period), every
  Stripe request on our ids.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.billing import service
from fleetcore.billing.closing import ClosedPeriods, close_due_periods
from fleetcore.billing.reporting import mirror_invoice, report_usage
from fleetcore.core.jobs import JobRun, defer_many_in_transaction, system_task, tenant_task
from fleetcore.integrations.stripe.billing import invoice_mirror, usage_reporter
from fleetcore.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def bill(session: Session, tenant_id: uuid.UUID, *, now: datetime,
         settings: Settings) -> tuple[int, int]:
    """One tenant's billing up to ``now`` in the session's transaction: (invoices made, meter
    events sent). Its numbered invoices not yet in Stripe are pushed, whichever run made
    them."""
    invoices = service.advance_subscription(session, tenant_id, now=now)
    for invoice in invoices:
        if invoice.status == "draft":
            service.finalise_invoice(session, tenant_id, invoice.id, now=now)
    reporter, mirror = usage_reporter(settings), invoice_mirror(settings)
    sent = report_usage(session, reporter, tenant_id, now=now) if reporter else 0
    if mirror is not None:
        for invoice_id in session.scalars(text(
                "SELECT id FROM bil_tenant_invoices WHERE tenant_id = :t"
                " AND invoice_number IS NOT NULL AND stripe_invoice_id IS NULL"
                " AND status <> 'draft' ORDER BY period_start, id"), {"t": tenant_id}):
            mirror_invoice(session, mirror, tenant_id, invoice_id)
    return len(invoices), sent


def close_billing_periods(session: Session, *, now: datetime,
                          settings: Settings) -> tuple[ClosedPeriods, list[uuid.UUID]]:
    """The hourly pass (provider context): suspend the fleets past due beyond the grace
    period, close every due period; what it closed and the fleets with something to send to
    Stripe (none while Stripe is not configured)."""
    suspended = service.suspend_overdue(
        session, now=now, grace=service.grace_period(settings.fleetcore_billing_grace_days))
    if suspended:
        logger.info("billing: %d fleets suspended after the grace period", suspended)
    closed = close_due_periods(session, now=now)
    if not settings.stripe_api_key:
        return closed, []
    return closed, list(session.scalars(text("""
        SELECT t.id FROM adm_tenants t
         WHERE t.stripe_customer_id IS NOT NULL AND t.deleted_at IS NULL
           AND (EXISTS (SELECT FROM bil_tenant_usage_metrics u WHERE u.tenant_id = t.id
                           AND u.reported_at IS NULL AND u.period_end <= :now)
                OR EXISTS (SELECT FROM bil_tenant_invoices i WHERE i.tenant_id = t.id
                              AND i.invoice_number IS NOT NULL AND i.stripe_invoice_id IS NULL
                              AND i.status <> 'draft'))
         ORDER BY t.id"""), {"now": now}))


@tenant_task(name="fleetcore.bill_tenant", queue_name="default")
def bill_tenant(run: JobRun) -> None:
    """One tenant's billing up to now, and what Stripe must receive of it."""
    assert run.tenant_id is not None
    made, sent = bill(run.session, run.tenant_id, now=datetime.now(UTC),
                      settings=get_settings())
    logger.info("billing: %d invoices, %d meter events", made, sent)


@system_task(name="fleetcore.dispatch_billing", cron="15 * * * *")
def dispatch_billing(run: JobRun, *, timestamp: int | None = None) -> None:
    """Every hour: suspend fleets past due beyond the grace period, close every due billing
    period in one set-based pass, then a job per fleet with something to send to Stripe."""
    closed, tenants = close_billing_periods(run.session, now=datetime.now(UTC),
                                            settings=get_settings())
    logger.info("billing: %d periods closed, %d invoices, %d trials ended",
                closed.periods, len(closed.invoices), closed.activated)
    defer_many_in_transaction(run.session, bill_tenant, [{"tenant_id": t} for t in tenants])
