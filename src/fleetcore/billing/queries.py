"""Read-only queries of plans, subscriptions, invoices and usage the console shows (the fleet's
billing page and the provider's billing pages): pages in their keyset order, lookups by id.

Reads only (no writes, no business rule), like the other domains' ``queries.py``; each page is
one statement, each lookup one statement for any number of ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleetcore.billing.models import (
    BillingPlan,
    BillingPlanStatus,
    SubscriptionStatus,
    TenantInvoice,
    TenantSubscription,
    TenantUsageMetric,
)
from fleetcore.billing.service import (
    invoices_query,
    plans_query,
    provider_invoices_query,
    provider_subscriptions_query,
    usage_query,
)
from fleetcore.core.pagination import PageParams, keyset_page


def plan(session: Session, plan_id: uuid.UUID) -> BillingPlan | None:
    """One plan version (plans are the provider's catalogue: every fleet may read them)."""
    return session.get(BillingPlan, plan_id)


def plans_by_id(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, BillingPlan]:
    """The plans a page of rows names, in one read."""
    if not ids:
        return {}
    return {p.id: p for p in session.scalars(
        select(BillingPlan).where(BillingPlan.id.in_(list(ids))))}


def plans_page(session: Session, params: PageParams, *, code: str | None,
               status: str | None) -> tuple[list[BillingPlan], str | None]:
    """Plan versions by code, version and id."""
    return keyset_page(session, plans_query(code=code, status=status),
                       [BillingPlan.code, BillingPlan.plan_version, BillingPlan.id], params)


def plan_versions(session: Session, code: str) -> list[BillingPlan]:
    """Every version of a plan, newest first."""
    return list(session.scalars(plans_query(code=code)
                                .order_by(BillingPlan.plan_version.desc())))


def active_plans(session: Session) -> list[BillingPlan]:
    """The plans that can be sold, by code (the choices of a select)."""
    return list(session.scalars(plans_query(status=BillingPlanStatus.ACTIVE.value)
                                .order_by(BillingPlan.code)))


def subscriber_counts(session: Session, plan_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many subscriptions (not cancelled) each plan version has, in one aggregate."""
    rows = session.execute(
        select(TenantSubscription.plan_id, func.count())
        .where(TenantSubscription.plan_id.in_(list(plan_ids)),
               TenantSubscription.status != SubscriptionStatus.CANCELLED.value)
        .group_by(TenantSubscription.plan_id)).all()
    return {plan_id: int(count) for plan_id, count in rows}


def subscriptions_page(session: Session, params: PageParams, *, status: str | None,
                       tenant_id: uuid.UUID | None) -> tuple[list[TenantSubscription], str | None]:
    """Every fleet's subscriptions (or one fleet's), newest first."""
    return keyset_page(
        session, provider_subscriptions_query(status=status, tenant_id=tenant_id),
        [TenantSubscription.created_at, TenantSubscription.id], params, descending=True)


def invoices_page(session: Session, params: PageParams, *, status: str | None,
                  tenant_id: uuid.UUID | None) -> tuple[list[TenantInvoice], str | None]:
    """Every fleet's invoices (or one fleet's), newest period first."""
    return keyset_page(
        session, provider_invoices_query(status=status, tenant_id=tenant_id),
        [TenantInvoice.period_start, TenantInvoice.id], params, descending=True)


def tenant_invoices_page(session: Session, tenant_id: uuid.UUID, params: PageParams
                         ) -> tuple[list[TenantInvoice], str | None]:
    """The fleet's own invoices, newest period first."""
    return keyset_page(session, invoices_query(tenant_id),
                       [TenantInvoice.period_start, TenantInvoice.id], params, descending=True)


def invoice(session: Session, invoice_id: uuid.UUID) -> TenantInvoice | None:
    """One invoice of any fleet (the provider's pages)."""
    return session.scalar(select(TenantInvoice).where(TenantInvoice.id == invoice_id))


def latest_usage(session: Session, tenant_id: uuid.UUID, *, limit: int
                 ) -> list[TenantUsageMetric]:
    """The fleet's latest usage values, newest period first, by metric."""
    return list(session.scalars(
        usage_query(tenant_id)
        .order_by(TenantUsageMetric.period_start.desc(), TenantUsageMetric.metric).limit(limit)))
