"""Fleetcore staff's billing pages (``/app/provider/...``, no fleet open): the plans and
their versions (publish a new version), every fleet's subscription, invoices (with lines and
Stripe's hosted page and PDF) and usage per billing period.

Staff read every fleet's rows in the provider context their console runs in; each list is one
page of rows plus one read of the fleets (and plans) they name, never a query per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import HTMLResponse, Response

from fleetcore.admin import queries as admin_queries
from fleetcore.admin.models import Tenant
from fleetcore.billing import queries as billing_queries
from fleetcore.billing import service as billing
from fleetcore.billing.models import (
    BillingPlan,
    BillingPlanStatus,
    SubscriptionStatus,
    TenantInvoiceStatus,
)
from fleetcore.billing.permissions import PlansRead, PlansWrite, ProviderBillingRead
from fleetcore.billing.pricing import METRICS
from fleetcore.billing.schemas import PlanVersionCreate
from fleetcore.core.errors import NotFound
from fleetcore.web.deps import Form, StaffCtx
from fleetcore.web.forms import (
    FormState,
    money_input,
    submit,
    text_values,
)
from fleetcore.web.i18n import gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import (
    day_value,
    enum_value,
    form_if_match,
    options,
    page,
    page_router,
)

router = page_router()

BASE = "/app/provider"


def _tenants(c: Console, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Tenant]:
    """The fleets a page of rows names, in one read."""
    return admin_queries.tenants_by_id(c.session, set(ids))


def _plans(c: Console, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, BillingPlan]:
    return billing_queries.plans_by_id(c.session, set(ids))


def _fleet(c: Console, slug: str | None) -> Tenant | None:
    """The fleet a ``fleet`` filter names (404 when there is none)."""
    slug = (slug or "").strip()
    if not slug:
        return None
    tenant = admin_queries.tenant_by_slug(c.session, slug)
    if tenant is None:
        raise NotFound(f"There is no fleet {slug!r}.",
                       errors=[{"field": "fleet", "message": gettext("no such fleet")}])
    return tenant


# --- plans ---------------------------------------------------------------------------------


@router.get("/provider/plans")
def plans(c: StaffCtx, _: PlansRead,
          status: Annotated[str | None, Query(max_length=20)] = None,
          code: Annotated[str | None, Query(max_length=63)] = None,
          cursor: Annotated[str | None, Query(max_length=500)] = None) -> HTMLResponse:
    """Every plan version: code, version, status, fee, trial, what it includes."""
    wanted = enum_value(BillingPlanStatus, status, "plan status")
    rows, next_cursor = billing_queries.plans_page(
        c.session, page(cursor), code=(code or "").strip() or None, status=wanted)
    return c.render("provider/plans.html", plans=rows, next_cursor=next_cursor,
                    statuses=options(BillingPlanStatus),
                    params={"status": wanted, "code": code or None})


def _plan_page(c: Console, plan: BillingPlan, state: FormState,
               status: int = 200) -> HTMLResponse:
    versions = billing_queries.plan_versions(c.session, plan.code)
    subscribers = billing_queries.subscriber_counts(c.session, [v.id for v in versions])
    return c.render("provider/plan.html", plan=plan, versions=versions,
                    subscribers=subscribers, state=state, status_code=status)


def _plan_values(plan: BillingPlan) -> dict[str, str]:
    def text(value: Any) -> str:
        if value is None:
            return ""
        return str(value.normalize()) if isinstance(value, Decimal) else str(value)

    return {"name": plan.name, "description": plan.description or "",
            "monthly_fee": text(plan.monthly_fee), "trial_days": str(plan.trial_days),
            **{f"included_{k}": text(getattr(plan, f"included_{k}"))
               for k in ("vehicles", "drivers", "trips", "km")},
            "overage_vehicles": text(plan.overage_vehicle_price),
            "overage_drivers": text(plan.overage_driver_price),
            "overage_trips": text(plan.overage_trip_price),
            "overage_km": text(plan.overage_km_price),
            "version": str(plan.version)}


@router.get("/provider/plans/{plan_id}")
def plan_page(c: StaffCtx, _: PlansRead, plan_id: uuid.UUID) -> HTMLResponse:
    """One plan version, every version of its code (with live subscribers), and the form
    that publishes the next version (from the latest)."""
    plan = billing.get_plan(c.session, plan_id)
    return _plan_page(c, plan, FormState(values=_plan_values(plan)))


VERSION_FIELDS = ("name", "description", "monthly_fee", "trial_days", "included_vehicles",
                  "included_drivers", "included_trips", "included_km", "overage_vehicles",
                  "overage_drivers", "overage_trips", "overage_km", "version")


@router.post("/provider/plans/{plan_id}/versions")
def publish_version(c: StaffCtx, _: PlansWrite, plan_id: uuid.UUID, form: Form) -> Response:
    """Publish the next version of the plan (a price change): it becomes the one offered,
    this one is archived and keeps billing its subscribers until they are migrated."""
    plan = billing.get_plan(c.session, plan_id)
    state = FormState(values=text_values(form, VERSION_FIELDS))
    v = state.values
    data: dict[str, Any] = {
        "name": v.get("name", ""), "description": v.get("description") or None,
        "monthly_fee": money_input(v.get("monthly_fee"), plan.currency),
        "trial_days": v.get("trial_days") or 0,
        "included": {k: v.get(f"included_{k}") or None
                     for k in ("vehicles", "drivers", "trips", "km")},
        "overage": {k: (v.get(f"overage_{k}") or "").replace(",", ".") or None
                    for k in ("vehicles", "drivers", "trips", "km")},
        "features": plan.features or {}}
    new = submit(c.session, state, PlanVersionCreate, data,
                 lambda body: billing.publish_version(
                     c.session, c.actor, plan_id, body,
                     if_match=form_if_match(v.get("version"), "plan")),
                 lambda s, code: _plan_page(c, plan, s, code))
    if isinstance(new, Response):
        return new
    return redirect(c.request, f"{BASE}/plans/{new.id}",
                    flash=gettext("Version %(plan_version)s of %(code)s is now offered.",
                                  plan_version=new.plan_version, code=new.code))


# --- subscriptions -------------------------------------------------------------------------


@router.get("/provider/subscriptions")
def subscriptions(c: StaffCtx, _: ProviderBillingRead,
                  status: Annotated[str | None, Query(max_length=20)] = None,
                  fleet: Annotated[str | None, Query(max_length=100)] = None,
                  cursor: Annotated[str | None, Query(max_length=500)] = None) -> HTMLResponse:
    """Every fleet's subscription: plan and version, status, period, a scheduled change,
    and the fleet's own state (past due since when, suspended)."""
    wanted = enum_value(SubscriptionStatus, status, "subscription status")
    tenant = _fleet(c, fleet)
    rows, next_cursor = billing_queries.subscriptions_page(
        c.session, page(cursor), status=wanted, tenant_id=tenant.id if tenant else None)
    return c.render("provider/subscriptions.html", subscriptions=rows,
                    tenants=_tenants(c, (s.tenant_id for s in rows)),
                    plans=_plans(c, (s.plan_id for s in rows)), next_cursor=next_cursor,
                    statuses=options(SubscriptionStatus),
                    params={"status": wanted, "fleet": fleet or None})


# --- invoices ------------------------------------------------------------------------------


@router.get("/provider/invoices")
def invoices(c: StaffCtx, _: ProviderBillingRead,
             status: Annotated[str | None, Query(max_length=20)] = None,
             fleet: Annotated[str | None, Query(max_length=100)] = None,
             cursor: Annotated[str | None, Query(max_length=500)] = None) -> HTMLResponse:
    """Every fleet's invoices, newest period first: number, fleet, period, status, total,
    amount due, due date, Stripe's hosted page and PDF."""
    wanted = enum_value(TenantInvoiceStatus, status, "invoice status")
    tenant = _fleet(c, fleet)
    rows, next_cursor = billing_queries.invoices_page(
        c.session, page(cursor), status=wanted, tenant_id=tenant.id if tenant else None)
    return c.render("provider/invoices.html", invoices=rows,
                    tenants=_tenants(c, (i.tenant_id for i in rows)), next_cursor=next_cursor,
                    statuses=options(TenantInvoiceStatus),
                    params={"status": wanted, "fleet": fleet or None})


@router.get("/provider/invoices/{invoice_id}")
def invoice(c: StaffCtx, _: ProviderBillingRead, invoice_id: uuid.UUID) -> HTMLResponse:
    """One fleet's invoice with its lines and totals."""
    found = billing_queries.invoice(c.session, invoice_id)
    if found is None:
        raise NotFound(gettext("No such invoice."))
    lines = billing.invoice_lines(c.session, found.tenant_id, invoice_id)
    return c.render("provider/invoice.html", invoice=found, lines=lines,
                    tenant=_tenants(c, [found.tenant_id]).get(found.tenant_id))


# --- usage ---------------------------------------------------------------------------------


@router.get("/provider/usage")
def usage(c: StaffCtx, _: ProviderBillingRead,
          fleet: Annotated[str | None, Query(max_length=100)] = None,
          period: Annotated[str | None, Query(max_length=10)] = None,
          cursor: Annotated[str | None, Query(max_length=500)] = None) -> HTMLResponse:
    """Usage per fleet and billing period (the four metrics side by side) and whether it was
    reported to Stripe; ``period`` is a day the period contains."""
    tenant = _fleet(c, fleet)
    day: date | None = day_value(period, "period")
    periods, next_cursor = billing.provider_usage_periods(
        c.session, page(cursor), tenant_id=tenant.id if tenant else None, day=day)
    return c.render("provider/usage.html", periods=periods, metrics=METRICS,
                    tenants=_tenants(c, (p.tenant_id for p in periods)),
                    next_cursor=next_cursor, params={"fleet": fleet or None, "period": period})

