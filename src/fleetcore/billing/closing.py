"""The hourly close of every due billing period, set-based (``bench/billing.py``).

:func:`fleetcore.billing.service.advance_subscription` brings *one* tenant up to date in about
19 statements; run for 10,000 fleets that is 190,000 round trips. :func:`close_due_periods`
does the same work for every due subscription at once, in a constant number of statements
per round (one round per period to catch up, normally one):

1. trials that ended become ``active`` (subscription, tenant, lifecycle event: one statement);
2. the due subscriptions are locked (``FOR UPDATE SKIP LOCKED``: a concurrent run, or the
   per-tenant path, keeps the ones it holds and this run leaves them alone), with whether
   their period is invoiced already;
3. their usage is measured in one statement (a hash join of the due periods with the trips,
   drivers and vehicles counted per fleet) and stored in one upsert (as ``compute_usage``: a
   value reported to Stripe is final);
4. the plans are read; each draft is built in Python by
   :func:`fleetcore.billing.pricing.build_invoice` (lines sum to the total);
5. numbers: one multi-row upsert of the tenants' yearly series takes, per tenant, as many
   consecutive numbers as it gets invoices (the series rows stay locked until commit:
   gapless, never given twice);
6. the invoices, open and numbered, in one ``INSERT … ON CONFLICT DO NOTHING RETURNING``,
   their lines in one ``INSERT``. Every invoice writer locks the subscription first, so a
   conflict here means broken data: the pass raises and rolls back (no number is lost);
7. the periods advance (scheduled downgrade or cancellation applied, consumed prorations
   cleared) in one ``UPDATE … FROM unnest(…)``.

The audit trail of these tables is per statement (revision 0022): one audit row per tenant
and statement.

Runs in the provider context of the system job (every tenant's rows) and inside the caller's
transaction.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fleetcore.admin.numbering import format_number, yearly_series
from fleetcore.billing.models import BillingPlan
from fleetcore.billing.pricing import METRICS, InvoiceDraft, add_month, build_invoice
from fleetcore.billing.service import INVOICE_SERIES, _prices
from fleetcore.core.orm import new_id

__all__ = ["ClosedPeriods", "close_due_periods"]


@dataclass(slots=True)
class ClosedPeriods:
    """What one pass did."""

    activated: int = 0
    """Trials that ended and became active."""
    periods: int = 0
    """Periods closed (each invoiced once, by this pass or an earlier one)."""
    invoices: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    """(tenant, invoice) of the invoices this pass made and numbered."""


_ACTIVATE_TRIALS = text("""
    WITH due AS (
        SELECT tenant_id, id FROM bil_tenant_subscriptions
         WHERE status = 'trialing' AND trial_ends_at <= :now
         ORDER BY tenant_id, id FOR UPDATE SKIP LOCKED),
    activated AS (
        UPDATE bil_tenant_subscriptions s
           SET status = 'active', current_period_start = s.trial_ends_at,
               -- One calendar month, the day clamped to the month's end, in the session's
               -- time zone: what pricing.add_month does to the datetimes psycopg returns.
               current_period_end = s.trial_ends_at + interval '1 month'
          FROM due WHERE s.tenant_id = due.tenant_id AND s.id = due.id
        RETURNING s.tenant_id, s.id, s.trial_ends_at),
    tenants AS (
        UPDATE adm_tenants t SET status = 'active'
          FROM activated a WHERE t.id = a.tenant_id AND t.status = 'trialing'
        RETURNING t.id)
    INSERT INTO adm_tenant_lifecycle_events
           (tenant_id, id, event_type, performed_by_type, effective_at, metadata)
    SELECT tenant_id, gen_random_uuid(), 'activated', 'system', trial_ends_at,
           jsonb_build_object('subscription_id', id::text)
      FROM activated
    RETURNING tenant_id""")

_DUE = text("""
    SELECT s.tenant_id, s.id, s.plan_id, s.current_period_start AS start,
           s.current_period_end AS "end", s.cancel_at_period_end, s.metadata AS extra,
           t.slug,
           EXISTS (SELECT FROM bil_tenant_invoices i
                    WHERE i.tenant_id = s.tenant_id AND i.subscription_id = s.id
                      AND i.period_start = s.current_period_start) AS invoiced
      FROM bil_tenant_subscriptions s JOIN adm_tenants t ON t.id = s.tenant_id
     WHERE s.status NOT IN ('cancelled', 'trialing') AND s.current_period_end <= :now
       AND s.current_period_start IS NOT NULL
     ORDER BY s.tenant_id, s.id
       FOR UPDATE OF s SKIP LOCKED""")

# The four metrics of every due subscription in one statement: a hash join of the due
# periods with the fleets' trips (restricted to the due fleets by their index), grouped per
# fleet; drivers and vehicles counted per fleet. Run with nested loops off: row-level
# security's filters make the planner expect a handful of trips, and a nested loop over
# 10,000 periods and every trip is what it would choose (``_without_nested_loops``).
_MEASURE = text("""
    SELECT d.t, 'trips' AS metric, count(*) AS n, round(coalesce(sum(r.distance_km), 0), 4)
      FROM unnest(CAST(:tenants AS uuid[]), CAST(:starts AS timestamptz[]),
                  CAST(:ends AS timestamptz[])) AS d(t, s, e)
      JOIN trp_trips r ON r.tenant_id = d.t
     WHERE r.tenant_id = ANY(CAST(:tenants AS uuid[])) AND r.deleted_at IS NULL
       AND r.status = 'completed'
       AND coalesce(r.ended_at, r.started_at) >= d.s AND coalesce(r.ended_at, r.started_at) < d.e
     GROUP BY d.t
    UNION ALL
    SELECT tenant_id, 'active_drivers', count(*), NULL FROM rid_drivers
     WHERE tenant_id = ANY(CAST(:tenants AS uuid[])) AND deleted_at IS NULL AND status = 'active'
     GROUP BY tenant_id
    UNION ALL
    SELECT tenant_id, 'active_vehicles', count(*), NULL FROM flt_vehicles
     WHERE tenant_id = ANY(CAST(:tenants AS uuid[])) AND deleted_at IS NULL AND status = 'active'
     GROUP BY tenant_id""")

# The same upsert as ``service.compute_usage``: a rerun updates a value not reported yet, a
# reported value is final (and is not returned).
_USAGE = text("""
    INSERT INTO bil_tenant_usage_metrics
           (tenant_id, id, metric, period_start, period_end, value, source, computed_at)
    SELECT t, gen_random_uuid(), m, s, e, v, :source, now()
      FROM unnest(CAST(:tenants AS uuid[]), CAST(:metrics AS text[]),
                  CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]),
                  CAST(:values AS numeric[])) AS u(t, m, s, e, v)
    ON CONFLICT (tenant_id, metric, period_start) DO UPDATE
       SET value = EXCLUDED.value, computed_at = EXCLUDED.computed_at
     WHERE bil_tenant_usage_metrics.reported_at IS NULL
       AND bil_tenant_usage_metrics.period_end = EXCLUDED.period_end
    RETURNING tenant_id, period_start, metric, value""")

_READ_USAGE = text("""
    SELECT u.tenant_id, u.period_start, u.metric, u.value
      FROM bil_tenant_usage_metrics u
      JOIN unnest(CAST(:tenants AS uuid[]), CAST(:starts AS timestamptz[])) AS d(t, s)
        ON u.tenant_id = d.t AND u.period_start = d.s""")

# The tenants in id order, so that two passes lock their series rows in the same order.
_TAKE_NUMBERS = text("""
    INSERT INTO adm_number_sequences (tenant_id, id, series, prefix, next_value, padding)
    SELECT t, gen_random_uuid(), :series, p, 1 + n, 6
      FROM unnest(CAST(:tenants AS uuid[]), CAST(:counts AS int[]), CAST(:prefixes AS text[]))
           AS c(t, n, p)
     ORDER BY t
    ON CONFLICT (tenant_id, series) DO UPDATE
       SET next_value = adm_number_sequences.next_value + EXCLUDED.next_value - 1
    RETURNING tenant_id, next_value, prefix, padding""")

# Written final (open, numbered): no draft then update of the same rows.
_INSERT_INVOICES = text("""
    INSERT INTO bil_tenant_invoices
           (tenant_id, id, subscription_id, period_start, period_end, status, invoice_number,
            subtotal, tax, total, amount_due, currency, due_on)
    SELECT t, id, s, ps, pe, 'open', number, subtotal, tax, total, greatest(total, 0), cur,
           CAST(pe AS date) + 14
      FROM unnest(CAST(:tenants AS uuid[]), CAST(:ids AS uuid[]), CAST(:subs AS uuid[]),
                  CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]),
                  CAST(:numbers AS text[]), CAST(:subtotals AS numeric[]),
                  CAST(:taxes AS numeric[]), CAST(:totals AS numeric[]),
                  CAST(:currencies AS text[]))
           AS i(t, id, s, ps, pe, number, subtotal, tax, total, cur)
    ON CONFLICT (tenant_id, subscription_id, period_start) DO NOTHING
    RETURNING id""")

_INSERT_LINES = text("""
    INSERT INTO bil_tenant_invoice_lines
           (tenant_id, id, invoice_id, line_type, description, metric, quantity, unit_price,
            amount, currency, period_start, period_end)
    SELECT t, gen_random_uuid(), i, lt, d, m, q, up, a, cur, ps, pe
      FROM unnest(CAST(:tenants AS uuid[]), CAST(:invoices AS uuid[]),
                  CAST(:types AS text[]), CAST(:descriptions AS text[]),
                  CAST(:metrics AS text[]), CAST(:quantities AS numeric[]),
                  CAST(:unit_prices AS numeric[]), CAST(:amounts AS numeric[]),
                  CAST(:currencies AS text[]), CAST(:starts AS timestamptz[]),
                  CAST(:ends AS timestamptz[]))
           AS l(t, i, lt, d, m, q, up, a, cur, ps, pe)""")

_ADVANCE = text("""
    UPDATE bil_tenant_subscriptions s
       SET status = coalesce(a.status, s.status),
           cancelled_at = coalesce(a.cancelled_at, s.cancelled_at),
           plan_id = a.plan_id, plan_version = a.plan_version,
           current_period_start = a.ps, current_period_end = a.pe, metadata = a.extra
      FROM unnest(CAST(:tenants AS uuid[]), CAST(:ids AS uuid[]), CAST(:statuses AS text[]),
                  CAST(:cancelled AS timestamptz[]), CAST(:plans AS uuid[]),
                  CAST(:versions AS int[]), CAST(:starts AS timestamptz[]),
                  CAST(:ends AS timestamptz[]), CAST(:extras AS jsonb[]))
           AS a(t, id, status, cancelled_at, plan_id, plan_version, ps, pe, extra)
     WHERE s.tenant_id = a.t AND s.id = a.id""")


@dataclass(frozen=True, slots=True)
class _Due:
    tenant_id: uuid.UUID
    id: uuid.UUID
    plan_id: uuid.UUID
    start: datetime
    end: datetime
    cancel_at_period_end: bool
    extra: dict[str, Any]
    slug: str
    invoiced: bool


def _draft(plan: BillingPlan, usage: dict[str, Decimal], extra: dict[str, Any], *,
           tax_rate: Decimal) -> InvoiceDraft:
    prorations = [(str(p["description"]), Decimal(str(p["amount"])))
                  for p in extra.get("pending_prorations", [])]
    return build_invoice(_prices(plan), usage, prorations=prorations,
                         discount_pct=Decimal(str(extra.get("discount_pct", "0"))),
                         tax_rate=tax_rate)


def close_due_periods(session: Session, *, now: datetime, tax_rate: Decimal = Decimal(0),
                      source: str = "job:usage") -> ClosedPeriods:
    """Close every billing period ended by ``now`` (trials first), in the session's
    transaction (provider context). Idempotent: a second pass finds nothing due."""
    result = ClosedPeriods()
    result.activated = len(session.execute(_ACTIVATE_TRIALS, {"now": now}).all())
    while True:
        due = [_Due(*row) for row in session.execute(_DUE, {"now": now})]
        if not due:
            return result
        _close_round(session, due, now=now, tax_rate=tax_rate, source=source, result=result)


def _close_round(session: Session, due: list[_Due], *, now: datetime, tax_rate: Decimal,
                 source: str, result: ClosedPeriods) -> None:
    usage = _store_usage(session, due, source=source)
    # A value already reported to Stripe is final: the upsert left it, and returned nothing.
    stale = [d for d in due if len(usage[(d.tenant_id, d.start)]) < len(METRICS)]
    if stale:
        for tenant, start, metric, value in session.execute(_READ_USAGE, {
                "tenants": [d.tenant_id for d in stale], "starts": [d.start for d in stale]}):
            usage[(tenant, start)][metric] = value
    plan_ids = {d.plan_id for d in due} | {uuid.UUID(d.extra["scheduled_plan_id"])
                                          for d in due if d.extra.get("scheduled_plan_id")}
    plans = {p.id: p for p in session.scalars(
        select(BillingPlan).where(BillingPlan.id.in_(plan_ids)))}
    # Periods invoiced already (by the per-tenant path) only advance.
    drafts = [(new_id(), d, _draft(plans[d.plan_id], usage[(d.tenant_id, d.start)], d.extra,
                                   tax_rate=tax_rate)) for d in due if not d.invoiced]
    if drafts:
        numbers = _take_numbers(session, [(i, d) for i, d, _ in drafts], now=now)
        made = list(session.scalars(_INSERT_INVOICES, {
            "tenants": [d.tenant_id for _, d, _ in drafts], "ids": [i for i, _, _ in drafts],
            "subs": [d.id for _, d, _ in drafts], "starts": [d.start for _, d, _ in drafts],
            "ends": [d.end for _, d, _ in drafts], "numbers": [numbers[i] for i, _, _ in drafts],
            "subtotals": [x.subtotal for _, _, x in drafts],
            "taxes": [x.tax for _, _, x in drafts], "totals": [x.total for _, _, x in drafts],
            "currencies": [x.currency for _, _, x in drafts]}))
        if len(made) != len(drafts):
            # Every invoice writer locks the subscription first, and this pass holds them all:
            # a conflict means the data broke that rule. Roll back (no number is lost).
            raise RuntimeError(f"{len(drafts) - len(made)} periods were invoiced under a "
                               "locked subscription; nothing of this pass is kept")
        _insert_lines(session, drafts)
        result.invoices += [(d.tenant_id, i) for i, d, _ in drafts]
    _advance(session, due, plans, consumed={d.id for _, d, _ in drafts})
    result.periods += len(due)


def _store_usage(session: Session, due: list[_Due], *,
                 source: str) -> dict[tuple[uuid.UUID, datetime], dict[str, Decimal]]:
    """Measure and store the due periods' usage; the values now stored, per period."""
    measured: dict[uuid.UUID, dict[str, Decimal]] = defaultdict(dict)
    with _without_nested_loops(session):
        for tenant, metric, count, km in session.execute(_MEASURE, {
                "tenants": [d.tenant_id for d in due], "starts": [d.start for d in due],
                "ends": [d.end for d in due]}):
            measured[tenant][metric] = Decimal(count)
            if km is not None:
                measured[tenant]["distance_km"] = km
    rows = [(d, metric, measured[d.tenant_id].get(metric, Decimal(0)))
            for d in due for metric in METRICS]
    usage: dict[tuple[uuid.UUID, datetime], dict[str, Decimal]] = defaultdict(dict)
    for tenant, start, metric, value in session.execute(_USAGE, {
            "tenants": [d.tenant_id for d, _, _ in rows], "metrics": [m for _, m, _ in rows],
            "starts": [d.start for d, _, _ in rows], "ends": [d.end for d, _, _ in rows],
            "values": [v for _, _, v in rows], "source": source}):
        usage[(tenant, start)][metric] = value
    return usage


@contextmanager
def _without_nested_loops(session: Session) -> Iterator[None]:
    """Nested-loop joins off for the statements inside (transaction-local), then back."""
    previous = session.scalar(text("SELECT current_setting('enable_nestloop')"
                                   " || left(set_config('enable_nestloop', 'off', true), 0)"))
    try:
        yield
    finally:
        session.execute(text("SELECT set_config('enable_nestloop', :previous, true)"),
                        {"previous": previous})


def _insert_lines(session: Session, made: list[tuple[uuid.UUID, _Due, InvoiceDraft]]) -> None:
    rows = [(d.tenant_id, invoice, line, draft.currency, d.start, d.end)
            for invoice, d, draft in made for line in draft.lines]
    session.execute(_INSERT_LINES, {
        "tenants": [r[0] for r in rows], "invoices": [r[1] for r in rows],
        "types": [r[2].line_type for r in rows], "descriptions": [r[2].description for r in rows],
        "metrics": [r[2].metric for r in rows], "quantities": [r[2].quantity for r in rows],
        "unit_prices": [r[2].unit_price for r in rows], "amounts": [r[2].amount for r in rows],
        "currencies": [r[3] for r in rows], "starts": [r[4] for r in rows],
        "ends": [r[5] for r in rows]})


def _take_numbers(session: Session, invoices: list[tuple[uuid.UUID, _Due]], *,
                  now: datetime) -> dict[uuid.UUID, str]:
    """The numbers of the new invoices: per tenant, as many consecutive numbers of its yearly
    series as it gets invoices (in period order), taken by one upsert whose rows stay locked
    until the transaction ends (gapless: a rollback gives them back)."""
    per_tenant: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    slugs: dict[uuid.UUID, str] = {}
    for invoice, d in sorted(invoices, key=lambda m: (m[1].tenant_id, m[1].start)):
        per_tenant[d.tenant_id].append(invoice)
        slugs[d.tenant_id] = d.slug
    order = sorted(per_tenant)
    numbers: dict[uuid.UUID, str] = {}
    for tenant, next_value, prefix, padding in session.execute(_TAKE_NUMBERS, {
            "series": yearly_series(INVOICE_SERIES, now.year), "tenants": order,
            "counts": [len(per_tenant[t]) for t in order],
            "prefixes": [f"FC-{(slugs[t] or 'x').upper()}-{now.year}-" for t in order]}):
        ids = per_tenant[tenant]
        first = int(next_value) - len(ids)
        numbers.update((invoice, format_number(prefix, first + n, padding))
                       for n, invoice in enumerate(ids))
    return numbers


def _advance(session: Session, due: list[_Due], plans: dict[uuid.UUID, BillingPlan], *,
             consumed: set[uuid.UUID]) -> None:
    """Each subscription past its period: cancelled if it was to end with it, else on its
    scheduled plan (if any) for the next period; consumed prorations cleared."""
    columns: dict[str, list[Any]] = defaultdict(list)
    for d in due:
        extra = dict(d.extra)
        scheduled = extra.pop("scheduled_plan_id", None)
        if d.id in consumed:
            extra.pop("pending_prorations", None)
        plan = plans[uuid.UUID(scheduled)] if scheduled else plans[d.plan_id]
        if d.cancel_at_period_end:
            status, cancelled, start, end = "cancelled", d.end, d.start, d.end
            plan = plans[d.plan_id]
        else:
            status, cancelled, start, end = None, None, d.end, add_month(d.end)
        columns["tenants"].append(d.tenant_id)
        columns["ids"].append(d.id)
        columns["statuses"].append(status)
        columns["cancelled"].append(cancelled)
        columns["plans"].append(plan.id)
        columns["versions"].append(plan.plan_version)
        columns["starts"].append(start)
        columns["ends"].append(end)
        columns["extras"].append(json.dumps(extra))
    session.execute(_ADVANCE, dict(columns))
