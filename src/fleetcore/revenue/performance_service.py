"""Driver performance per period, recomputed from trips and imports (workflows.md, Trips 6).

It lives with revenue, not with the drivers whose rows it writes: it reads trips and import
rows, and the drivers' domain sits below those (the import-linter contracts say so).

One ``rid_driver_performances`` row per (driver, platform, period), written by one set-based
``INSERT … ON CONFLICT DO UPDATE`` whatever the number of drivers:

* **From the trips** of the period (live, with a driver; the trip's time is
  ``COALESCE(ended_at, started_at, requested_at)``): ``trips_completed`` (status
  ``completed``), ``trips_cancelled`` (every other status: cancelled by the driver or the
  rider, no-show), ``cancellation_rate_pct`` = trips cancelled *by the driver* / all trips x
  100, and over the completed trips ``distance_km`` and ``hours_on_trip`` (``duration_s``,
  else ``ended_at - started_at``).
* **From the committed import rows** of the period (``occurred_at``, or the import's period
  for weekly summaries that have no dates): ``gross_revenue`` (fares) and ``net_revenue``
  (the driver's earnings after the platform's fee). As for driver revenues, each (driver,
  platform, week) counts the finest report type present only — a per-transaction report and
  the weekly summary of the same week are never added together. A driver with trips but no
  report rows gets the trips' fares and net earnings instead.
* Acceptance rate, rating and hours online are not in trips or reports: left as they are
  (NULL unless another source fills them; a recompute never erases them).

Recomputing is idempotent: a row whose figures did not change is not written (no new
``computed_at``, no audit entry); a driver who no longer has trips or rows in the period loses
the row of that exact period. Periods of one driver and platform never overlap (exclusion
constraint): recomputing a period that overlaps differently-bounded existing rows is a 409.

Money never mixes currencies: if one driver's rows (or trips) of a platform and period are in
several currencies, the recompute is refused (422) naming them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetcore.admin.models import Tenant
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.db import ActorType
from fleetcore.core.errors import Conflict, NotFound, ValidationProblem
from fleetcore.core.orm import UUID7_SQL
from fleetcore.core.periods import period_of_week
from fleetcore.revenue.models import money_precedence_sql
from fleetcore.revenue.periods import MAX_PERIOD, check_period, field_error

__all__ = ["MAX_PERIOD", "RecomputeResult", "recompute_performances"]

"""The longest period recomputed at once (weeks and months are the normal case)."""

# Report types that carry money, finest first (as the import pipeline ranks them).
_PRECEDENCE = money_precedence_sql()

_COMPUTED = f"""
trips AS (
  SELECT t.driver_id, t.platform_id,
         count(*) FILTER (WHERE t.status = 'completed') AS completed,
         count(*) FILTER (WHERE t.status <> 'completed') AS cancelled,
         count(*) FILTER (WHERE t.status = 'cancelled_by_driver') AS cancelled_by_driver,
         count(*) AS total,
         sum(t.distance_km) FILTER (WHERE t.status = 'completed') AS distance,
         sum(COALESCE(t.duration_s::numeric, extract(epoch FROM t.ended_at - t.started_at)))
           FILTER (WHERE t.status = 'completed') AS seconds,
         sum(t.fare_gross) AS gross, sum(t.net_earnings) AS net,
         min(t.currency) AS currency, count(DISTINCT t.currency) AS currencies
    FROM trp_trips t
   WHERE t.tenant_id = :tenant AND t.deleted_at IS NULL AND t.driver_id IS NOT NULL
     AND ((t.ended_at >= :start AND t.ended_at < :end)
       OR (t.ended_at IS NULL AND COALESCE(t.started_at, t.requested_at) >= :start
           AND COALESCE(t.started_at, t.requested_at) < :end))
   GROUP BY t.driver_id, t.platform_id
),
money_rows AS (
  SELECT r.driver_id, r.platform_id, p.rank, r.fare_gross, r.earnings, r.currency,
         date_trunc('week', COALESCE(r.occurred_at, i.period_start) AT TIME ZONE :tz) AS week
    FROM rev_import_rows r
    JOIN rev_revenue_imports i ON i.tenant_id = r.tenant_id AND i.id = r.import_id
     AND i.status = 'committed'
    JOIN (VALUES {_PRECEDENCE}) p(report_type, rank) ON p.report_type = i.report_type
   WHERE r.tenant_id = :tenant AND r.driver_id IS NOT NULL
     AND COALESCE(r.occurred_at, i.period_start) >= :start
     AND COALESCE(r.occurred_at, i.period_start) < :end
),
finest AS (
  SELECT driver_id, platform_id, week, min(rank) AS rank FROM money_rows GROUP BY 1, 2, 3
),
revenue AS (
  SELECT m.driver_id, m.platform_id, COALESCE(sum(m.fare_gross), 0) AS gross,
         COALESCE(sum(m.earnings), 0) AS net, min(m.currency) AS currency,
         count(DISTINCT m.currency) AS currencies
    FROM money_rows m JOIN finest f USING (driver_id, platform_id, week)
   WHERE m.rank = f.rank
   GROUP BY m.driver_id, m.platform_id
),
computed AS MATERIALIZED (
  SELECT COALESCE(t.driver_id, v.driver_id) AS driver_id,
         COALESCE(t.platform_id, v.platform_id) AS platform_id,
         COALESCE(t.completed, 0) AS completed, COALESCE(t.cancelled, 0) AS cancelled,
         round(100.0 * t.cancelled_by_driver / NULLIF(t.total, 0), 4) AS cancellation_rate,
         round(t.seconds / 3600, 2) AS hours_on_trip, round(t.distance, 2) AS distance,
         CASE WHEN v.driver_id IS NOT NULL THEN v.gross ELSE COALESCE(t.gross, 0) END AS gross,
         CASE WHEN v.driver_id IS NOT NULL THEN v.net ELSE COALESCE(t.net, 0) END AS net,
         COALESCE(v.currency, t.currency, :default_currency) AS currency,
         CASE WHEN v.driver_id IS NOT NULL THEN v.currencies ELSE t.currencies END
           AS currencies
    FROM trips t FULL JOIN revenue v
      ON v.driver_id = t.driver_id AND v.platform_id = t.platform_id
)"""

_MIXED_SQL = f"""
WITH {_COMPUTED}
SELECT driver_id, platform_id FROM computed WHERE currencies > 1 ORDER BY 1, 2 LIMIT 5
"""

_UPSERT_SQL = f"""
WITH {_COMPUTED},
written AS (
  INSERT INTO rid_driver_performances AS p (tenant_id, id, driver_id, platform_id,
      period_start, period_end, trips_completed, trips_cancelled, cancellation_rate_pct,
      hours_on_trip, distance_km, gross_revenue, net_revenue, currency, computed_at,
      created_by, updated_by)
  SELECT :tenant, {UUID7_SQL}, c.driver_id, c.platform_id, :start, :end, c.completed,
         c.cancelled, c.cancellation_rate, c.hours_on_trip, c.distance, c.gross, c.net,
         c.currency, now(), :actor, :actor
    FROM computed c
   WHERE c.currencies <= 1
  ON CONFLICT ON CONSTRAINT uq_rid_driver_performances_period_start DO UPDATE SET
     period_end = EXCLUDED.period_end, trips_completed = EXCLUDED.trips_completed,
     trips_cancelled = EXCLUDED.trips_cancelled,
     cancellation_rate_pct = EXCLUDED.cancellation_rate_pct,
     hours_on_trip = EXCLUDED.hours_on_trip, distance_km = EXCLUDED.distance_km,
     gross_revenue = EXCLUDED.gross_revenue, net_revenue = EXCLUDED.net_revenue,
     currency = EXCLUDED.currency, computed_at = now(), updated_by = EXCLUDED.updated_by
   WHERE (p.period_end, p.trips_completed, p.trips_cancelled, p.cancellation_rate_pct,
          p.hours_on_trip, p.distance_km, p.gross_revenue, p.net_revenue, p.currency)
     IS DISTINCT FROM
         (EXCLUDED.period_end, EXCLUDED.trips_completed, EXCLUDED.trips_cancelled,
          EXCLUDED.cancellation_rate_pct, EXCLUDED.hours_on_trip, EXCLUDED.distance_km,
          EXCLUDED.gross_revenue, EXCLUDED.net_revenue, EXCLUDED.currency)
  RETURNING (p.xmax = 0) AS inserted
),
removed AS (
  DELETE FROM rid_driver_performances p
   WHERE p.tenant_id = :tenant AND p.period_start = :start AND p.period_end = :end
     AND p.platform_id IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM computed c WHERE c.driver_id = p.driver_id
                                                AND c.platform_id = p.platform_id)
  RETURNING 1
)
SELECT (SELECT count(*) FROM computed) AS computed,
       (SELECT count(*) FROM computed WHERE currencies > 1) AS mixed,
       (SELECT count(*) FILTER (WHERE inserted) FROM written) AS created,
       (SELECT count(*) FILTER (WHERE NOT inserted) FROM written) AS updated,
       (SELECT count(*) FROM removed) AS removed
"""


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    """What a recompute did to the period's rows."""

    period_start: datetime
    period_end: datetime
    created: int
    updated: int
    unchanged: int
    removed: int


class _MixedCurrencies(Exception):  # noqa: N818 - internal signal, never leaves this module
    pass


def _period(week: date | None, period_start: datetime | None, period_end: datetime | None,
            timezone: str) -> tuple[datetime, datetime]:
    """``week`` (any day of it, the tenant's week) or an explicit ``[start, end)``."""
    if week is not None:
        if period_start is not None or period_end is not None:
            raise field_error("week", "Give either a week or period_start and period_end.")
        try:
            found = period_of_week(week, timezone)
        except (OverflowError, ValueError):
            raise field_error("week", "The week is out of the calendar's range.") from None
        return found.start, found.end
    if period_start is None or period_end is None:
        raise field_error("period_start",
                           "Give a week, or both period_start and period_end.")
    check_period(period_start, period_end, what="period")
    return period_start, period_end


def recompute_performances(
    session: Session, actor: Actor, *, week: date | None = None,
    period_start: datetime | None = None, period_end: datetime | None = None,
) -> RecomputeResult:
    """Recompute every driver's figures of the period, per platform, from trips and imports."""
    tenant_id = tenant_of(actor)
    tenant = session.execute(select(Tenant.timezone, Tenant.default_currency)
                             .where(Tenant.id == tenant_id)).one_or_none()
    if tenant is None:
        raise NotFound("No tenant is open.")
    start, end = _period(week, period_start, period_end, tenant.timezone)
    params = {"tenant": tenant_id, "start": start, "end": end, "tz": tenant.timezone,
              "default_currency": tenant.default_currency,
              "actor": actor.id if actor.type is ActorType.MEMBER else None}
    try:
        with session.begin_nested():
            row = session.execute(text(_UPSERT_SQL), params).one()
            if row.mixed:
                raise _MixedCurrencies
    except _MixedCurrencies:
        # Rare, so the offenders are looked up only now (the upsert above was rolled back).
        mixed = session.execute(text(_MIXED_SQL), params).all()
        listed = ", ".join(f"driver {d} on platform {p}" for d, p in mixed)
        raise ValidationProblem(
            f"Some drivers' amounts of this period are in several currencies ({listed}); "
            "their figures cannot be added up. Correct the imports or trips first.",
            errors=[{"field": "period_start", "message": "amounts in several currencies"}],
        ) from None
    except IntegrityError as exc:
        name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
        if name == "ex_rid_driver_performances_period":
            raise Conflict(
                "Performance figures of a differently bounded period overlapping this one "
                "exist for some drivers; recompute that period instead (or the same bounds).",
            ) from exc
        raise Conflict("The figures conflict with existing performance rows "
                       f"({name or 'a constraint'}).") from exc
    written = int(row.created) + int(row.updated)
    return RecomputeResult(period_start=start, period_end=end, created=int(row.created),
                           updated=int(row.updated), unchanged=int(row.computed) - written,
                           removed=int(row.removed))

