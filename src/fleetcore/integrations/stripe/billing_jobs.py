"""Background jobs of SaaS billing (here, beside the Stripe client they use: domains never
import integrations).

- ``fleetcore.dispatch_billing`` (hourly): one ``fleetcore.bill_tenant`` per tenant with a
  live subscription, and the dunning step (past-due tenants beyond the grace period are
  suspended).
- ``fleetcore.bill_tenant``: brings the tenant's subscription up to now (trial end, each ended
  period's usage and invoice, scheduled changes), finalises the new invoices (our numbers),
  reports the ended periods' usage to Stripe meters and pushes the new invoices to Stripe.
  Idempotent: every step is keyed on (tenant, metric, period) or
  (subscription, period).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.billing import service
from fleetcore.billing.reporting import mirror_invoice, report_usage
from fleetcore.core.jobs import JobRun, defer_many_in_transaction, system_task, tenant_task
from fleetcore.integrations.stripe.billing import invoice_mirror, usage_reporter
from fleetcore.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def bill(session: Session, tenant_id: uuid.UUID, *, now: datetime,
         settings: Settings) -> tuple[int, int]:
    """One tenant's billing up to ``now`` in the session's transaction: (invoices made, meter
    events sent)."""
    invoices = service.advance_subscription(session, tenant_id, now=now)
    for invoice in invoices:
        if invoice.status == "draft":
            service.finalise_invoice(session, tenant_id, invoice.id, now=now)
    reporter, mirror = usage_reporter(settings), invoice_mirror(settings)
    sent = report_usage(session, reporter, tenant_id, now=now) if reporter else 0
    if mirror is not None:
        for invoice in invoices:
            mirror_invoice(session, mirror, tenant_id, invoice.id)
    return len(invoices), sent


def tenants_to_bill(session: Session, *, now: datetime) -> list[uuid.UUID]:
    """Suspend the fleets past due beyond the grace period; the fleets with a live
    subscription (provider context)."""
    suspended = service.suspend_overdue(session, now=now)
    if suspended:
        logger.info("billing: %d fleets suspended after the grace period", suspended)
    return list(session.scalars(text(
        "SELECT DISTINCT tenant_id FROM bil_tenant_subscriptions WHERE status <> 'cancelled'")))


@tenant_task(name="fleetcore.bill_tenant", queue_name="default")
def bill_tenant(run: JobRun) -> None:
    """One tenant's billing up to now."""
    assert run.tenant_id is not None
    made, sent = bill(run.session, run.tenant_id, now=datetime.now(UTC),
                      settings=get_settings())
    logger.info("billing: %d invoices, %d meter events", made, sent)


@system_task(name="fleetcore.dispatch_billing", cron="15 * * * *")
def dispatch_billing(run: JobRun, *, timestamp: int | None = None) -> None:
    """Every hour: suspend tenants past due beyond the grace period, then a billing job per
    tenant with a live subscription."""
    tenants = tenants_to_bill(run.session, now=datetime.now(UTC))
    defer_many_in_transaction(run.session, bill_tenant, [{"tenant_id": t} for t in tenants])
