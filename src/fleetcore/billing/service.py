"""Fleetcore's SaaS billing: versioned plans, subscriptions (trial, plan change with
proration, cancellation), usage per period, and invoices whose lines sum to the total.

Every function runs inside the caller's transaction (it may flush, never commits). Plans are a
shared catalogue written in the provider context only (Fleetcore staff); subscriptions, usage
and invoices are tenant rows under row-level security. Each subscription change writes the
tenant's lifecycle event in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Select, Uuid, cast, func, select, text, tuple_
from sqlalchemy.orm import Session

from fleetcore.admin.models import (
    LifecycleEventType,
    LifecyclePerformerType,
    Tenant,
    TenantLifecycleEvent,
)
from fleetcore.admin.numbering import take_numbers, yearly_series
from fleetcore.billing.models import (
    BillingPlan,
    BillingPlanStatus,
    SubscriptionStatus,
    TenantInvoice,
    TenantInvoiceLine,
    TenantInvoiceStatus,
    TenantSubscription,
    TenantUsageMetric,
)
from fleetcore.billing.pricing import (
    DRAFT_LINES_SQL,
    InvoiceDraft,
    LineDraft,
    add_month,
    proration,
)
from fleetcore.billing.schemas import PlanCreate, PlanVersionCreate
from fleetcore.core.auth import Actor, PermissionDenied
from fleetcore.core.db import ActorType
from fleetcore.core.errors import (
    UNIQUE_VIOLATION,
    Conflict,
    ConstraintProblem,
    NotFound,
    flush_checked,
)
from fleetcore.core.money import minor_unit_exponent
from fleetcore.core.orm import new_id
from fleetcore.core.pagination import (
    PageParams,
    decode_cursor,
    encode_cursor,
    equal_filters,
    keyset_page,
)
from fleetcore.core.versioning import check_if_match, refresh_version

INVOICE_SERIES = "fleetcore_invoice"
"""The numbering series of Fleetcore's invoices to a tenant (per tenant and year)."""


def _actor_id(actor: Actor | None) -> uuid.UUID | None:
    return actor.id if actor is not None else None


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


# --- plans ---------------------------------------------------------------------------------


def _require_provider(actor: Actor | None) -> None:
    if actor is not None and (actor.tenant_id is not None or not actor.can("plans:write")):
        raise PermissionDenied("Only Fleetcore staff, outside any tenant, change plans.",
                               permission="plans:write")


def _plan_columns(data: PlanVersionCreate) -> dict[str, Any]:
    return {
        "name": data.name, "description": data.description,
        "monthly_fee": data.monthly_fee.to_money().amount, "currency": data.monthly_fee.currency,
        "trial_days": data.trial_days, "features": data.features,
        **{f"included_{short}": getattr(data.included, short) for short in _SHORT.values()},
        **{f"overage_{short[:-1] if short.endswith('s') else short}_price":
           _price(getattr(data.overage, short)) for short in _SHORT.values()},
    }


_SHORT = {"active_vehicles": "vehicles", "active_drivers": "drivers", "trips": "trips",
          "distance_km": "km"}


def _price(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def create_plan(session: Session, actor: Actor | None, data: PlanCreate) -> BillingPlan:
    """Version 1 of a new plan, offered to new subscribers."""
    _require_provider(actor)
    plan = BillingPlan(code=data.code, plan_version=1, status=BillingPlanStatus.ACTIVE.value,
                       created_by=_actor_id(actor), updated_by=_actor_id(actor),
                       **_plan_columns(data))
    session.add(plan)
    flush_checked(session, {UNIQUE_VIOLATION: ConstraintProblem(
        "code", f"A plan with code {data.code!r} exists; publish a new version of it.")})
    session.refresh(plan, ["version", "created_at", "updated_at"])
    return plan


def plans_query(*, code: str | None = None, status: str | None = None) -> Select[BillingPlan]:
    stmt = select(BillingPlan)
    if code:
        stmt = stmt.where(BillingPlan.code == code)
    if status:
        stmt = stmt.where(BillingPlan.status == status)
    return stmt


def list_plans(session: Session, params: PageParams, *, code: str | None = None,
               status: str | None = None) -> tuple[list[BillingPlan], str | None]:
    return keyset_page(session, plans_query(code=code, status=status), [BillingPlan.id], params)


def get_plan(session: Session, plan_id: uuid.UUID) -> BillingPlan:
    plan = session.get(BillingPlan, plan_id)
    if plan is None:
        raise NotFound("No such plan.")
    return plan


def publish_version(session: Session, actor: Actor | None, plan_id: uuid.UUID,
                    data: PlanVersionCreate, *, if_match: str | None) -> BillingPlan:
    """A price change: the next version of ``plan_id``'s code becomes the one offered; the
    offered version before it is archived and keeps billing its subscribers until they are
    migrated (:func:`migrate_subscribers`)."""
    _require_provider(actor)
    current = session.scalar(select(BillingPlan).where(BillingPlan.id == plan_id)
                             .with_for_update())
    if current is None:
        raise NotFound("No such plan.")
    check_if_match(if_match, current.version)
    latest = session.scalar(select(BillingPlan).where(BillingPlan.code == current.code)
                            .order_by(BillingPlan.plan_version.desc()).limit(1)
                            .with_for_update())
    assert latest is not None
    if latest.id != current.id:
        raise Conflict(f"Version {latest.plan_version} of {current.code!r} is the latest: "
                       "publish from it.", latest_plan_id=str(latest.id))
    if data.monthly_fee.currency != current.currency:
        raise Conflict("A new version keeps the plan's currency.",
                       errors=[{"field": "monthly_fee.currency", "message": "must stay "
                                + current.currency}])
    current.status = BillingPlanStatus.ARCHIVED.value
    current.updated_by = _actor_id(actor)
    session.flush()
    plan = BillingPlan(code=current.code, plan_version=current.plan_version + 1,
                       status=BillingPlanStatus.ACTIVE.value, created_by=_actor_id(actor),
                       updated_by=_actor_id(actor), **_plan_columns(data))
    session.add(plan)
    session.flush()
    session.refresh(plan, ["version", "created_at", "updated_at"])
    return plan


def migrate_subscribers(session: Session, actor: Actor | None, plan_id: uuid.UUID) -> int:
    """Move every live subscription on an older version of ``plan_id``'s code to ``plan_id``
    (the offered version); one statement. Returns how many moved."""
    _require_provider(actor)
    plan = get_plan(session, plan_id)
    if plan.status != BillingPlanStatus.ACTIVE.value:
        raise Conflict("Subscribers are migrated to the offered version only.")
    moved = session.execute(text("""
        WITH moved AS (
            UPDATE bil_tenant_subscriptions s
               SET plan_id = :plan, plan_version = :version
              FROM bil_billing_plans p
             WHERE p.id = s.plan_id AND p.code = :code AND s.plan_id <> :plan
               AND s.status <> 'cancelled'
            RETURNING s.tenant_id, p.plan_version AS old_version)
        INSERT INTO adm_tenant_lifecycle_events
               (tenant_id, id, event_type, performed_by_type, performed_by_id, reason, metadata,
                created_by)
        SELECT tenant_id, gen_random_uuid(), 'plan_changed', :kind, :who,
               'Migrated to the current plan version',
               jsonb_build_object('code', CAST(:code AS text), 'from_version', old_version,
                                  'to_version', CAST(:version AS int)), :who
          FROM moved
        RETURNING tenant_id"""),
        {"plan": plan.id, "version": plan.plan_version, "code": plan.code,
         "kind": _performer(actor)[0], "who": _actor_id(actor)}).all()
    return len(moved)


# --- subscriptions -------------------------------------------------------------------------


def _performer(actor: Actor | None) -> tuple[str, uuid.UUID | None]:
    if actor is None or actor.type in (ActorType.SYSTEM, ActorType.INTEGRATION):
        return LifecyclePerformerType.SYSTEM.value, None
    if actor.type is ActorType.PROVIDER_EMPLOYEE:
        return LifecyclePerformerType.PROVIDER_EMPLOYEE.value, actor.id
    return LifecyclePerformerType.MEMBER.value, actor.id


def lifecycle(session: Session, tenant_id: uuid.UUID, event: LifecycleEventType,
              actor: Actor | None, *, reason: str | None = None,
              effective_at: datetime | None = None, **metadata: Any) -> None:
    """Write one tenant lifecycle event (append-only) in the session's transaction."""
    kind, performer = _performer(actor)
    row = TenantLifecycleEvent(tenant_id=tenant_id, event_type=event.value,
                               performed_by_type=kind, performed_by_id=performer, reason=reason,
                               extra=metadata, created_by=performer)
    if effective_at is not None:
        row.effective_at = effective_at
    session.add(row)


def current_subscription(session: Session, tenant_id: uuid.UUID, *,
                         lock: bool = False) -> TenantSubscription | None:
    """The tenant's subscription that is not cancelled (at most one, by a unique index)."""
    stmt = select(TenantSubscription).where(
        TenantSubscription.tenant_id == tenant_id,
        TenantSubscription.status != SubscriptionStatus.CANCELLED.value)
    return session.scalar(stmt.with_for_update() if lock else stmt)


def get_subscription(session: Session, tenant_id: uuid.UUID, *,
                     lock: bool = False) -> TenantSubscription:
    sub = current_subscription(session, tenant_id, lock=lock)
    if sub is None:
        raise NotFound("This fleet has no current subscription.")
    return sub


def subscription_by_id(session: Session, tenant_id: uuid.UUID, subscription_id: uuid.UUID, *,
                       current: bool = False) -> TenantSubscription:
    """One of the tenant's subscriptions (``current``: only the one not cancelled), or 404."""
    stmt = select(TenantSubscription).where(TenantSubscription.tenant_id == tenant_id,
                                            TenantSubscription.id == subscription_id)
    if current:
        stmt = stmt.where(TenantSubscription.status != SubscriptionStatus.CANCELLED.value)
    sub = session.scalar(stmt)
    if sub is None:
        raise NotFound("No such subscription." if not current
                       else "No such subscription, or it is cancelled.")
    return sub


def _offered(session: Session, code: str) -> BillingPlan:
    plan = session.scalar(select(BillingPlan).where(
        BillingPlan.code == code, BillingPlan.status == BillingPlanStatus.ACTIVE.value))
    if plan is None:
        raise NotFound(f"No plan {code!r} is offered.",
                       errors=[{"field": "plan_code", "message": "no such offered plan"}])
    return plan


def subscribe(session: Session, actor: Actor | None, tenant_id: uuid.UUID, plan_code: str, *,
              now: datetime | None = None) -> TenantSubscription:
    """Subscribe the tenant to the offered version of ``plan_code``: a trial first when the
    plan has trial days (``trialing``), else ``active`` with its first period from now."""
    at = _now(now)
    plan = _offered(session, plan_code)
    if current_subscription(session, tenant_id) is not None:
        raise Conflict("This fleet already has a subscription: change its plan instead.")
    sub = TenantSubscription(tenant_id=tenant_id, plan_id=plan.id, plan_version=plan.plan_version,
                             created_by=_actor_id(actor), updated_by=_actor_id(actor))
    if plan.trial_days > 0:
        sub.status = SubscriptionStatus.TRIALING.value
        sub.trial_starts_at = at
        sub.trial_ends_at = at + timedelta(days=plan.trial_days)
    else:
        sub.status = SubscriptionStatus.ACTIVE.value
        sub.current_period_start, sub.current_period_end = at, add_month(at)
    session.add(sub)
    flush_checked(session, {UNIQUE_VIOLATION: ConstraintProblem(
        "plan_code", "This fleet already has a subscription.")})
    event = (LifecycleEventType.TRIAL_STARTED if plan.trial_days > 0
             else LifecycleEventType.ACTIVATED)
    lifecycle(session, tenant_id, event, actor, plan=plan.code, plan_version=plan.plan_version,
              subscription_id=str(sub.id), trial_days=plan.trial_days)
    session.flush()
    session.refresh(sub, ["version", "created_at", "updated_at"])
    return sub


@dataclass(frozen=True, slots=True)
class PlanChange:
    """What a plan change did: ``immediate`` (upgrade, prorated now) or at period end."""

    subscription: TenantSubscription
    immediate: bool
    proration: Decimal


def change_plan(session: Session, actor: Actor | None, tenant_id: uuid.UUID, plan_code: str, *,
                if_match: str | None, now: datetime | None = None) -> PlanChange:
    """Move to the offered version of ``plan_code``. An upgrade (a higher monthly fee) applies
    now, its proration for the rest of the period carried into the next invoice; a downgrade
    applies at the period's end (scheduled on the subscription). During a trial the plan
    simply changes."""
    at = _now(now)
    sub = get_subscription(session, tenant_id, lock=True)
    check_if_match(if_match, sub.version)
    old = get_plan(session, sub.plan_id)
    new = _offered(session, plan_code)
    if new.id == old.id:
        raise Conflict("The subscription is already on this plan version.")
    if new.currency != old.currency:
        raise Conflict("A plan change keeps the currency.",
                       errors=[{"field": "plan_code", "message": "other currency"}])
    extra = dict(sub.extra or {})
    extra.pop("scheduled_plan_id", None)
    amount = Decimal(0)
    immediate = (sub.status == SubscriptionStatus.TRIALING.value
                 or new.monthly_fee >= old.monthly_fee)
    if immediate:
        if (sub.status != SubscriptionStatus.TRIALING.value
                and sub.current_period_start and sub.current_period_end):
            amount = proration(old.monthly_fee, new.monthly_fee, new.currency,
                               period_start=sub.current_period_start,
                               period_end=sub.current_period_end, at=min(
                                   max(at, sub.current_period_start), sub.current_period_end))
            if amount:
                pending = list(extra.get("pending_prorations", []))
                pending.append({"description": f"Proration {old.code} v{old.plan_version} → "
                                f"{new.code} v{new.plan_version}", "amount": str(amount)})
                extra["pending_prorations"] = pending
        sub.plan_id, sub.plan_version = new.id, new.plan_version
    else:
        extra["scheduled_plan_id"] = str(new.id)
    sub.extra = extra
    sub.updated_by = _actor_id(actor)
    lifecycle(session, tenant_id, LifecycleEventType.PLAN_CHANGED, actor,
              effective_at=None if immediate else sub.current_period_end,
              from_plan=old.code, from_version=old.plan_version, to_plan=new.code,
              to_version=new.plan_version, immediate=immediate, proration=str(amount))
    refresh_version(session, sub)
    return PlanChange(sub, immediate, amount)


def cancel(session: Session, actor: Actor | None, tenant_id: uuid.UUID, *, at_period_end: bool,
           if_match: str | None, now: datetime | None = None) -> TenantSubscription:
    """Cancel now (``cancelled``) or at the period's end (``cancel_at_period_end``, applied by
    :func:`advance_subscription`)."""
    at = _now(now)
    sub = get_subscription(session, tenant_id, lock=True)
    check_if_match(if_match, sub.version)
    if at_period_end and sub.status != SubscriptionStatus.TRIALING.value:
        if sub.cancel_at_period_end:
            raise Conflict("The subscription already ends with its period.")
        sub.cancel_at_period_end = True
        effective = sub.current_period_end
    else:
        sub.status = SubscriptionStatus.CANCELLED.value
        sub.cancelled_at = at
        effective = at
    sub.updated_by = _actor_id(actor)
    lifecycle(session, tenant_id, LifecycleEventType.CANCELLED, actor, effective_at=effective,
              subscription_id=str(sub.id), at_period_end=at_period_end)
    refresh_version(session, sub)
    return sub


def _activate_trialing_tenant(session: Session, tenant_id: uuid.UUID) -> None:
    """A trialing tenant becomes active when its subscription does (system context)."""
    session.execute(text("UPDATE adm_tenants SET status = 'active'"
                         " WHERE id = :t AND status = 'trialing'"), {"t": tenant_id})


def advance_subscription(session: Session, tenant_id: uuid.UUID, *,
                         now: datetime | None = None, tax_rate: Decimal = Decimal(0)
                         ) -> list[TenantInvoice]:
    """Bring the tenant's subscription up to ``now`` (system job, idempotent): an ended trial
    becomes ``active`` with its first period; each ended period is invoiced once (usage
    computed first), then a scheduled downgrade or cancellation applies and the next period
    starts. Returns the invoices of the periods it closed."""
    at = _now(now)
    sub = current_subscription(session, tenant_id, lock=True)
    invoices: list[TenantInvoice] = []
    if sub is None:
        return invoices
    if sub.status == SubscriptionStatus.TRIALING.value:
        assert sub.trial_ends_at is not None
        if sub.trial_ends_at > at:
            return invoices
        sub.status = SubscriptionStatus.ACTIVE.value
        sub.current_period_start = sub.trial_ends_at
        sub.current_period_end = add_month(sub.trial_ends_at)
        _activate_trialing_tenant(session, tenant_id)
        lifecycle(session, tenant_id, LifecycleEventType.ACTIVATED, None,
                  effective_at=sub.trial_ends_at, subscription_id=str(sub.id))
        session.flush()
    while (sub.status != SubscriptionStatus.CANCELLED.value and sub.current_period_end
           and sub.current_period_start and sub.current_period_end <= at):
        start, end = sub.current_period_start, sub.current_period_end
        compute_usage(session, tenant_id, start, end)
        invoices.append(invoice_period(session, sub, start, end, tax_rate=tax_rate))
        extra = dict(sub.extra or {})
        scheduled = extra.pop("scheduled_plan_id", None)
        if sub.cancel_at_period_end:
            sub.status = SubscriptionStatus.CANCELLED.value
            sub.cancelled_at = end
        else:
            if scheduled:
                plan = get_plan(session, uuid.UUID(scheduled))
                sub.plan_id, sub.plan_version = plan.id, plan.plan_version
            sub.current_period_start, sub.current_period_end = end, add_month(end)
        sub.extra = extra
        session.flush()
    return invoices


# --- usage ---------------------------------------------------------------------------------

_USAGE_SQL = text("""
    INSERT INTO bil_tenant_usage_metrics
           (tenant_id, id, metric, period_start, period_end, value, source, computed_at)
    SELECT CAST(:t AS uuid), gen_random_uuid(), m.metric, :start, :end, m.value, :source, now()
      FROM (
        SELECT 'active_vehicles' AS metric, count(*)::numeric AS value FROM flt_vehicles
         WHERE tenant_id = :t AND deleted_at IS NULL AND status = 'active'
        UNION ALL
        SELECT 'active_drivers', count(*)::numeric FROM rid_drivers
         WHERE tenant_id = :t AND deleted_at IS NULL AND status = 'active'
        UNION ALL
        SELECT 'trips', count(*)::numeric FROM trp_trips
         WHERE tenant_id = :t AND deleted_at IS NULL AND status = 'completed'
           AND coalesce(ended_at, started_at) >= :start AND coalesce(ended_at, started_at) < :end
        UNION ALL
        SELECT 'distance_km', round(coalesce(sum(distance_km), 0), 4) FROM trp_trips
         WHERE tenant_id = :t AND deleted_at IS NULL AND status = 'completed'
           AND coalesce(ended_at, started_at) >= :start AND coalesce(ended_at, started_at) < :end
      ) AS m
    ON CONFLICT (tenant_id, metric, period_start) DO UPDATE
       SET value = EXCLUDED.value, computed_at = EXCLUDED.computed_at
     WHERE bil_tenant_usage_metrics.reported_at IS NULL
       AND bil_tenant_usage_metrics.period_end = EXCLUDED.period_end
""")


def compute_usage(session: Session, tenant_id: uuid.UUID, period_start: datetime,
                  period_end: datetime, *, source: str = "job:usage") -> dict[str, Decimal]:
    """Compute the tenant's four usage metrics for the period from its own data, in one
    statement, keyed durably on (tenant, metric, period start): a rerun updates a value not
    yet reported and never adds a second row; a reported value is final. Returns the values
    now stored."""
    session.execute(_USAGE_SQL, {"t": tenant_id, "start": period_start, "end": period_end,
                                 "source": source})
    return usage_of(session, tenant_id, period_start)


def usage_of(session: Session, tenant_id: uuid.UUID, period_start: datetime
             ) -> dict[str, Decimal]:
    rows = session.execute(select(TenantUsageMetric.metric, TenantUsageMetric.value).where(
        TenantUsageMetric.tenant_id == tenant_id,
        TenantUsageMetric.period_start == period_start)).all()
    return {metric: Decimal(value) for metric, value in rows}


def usage_query(tenant_id: uuid.UUID) -> Select[TenantUsageMetric]:
    return select(TenantUsageMetric).where(TenantUsageMetric.tenant_id == tenant_id)


@dataclass(frozen=True, slots=True)
class UsagePeriod:
    """One fleet's usage for one billing period: the stored value of each metric, and
    whether every one of them was reported to Stripe."""

    tenant_id: uuid.UUID
    period_start: datetime
    period_end: datetime
    values: dict[str, Decimal]
    reported: bool


def provider_usage_periods(session: Session, params: PageParams, *,
                           tenant_id: uuid.UUID | None = None, day: date | None = None
                           ) -> tuple[list[UsagePeriod], str | None]:
    """Every fleet's usage per billing period, newest first (provider context): one grouped
    read a page. ``day``: only the periods that contain it (UTC)."""
    u = TenantUsageMetric
    stmt = (select(u.tenant_id, u.period_start, func.max(u.period_end),
                   func.array_agg(u.metric), func.array_agg(u.value),
                   func.bool_and(u.reported_at.is_not(None)))
            .group_by(u.tenant_id, u.period_start))
    if tenant_id is not None:
        stmt = stmt.where(u.tenant_id == tenant_id)
    if day is not None:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        stmt = stmt.where(u.period_start < start + timedelta(days=1), u.period_end > start)
    if params.cursor:
        at, tenant = decode_cursor(params.cursor, 2)
        stmt = stmt.where(tuple_(u.period_start, u.tenant_id) < tuple_(
            cast(at, DateTime(timezone=True)), cast(tenant, Uuid)))
    rows = session.execute(stmt.order_by(u.period_start.desc(), u.tenant_id.desc())
                           .limit(params.limit + 1)).all()
    periods = [UsagePeriod(r[0], r[1], r[2], dict(zip(r[3], r[4], strict=True)), bool(r[5]))
               for r in rows[:params.limit]]
    next_cursor = (encode_cursor([periods[-1].period_start, periods[-1].tenant_id])
                   if len(rows) > params.limit else None)
    return periods, next_cursor


def provider_subscriptions_query(*, status: str | None = None,
                                 tenant_id: uuid.UUID | None = None
                                 ) -> Select[TenantSubscription]:
    """Every fleet's subscriptions (provider context), filtered."""
    return equal_filters(select(TenantSubscription), {
        TenantSubscription.status: status, TenantSubscription.tenant_id: tenant_id})


def provider_invoices_query(*, status: str | None = None,
                            tenant_id: uuid.UUID | None = None) -> Select[TenantInvoice]:
    """Every fleet's invoices (provider context), filtered."""
    return equal_filters(select(TenantInvoice), {
        TenantInvoice.status: status, TenantInvoice.tenant_id: tenant_id})


# --- invoices ------------------------------------------------------------------------------


# One subscription's draft: its plan, pending prorations and discount, and the usage stored
# for the period (a metric not stored counts 0), drafted by pricing.DRAFT_LINES_SQL as the
# hourly close drafts.
_DRAFT_ONE = text("""
WITH drafts AS MATERIALIZED (
    SELECT CAST(:key AS uuid) AS invoice_id, CAST(:e AS int) AS e, p.monthly_fee,
           coalesce(max(u.value) FILTER (WHERE u.metric = 'active_vehicles'), 0) AS v,
           coalesce(max(u.value) FILTER (WHERE u.metric = 'active_drivers'), 0) AS r,
           coalesce(max(u.value) FILTER (WHERE u.metric = 'trips'), 0) AS t,
           coalesce(max(u.value) FILTER (WHERE u.metric = 'distance_km'), 0) AS k,
           p.included_vehicles, p.included_drivers, p.included_trips, p.included_km,
           p.overage_vehicle_price, p.overage_driver_price, p.overage_trip_price,
           p.overage_km_price, CAST(:extra AS jsonb) -> 'pending_prorations' AS prorations,
           CAST(:discount AS numeric) AS discount_pct
      FROM bil_billing_plans p
      LEFT JOIN bil_tenant_usage_metrics u
        ON u.tenant_id = :tenant AND u.period_start = :start
     WHERE p.id = :plan
     GROUP BY p.id),
""" + DRAFT_LINES_SQL + """
SELECT 'line' AS kind, n, line_type, description, metric, quantity, unit_price, amount
  FROM lines
UNION ALL
SELECT 'totals', NULL, NULL, NULL, NULL, NULL, subtotal, tax FROM taxes
 ORDER BY kind, n""")


def draft_for(session: Session, sub: TenantSubscription, period_start: datetime, *,
              tax_rate: Decimal = Decimal(0)) -> InvoiceDraft:
    """The invoice the subscription's plan, pending prorations and stored usage make, drafted
    in the database as the hourly close drafts (``pricing.DRAFT_LINES_SQL``)."""
    plan = get_plan(session, sub.plan_id)
    extra = sub.extra or {}
    discount = Decimal(str(extra.get("discount_pct", "0")))
    if not Decimal(0) <= discount <= Decimal(100):
        raise ValueError("discount_pct must be within 0..100")
    if tax_rate < 0:
        raise ValueError("tax_rate must not be negative")
    *lines, totals = session.execute(_DRAFT_ONE, {
        "key": new_id(), "e": minor_unit_exponent(plan.currency), "extra": json.dumps(extra),
        "discount": discount, "tenant": sub.tenant_id, "start": period_start,
        "plan": plan.id, "tax_rate": tax_rate}).all()
    subtotal, tax = totals[6], totals[7]
    return InvoiceDraft(
        currency=plan.currency,
        lines=tuple(LineDraft(r.line_type, r.description, r.amount, metric=r.metric,
                              quantity=r.quantity, unit_price=r.unit_price) for r in lines),
        subtotal=subtotal, tax=tax, total=subtotal + tax)


def invoice_period(session: Session, sub: TenantSubscription, period_start: datetime,
                   period_end: datetime, *, tax_rate: Decimal = Decimal(0)) -> TenantInvoice:
    """The subscription's invoice for the period, made once: concurrent runs meet on the
    unique (tenant, subscription, period start) key — the loser waits for the winner's
    transaction and then reads its invoice. Lines are written with it; their sum is the
    total. The pending prorations it consumed are cleared."""
    draft = draft_for(session, sub, period_start, tax_rate=tax_rate)
    invoice_id = session.execute(text("""
        INSERT INTO bil_tenant_invoices
               (tenant_id, id, subscription_id, period_start, period_end, status, subtotal, tax,
                total, amount_due, currency, due_on)
        VALUES (:t, :id, :s, :start, :end, 'draft', :subtotal, :tax, :total, :due, :cur,
                CAST(:end AS date) + 14)
        ON CONFLICT (tenant_id, subscription_id, period_start) DO NOTHING
        RETURNING id"""),
        {"t": sub.tenant_id, "id": new_id(), "s": sub.id, "start": period_start,
         "end": period_end, "subtotal": draft.subtotal, "tax": draft.tax, "total": draft.total,
         "due": max(draft.total, Decimal(0)), "cur": draft.currency}).scalar_one_or_none()
    if invoice_id is not None:
        session.add_all(TenantInvoiceLine(
            tenant_id=sub.tenant_id, invoice_id=invoice_id, line_type=line.line_type,
            description=line.description, metric=line.metric, quantity=line.quantity,
            unit_price=line.unit_price, amount=line.amount, currency=draft.currency,
            period_start=period_start, period_end=period_end) for line in draft.lines)
        extra = dict(sub.extra or {})
        extra.pop("pending_prorations", None)
        sub.extra = extra
        session.flush()
    invoice = session.scalar(select(TenantInvoice).where(
        TenantInvoice.tenant_id == sub.tenant_id, TenantInvoice.subscription_id == sub.id,
        TenantInvoice.period_start == period_start).execution_options(populate_existing=True))
    assert invoice is not None
    return invoice


def finalise_invoice(session: Session, tenant_id: uuid.UUID, invoice_id: uuid.UUID, *,
                     if_match: str | None = None, now: datetime | None = None) -> TenantInvoice:
    """Draft → open with the next number of the tenant's yearly Fleetcore invoice series
    (gapless: taken in this transaction); the total is re-derived from the lines first."""
    at = _now(now)
    invoice = get_invoice(session, tenant_id, invoice_id, lock=True)
    check_if_match(if_match, invoice.version)
    if invoice.status != TenantInvoiceStatus.DRAFT.value:
        raise Conflict(f"A {invoice.status} invoice is already final.")
    total = session.scalar(text(
        "SELECT coalesce(sum(amount), 0) FROM bil_tenant_invoice_lines"
        " WHERE tenant_id = :t AND invoice_id = :i"), {"t": tenant_id, "i": invoice_id})
    if Decimal(total) != invoice.total:
        raise Conflict("The invoice's lines no longer sum to its total.")
    slug = session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id)) or "x"
    taken = take_numbers(session, tenant_id, yearly_series(INVOICE_SERIES, at.year),
                         prefix=f"FC-{slug.upper()}-{at.year}-")
    invoice.invoice_number = taken.formatted()[0]
    invoice.status = TenantInvoiceStatus.OPEN.value
    invoice.amount_due = max(invoice.total - invoice.amount_paid, Decimal(0))
    refresh_version(session, invoice)
    return invoice


def get_invoice(session: Session, tenant_id: uuid.UUID, invoice_id: uuid.UUID, *,
                lock: bool = False) -> TenantInvoice:
    stmt = select(TenantInvoice).where(TenantInvoice.tenant_id == tenant_id,
                                       TenantInvoice.id == invoice_id)
    invoice = session.scalar(stmt.with_for_update() if lock else stmt)
    if invoice is None:
        raise NotFound("No such invoice.")
    return invoice


def invoice_lines(session: Session, tenant_id: uuid.UUID, invoice_id: uuid.UUID
                  ) -> list[TenantInvoiceLine]:
    return list(session.scalars(select(TenantInvoiceLine).where(
        TenantInvoiceLine.tenant_id == tenant_id, TenantInvoiceLine.invoice_id == invoice_id)
        .order_by(TenantInvoiceLine.created_at, TenantInvoiceLine.id)))


def invoices_query(tenant_id: uuid.UUID) -> Select[TenantInvoice]:
    return select(TenantInvoice).where(TenantInvoice.tenant_id == tenant_id)



# --- dunning -------------------------------------------------------------------------------

def grace_period(days: int) -> timedelta:
    """How long a fleet stays ``past_due`` (fully usable) before it is suspended (read-only),
    from the deployment's ``FLEETCORE_BILLING_GRACE_DAYS``."""
    return timedelta(days=days)


def mark_past_due(session: Session, tenant_id: uuid.UUID, *, at: datetime,
                  reason: str, grace: timedelta) -> bool:
    """A payment failed: the subscription and the tenant become ``past_due`` (once; a tenant
    already past due or suspended keeps its state and its grace clock). The event says until
    when (``grace``: the deployment's grace period). True when it moved."""
    sub = current_subscription(session, tenant_id, lock=True)
    tenant = session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None or tenant.status not in ("trialing", "active"):
        return False
    old = tenant.status
    tenant.status = "past_due"
    if sub is not None and sub.status in ("trialing", "active"):
        sub.status = SubscriptionStatus.PAST_DUE.value
        sub.extra = {**(sub.extra or {}), "past_due_since": at.isoformat()}
    tenant.extra = {**(tenant.extra or {}), "past_due_since": at.isoformat()}
    lifecycle(session, tenant_id, LifecycleEventType.PAST_DUE, None, reason=reason,
              effective_at=at, **{"from": old, "to": "past_due",
                                  "grace_until": (at + grace).isoformat()})
    session.flush()
    return True


def suspend_overdue(session: Session, *, now: datetime, grace: timedelta) -> int:
    """Suspend (read-only) every tenant past due for longer than ``grace``, with its lifecycle
    event, in one statement (system context). Returns how many."""
    rows = session.execute(text("""
        WITH due AS (
            UPDATE adm_tenants SET status = 'suspended'
             WHERE status = 'past_due' AND deleted_at IS NULL
               AND CAST(metadata ->> 'past_due_since' AS timestamptz) <= :cutoff
            RETURNING id, metadata ->> 'past_due_since' AS since)
        INSERT INTO adm_tenant_lifecycle_events
               (tenant_id, id, event_type, performed_by_type, reason, effective_at, metadata)
        SELECT id, gen_random_uuid(), 'suspended', 'system',
               'Payment overdue beyond the grace period', :now,
               jsonb_build_object('from', 'past_due', 'to', 'suspended', 'past_due_since', since)
          FROM due
        RETURNING tenant_id"""), {"cutoff": now - grace, "now": now}).all()
    return len(rows)


def reactivate_after_payment(session: Session, tenant_id: uuid.UUID, *, at: datetime) -> bool:
    """A payment arrived: a past-due or suspended tenant (and its subscription) is active
    again, with a ``reactivated`` event, unless another failed invoice is still unpaid."""
    still_failed = session.scalar(text(
        "SELECT count(*) FROM bil_tenant_invoices WHERE tenant_id = :t AND status = 'open'"
        " AND metadata ->> 'payment_failed' = 'true'"), {"t": tenant_id})
    tenant = session.get(Tenant, tenant_id, with_for_update=True)
    # Only a fleet that dunning moved: a suspension by staff (abuse, request) is not lifted
    # by a payment.
    if (tenant is None or tenant.status not in ("past_due", "suspended") or still_failed
            or "past_due_since" not in (tenant.extra or {})):
        return False
    old = tenant.status
    tenant.status = "active"
    tenant.extra = {k: v for k, v in (tenant.extra or {}).items() if k != "past_due_since"}
    sub = current_subscription(session, tenant_id, lock=True)
    if sub is not None and sub.status == SubscriptionStatus.PAST_DUE.value:
        sub.status = SubscriptionStatus.ACTIVE.value
        sub.extra = {k: v for k, v in (sub.extra or {}).items() if k != "past_due_since"}
    lifecycle(session, tenant_id, LifecycleEventType.REACTIVATED, None,
              reason="Payment received", effective_at=at, **{"from": old, "to": "active"})
    session.flush()
    return True
