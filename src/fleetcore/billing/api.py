"""``/v1/billing``: Fleetcore's plans (staff) and a fleet's own subscription, invoices and
usage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, false
from sqlalchemy.orm import Session

from fleetcore.billing import service
from fleetcore.billing.models import (
    BillingPlan,
    BillingPlanStatus,
    TenantInvoice,
    TenantUsageMetric,
)
from fleetcore.billing.permissions import (
    BillingRead,
    BillingWrite,
    PlanCatalogueRead,
    PlansWrite,
)
from fleetcore.billing.schemas import (
    Cancellation,
    InvoiceOut,
    MigrationOut,
    PlanCreate,
    PlanOut,
    PlanVersionCreate,
    Subscribe,
    SubscriptionOut,
    UsageOut,
)
from fleetcore.core.auth import Actor, PermissionDenied, TenantRequired, tenant_of
from fleetcore.core.deps import CurrentActor, DbSession
from fleetcore.core.errors import NotFound
from fleetcore.core.export import Column, DerivedColumns, csv_response, csv_responses
from fleetcore.core.pagination import Page, Pagination, keyset_page
from fleetcore.core.resource import ResourceRoutes, pager
from fleetcore.core.schemas import MoneyOut
from fleetcore.core.versioning import RequiredIfMatch, check_if_match, etag

router = APIRouter(prefix="/v1/billing", tags=["billing"])


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def _outside_tenant(actor: PlansWrite) -> None:
    if actor.tenant_id is not None:
        raise TenantRequired("Plans are changed outside any tenant (no X-Fleetcore-Tenant).")


def _staff_writer(actor: Actor) -> None:
    """``plans:write``, outside any tenant (checked after the plan was found)."""
    if not actor.can("plans:write"):
        raise PermissionDenied("This needs the permission 'plans:write'.",
                               permission="plans:write")
    _outside_tenant(actor)


# --- plans (staff) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanFilter:
    code: str | None = None
    status: str | None = None


CodeQuery = Annotated[str | None, Query(max_length=63)]
StatusQuery = Annotated[str | None, Query(alias="status", max_length=20)]


def _plan_filter(code: CodeQuery = None, plan_status: StatusQuery = None) -> PlanFilter:
    return PlanFilter(code=code, status=plan_status)


PlanFilterQuery = Annotated[PlanFilter, Depends(_plan_filter)]


def _plans_for(actor: Actor, filters: PlanFilter) -> Select[Any]:
    """Staff (``plans:read``) see every version; a fleet sees the versions on offer (to choose
    one), never an archived one."""
    code, plan_status = filters.code, filters.status
    if actor.tenant_id is None and actor.can("plans:read"):
        return service.plans_query(code=code, status=plan_status)
    if plan_status not in (None, BillingPlanStatus.ACTIVE.value):
        return service.plans_query(code=code, status=BillingPlanStatus.ACTIVE.value).where(
            false())
    return service.plans_query(code=code, status=BillingPlanStatus.ACTIVE.value)


_plans = ResourceRoutes(router, "plans", "plan_id", "plan", [], PlanOut, PlanOut.of,
                        PlanCatalogueRead, PlansWrite)
_plans.listing("List plan versions (staff: all; a fleet: those on offer)", PlanFilterQuery,
               pager(_plans_for, BillingPlan.id))


def _flat(model: Any) -> SimpleNamespace:
    """An API model with each money field as ``<name>_amount`` and ``<name>_currency``, so an
    export shows what the list shows, one cell a value."""
    flat: dict[str, Any] = {}
    for name, value in model:
        if isinstance(value, MoneyOut):
            flat[f"{name}_amount"], flat[f"{name}_currency"] = value.amount, value.currency
        else:
            flat[name] = value
    return SimpleNamespace(**flat)


_PLAN_CSV: list[Column] = [DerivedColumns(
    ("id", "code", "plan_version", "status", "name", "monthly_fee_amount",
     "monthly_fee_currency", "trial_days", "version"), lambda r: _flat(PlanOut.of(r)))]


_plans.export("Export the plan versions as CSV (same filters)", PlanFilterQuery, _plans_for,
              _PLAN_CSV, "plans.csv", order_by=[BillingPlan.id])


def _plan(session: Session, actor: Actor, plan_id: uuid.UUID) -> BillingPlan:
    """A plan the actor may see (404 otherwise: an archived version is staff's business)."""
    plan = service.get_plan(session, plan_id)
    staff = actor.tenant_id is None and actor.can("plans:read")
    if not staff and plan.status != BillingPlanStatus.ACTIVE.value:
        raise NotFound("No such plan.")
    return plan


@router.post("/plans", status_code=status.HTTP_201_CREATED, summary="Create a plan (staff)")
def create_plan(actor: PlansWrite, session: DbSession, data: PlanCreate,
                response: Response) -> PlanOut:
    _outside_tenant(actor)
    plan = service.create_plan(session, actor, data)
    _with_etag(response, plan.version)
    response.headers["Location"] = f"/v1/billing/plans/{plan.id}"
    return PlanOut.of(plan)


@router.get("/plans/{plan_id}", summary="Get a plan version (staff: any; a fleet: on offer)")
def get_plan(actor: PlanCatalogueRead, session: DbSession, plan_id: uuid.UUID,
             response: Response) -> PlanOut:
    plan = _plan(session, actor, plan_id)
    _with_etag(response, plan.version)
    return PlanOut.of(plan)


@router.post("/plans/{plan_id}/versions", status_code=status.HTTP_201_CREATED,
             summary="Publish a new version of a plan: a price change (staff)")
def publish_version(actor: CurrentActor, session: DbSession, if_match: RequiredIfMatch,
                    plan_id: uuid.UUID, data: PlanVersionCreate, response: Response) -> PlanOut:
    _plan(session, actor, plan_id)  # an unknown plan is 404 for everyone, before the 403
    _staff_writer(actor)
    plan = service.publish_version(session, actor, plan_id, data, if_match=if_match)
    _with_etag(response, plan.version)
    response.headers["Location"] = f"/v1/billing/plans/{plan.id}"
    return PlanOut.of(plan)


@router.post("/plans/{plan_id}/migrate-subscribers",
             summary="Move every subscriber of older versions to this offered version (staff)")
def migrate_subscribers(actor: CurrentActor, session: DbSession, if_match: RequiredIfMatch,
                        plan_id: uuid.UUID) -> MigrationOut:
    plan = _plan(session, actor, plan_id)  # an unknown plan is 404 for everyone, first
    _staff_writer(actor)
    check_if_match(if_match, plan.version)
    return MigrationOut(plan_id=plan_id,
                        moved=service.migrate_subscribers(session, actor, plan_id))


# --- the fleet's subscription --------------------------------------------------------------


@router.get("/subscription", summary="The fleet's current subscription")
def get_subscription(actor: BillingRead, session: DbSession,
                     response: Response) -> SubscriptionOut:
    sub = service.get_subscription(session, tenant_of(actor))
    _with_etag(response, sub.version)
    return SubscriptionOut.of(sub)


@router.post("/subscription", status_code=status.HTTP_201_CREATED,
             summary="Subscribe the fleet to a plan (a trial first when the plan has one)")
def subscribe(actor: BillingWrite, session: DbSession, data: Subscribe,
              response: Response) -> SubscriptionOut:
    sub = service.subscribe(session, actor, tenant_of(actor), data.plan_code)
    _with_etag(response, sub.version)
    response.headers["Location"] = f"/v1/billing/subscriptions/{sub.id}"
    return SubscriptionOut.of(sub)


@router.get("/subscriptions/{subscription_id}", summary="One of the fleet's subscriptions")
def get_subscription_by_id(actor: BillingRead, session: DbSession, subscription_id: uuid.UUID,
                           response: Response) -> SubscriptionOut:
    sub = service.subscription_by_id(session, tenant_of(actor), subscription_id)
    _with_etag(response, sub.version)
    return SubscriptionOut.of(sub)


@router.post("/subscriptions/{subscription_id}/change-plan",
             summary="Change plan: an upgrade applies now (prorated), a downgrade at period end")
def change_plan(actor: BillingWrite, session: DbSession, if_match: RequiredIfMatch,
                subscription_id: uuid.UUID, data: Subscribe,
                response: Response) -> SubscriptionOut:
    service.subscription_by_id(session, tenant_of(actor), subscription_id, current=True)
    change = service.change_plan(session, actor, tenant_of(actor), data.plan_code,
                                 if_match=if_match)
    _with_etag(response, change.subscription.version)
    return SubscriptionOut.of(change.subscription)


@router.post("/subscriptions/{subscription_id}/cancel",
             summary="Cancel now or at the end of the period")
def cancel_subscription(actor: BillingWrite, session: DbSession, if_match: RequiredIfMatch,
           subscription_id: uuid.UUID, response: Response,
           data: Cancellation | None = None) -> SubscriptionOut:
    service.subscription_by_id(session, tenant_of(actor), subscription_id, current=True)
    sub = service.cancel(session, actor, tenant_of(actor),
                         at_period_end=(data or Cancellation()).at_period_end, if_match=if_match)
    _with_etag(response, sub.version)
    return SubscriptionOut.of(sub)


# --- invoices and usage --------------------------------------------------------------------


@router.get("/invoices", summary="The fleet's invoices from Fleetcore, newest first")
def list_invoices(actor: BillingRead, session: DbSession, page: Pagination) -> Page[InvoiceOut]:
    rows, cursor = keyset_page(session, service.invoices_query(tenant_of(actor)),
                               [TenantInvoice.id], page, descending=True)
    return Page(items=[InvoiceOut.of(i) for i in rows], next_cursor=cursor)


_INVOICE_CSV: list[Column] = [DerivedColumns(
    ("id", "invoice_number", "status", "period_start", "period_end", "subtotal_amount",
     "tax_amount", "total_amount", "amount_due_amount", "total_currency", "due_on",
     "hosted_invoice_url", "invoice_pdf_url"), lambda r: _flat(InvoiceOut.of(r)))]


@router.get("/invoices/export.csv", summary="Export the fleet's invoices as CSV",
            response_class=StreamingResponse, responses=csv_responses(_INVOICE_CSV))
def export_invoices(actor: BillingRead, session: DbSession) -> StreamingResponse:
    stmt = service.invoices_query(tenant_of(actor)).order_by(TenantInvoice.id.desc())
    return csv_response(session, stmt, _INVOICE_CSV, filename="fleetcore-invoices.csv")


@router.get("/invoices/{invoice_id}", summary="One invoice with its lines")
def get_invoice(actor: BillingRead, session: DbSession, invoice_id: uuid.UUID,
                response: Response) -> InvoiceOut:
    tenant = tenant_of(actor)
    invoice = service.get_invoice(session, tenant, invoice_id)
    _with_etag(response, invoice.version)
    return InvoiceOut.of(invoice, service.invoice_lines(session, tenant, invoice_id))


@router.get("/usage", summary="The fleet's usage per metric and billing period")
def list_usage(actor: BillingRead, session: DbSession, page: Pagination) -> Page[UsageOut]:
    rows, cursor = keyset_page(session, service.usage_query(tenant_of(actor)),
                               [TenantUsageMetric.id], page)
    return Page(items=[UsageOut.of(u) for u in rows], next_cursor=cursor)


_USAGE_CSV: list[Column] = [DerivedColumns(tuple(UsageOut.model_fields), UsageOut.of)]


@router.get("/usage/export.csv", summary="Export the fleet's usage as CSV",
            response_class=StreamingResponse, responses=csv_responses(_USAGE_CSV))
def export_usage(actor: BillingRead, session: DbSession) -> StreamingResponse:
    stmt = service.usage_query(tenant_of(actor)).order_by(TenantUsageMetric.id)
    return csv_response(session, stmt, _USAGE_CSV, filename="fleetcore-usage.csv")
