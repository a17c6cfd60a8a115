"""``/v1/billing``: Fleetcore's plans (staff) and a fleet's own subscription, invoices and
usage."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from fleetcore.billing import service
from fleetcore.billing.models import TenantInvoice, TenantUsageMetric
from fleetcore.billing.permissions import BillingRead, BillingWrite, PlansRead, PlansWrite
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
from fleetcore.core.auth import TenantRequired, tenant_of
from fleetcore.core.deps import DbSession
from fleetcore.core.pagination import Page, Pagination, keyset_page
from fleetcore.core.versioning import RequiredIfMatch, check_if_match, etag

router = APIRouter(prefix="/v1/billing", tags=["billing"])


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def _outside_tenant(actor: PlansWrite) -> None:
    if actor.tenant_id is not None:
        raise TenantRequired("Plans are changed outside any tenant (no X-Fleetcore-Tenant).")


# --- plans (staff) -------------------------------------------------------------------------


@router.get("/plans", summary="List plan versions (staff)")
def list_plans(
    actor: PlansRead, session: DbSession, page: Pagination,
    code: Annotated[str | None, Query(max_length=63)] = None,
    plan_status: Annotated[str | None, Query(alias="status", max_length=20)] = None,
) -> Page[PlanOut]:
    plans, cursor = service.list_plans(session, page, code=code, status=plan_status)
    return Page(items=[PlanOut.of(p) for p in plans], next_cursor=cursor)


@router.post("/plans", status_code=status.HTTP_201_CREATED, summary="Create a plan (staff)")
def create_plan(actor: PlansWrite, session: DbSession, data: PlanCreate,
                response: Response) -> PlanOut:
    _outside_tenant(actor)
    plan = service.create_plan(session, actor, data)
    _with_etag(response, plan.version)
    response.headers["Location"] = f"/v1/billing/plans/{plan.id}"
    return PlanOut.of(plan)


@router.get("/plans/{plan_id}", summary="Get a plan version (staff)")
def get_plan(actor: PlansRead, session: DbSession, plan_id: uuid.UUID,
             response: Response) -> PlanOut:
    plan = service.get_plan(session, plan_id)
    _with_etag(response, plan.version)
    return PlanOut.of(plan)


@router.post("/plans/{plan_id}/versions", status_code=status.HTTP_201_CREATED,
             summary="Publish a new version of a plan: a price change (staff)")
def publish_version(actor: PlansWrite, session: DbSession, if_match: RequiredIfMatch,
                    plan_id: uuid.UUID, data: PlanVersionCreate, response: Response) -> PlanOut:
    _outside_tenant(actor)
    plan = service.publish_version(session, actor, plan_id, data, if_match=if_match)
    _with_etag(response, plan.version)
    response.headers["Location"] = f"/v1/billing/plans/{plan.id}"
    return PlanOut.of(plan)


@router.post("/plans/{plan_id}/migrate-subscribers",
             summary="Move every subscriber of older versions to this offered version (staff)")
def migrate_subscribers(actor: PlansWrite, session: DbSession, if_match: RequiredIfMatch,
                        plan_id: uuid.UUID) -> MigrationOut:
    _outside_tenant(actor)
    check_if_match(if_match, service.get_plan(session, plan_id).version)
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
def cancel(actor: BillingWrite, session: DbSession, if_match: RequiredIfMatch,
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
