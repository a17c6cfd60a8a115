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
from datetime import UTC, datetime

from sqlalchemy import text

from fleetcore.billing import service
from fleetcore.billing.reporting import mirror_invoice, report_usage
from fleetcore.core.jobs import JobRun, defer_many_in_transaction, system_task, tenant_task
from fleetcore.integrations.stripe.billing import invoice_mirror, usage_reporter
from fleetcore.settings import get_settings

logger = logging.getLogger(__name__)


@tenant_task(name="fleetcore.bill_tenant", queue_name="default")
def bill_tenant(run: JobRun) -> None:
    """One tenant's billing up to now."""
    assert run.tenant_id is not None
    now = datetime.now(UTC)
    invoices = service.advance_subscription(run.session, run.tenant_id, now=now)
    for invoice in invoices:
        if invoice.status == "draft":
            service.finalise_invoice(run.session, run.tenant_id, invoice.id, now=now)
    settings = get_settings()
    reporter, mirror = usage_reporter(settings), invoice_mirror(settings)
    sent = report_usage(run.session, reporter, run.tenant_id, now=now) if reporter else 0
    if mirror is not None:
        for invoice in invoices:
            mirror_invoice(run.session, mirror, run.tenant_id, invoice.id)
    logger.info("billing: %d invoices, %d meter events", len(invoices), sent)


@system_task(name="fleetcore.dispatch_billing", cron="15 * * * *")
def dispatch_billing(run: JobRun, *, timestamp: int | None = None) -> None:
    """Every hour: suspend tenants past due beyond the grace period, then a billing job per
    tenant with a live subscription."""
    suspended = service.suspend_overdue(run.session, now=datetime.now(UTC))
    tenants = list(run.session.scalars(text(
        "SELECT DISTINCT tenant_id FROM bil_tenant_subscriptions WHERE status <> 'cancelled'")))
    defer_many_in_transaction(run.session, bill_tenant, [{"tenant_id": t} for t in tenants])
    logger.info("billing: %d tenants, %d suspended", len(tenants), suspended)
