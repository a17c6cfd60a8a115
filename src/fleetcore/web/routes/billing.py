"""The fleet's Fleetcore subscription (``billing:read``): its plan and period, its invoices
(with Stripe's hosted page and PDF once sent) and its usage per billing period."""

from __future__ import annotations

import uuid

from fastapi.responses import HTMLResponse

from fleetcore.billing import queries as billing_queries
from fleetcore.billing import service as billing
from fleetcore.billing.permissions import BillingRead
from fleetcore.web.deps import Ctx
from fleetcore.web.routes.base import page, page_router

router = page_router()


@router.get("/billing")
def billing_page(c: Ctx, _: BillingRead, cursor: str | None = None) -> HTMLResponse:
    """The subscription, the invoices (newest first) and the latest usage."""
    sub = billing.current_subscription(c.session, c.tenant.id)
    plan = billing_queries.plan(c.session, sub.plan_id) if sub else None
    scheduled_id = (sub.extra or {}).get("scheduled_plan_id") if sub else None
    scheduled = (billing_queries.plan(c.session, uuid.UUID(scheduled_id)) if scheduled_id
                 else None)
    invoices, next_cursor = billing_queries.tenant_invoices_page(c.session, c.tenant.id,
                                                                 page(cursor))
    usage = billing_queries.latest_usage(c.session, c.tenant.id, limit=12)
    return c.render("billing/index.html", sub=sub, plan=plan, scheduled=scheduled,
                    invoices=invoices, usage=usage, next_cursor=next_cursor)


@router.get("/billing/invoices/{invoice_id}")
def invoice_page(c: Ctx, _: BillingRead, invoice_id: uuid.UUID) -> HTMLResponse:
    """One invoice and its lines (base, overage, proration, discount, tax)."""
    invoice = billing.get_invoice(c.session, c.tenant.id, invoice_id)
    lines = billing.invoice_lines(c.session, c.tenant.id, invoice_id)
    return c.render("billing/invoice.html", invoice=invoice, lines=lines)
