"""The hourly close of every due billing period, set-based (``bench/billing.py``).

:func:`fleetcore.billing.service.advance_subscription` brings *one* tenant up to date in about
19 statements; run for 10,000 fleets that is 190,000 round trips. :func:`close_due_periods`
does the same work for every due subscription at once: trials that ended become ``active``
(subscription, tenant, lifecycle event: one statement), then one statement per round (one
round per period to catch up, normally one) closes every due period — usage measured and
stored, invoices drafted, numbered and written with their lines, the next periods started —
computed in SQL from the rows themselves, with nothing going through Python per fleet
(decision 0017; the steps are the CTEs of ``_CLOSE_ROUND``):

1. the due subscriptions are locked (``FOR UPDATE SKIP LOCKED``: a concurrent run, or the
   per-tenant path, keeps the ones it holds and this run leaves them alone), with whether
   their period is invoiced already;
2. their usage is measured (the due periods hashed against the fleets' trips, drivers and
   vehicles) and stored by an upsert (as ``compute_usage``: a value reported to Stripe is
   final);
3. each invoice is drafted by :data:`fleetcore.billing.pricing.DRAFT_LINES_SQL`, as the
   per-tenant path drafts (``money.md``: numeric, each amount rounded to the minor unit when
   computed, lines sum to the total);
4. numbers: one multi-row upsert of the tenants' yearly series takes, per tenant, as many
   consecutive numbers as it gets invoices (the series rows stay locked until commit:
   gapless, never given twice);
5. the invoices, open and numbered (``ON CONFLICT DO NOTHING``; every invoice writer locks
   the subscription first, so a conflict here means broken data: the pass raises and rolls
   back, no number is lost), and their lines;
6. the periods advance (scheduled downgrade or cancellation applied, consumed prorations
   cleared).

The audit trail: one ``billing_close`` row per fleet and round, written by the round itself,
counting what it wrote in each table (revision 0029; the tables' statement triggers, revision
0022, see that row as theirs and write nothing more).

Runs in the provider context of the system job (every tenant's rows) and inside the caller's
transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.admin.numbering import yearly_series
from fleetcore.billing.pricing import DRAFT_LINES_SQL
from fleetcore.billing.service import INVOICE_SERIES
from fleetcore.core.money import minor_unit_exponent
from fleetcore.core.orm import uuid7_prefix, uuid7_series_sql

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

# One round, one statement: every due subscription's period closed. Each step is a CTE that
# reads the ones before it (a data-modifying CTE's RETURNING is how a later one sees what it
# wrote: they all run on the statement's snapshot).
#
# * ``due``: the due subscriptions, locked (``FOR UPDATE SKIP LOCKED``), with whether their
#   period is invoiced already (by the per-tenant path: then it only advances);
# * ``trips``, ``drivers``, ``vehicles``, ``measured``: their usage, from the fleets' own rows
#   (each read restricted to the due fleets by its index, ``= ANY(ARRAY(…))``);
# * ``stored``: the upsert of ``service.compute_usage`` — a value not reported yet is updated,
#   a reported one is final (not returned, and read as it was: ``usage``);
# * ``drafts``, then ``pricing.DRAFT_LINES_SQL``: each invoice's lines and totals (``lines``,
#   ``taxes``), as the per-tenant path drafts;
# * ``numbers``: per tenant, as many consecutive numbers of its yearly series as it gets
#   invoices (the series rows locked until commit, in tenant order: gapless, never twice);
# * ``invoices``: written open and numbered (``ON CONFLICT DO NOTHING``: a conflict means the
#   data broke the rule that every writer locks the subscription first; the caller raises);
#   ``written``: their lines;
# * ``advanced``: the next periods (a scheduled downgrade or a cancellation applied, consumed
#   prorations cleared). One calendar month, the day clamped to the month's end, in the
#   session's time zone: what ``pricing.add_month`` does to the datetimes psycopg returns.
# * ``counted``, ``audited``: the round's audit trail, one ``billing_close`` row per fleet on
#   its subscription — the rows written per table and operation (as the tables' statement
#   triggers count them), the period and the invoice — at the statement's time and with its
#   token (``:statement``): the triggers then leave that fleet out (migration 0029).
# New ids are UUIDv7, as the ORM's: per table, one prefix for the round (``:ids_<table>``, made
# in Python) and the row's number (``core.orm.uuid7_series_sql``, a quarter of the cost of
# ``UUID7_SQL``'s strong-random call and byte surgery per row; decision 0021).
_CLOSE_ROUND_SQL = ("""
WITH due AS MATERIALIZED (
    SELECT s.tenant_id, s.id, s.plan_id, s.current_period_start AS ps,
           s.current_period_end AS pe, s.cancel_at_period_end, s.metadata AS extra,
           coalesce((SELECT true FROM bil_tenant_invoices i
                      WHERE i.tenant_id = s.tenant_id AND i.subscription_id = s.id
                        AND i.period_start = s.current_period_start LIMIT 1), false) AS invoiced
      FROM bil_tenant_subscriptions s
     WHERE s.status NOT IN ('cancelled', 'trialing') AND s.current_period_end <= :now
       AND s.current_period_start IS NOT NULL
     ORDER BY s.tenant_id, s.id
       FOR UPDATE OF s SKIP LOCKED),
fleets AS MATERIALIZED (SELECT ARRAY(SELECT DISTINCT tenant_id FROM due) AS ids),
trips AS (
    SELECT d.tenant_id, d.id, count(*) AS n, round(coalesce(sum(r.distance_km), 0), 4) AS km
      FROM due d JOIN trp_trips r ON r.tenant_id = d.tenant_id
     WHERE r.tenant_id = ANY(CAST((SELECT ids FROM fleets) AS uuid[])) AND r.deleted_at IS NULL
       AND r.status = 'completed'
       AND coalesce(r.ended_at, r.started_at) >= d.ps
       AND coalesce(r.ended_at, r.started_at) < d.pe
     GROUP BY d.tenant_id, d.id),
drivers AS (
    SELECT tenant_id, count(*) AS n FROM rid_drivers
     WHERE tenant_id = ANY(CAST((SELECT ids FROM fleets) AS uuid[])) AND deleted_at IS NULL
       AND status = 'active'
     GROUP BY tenant_id),
vehicles AS (
    SELECT tenant_id, count(*) AS n FROM flt_vehicles
     WHERE tenant_id = ANY(CAST((SELECT ids FROM fleets) AS uuid[])) AND deleted_at IS NULL
       AND status = 'active'
     GROUP BY tenant_id),
measured AS (
    SELECT d.tenant_id, d.ps, d.pe, m.metric, m.value
      FROM due d
      LEFT JOIN trips t ON t.tenant_id = d.tenant_id AND t.id = d.id
      LEFT JOIN drivers r ON r.tenant_id = d.tenant_id
      LEFT JOIN vehicles v ON v.tenant_id = d.tenant_id
     CROSS JOIN LATERAL (VALUES ('active_vehicles', coalesce(v.n, 0)::numeric),
                                ('active_drivers', coalesce(r.n, 0)::numeric),
                                ('trips', coalesce(t.n, 0)::numeric),
                                ('distance_km', coalesce(t.km, 0))) AS m(metric, value)),
stored AS (
    INSERT INTO bil_tenant_usage_metrics
           (tenant_id, id, metric, period_start, period_end, value, source, computed_at)
    SELECT tenant_id, NEW_ID(usage), metric, ps, pe, value, :source, now() FROM measured
    ON CONFLICT (tenant_id, metric, period_start) DO UPDATE
       SET value = EXCLUDED.value, computed_at = EXCLUDED.computed_at
     WHERE bil_tenant_usage_metrics.reported_at IS NULL
       AND bil_tenant_usage_metrics.period_end = EXCLUDED.period_end
    RETURNING tenant_id, period_start, metric, value, xmax = 0 AS inserted),
before AS (
    SELECT u.tenant_id, u.period_start, u.metric, u.value FROM bil_tenant_usage_metrics u
     WHERE u.tenant_id = ANY(CAST((SELECT ids FROM fleets) AS uuid[]))
       AND u.period_start = ANY(ARRAY(SELECT DISTINCT ps FROM due))),
usage AS (
    SELECT d.tenant_id, d.id,
           max(coalesce(w.value, b.value)) FILTER (WHERE m.metric = 'active_vehicles') AS v,
           max(coalesce(w.value, b.value)) FILTER (WHERE m.metric = 'active_drivers') AS r,
           max(coalesce(w.value, b.value)) FILTER (WHERE m.metric = 'trips') AS t,
           max(coalesce(w.value, b.value)) FILTER (WHERE m.metric = 'distance_km') AS k
      FROM due d JOIN measured m ON m.tenant_id = d.tenant_id AND m.ps = d.ps
      LEFT JOIN stored w
        ON w.tenant_id = m.tenant_id AND w.period_start = m.ps AND w.metric = m.metric
      LEFT JOIN before b
        ON b.tenant_id = m.tenant_id AND b.period_start = m.ps AND b.metric = m.metric
     WHERE NOT d.invoiced
     GROUP BY d.tenant_id, d.id),
drafts AS MATERIALIZED (
    SELECT d.tenant_id, d.id AS subscription_id, d.ps, d.pe, NEW_ID(invoices) AS invoice_id,
           p.currency, p.monthly_fee, CAST(CAST(:exponents AS jsonb) ->> p.currency AS int) AS e,
           coalesce(CAST(d.extra ->> 'discount_pct' AS numeric), 0) AS discount_pct,
           d.extra -> 'pending_prorations' AS prorations,
           u.v, u.r, u.t, u.k, p.included_vehicles, p.included_drivers, p.included_trips,
           p.included_km, p.overage_vehicle_price, p.overage_driver_price,
           p.overage_trip_price, p.overage_km_price
      FROM due d JOIN usage u ON u.tenant_id = d.tenant_id AND u.id = d.id
      JOIN bil_billing_plans p ON p.id = d.plan_id),
""" + DRAFT_LINES_SQL + """,
series AS (
    SELECT x.tenant_id, count(*) AS n,
           'FC-' || upper(coalesce(nullif(t.slug, ''), 'x')) || '-' || :year || '-' AS prefix
      FROM drafts x JOIN adm_tenants t ON t.id = x.tenant_id
     WHERE t.id = ANY(CAST((SELECT ids FROM fleets) AS uuid[]))
     GROUP BY x.tenant_id, t.slug),
numbers AS (
    INSERT INTO adm_number_sequences (tenant_id, id, series, prefix, next_value, padding)
    SELECT tenant_id, NEW_ID(numbers), :series, prefix, 1 + n, 6 FROM series
     ORDER BY tenant_id
    ON CONFLICT (tenant_id, series) DO UPDATE
       SET next_value = adm_number_sequences.next_value + EXCLUDED.next_value - 1
    RETURNING tenant_id, next_value, prefix, padding),
numbered AS (
    SELECT x.invoice_id, n.prefix || CASE WHEN length(v.digits) >= n.padding THEN v.digits
                                         ELSE lpad(v.digits, n.padding, '0') END AS number
      FROM (SELECT invoice_id, tenant_id,
                   row_number() OVER (PARTITION BY tenant_id ORDER BY ps) AS k,
                   count(*) OVER (PARTITION BY tenant_id) AS n
              FROM drafts) x
      JOIN numbers n ON n.tenant_id = x.tenant_id
     CROSS JOIN LATERAL (SELECT CAST(n.next_value - x.n + x.k - 1 AS text) AS digits) v),
invoices AS (
    INSERT INTO bil_tenant_invoices
           (tenant_id, id, subscription_id, period_start, period_end, status, invoice_number,
            subtotal, tax, total, amount_due, currency, due_on)
    SELECT x.tenant_id, x.invoice_id, x.subscription_id, x.ps, x.pe, 'open', n.number,
           t.subtotal, t.tax, t.subtotal + t.tax, greatest(t.subtotal + t.tax, 0), x.currency,
           CAST(x.pe AS date) + 14
      FROM drafts x JOIN taxes t ON t.invoice_id = x.invoice_id
      JOIN numbered n ON n.invoice_id = x.invoice_id
    ON CONFLICT (tenant_id, subscription_id, period_start) DO NOTHING
    RETURNING tenant_id, id, currency, period_start, period_end),
written AS (
    INSERT INTO bil_tenant_invoice_lines
           (tenant_id, id, invoice_id, line_type, description, metric, quantity, unit_price,
            amount, currency, period_start, period_end)
    SELECT i.tenant_id, NEW_ID(lines), i.id, l.line_type, l.description, l.metric,
           l.quantity, l.unit_price, l.amount, i.currency, i.period_start, i.period_end
      FROM invoices i JOIN lines l ON l.invoice_id = i.id
     ORDER BY i.tenant_id, i.id, l.n
    RETURNING tenant_id),
advanced AS (
    UPDATE bil_tenant_subscriptions s
       SET status = CASE WHEN d.cancel_at_period_end THEN 'cancelled' ELSE s.status END,
           cancelled_at = CASE WHEN d.cancel_at_period_end THEN d.pe ELSE s.cancelled_at END,
           plan_id = p.id, plan_version = p.plan_version,
           current_period_start = CASE WHEN d.cancel_at_period_end THEN d.ps ELSE d.pe END,
           current_period_end = CASE WHEN d.cancel_at_period_end THEN d.pe
                                     ELSE d.pe + interval '1 month' END,
           metadata = CASE WHEN x.invoice_id IS NOT NULL
                           THEN d.extra - 'scheduled_plan_id' - 'pending_prorations'
                           ELSE d.extra - 'scheduled_plan_id' END
      FROM due d
      LEFT JOIN drafts x ON x.tenant_id = d.tenant_id AND x.subscription_id = d.id
      JOIN bil_billing_plans p
        ON p.id = CASE WHEN d.cancel_at_period_end THEN d.plan_id
                       ELSE coalesce(CAST(d.extra ->> 'scheduled_plan_id' AS uuid), d.plan_id)
                  END
     WHERE s.tenant_id = ANY(CAST((SELECT ids FROM fleets) AS uuid[]))
       AND s.tenant_id = d.tenant_id AND s.id = d.id
    RETURNING s.tenant_id),
counted AS (
    SELECT tenant_id, 'bil_tenant_usage_metrics.' || CASE WHEN inserted THEN 'insert'
                                                          ELSE 'update' END AS k, count(*) AS n
      FROM stored GROUP BY 1, 2
    UNION ALL SELECT tenant_id, 'bil_tenant_invoices.insert', count(*) FROM invoices GROUP BY 1
    UNION ALL
    SELECT tenant_id, 'bil_tenant_invoice_lines.insert', count(*) FROM written GROUP BY 1
    UNION ALL
    SELECT tenant_id, 'bil_tenant_subscriptions.update', count(*) FROM advanced GROUP BY 1),
audited AS (
    INSERT INTO adm_audit_logs (id, tenant_id, actor_type, actor_id, action, entity_type,
                                entity_id, changes, ip, user_agent, request_id, occurred_at)
    SELECT NEW_ID(audit), c.tenant_id, w.actor_type, w.actor_id, 'billing_close',
           'bil_tenant_subscriptions', d.id,
           jsonb_build_object('statement', CAST(:statement AS text), 'rows', c.rows,
                              'period_start', d.ps, 'period_end', d.pe, 'invoice_id', i.id),
           w.ip, w.user_agent, w.request_id, statement_timestamp()
      FROM (SELECT tenant_id, jsonb_object_agg(k, n) AS rows FROM counted GROUP BY 1) c
      JOIN due d ON d.tenant_id = c.tenant_id  -- (one per fleet: uq_…_current)
      LEFT JOIN invoices i ON i.tenant_id = d.tenant_id
     CROSS JOIN (SELECT fc_audit_actor_type() AS actor_type,
                        NULLIF(current_setting('app.actor_id', true), '')::uuid AS actor_id,
                        NULLIF(current_setting('app.ip', true), '')::inet AS ip,
                        NULLIF(current_setting('app.user_agent', true), '') AS user_agent,
                        NULLIF(current_setting('app.request_id', true), '') AS request_id) w
    RETURNING 1)  -- (unread: a data-modifying CTE runs to completion all the same)
SELECT (SELECT count(*) FROM due) AS due, (SELECT count(*) FROM drafts) AS drafted,
       (SELECT count(*) FROM written) AS lines, (SELECT count(*) FROM advanced) AS advanced,
       (SELECT count(*) FROM drafts WHERE discount_pct NOT BETWEEN 0 AND 100) AS bad_discounts,
       i.tenant_id, i.id
  FROM (SELECT 1) AS one LEFT JOIN invoices i ON true""")
_ID_SERIES = ("usage", "invoices", "numbers", "lines", "audit")
for _name in _ID_SERIES:
    _CLOSE_ROUND_SQL = _CLOSE_ROUND_SQL.replace(
        f"NEW_ID({_name})", uuid7_series_sql(f"CAST(:ids_{_name} AS text)", "row_number() OVER ()"))
_CLOSE_ROUND = text(_CLOSE_ROUND_SQL)


def close_due_periods(session: Session, *, now: datetime, tax_rate: Decimal = Decimal(0),
                      source: str = "job:usage") -> ClosedPeriods:
    """Close every billing period ended by ``now`` (trials first), in the session's
    transaction (provider context). Idempotent: a second pass finds nothing due."""
    if tax_rate < 0:
        raise ValueError("tax_rate must not be negative")
    result = ClosedPeriods()
    result.activated = len(session.execute(_ACTIVATE_TRIALS, {"now": now}).all())
    currencies = session.scalars(text("SELECT DISTINCT currency FROM bil_billing_plans")).all()
    params = {"now": now, "tax_rate": tax_rate, "source": source,
              "series": yearly_series(INVOICE_SERIES, now.year), "year": f"{now.year}",
              "exponents": json.dumps({c: minor_unit_exponent(c) for c in currencies})}
    while True:
        # The round audits itself, one row per fleet (``audited``); its token lets the tables'
        # statement triggers see that row as theirs (migration 0029).
        statement = uuid.uuid4().hex
        with _round_settings(session, statement):
            ids = {f"ids_{name}": uuid7_prefix() for name in _ID_SERIES}
            rows = session.execute(_CLOSE_ROUND, {**params, **ids, "statement": statement}).all()
        due, drafted, _lines, advanced, bad_discounts = rows[0][:5]
        if not due:
            return result
        if bad_discounts:
            # What build_invoice refuses; the caller's transaction rolls the round back.
            raise ValueError(f"{bad_discounts} subscriptions have a discount_pct outside 0..100")
        made = [(tenant, invoice) for *_, tenant, invoice in rows if invoice is not None]
        if len(made) != drafted or advanced != due:
            # Every invoice writer locks the subscription first, and this pass holds them all:
            # a conflict means the data broke that rule. Roll back (no number is lost).
            raise RuntimeError(f"{drafted - len(made)} periods were invoiced under a "
                               "locked subscription; nothing of this pass is kept")
        result.invoices += made
        result.periods += due


_PLANNER = {"enable_nestloop": "off", "enable_sort": "off", "jit": "off"}
AUDIT_STATEMENT = "fleetcore.audit_statement"
"""The transaction-local setting naming the statement that audits itself (migration 0029)."""


@contextmanager
def _round_settings(session: Session, statement: str) -> Iterator[None]:
    """Nested loops, sorts and JIT off for the statements inside (transaction-local), and
    :data:`AUDIT_STATEMENT` set to ``statement``; then both back.

    The audit token: the bulk tables' statement triggers (``fc_audit_bulk``) leave out a
    fleet whose ``billing_close`` row carries it, was written by the same statement, for the
    same actor and request, and counts exactly the rows the trigger sees; anything else, and
    every statement run without the token, gets the triggers' own rows (decision 0021).

    Row-level security's filters make the planner expect a handful of rows from every table:
    it would choose a nested loop over thousands of due periods and every trip (or every usage
    value), and sort hundreds of thousands of trips on disk to group them by fleet where a hash
    does (10,000 fleets: 420,000 trips, 20 MB spilled). With a disabled plan's cost, JIT would
    also compile the statement (about 0.8 s). The reads by fleet stay index scans (``= ANY``),
    and what must be sorted (lock order, numbers in period order) still is."""
    settings = {**_PLANNER, AUDIT_STATEMENT: statement}
    names = list(settings)
    previous = session.execute(text("SELECT " + ", ".join(
        f"coalesce(current_setting('{name}', true), '')"
        f" || left(set_config('{name}', :v{n}, true), 0)"
        for n, name in enumerate(names))), {f"v{n}": settings[name] for n, name in enumerate(names)}
    ).one()
    yield
    # (Not after an error: the transaction is lost, and the settings with it.)
    session.execute(text("SELECT " + ", ".join(
        f"set_config('{name}', :v{n}, true)" for n, name in enumerate(names))),
        {f"v{n}": value for n, value in enumerate(previous)})
