"""Driver settlements: computing drafts, manual adjustments, confirmation (workflows.md Trips 3,
money.md "Settlements and payouts"; the worked example is in ``docs/settlements.md``).

What a computation builds, for one tenant week (``core.periods``: local Monday to Monday):

* a **platform settlement** per (driver, platform) from committed report rows: each row gives
  its earning, commission, tip, promotion, toll-refund and cash lines, all consumed as
  ``import_row:<id>``; the fleet's share is ``pct * (gross - commission)`` per version of the
  cooperation terms in force on the row's local day (tips, promotions and toll refunds are not
  shared); when the platform pays the driver directly (``payout_receiver = driver``, a snapshot
  of the platform account) one more line takes back what the driver already received, so the
  settlement is the receivable "fleet share owed by the driver";
* a **driver-level settlement** (``platform_id`` NULL) per driver: rent by days in force
  (``term:<id>:<day>``), deposit instalments, expenses, tolls (week of the passage) and fines
  (week they are charged: ``charged_at``, else the offence) recharged when the terms say so,
  and reimbursements of expenses the driver paid — so nothing is charged once per platform.

Rules that make the money exact and explainable:

* A *late* source — dated before the week, not consumed by a confirmed settlement, and falling
  in a week the driver already has a confirmed settlement for (a fare correction of a settled
  week) — lands in the computed week: a report row as one ``adjustment`` line, a cost as its
  usual charge line. A confirmed settlement is never reopened.
* Rows of one (driver, platform, week) come from the finest report type committed for that
  span: Uber ``payments_order`` rows replace ``payments_driver`` summaries, Bolt
  ``bolt_orders`` replace ``bolt_weekly``; ``trip_activity`` carries no money.
* Every posted line is rounded to the currency's minor unit (ROUND_HALF_UP) when computed; the
  weekly rent is split exactly into seven day parts with :func:`fleetcore.core.money.split`.
  Header totals are the sums of the lines by type, so the ``net_is_sum_of_parts`` CHECK holds
  by construction.

Computation is set-based: a handful of statements per week whatever the number of drivers and
rows (drafts deleted, two ``INSERT … SELECT`` with data-modifying CTEs that write headers and
lines together). Recomputing replaces drafts and keeps their manual adjustment lines; confirmed
and paid settlements are never touched — the database refuses any change to them and their lines
but the payout's ``confirmed → paid`` (decision 0006). Lines of report rows reference them by a
foreign key: an import's rollback rebuilds the drafts its rows fed, and confirmation refuses a
draft whose rows are gone. Services flush, never commit.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from sqlalchemy import Select, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetcore.admin.models import Tenant
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
    Problem,
    ValidationProblem,
)
from fleetcore.core.money import Money, minor_unit_exponent, round_minor, split
from fleetcore.core.orm import new_id
from fleetcore.core.pagination import PageParams, keyset_page
from fleetcore.core.periods import Period, period_of_week
from fleetcore.core.versioning import etag
from fleetcore.drivers.models import DriverCooperationTerms, SettlementModel
from fleetcore.finance.ledger_service import post_settlement
from fleetcore.revenue.models import FINE_REPORT_TYPES, MONEY_PRECEDENCE
from fleetcore.trips.invoice_service import issue_after_confirmation
from fleetcore.trips.models import (
    Settlement,
    SettlementLine,
    SettlementLineSource,
    SettlementLineType,
    SettlementStatus,
)
from fleetcore.trips.settlement_schemas import (
    AdjustmentCreate,
    SettlementConfirm,
    SettlementFilter,
    SettlementSort,
)

__all__ = [
    "ComputeOutcome",
    "add_adjustment",
    "compute_settlements",
    "compute_week",
    "confirm_settlement",
    "get_settlement",
    "hold_drafts_fed_by_import",
    "list_settlement_lines",
    "list_settlements",
    "recompute_held_drafts",
    "settlement_period",
    "settlements_query",
    "sorted_settlements_query",
    "tenant_zone",
    "unsettled_rows",
]

MONEY_REPORT_TYPES = tuple(MONEY_PRECEDENCE)
"""Report types whose rows carry money (``trip_activity`` only counts trips)."""

CHARGE_LINE_TYPES = ("rent", "fuel", "toll", "fine", "damage", "expense", "advance", "deposit")
"""Line types summed (negated) into the header's ``charges``."""


# --- tenant week ---------------------------------------------------------------------------


def _tenant_zone(session: Session, tenant_id: uuid.UUID) -> tuple[str, str]:
    row = session.execute(
        select(Tenant.timezone, Tenant.default_currency).where(Tenant.id == tenant_id)
    ).one_or_none()
    if row is None:
        raise NotFound("No tenant is open.")
    zone, currency = row
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = "UTC"
    return str(zone), str(currency)


def tenant_zone(session: Session, actor: Actor) -> ZoneInfo:
    """The actor's tenant's time zone (periods and local days are read in it)."""
    return ZoneInfo(_tenant_zone(session, tenant_of(actor))[0])


def settlement_period(session: Session, actor: Actor, day: date) -> Period:
    """The settlement week holding the local calendar ``day`` in the tenant's time zone."""
    zone, _ = _tenant_zone(session, tenant_of(actor))
    return period_of_week(day, zone)


@cache
def _exponents_json() -> str:
    """``{"EUR": 2, "JPY": 0, "KWD": 3, …}`` for every ISO 4217 code, so SQL rounds each
    amount to its currency's minor unit exactly as :func:`round_minor` does (CLDR digits)."""
    return json.dumps({c.alpha_3: minor_unit_exponent(c.alpha_3) for c in pycountry.currencies})


# --- SQL building blocks -------------------------------------------------------------------


def _term_on(driver: str, day: str, alias: str) -> str:
    """A LATERAL join to the terms in force on local ``day`` for ``driver``.

    The terms of a day: accepted, live terms whose span touches that local day
    (``[effective_from, effective_to)`` read in the tenant's zone); when versions change during
    a day, the newer version governs the whole day — so each day has exactly one version.
    """
    return f"""
    LEFT JOIN LATERAL (
      SELECT t.id, t.terms_version, t.settlement_model, t.fleet_share_pct, t.recharge_fuel,
             t.recharge_tolls, t.recharge_fines, t.recharge_other_expenses
        FROM rid_driver_cooperation_terms t
       WHERE t.tenant_id = :t AND t.driver_id = {driver}
         AND t.accepted_at IS NOT NULL AND t.deleted_at IS NULL
         AND (t.effective_from AT TIME ZONE :tz)::date <= {day}
         AND (t.effective_to IS NULL
              OR ((t.effective_to - interval '1 microsecond') AT TIME ZONE :tz)::date >= {day})
       ORDER BY t.effective_from DESC
       LIMIT 1) {alias} ON true"""


_UNCONSUMED = """NOT EXISTS (
      SELECT 1 FROM trp_settlement_lines cl
       WHERE cl.tenant_id = :t AND cl.consumed_key = {key} AND cl.confirmed)"""
"""The source (its ``consumed_key``) is in no confirmed settlement."""

_DRIVER_FILTER = "(CAST(:drivers AS uuid[]) IS NULL OR {col} = ANY(CAST(:drivers AS uuid[])))"

_SLOT_FREE = """NOT EXISTS (
      SELECT 1 FROM trp_settlements ts
       WHERE ts.tenant_id = :t AND ts.driver_id = {driver}
         AND ts.platform_id IS NOT DISTINCT FROM {platform}
         AND ts.period_start < :end AND ts.period_end > :start)"""
"""No settlement left in the slot: drafts were just deleted, so any left is confirmed/paid."""

_SETTLED_DAY = """EXISTS (
      SELECT 1 FROM trp_settlements ss
       WHERE ss.tenant_id = :t AND ss.driver_id = {driver} AND ss.confirmed
         AND (ss.period_start AT TIME ZONE :tz)::date <= {day}
         AND (ss.period_end AT TIME ZONE :tz)::date > {day})"""
"""The driver already has a confirmed settlement for the week of local ``day``: a source of
that day still unconsumed is late and lands in the computed week."""

_MANUAL = """
    manual AS (
      SELECT m.driver_id, m.platform_id, m.currency, 'adjustment'::text AS line_type,
             m.amount, m.description, 'manual'::text AS source_type, NULL::uuid AS source_id,
             m.service_date, m.consumed_key, m.receiver, m.created_by
        FROM jsonb_to_recordset(CAST(:manual AS jsonb)) AS m(
               driver_id uuid, platform_id uuid, currency text, amount numeric,
               description text, service_date date, consumed_key text, receiver text,
               created_by uuid)
       WHERE (m.platform_id IS NULL) = {driver_level})"""
"""Manual adjustment lines kept from the drafts a recomputation replaced."""

_WRITE = f"""
    lines AS (
      SELECT * FROM candidate_lines WHERE amount <> 0
      UNION ALL
      SELECT * FROM manual),
    currency_pick AS (
      -- One currency per settlement: the most frequent among its lines (kept manual lines
      -- decide, then the tenant's currency, then the code). Lines in another currency stay
      -- unconsumed and are reported by unsettled_rows().
      SELECT DISTINCT ON (driver_id, platform_id) driver_id, platform_id, currency
        FROM (SELECT driver_id, platform_id, currency,
                     count(*) + 1000000 * count(*) FILTER (WHERE source_type = 'manual') AS n
                FROM lines GROUP BY driver_id, platform_id, currency) c
       ORDER BY driver_id, platform_id, n DESC, (currency = :default_currency) DESC, currency),
    chosen AS (
      SELECT l.* FROM lines l
        JOIN currency_pick p ON p.driver_id = l.driver_id
                            AND p.platform_id IS NOT DISTINCT FROM l.platform_id
                            AND p.currency = l.currency),
    totals AS (
      SELECT driver_id, platform_id, currency,
             CASE WHEN platform_id IS NULL THEN NULL
                  WHEN bool_or(receiver = 'driver') THEN 'driver' ELSE 'fleet' END AS receiver,
             coalesce(sum(amount) FILTER (WHERE line_type = 'platform_earning'), 0) AS gross,
             -coalesce(sum(amount) FILTER (WHERE line_type = 'commission'), 0) AS commission,
             coalesce(sum(amount) FILTER (WHERE line_type = 'tip'), 0) AS tips,
             coalesce(sum(amount) FILTER (WHERE line_type = 'promotion'), 0) AS promotions,
             coalesce(sum(amount) FILTER (WHERE line_type = 'toll_refund'), 0) AS toll_refunds,
             -coalesce(sum(amount) FILTER (WHERE line_type = 'cash_collected'), 0) AS cash,
             -coalesce(sum(amount) FILTER (WHERE line_type = 'fleet_share'), 0) AS fleet_share,
             -coalesce(sum(amount) FILTER (
                 WHERE line_type IN ({", ".join(f"'{t}'" for t in CHARGE_LINE_TYPES)})), 0)
               AS charges,
             coalesce(sum(amount) FILTER (
                 WHERE line_type IN ('adjustment', 'carry_over')), 0) AS adjustments,
             sum(amount) AS net
        FROM chosen GROUP BY driver_id, platform_id, currency),
    new_settlements AS (
      INSERT INTO trp_settlements (
        tenant_id, id, driver_id, platform_id, period_start, period_end, payout_receiver,
        trip_count, gross, commission, tips, promotions, toll_refunds, cash_collected,
        fleet_share, charges, adjustments, net, currency, status, created_by, updated_by,
        days_without_terms)
      SELECT :t, gen_random_uuid(), x.driver_id, x.platform_id, :start, :end, x.receiver,
             {{trip_count}}, x.gross, x.commission, x.tips, x.promotions, x.toll_refunds,
             x.cash, x.fleet_share, x.charges, x.adjustments, x.net, x.currency, 'draft',
             :actor, :actor, {{days_without_terms}}
        FROM totals x
      RETURNING id, driver_id, platform_id)
    INSERT INTO trp_settlement_lines (
      tenant_id, id, settlement_id, line_type, description, amount, currency, source_type,
      source_id, import_row_id, service_date, consumed_key, created_by, updated_by)
    SELECT :t, gen_random_uuid(), s.id, l.line_type, l.description, l.amount, l.currency,
           l.source_type,
           CASE WHEN l.source_type = 'settlement' THEN s.id ELSE l.source_id END,
           CASE WHEN l.source_type = 'import_row' THEN l.source_id END,
           l.service_date, replace(l.consumed_key, '{{{{settlement}}}}', s.id::text),
           coalesce(l.created_by, :actor), :actor
      FROM chosen l
      JOIN new_settlements s ON s.driver_id = l.driver_id
                            AND s.platform_id IS NOT DISTINCT FROM l.platform_id
"""
"""The shared tail: pick each settlement's currency, total its lines by type, insert headers
and lines in one statement (lines whose key holds ``{settlement}`` get the new header's id)."""

_ROWS = f"""
    candidates AS MATERIALIZED (
      SELECT r.id, r.driver_id, r.platform_id, r.currency, r.platform_account_ref,
             r.external_trip_id, coalesce(nullif(r.description, ''), 'report row') AS what,
             (e.at AT TIME ZONE :tz)::date AS local_day, e.at < :start AS late,
             coalesce(r.fare_gross, r.earnings + coalesce(r.commission, 0), 0) AS g,
             coalesce(r.commission, 0) AS k, coalesce(r.tip, 0) AS tp,
             coalesce(r.tolls, 0) AS tl, coalesce(r.promotions, 0) AS pr,
             coalesce(r.cash_collected, 0) AS c, coalesce(r.adjustments, 0) AS a,
             (CAST(:exp AS jsonb) ->> r.currency)::int AS e
        FROM rev_import_rows r
        JOIN rev_revenue_imports i ON i.tenant_id = r.tenant_id AND i.id = r.import_id
        CROSS JOIN LATERAL (SELECT coalesce(r.occurred_at, i.period_start) AS at) e
       WHERE r.tenant_id = :t AND i.status = 'committed'
         AND i.report_type IN ({", ".join(f"'{t}'" for t in MONEY_REPORT_TYPES)})
         AND r.driver_id IS NOT NULL AND {_DRIVER_FILTER.format(col="r.driver_id")}
         AND e.at < :end
         AND (e.at >= :start
              OR {_SETTLED_DAY.format(driver="r.driver_id", day="(e.at AT TIME ZONE :tz)::date")})
         AND {_UNCONSUMED.format(key="'import_row:' || r.id::text")}
         AND {_SLOT_FREE.format(driver="r.driver_id", platform="r.platform_id")}
         -- Precedence: a summary row gives way to per-transaction rows of the same span.
         AND (i.report_type IN ({", ".join(f"'{t}'" for t in FINE_REPORT_TYPES)})
              OR NOT EXISTS (
                SELECT 1 FROM rev_import_rows f
                  JOIN rev_revenue_imports fi ON fi.tenant_id = f.tenant_id AND fi.id = f.import_id
                 WHERE f.tenant_id = :t AND f.driver_id = r.driver_id
                   AND f.platform_id = r.platform_id AND fi.status = 'committed'
                   AND fi.report_type IN ({", ".join(f"'{t}'" for t in FINE_REPORT_TYPES)})
                   AND coalesce(f.occurred_at, fi.period_start)
                       >= coalesce(i.period_start, e.at)
                   AND coalesce(f.occurred_at, fi.period_start)
                       < coalesce(i.period_end, e.at + interval '7 days')))),
    rows_t AS MATERIALIZED (
      SELECT c.*, tm.id AS term_id, tm.terms_version,
             CASE tm.settlement_model WHEN 'revenue_share' THEN tm.fleet_share_pct
                                      WHEN 'salaried' THEN 100 END AS share_pct,
             coalesce(acc.payout_receiver, 'fleet') AS receiver
        FROM candidates c
        {_term_on("c.driver_id", "c.local_day", "tm")}
        LEFT JOIN LATERAL (
          SELECT a.payout_receiver FROM trp_platform_accounts a
           WHERE a.tenant_id = :t AND a.platform_id = c.platform_id AND a.deleted_at IS NULL
             AND (a.external_account_id = c.platform_account_ref OR a.driver_id = c.driver_id)
           ORDER BY (a.external_account_id = c.platform_account_ref) DESC,
                    (a.driver_id = c.driver_id) DESC, a.created_at
           LIMIT 1) acc ON true),
    row_lines AS (
      SELECT r.driver_id, r.platform_id, r.currency, x.line_type, x.amount, x.description,
             'import_row'::text AS source_type, r.id AS source_id, r.local_day AS service_date,
             'import_row:' || r.id::text AS consumed_key, r.receiver, NULL::uuid AS created_by
        FROM rows_t r
        CROSS JOIN LATERAL (VALUES
          ('platform_earning', CASE WHEN NOT r.late AND r.g > 0 THEN round(r.g, r.e) END,
           'Fare: ' || r.what),
          ('commission', CASE WHEN NOT r.late AND r.k > 0 THEN -round(r.k, r.e) END,
           'Platform commission: ' || r.what),
          ('tip', CASE WHEN NOT r.late AND r.tp > 0 THEN round(r.tp, r.e) END,
           'Tip: ' || r.what),
          ('promotion', CASE WHEN NOT r.late AND r.pr > 0 THEN round(r.pr, r.e) END,
           'Promotion: ' || r.what),
          ('toll_refund', CASE WHEN NOT r.late AND r.tl > 0 THEN round(r.tl, r.e) END,
           'Toll refund: ' || r.what),
          ('cash_collected', CASE WHEN NOT r.late AND r.c > 0 THEN -round(r.c, r.e) END,
           'Cash collected from riders: ' || r.what),
          -- Negative parts (a fare correction, a refunded fee) and the row's own adjustments
          -- form one signed line; a late row is wholly one adjustment line.
          ('adjustment', round(CASE WHEN r.late
                                    THEN r.g - r.k + r.tp + r.tl + r.pr - r.c + r.a
                                    ELSE r.a + least(r.g, 0) - least(r.k, 0) + least(r.tp, 0)
                                         + least(r.tl, 0) + least(r.pr, 0) - least(r.c, 0)
                               END, r.e),
           CASE WHEN r.late THEN 'Late ' || r.what || ' of ' || r.local_day::text
                ELSE 'Adjustment: ' || r.what END)
        ) AS x(line_type, amount, description)
       WHERE x.amount IS NOT NULL),
    share_lines AS (
      SELECT driver_id, platform_id, currency,
             CASE WHEN share > 0 THEN 'fleet_share' ELSE 'adjustment' END AS line_type,
             -share AS amount,
             CASE WHEN share > 0 THEN 'Fleet share ' ELSE 'Fleet share returned: ' END
               || trim_scale(share_pct)::text || '% of ' || base::text
               || ' earned after commission (terms ' || terms_version || ')' AS description,
             'term'::text AS source_type, term_id AS source_id, NULL::date AS service_date,
             'term:' || term_id::text || '\\:fleet_share:{{settlement}}' AS consumed_key,
             NULL::text AS receiver, NULL::uuid AS created_by
        FROM (SELECT driver_id, platform_id, currency, term_id, terms_version, share_pct,
                     sum(round(g, e) - round(k, e)) AS base,
                     round(share_pct * sum(round(g, e) - round(k, e)) / 100, min(e)) AS share
                FROM rows_t WHERE share_pct IS NOT NULL
               GROUP BY driver_id, platform_id, currency, term_id, terms_version, share_pct) s),
    payout_lines AS (
      -- The platform paid these rows to the driver: what the driver already holds comes off.
      SELECT driver_id, platform_id, currency, 'adjustment'::text AS line_type,
             -sum(amount) AS amount,
             'Paid by the platform directly to the driver' AS description,
             'settlement'::text AS source_type, NULL::uuid AS source_id,
             NULL::date AS service_date,
             'settlement:{{settlement}}\\:platform_payout' AS consumed_key,
             'driver'::text AS receiver, NULL::uuid AS created_by
        FROM row_lines WHERE receiver = 'driver'
       GROUP BY driver_id, platform_id, currency),
    candidate_lines AS (
      SELECT * FROM row_lines UNION ALL SELECT * FROM share_lines
      UNION ALL SELECT * FROM payout_lines),"""

_PLATFORM_STATEMENT = (
    "WITH" + _ROWS + _MANUAL.format(driver_level="false") + "," + _WRITE.format(
        trip_count="""coalesce(nullif((
          SELECT count(*) FROM trp_trips tr
           WHERE tr.tenant_id = :t AND tr.driver_id = x.driver_id
             AND tr.platform_id = x.platform_id AND tr.deleted_at IS NULL
             AND tr.status = 'completed'
             AND coalesce(tr.ended_at, tr.started_at, tr.requested_at) >= :start
             AND coalesce(tr.ended_at, tr.started_at, tr.requested_at) < :end), 0),
          (SELECT count(DISTINCT r.external_trip_id) FROM rows_t r
            WHERE r.driver_id = x.driver_id AND r.platform_id = x.platform_id
              AND NOT r.late AND r.g > 0), 0)""",
        # No silent 100 %: the days whose earnings found no accepted terms (no fleet share).
        days_without_terms="""coalesce((
          SELECT array_agg(DISTINCT r.local_day ORDER BY r.local_day) FROM rows_t r
           WHERE r.driver_id = x.driver_id AND r.platform_id = x.platform_id
             AND r.currency = x.currency AND r.term_id IS NULL
             AND round(r.g, r.e) - round(r.k, r.e) <> 0), '{}')""")
)
"""Platform settlements of the week: one statement."""

_DRIVER_LINES = f"""
    computed AS (
      SELECT d.driver_id, NULL::uuid AS platform_id, d.currency, d.line_type, d.amount,
             d.description, 'term'::text AS source_type, d.term_id AS source_id,
             d.service_date, d.consumed_key, NULL::text AS receiver, NULL::uuid AS created_by
        FROM jsonb_to_recordset(CAST(:computed AS jsonb)) AS d(
               driver_id uuid, currency text, line_type text, amount numeric,
               description text, term_id uuid, service_date date, consumed_key text)
       WHERE {_UNCONSUMED.format(key="d.consumed_key")}
         AND {_SLOT_FREE.format(driver="d.driver_id", platform="NULL::uuid")}),
    expenses AS (
      SELECT x.*, (CAST(:exp AS jsonb) ->> x.currency)::int AS e, tm.recharge_fuel,
             tm.recharge_tolls, tm.recharge_fines, tm.recharge_other_expenses
        FROM flt_vehicle_expenses x
        {_term_on("x.driver_id", "x.incurred_on", "tm")}
       WHERE x.tenant_id = :t AND x.deleted_at IS NULL AND x.driver_id IS NOT NULL
         AND (x.is_rechargeable OR x.is_reimbursable)
         AND {_DRIVER_FILTER.format(col="x.driver_id")}
         AND x.incurred_on <= :last_day
         AND (x.incurred_on >= :first_day
              OR {_SETTLED_DAY.format(driver="x.driver_id", day="x.incurred_on")})
         AND {_UNCONSUMED.format(key="'expense:' || x.id::text")}
         AND {_SLOT_FREE.format(driver="x.driver_id", platform="NULL::uuid")}),
    expense_lines AS (
      SELECT x.driver_id, NULL::uuid AS platform_id, x.currency, y.line_type, y.amount,
             y.description, 'expense'::text AS source_type, x.id AS source_id,
             x.incurred_on AS service_date, 'expense:' || x.id::text AS consumed_key,
             NULL::text AS receiver, NULL::uuid AS created_by
        FROM expenses x
        CROSS JOIN LATERAL (VALUES
          (CASE x.category WHEN 'fuel' THEN 'fuel' WHEN 'toll' THEN 'toll'
                           WHEN 'fine' THEN 'fine' ELSE 'expense' END,
           CASE WHEN x.is_rechargeable AND CASE x.category
                  WHEN 'fuel' THEN x.recharge_fuel WHEN 'toll' THEN x.recharge_tolls
                  WHEN 'fine' THEN x.recharge_fines ELSE x.recharge_other_expenses END
                THEN -round(x.amount, x.e) END,
           'Recharged ' || x.category || coalesce(': ' || nullif(x.vendor, ''), '')
             || ' (' || x.incurred_on::text || ')'),
          ('adjustment',
           CASE WHEN x.is_reimbursable THEN round(x.amount, x.e) END,
           'Reimbursed ' || x.category || ' paid by the driver'
             || coalesce(': ' || nullif(x.vendor, ''), '') || ' (' || x.incurred_on::text || ')')
        ) AS y(line_type, amount, description)
       WHERE y.amount IS NOT NULL),
    toll_lines AS (
      SELECT o.driver_id, NULL::uuid AS platform_id, o.currency, 'toll'::text AS line_type,
             -round(o.amount, (CAST(:exp AS jsonb) ->> o.currency)::int) AS amount,
             'Toll' || coalesce(' ' || nullif(o.operator, ''), '')
               || coalesce(' at ' || nullif(o.gate, ''), '') || ' ('
               || (o.occurred_at AT TIME ZONE :tz)::date::text || ')' AS description,
             'toll'::text AS source_type, o.id AS source_id,
             (o.occurred_at AT TIME ZONE :tz)::date AS service_date,
             'toll:' || o.id::text AS consumed_key, NULL::text AS receiver,
             NULL::uuid AS created_by
        FROM fin_toll_transactions o
        {_term_on("o.driver_id", "(o.occurred_at AT TIME ZONE :tz)::date", "tm")}
       WHERE o.tenant_id = :t AND o.driver_id IS NOT NULL
         AND o.status IN ('assigned', 'recharged') AND tm.recharge_tolls
         AND {_DRIVER_FILTER.format(col="o.driver_id")}
         AND o.occurred_at < :end
         AND (o.occurred_at >= :start
              OR {_SETTLED_DAY.format(driver="o.driver_id",
                                      day="(o.occurred_at AT TIME ZONE :tz)::date")})
         AND {_UNCONSUMED.format(key="'toll:' || o.id::text")}
         AND {_SLOT_FREE.format(driver="o.driver_id", platform="NULL::uuid")}),
    fine_lines AS (
      SELECT f.driver_id, NULL::uuid AS platform_id, f.currency, 'fine'::text AS line_type,
             -round(f.amount, (CAST(:exp AS jsonb) ->> f.currency)::int) AS amount,
             'Traffic fine ' || f.fine_reference || ' ('
               || (f.offence_at AT TIME ZONE :tz)::date::text || ')' AS description,
             'fine'::text AS source_type, f.id AS source_id,
             (f.offence_at AT TIME ZONE :tz)::date AS service_date,
             'fine:' || f.id::text AS consumed_key, NULL::text AS receiver,
             NULL::uuid AS created_by
        FROM fin_traffic_fines f
        {_term_on("f.driver_id", "(f.offence_at AT TIME ZONE :tz)::date", "tm")}
       WHERE f.tenant_id = :t AND f.driver_id IS NOT NULL AND f.deleted_at IS NULL
         AND f.status IN ('paid', 'recharged') AND tm.recharge_fines
         AND {_DRIVER_FILTER.format(col="f.driver_id")}
         -- The week it is charged (paid or recharged), not the offence's (weeks earlier).
         AND coalesce(f.charged_at, f.offence_at) < :end
         AND (coalesce(f.charged_at, f.offence_at) >= :start
              OR {_SETTLED_DAY.format(
                    driver="f.driver_id",
                    day="(coalesce(f.charged_at, f.offence_at) AT TIME ZONE :tz)::date")})
         AND {_UNCONSUMED.format(key="'fine:' || f.id::text")}
         AND {_SLOT_FREE.format(driver="f.driver_id", platform="NULL::uuid")}),
    candidate_lines AS (
      SELECT * FROM computed UNION ALL SELECT * FROM expense_lines
      UNION ALL SELECT * FROM toll_lines UNION ALL SELECT * FROM fine_lines),"""

_DRIVER_STATEMENT = (
    "WITH" + _DRIVER_LINES + _MANUAL.format(driver_level="true") + ","
    + _WRITE.format(trip_count="0", days_without_terms="'{}'")
)
"""Driver-level settlements of the week: one statement."""


# --- rent and deposit instalments (computed with core.money.split) -------------------------


@dataclass(frozen=True, slots=True)
class _Term:
    id: uuid.UUID
    driver_id: uuid.UUID
    version: str
    model: str
    first_day: date  # local date of effective_from
    last_day: date | None  # local date of the last instant in force (None: open-ended)
    effective_from: datetime
    rent_amount: Decimal | None
    rent_period: str | None
    currency: str
    deposit_amount: Decimal | None
    instalment: Decimal | None


def _local_day(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def _days_in_force(terms: list[_Term], days: list[date]) -> dict[date, _Term]:
    """Each day of ``days`` and the version governing it (the newest one touching the day)."""
    governing: dict[date, _Term] = {}
    for day in days:
        touching = [t for t in terms
                    if t.first_day <= day and (t.last_day is None or day <= t.last_day)]
        if touching:
            governing[day] = max(touching, key=lambda t: t.effective_from)
    return governing


def _term_lines(
    session: Session, tenant_id: uuid.UUID, period: Period, zone: str,
    driver_ids: list[uuid.UUID] | None,
) -> list[dict[str, Any]]:
    """Rent per day in force and the week's deposit instalment, for every driver (two queries).

    Weekly rent is split exactly into the seven days of the week (:func:`split`, ties to the
    earliest days), and each day in force is charged its part: a full week is exactly the
    weekly rent, a partial week the parts of its days, and a day is ``term:<id>:<day>``, so it
    can be charged only once. Daily rent is the rounded daily amount per day in force.
    """
    tz = ZoneInfo(zone)
    days = period.days
    stmt = select(DriverCooperationTerms).where(
        DriverCooperationTerms.tenant_id == tenant_id,
        DriverCooperationTerms.accepted_at.is_not(None),
        DriverCooperationTerms.deleted_at.is_(None),
        DriverCooperationTerms.effective_from < period.end,
        (DriverCooperationTerms.effective_to.is_(None))
        | (DriverCooperationTerms.effective_to > period.start - timedelta(days=1)),
    )
    if driver_ids is not None:
        stmt = stmt.where(DriverCooperationTerms.driver_id.in_(driver_ids))
    by_driver: dict[uuid.UUID, list[_Term]] = defaultdict(list)
    for row in session.scalars(stmt):
        by_driver[row.driver_id].append(_Term(
            id=row.id, driver_id=row.driver_id, version=row.terms_version,
            model=row.settlement_model,
            first_day=_local_day(row.effective_from, tz),
            last_day=(_local_day(row.effective_to - timedelta(microseconds=1), tz)
                      if row.effective_to else None),
            effective_from=row.effective_from, rent_amount=row.rent_amount,
            rent_period=row.rent_period, currency=row.currency,
            deposit_amount=row.deposit_amount, instalment=row.weekly_deposit_instalment,
        ))
    if not by_driver:
        return []
    collected = _deposits_collected(session, tenant_id, list(by_driver))
    lines: list[dict[str, Any]] = []
    for driver_id, terms in by_driver.items():
        governing = _days_in_force(terms, days)
        for day, term in governing.items():
            part = _rent_of_day(term, day, days)
            if part is not None and not part.is_zero():
                lines.append({
                    "driver_id": str(driver_id), "currency": term.currency,
                    "line_type": SettlementLineType.RENT.value, "amount": str(-part.amount),
                    "description": f"Rent {day.isoformat()} ({_rent_basis(term)}, terms "
                                   f"{term.version})",
                    "term_id": str(term.id), "service_date": day.isoformat(),
                    "consumed_key": f"term:{term.id}:{day.isoformat()}",
                })
        if governing:
            lines.extend(_deposit_line(driver_id, governing, collected.get(driver_id), period))
    return lines


def _rent_basis(term: _Term) -> str:
    assert term.rent_amount is not None
    amount = Money(round_minor(term.rent_amount, term.currency), term.currency)
    return f"{amount} per {term.rent_period}"


def _rent_of_day(term: _Term, day: date, week: list[date]) -> Money | None:
    if term.model != SettlementModel.FIXED_RENT.value or term.rent_amount is None:
        return None
    if term.rent_period == "week":
        parts = split(Money(term.rent_amount, term.currency), [1] * len(week),
                      keys=[d.isoformat() for d in week])
        return parts[week.index(day)]
    return Money(term.rent_amount, term.currency).rounded()


def _deposits_collected(
    session: Session, tenant_id: uuid.UUID, driver_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Decimal]]:
    """Deposit already taken per driver and currency by confirmed settlements (one query)."""
    rows = session.execute(text("""
        SELECT s.driver_id, l.currency, -sum(l.amount)
          FROM trp_settlement_lines l
          JOIN trp_settlements s ON s.tenant_id = l.tenant_id AND s.id = l.settlement_id
         WHERE l.tenant_id = :t AND l.line_type = 'deposit' AND l.confirmed
           AND s.driver_id = ANY(:drivers)
         GROUP BY s.driver_id, l.currency"""), {"t": tenant_id, "drivers": driver_ids})
    collected: dict[uuid.UUID, dict[str, Decimal]] = defaultdict(dict)
    for driver_id, currency, amount in rows:
        collected[driver_id][currency] = amount
    return collected


def _deposit_line(
    driver_id: uuid.UUID, governing: dict[date, _Term],
    collected: dict[str, Decimal] | None, period: Period,
) -> list[dict[str, Any]]:
    """This week's deposit instalment, from the last version in force in the week, capped at
    what is still owed on the deposit (``term:<id>:deposit:<week>``: once per week)."""
    term = governing[max(governing)]
    if term.instalment is None or term.deposit_amount is None:
        return []
    owed = term.deposit_amount - (collected or {}).get(term.currency, Decimal(0))
    amount = round_minor(min(term.instalment, owed), term.currency)
    if amount <= 0:
        return []
    day = min(d for d, t in governing.items() if t.id == term.id)
    total = Money(term.deposit_amount, term.currency).rounded()
    return [{
        "driver_id": str(driver_id), "currency": term.currency,
        "line_type": SettlementLineType.DEPOSIT.value, "amount": str(-amount),
        "description": f"Deposit instalment (deposit {total}, terms {term.version})",
        "term_id": str(term.id), "service_date": day.isoformat(),
        "consumed_key": f"term:{term.id}:deposit:{period.first_day.isoformat()}",
    }]


# --- compute -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComputeOutcome:
    """What a computation built, and what it left out and why."""

    period: Period
    settlements: list[Settlement]
    unlinked_rows: int
    other_currency_rows: int


def _lock_week(session: Session, tenant_id: uuid.UUID, start: datetime) -> None:
    """Serialise computations, adjustments and confirmations of one tenant week
    (transaction-scoped). Taken before any row lock, so the three never deadlock, and so a
    manual line added while the week is recomputed is never lost with the replaced draft."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"settlements:{tenant_id}:{int(start.timestamp())}"},
    )


def _locked_settlement(session: Session, actor: Actor, settlement_id: uuid.UUID) -> Settlement:
    """The settlement locked for a change, its week's lock taken first."""
    found = get_settlement(session, actor, settlement_id)
    _lock_week(session, found.tenant_id, found.period_start)
    return get_settlement(session, actor, settlement_id, for_update=True)


def _check_drivers(session: Session, driver_ids: list[uuid.UUID]) -> None:
    found = set(session.scalars(
        text("SELECT id FROM rid_drivers WHERE id = ANY(:ids)").bindparams(ids=driver_ids)))
    missing = [str(d) for d in driver_ids if d not in found]
    if missing:
        message = f"No such driver: {', '.join(missing[:5])}."
        raise ValidationProblem(message, errors=[{"field": "driver_ids", "message": message}])


def _keep_manual_lines(
    session: Session, tenant_id: uuid.UUID, period: Period, drivers: list[uuid.UUID] | None
) -> list[dict[str, Any]]:
    """Manual adjustment lines of the drafts about to be replaced (re-attached afterwards)."""
    rows = session.execute(text(f"""
        SELECT s.driver_id, s.platform_id, l.currency, l.amount, l.description, l.service_date,
               l.consumed_key, s.payout_receiver, l.created_by
          FROM trp_settlement_lines l
          JOIN trp_settlements s ON s.tenant_id = l.tenant_id AND s.id = l.settlement_id
         WHERE l.tenant_id = :t AND l.source_type = 'manual' AND s.status = 'draft'
           AND s.period_start < :end AND s.period_end > :start
           AND {_DRIVER_FILTER.format(col="s.driver_id")}"""),
        {"t": tenant_id, "start": period.start, "end": period.end, "drivers": drivers})
    return [
        {"driver_id": str(r[0]), "platform_id": str(r[1]) if r[1] else None,
         "currency": r[2], "amount": str(r[3]), "description": r[4],
         "service_date": r[5].isoformat() if r[5] else None, "consumed_key": r[6],
         "receiver": r[7], "created_by": str(r[8]) if r[8] else None}
        for r in rows
    ]


def compute_settlements(
    session: Session, actor: Actor, *, period: date,
    driver_ids: list[uuid.UUID] | None = None,
) -> list[Settlement]:
    """(Re)build the draft settlements of the tenant week holding ``period`` (any local day).

    Drafts of the week (of ``driver_ids`` when given) are deleted and rebuilt from the sources
    in a few set-based statements; their manual adjustments are kept; confirmed and paid
    settlements are left as they are (their slot gets no new draft). Returns the week's drafts.
    """
    return compute_week(session, actor, period=period, driver_ids=driver_ids).settlements


def compute_week(
    session: Session, actor: Actor, *, period: date,
    driver_ids: list[uuid.UUID] | None = None,
) -> ComputeOutcome:
    """:func:`compute_settlements` with the counts of rows it had to leave out."""
    tenant_id = tenant_of(actor)
    zone, default_currency = _tenant_zone(session, tenant_id)
    week = period_of_week(period, zone)
    drivers = sorted(set(driver_ids)) if driver_ids is not None else None
    if drivers is not None:
        if not drivers:
            raise ValidationProblem("Name at least one driver, or leave driver_ids out.",
                                    errors=[{"field": "driver_ids", "message": "empty list"}])
        _check_drivers(session, drivers)
    session.flush()
    _lock_week(session, tenant_id, week.start)

    manual = _keep_manual_lines(session, tenant_id, week, drivers)
    params: dict[str, Any] = {
        "t": tenant_id, "tz": zone, "start": week.start, "end": week.end,
        "first_day": week.first_day, "last_day": week.days[-1], "drivers": drivers,
        "exp": _exponents_json(), "default_currency": default_currency, "actor": actor.id,
        "manual": json.dumps(manual),
    }
    session.execute(text(f"""
        DELETE FROM trp_settlements s
         WHERE s.tenant_id = :t AND s.status = 'draft'
           AND s.period_start < :end AND s.period_end > :start
           AND {_DRIVER_FILTER.format(col="s.driver_id")}"""), params)
    session.execute(text(_PLATFORM_STATEMENT), params)
    computed = _term_lines(session, tenant_id, week, zone, drivers)
    session.execute(text(_DRIVER_STATEMENT), {**params, "computed": json.dumps(computed)})
    session.expire_all()

    stmt = select(Settlement).where(
        Settlement.tenant_id == tenant_id, Settlement.status == SettlementStatus.DRAFT.value,
        Settlement.period_start == week.start)
    if drivers is not None:
        stmt = stmt.where(Settlement.driver_id.in_(drivers))
    settlements = list(session.scalars(stmt.order_by(
        Settlement.driver_id, Settlement.platform_id.nulls_last())))
    unlinked, other_currency = unsettled_rows(session, actor, week, drivers)
    return ComputeOutcome(week, settlements, unlinked, other_currency)


def unsettled_rows(
    session: Session, actor: Actor, period: Period, driver_ids: list[uuid.UUID] | None = None,
) -> tuple[int, int]:
    """Money rows of the week left out: of unlinked platform accounts (settled once linked),
    and in another currency than their settlement (to settle by hand). One query."""
    row = session.execute(text(f"""
        SELECT count(*) FILTER (WHERE r.driver_id IS NULL),
               count(*) FILTER (WHERE r.driver_id IS NOT NULL AND EXISTS (
                 SELECT 1 FROM trp_settlements s
                  WHERE s.tenant_id = r.tenant_id AND s.driver_id = r.driver_id
                    AND s.platform_id = r.platform_id AND s.period_start = :start
                    AND s.currency <> r.currency)
                 AND NOT EXISTS (SELECT 1 FROM trp_settlement_lines l
                                  WHERE l.tenant_id = r.tenant_id
                                    AND l.consumed_key = 'import_row:' || r.id::text))
          FROM rev_import_rows r
          JOIN rev_revenue_imports i ON i.tenant_id = r.tenant_id AND i.id = r.import_id
         WHERE r.tenant_id = :t AND i.status = 'committed'
           AND i.report_type IN ({", ".join(f"'{t}'" for t in MONEY_REPORT_TYPES)})
           AND coalesce(r.occurred_at, i.period_start) >= :start
           AND coalesce(r.occurred_at, i.period_start) < :end
           AND (r.driver_id IS NULL OR {_DRIVER_FILTER.format(col="r.driver_id")})"""),
        {"t": tenant_of(actor), "start": period.start, "end": period.end,
         "drivers": driver_ids}).one()
    return int(row[0]), int(row[1])


# --- read ----------------------------------------------------------------------------------


def get_settlement(session: Session, actor: Actor, settlement_id: uuid.UUID, *,
                   for_update: bool = False) -> Settlement:
    """One settlement of the actor's tenant, or 404."""
    stmt = select(Settlement).where(Settlement.tenant_id == tenant_of(actor),
                                    Settlement.id == settlement_id)
    if for_update:
        # Re-read what a concurrent transaction committed before the lock was granted.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = session.scalar(stmt)
    if row is None:
        raise NotFound("No such settlement.")
    return row


def _period_bound(day: date | None, zone: str) -> datetime | None:
    return period_of_week(day, zone).start if day is not None else None


def settlements_query(session: Session, actor: Actor, spec: SettlementFilter) -> Select[Any]:
    """The filtered, sorted query behind the settlements list and its CSV export."""
    tenant_id = tenant_of(actor)
    stmt = select(Settlement).where(Settlement.tenant_id == tenant_id)
    if spec.driver_id is not None:
        stmt = stmt.where(Settlement.driver_id == spec.driver_id)
    if spec.platform_id is not None:
        stmt = stmt.where(Settlement.platform_id == spec.platform_id)
    if spec.driver_level is not None:
        stmt = stmt.where(Settlement.platform_id.is_(None) if spec.driver_level
                          else Settlement.platform_id.is_not(None))
    if spec.status is not None:
        stmt = stmt.where(Settlement.status == spec.status)
    if spec.period_from is not None or spec.period_to is not None:
        zone, _ = _tenant_zone(session, tenant_id)
        since = _period_bound(spec.period_from, zone)
        until = _period_bound(spec.period_to, zone)
        if since is not None:
            stmt = stmt.where(Settlement.period_start >= since)
        if until is not None:
            stmt = stmt.where(Settlement.period_start <= until)
    return stmt


def _sort_keys(sort: SettlementSort) -> list[Any]:
    column = {"period_start": Settlement.period_start, "net": Settlement.net,
              "created": Settlement.created_at}[sort.value.lstrip("-")]
    return [column, Settlement.id]


def list_settlements(
    session: Session, actor: Actor, params: PageParams, spec: SettlementFilter
) -> tuple[list[Settlement], str | None]:
    """A page of the tenant's settlements (one query)."""
    stmt = settlements_query(session, actor, spec)
    return keyset_page(session, stmt, _sort_keys(spec.sort), params,
                       descending=spec.sort.descending)


def sorted_settlements_query(session: Session, actor: Actor, spec: SettlementFilter) -> Select[Any]:
    """:func:`settlements_query` in the order of ``spec.sort`` (for the CSV export)."""
    keys = _sort_keys(spec.sort)
    return settlements_query(session, actor, spec).order_by(
        *[k.desc() if spec.sort.descending else k.asc() for k in keys])


def settlement_lines_query(
    session: Session, actor: Actor, settlement_id: uuid.UUID, *, line_type: str | None = None,
) -> Select[SettlementLine]:
    """A settlement's lines (404 for an unknown or foreign settlement), for list and CSV."""
    settlement = get_settlement(session, actor, settlement_id)
    stmt = select(SettlementLine).where(SettlementLine.tenant_id == settlement.tenant_id,
                                        SettlementLine.settlement_id == settlement.id)
    if line_type is not None:
        stmt = stmt.where(SettlementLine.line_type == line_type)
    return stmt


def list_settlement_lines(
    session: Session, actor: Actor, settlement_id: uuid.UUID, params: PageParams, *,
    line_type: str | None = None,
) -> tuple[list[SettlementLine], str | None]:
    """A page of a settlement's lines, grouped by source (``consumed_key``), then type."""
    stmt = settlement_lines_query(session, actor, settlement_id, line_type=line_type)
    keys = [SettlementLine.consumed_key, SettlementLine.line_type, SettlementLine.id]
    return keyset_page(session, stmt, keys, params)


# --- change --------------------------------------------------------------------------------


def _refuse_unless_draft(settlement: Settlement) -> None:
    if settlement.status != SettlementStatus.DRAFT.value:
        raise Conflict(
            f"The settlement is {settlement.status}: confirmed settlements are immutable. "
            "A correction goes into the next open period (compute it, or add an adjustment "
            "to its draft).", status_now=settlement.status)


def add_adjustment(
    session: Session, actor: Actor, settlement_id: uuid.UUID, *, data: AdjustmentCreate,
    expected_version: int | None = None,
) -> SettlementLine:
    """Add a manual ``adjustment`` line (signed, with its reason) to a draft settlement.

    The amount must already be a whole number of minor units (a posted amount is never
    rounded behind the user's back); the header's ``adjustments`` and ``net`` move with it.
    Manual lines survive recomputation of the draft.
    """
    settlement = _locked_settlement(session, actor, settlement_id)
    _refuse_unless_draft(settlement)
    _check_version(settlement, expected_version)
    money = data.amount.to_money()
    if money.currency != settlement.currency:
        message = f"The settlement is in {settlement.currency}, not {money.currency}."
        raise ValidationProblem(message, errors=[{"field": "amount.currency",
                                                  "message": message}])
    if not money.is_rounded():
        message = (f"{money.amount_str()} is not a whole number of minor units of "
                   f"{money.currency}.")
        raise ValidationProblem(message, errors=[{"field": "amount.amount", "message": message}])
    if money.is_zero():
        message = "An adjustment of zero changes nothing."
        raise ValidationProblem(message, errors=[{"field": "amount.amount", "message": message}])
    line_id = new_id()
    line = SettlementLine(
        tenant_id=settlement.tenant_id, id=line_id, settlement_id=settlement.id,
        line_type=SettlementLineType.ADJUSTMENT.value, description=data.description,
        amount=money.amount, currency=money.currency,
        source_type=SettlementLineSource.MANUAL.value, source_id=None,
        service_date=data.service_date, consumed_key=f"manual:{line_id}",
        created_by=actor.id, updated_by=actor.id,
    )
    session.add(line)
    settlement.adjustments = settlement.adjustments + money.amount
    settlement.net = settlement.net + money.amount
    settlement.updated_by = actor.id
    session.flush()
    session.refresh(settlement, ["version", "updated_at"])
    return line


def _check_version(settlement: Settlement, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != settlement.version:
        raise PreconditionFailed(
            f"The settlement is at version {settlement.version}; re-read it and confirm what "
            "you see.", current_etag=etag(settlement.version))


def _conflicts(session: Session, settlement: Settlement) -> list[dict[str, str]]:
    rows = session.execute(text("""
        SELECT DISTINCT l.consumed_key, o.settlement_id
          FROM trp_settlement_lines l
          JOIN trp_settlement_lines o ON o.tenant_id = l.tenant_id
                                     AND o.consumed_key = l.consumed_key
                                     AND o.confirmed AND o.settlement_id <> l.settlement_id
         WHERE l.tenant_id = :t AND l.settlement_id = :s
         ORDER BY l.consumed_key LIMIT 20"""), {"t": settlement.tenant_id, "s": settlement.id})
    return [{"consumed_key": key, "settlement_id": str(other)} for key, other in rows]


def _consumed_problem(conflicts: list[dict[str, str]]) -> Conflict:
    first = conflicts[0] if conflicts else None
    detail = (
        f"Source {first['consumed_key']} is already settled by confirmed settlement "
        f"{first['settlement_id']}" if first else "A source of this settlement is already "
        "settled by another confirmed settlement"
    ) + ": recompute this period to leave it out."
    return Conflict(detail, conflicts=conflicts)


def _refuse_missing_sources(session: Session, settlement: Settlement) -> None:
    """409 when report rows of the draft are gone (their import was rolled back after it was
    computed): it would post money no report holds any more. The database refuses it too
    (``trp_settlement_lines_source_present``)."""
    missing = session.execute(text("""
        SELECT count(*) FROM trp_settlement_lines
         WHERE tenant_id = :t AND settlement_id = :s AND source_type = 'import_row'
           AND import_row_id IS NULL"""), {"t": settlement.tenant_id, "s": settlement.id}
    ).scalar_one()
    if missing:
        raise Conflict(
            f"{missing} line(s) of this settlement come from report rows that no longer exist "
            "(their import was rolled back): recompute the week, then confirm.",
            missing_sources=int(missing))


def hold_drafts_fed_by_import(
    session: Session, actor: Actor, import_id: uuid.UUID,
) -> list[tuple[date, list[uuid.UUID]]]:
    """Before an import's report rows are deleted (its rollback): lock the weeks of the
    settlements they feed, refuse (409) when a confirmed one consumed any of them, and return
    the (local week day, drivers) of the drafts to recompute once the rows are gone
    (:func:`recompute_held_drafts`, same transaction)."""
    tenant_id = tenant_of(actor)
    query = text("""
        SELECT DISTINCT s.period_start, s.driver_id, s.status, s.id
          FROM rev_import_rows r
          JOIN trp_settlement_lines l ON l.tenant_id = r.tenant_id AND l.import_row_id = r.id
          JOIN trp_settlements s ON s.tenant_id = l.tenant_id AND s.id = l.settlement_id
         WHERE r.tenant_id = :t AND r.import_id = :i
         ORDER BY s.period_start, s.driver_id""")
    args = {"t": tenant_id, "i": import_id}
    for start in sorted({row.period_start for row in session.execute(query, args)}):
        _lock_week(session, tenant_id, start)
    # Read again under the locks: no computation or confirmation of these weeks can run now.
    fed = session.execute(query, args).all()
    zone = ZoneInfo(_tenant_zone(session, tenant_id)[0])
    confirmed = [row for row in fed if row.status != SettlementStatus.DRAFT.value]
    if confirmed:
        raise Conflict(
            f"Rows of this import are settled by a {confirmed[0].status} settlement (week of "
            f"{confirmed[0].period_start.astimezone(zone):%Y-%m-%d}); it cannot be rolled back.",
            settlement_id=str(confirmed[0].id))
    weeks: dict[date, set[uuid.UUID]] = defaultdict(set)
    for row in fed:
        weeks[row.period_start.astimezone(zone).date()].add(row.driver_id)
    return [(week, sorted(drivers)) for week, drivers in sorted(weeks.items())]


def recompute_held_drafts(
    session: Session, actor: Actor, held: list[tuple[date, list[uuid.UUID]]],
) -> None:
    """Rebuild the drafts :func:`hold_drafts_fed_by_import` returned, now that the import's rows
    are gone (manual adjustments kept, as in every recomputation)."""
    for week, drivers in held:
        compute_week(session, actor, period=week, driver_ids=drivers)


def _platform_name(session: Session, settlement: Settlement) -> str | None:
    if settlement.platform_id is None:
        return None
    name = session.execute(text("SELECT name FROM dir_platforms WHERE id = :p"),
                           {"p": settlement.platform_id}).scalar_one_or_none()
    return str(name) if name is not None else None


def _refuse_silent_terms(
    session: Session, actor: Actor, settlement: Settlement, decision: SettlementConfirm | None,
) -> None:
    """No silent 100 %: 409 when earnings had no accepted terms on some days and no explicit
    decision to confirm without them was given; with one, record it in the audit trail."""
    if not settlement.needs_terms:
        return
    days = [d.isoformat() for d in settlement.days_without_terms]
    platform = _platform_name(session, settlement)
    if decision is None or not decision.without_terms:
        raise Conflict(
            f"Earnings on {', '.join(days)}"
            + (f" ({platform})" if platform else "")
            + " had no accepted cooperation terms, so no fleet share was taken and the driver "
            "keeps them whole. Accept the driver's terms and recompute the week, or confirm "
            "without terms giving the reason.",
            needs_terms=True, days_without_terms=days,
            platform_id=str(settlement.platform_id) if settlement.platform_id else None,
            platform=platform)
    session.execute(text(
        "INSERT INTO adm_audit_logs (id, tenant_id, actor_type, actor_id, action, entity_type,"
        " entity_id, changes, ip, user_agent, request_id, occurred_at)"
        " VALUES (gen_random_uuid(), :t, fc_audit_actor_type(),"
        " coalesce(NULLIF(current_setting('app.actor_id', true), '')::uuid, :actor),"
        " 'confirm_without_terms', 'trp_settlements', :s, CAST(:changes AS jsonb),"
        " NULLIF(current_setting('app.ip', true), '')::inet,"
        " NULLIF(current_setting('app.user_agent', true), ''),"
        " NULLIF(current_setting('app.request_id', true), ''), clock_timestamp())"),
        {"t": settlement.tenant_id, "s": settlement.id, "actor": actor.id,
         "changes": json.dumps({
            "without_terms": True, "reason": decision.reason, "days_without_terms": days,
            "platform_id": str(settlement.platform_id) if settlement.platform_id else None,
            "net": str(settlement.net), "currency": settlement.currency,
            "version": settlement.version})})


def confirm_settlement(
    session: Session, actor: Actor, settlement_id: uuid.UUID, expected_version: int | None,
    *, decision: SettlementConfirm | None = None,
) -> Settlement:
    """Confirm a draft: it becomes immutable, its sources are consumed for good, and its lines
    post to the ledger (:func:`fleetcore.finance.ledger_service.post_settlement`).

    409 when it is not a draft (confirming twice), when one of its sources is already in
    another confirmed settlement (the database's exclusion constraint refuses it even under
    concurrency; the check before it names the conflicts), or when it ``needs_terms`` and
    ``decision`` does not say to confirm without terms (the decision, with its reason, goes
    into the audit trail); 412 on a stale version.
    """
    settlement = _locked_settlement(session, actor, settlement_id)
    _refuse_unless_draft(settlement)
    _check_version(settlement, expected_version)
    conflicts = _conflicts(session, settlement)
    if conflicts:
        raise _consumed_problem(conflicts)
    _refuse_missing_sources(session, settlement)
    _refuse_silent_terms(session, actor, settlement, decision)
    settlement.status = SettlementStatus.CONFIRMED.value
    settlement.confirmed_at = datetime.now(UTC)
    settlement.confirmed_by = actor.id
    settlement.updated_by = actor.id
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        if name == "ex_trp_settlement_lines_consumed_once":
            session.refresh(settlement)
            raise _consumed_problem(_conflicts(session, settlement)) from exc
        raise
    # money.md: money posts to the ledger when (and only when) a settlement is confirmed,
    # in the same transaction as the confirmation.
    post_settlement(session, actor, settlement.id)
    # A week fully confirmed yields its self-billed invoice where the tenant self-bills
    # (docs/statements.md), in this transaction.
    issue_after_confirmation(session, actor, settlement.driver_id, settlement.period_start)
    session.refresh(settlement)
    return settlement


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """What :func:`confirm_many` did with each requested settlement (each in one list)."""

    confirmed: list[Settlement]
    skipped: list[Settlement]  # need terms, no decision given: left draft
    refused: list[tuple[uuid.UUID, Problem]]

    def totals(self) -> list[tuple[str, int, Decimal]]:
        """(currency, count, net) of the confirmed settlements, by currency."""
        return net_by_currency(self.confirmed)


def net_by_currency(settlements: list[Settlement]) -> list[tuple[str, int, Decimal]]:
    """(currency, count, summed net) of ``settlements``, by currency."""
    sums: dict[str, tuple[int, Decimal]] = {}
    for row in settlements:
        count, net = sums.get(row.currency, (0, Decimal(0)))
        sums[row.currency] = (count + 1, net + row.net)
    return [(currency, count, net) for currency, (count, net) in sorted(sums.items())]


def confirm_many(
    session: Session, actor: Actor, items: list[tuple[uuid.UUID, int]], *,
    decision: SettlementConfirm | None = None,
) -> BulkOutcome:
    """Confirm several drafts, each by :func:`confirm_settlement` against the version the
    caller saw, each in its own savepoint: one that is stale, no longer a draft or has a
    source settled elsewhere is rolled back alone and reported (its problem), the others
    stay confirmed; the caller's transaction commits them together. Settlements that
    ``needs_terms`` are skipped (left draft) unless ``decision`` says to confirm without
    terms. They are taken in (week, id) order, so two bulk confirmations of overlapping
    weeks take the weeks' locks in the same order and never deadlock."""
    versions = dict(items)
    weeks = dict(session.execute(
        select(Settlement.id, Settlement.period_start).where(
            Settlement.tenant_id == tenant_of(actor), Settlement.id.in_(list(versions))))
        .all())
    confirmed: list[Settlement] = []
    skipped: list[Settlement] = []
    refused: list[tuple[uuid.UUID, Problem]] = []
    for settlement_id in sorted(versions, key=lambda i: (weeks.get(i) is None, weeks.get(i),
                                                         str(i))):
        if settlement_id not in weeks:
            refused.append((settlement_id, NotFound("No such settlement.")))
            continue
        try:
            with session.begin_nested():
                confirmed.append(confirm_settlement(
                    session, actor, settlement_id, versions[settlement_id], decision=decision))
        except Conflict as problem:
            if problem.extensions.get("needs_terms"):
                skipped.append(get_settlement(session, actor, settlement_id))
            else:
                refused.append((settlement_id, problem))
        except Problem as problem:
            refused.append((settlement_id, problem))
    return BulkOutcome(confirmed=confirmed, skipped=skipped, refused=refused)
