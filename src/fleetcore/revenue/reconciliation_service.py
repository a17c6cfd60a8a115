"""Reconciliation: a platform's report compared with the internal trips of a period.

What is compared (``docs/reconciliation.md`` tells the user's side):

* **The report side** is the committed import rows of the platform (or of one import) that
  carry a trip id and whose ``occurred_at`` falls in the period, summed per trip id: a trip,
  its tip and a fare adjustment are several rows of one trip. Only per-trip money reports take
  part (Uber payments per transaction, Bolt orders): a weekly per-driver summary has no trip id
  and a trip-activity report no money.
* **The internal side** is the live trips of the platform whose time
  (``COALESCE(ended_at, started_at, requested_at)``) falls in the period.

Each trip id is classified once, in one ``FULL OUTER JOIN`` pass: ``matched``,
``missing_internal`` (in the report, not in the trips of the period), ``missing_platform`` (in
the trips, not in the report), ``fare_mismatch`` and/or ``commission_mismatch`` when
``|report - internal|`` is beyond the tolerance (a difference equal to the tolerance is
matched). A trip that carries no money (no fare, no commission) and is absent from the report
is not a discrepancy: payment reports list paid trips only. ``cash_mismatch``: the trip's cash
collected differs from the report's beyond the tolerance (only when both state one).

Beside it, in the same transaction, :mod:`fleetcore.revenue.trip_checks` checks the period's
trips against the vehicles' GPS track (not moving, pickup or drop-off far) and the vehicles'
use against the drivers' shifts, and writes those items into the same run.

How: one statement, so counts and items come from one snapshot. One ``FULL OUTER JOIN`` pass
whose single aggregate counts, sums the drift and collects the discrepant pairs
(``array_agg … FILTER``), so the million matched pairs are never materialised a second time;
then one ``INSERT … SELECT`` unnests the few discrepancies, looks up what they link to (the
trip, by its unique platform trip id) and writes the items. The join carries nothing but trip
ids and amounts, as a bare hand-written join would: ``bench/reconcile.py`` measures the
service against that join.

One currency per reconciliation, the tolerance's: if any row or trip in scope is in another
currency the run is refused (422, nothing stored) with the currencies found, because a drift
that adds euros to dirhams means nothing. A database error during the run (an amount too large
for ``numeric(18,4)``, a statement timeout) leaves a ``failed`` run with the error; a run never
stays ``running``.

Services flush, never commit: the request (or job) owns the transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.db import ActorType
from fleetcore.core.errors import NotFound
from fleetcore.core.money import Money
from fleetcore.core.pagination import PageParams, equal_filters, keyset_page, range_filter
from fleetcore.reference.models import Platform
from fleetcore.revenue import trip_checks
from fleetcore.revenue.models import (
    DriverRevenueStatus,
    ImportStatus,
    Reconciliation,
    ReconciliationItem,
    ReconciliationStatus,
    ReportType,
    RevenueImport,
)
from fleetcore.revenue.periods import MAX_PERIOD, check_period, field_error

__all__ = [
    "MAX_PERIOD",
    "TRIP_MONEY_REPORTS",
    "ItemFilter",
    "ReconciliationFilter",
    "get_reconciliation",
    "items_query",
    "list_items",
    "list_reconciliations",
    "reconcile_period",
    "reconciliations_query",
]

TRIP_MONEY_REPORTS: tuple[str, ...] = (ReportType.PAYMENTS_ORDER.value,
                                       ReportType.BOLT_ORDERS.value)
"""Report types whose rows carry a trip id *and* money: the only ones a reconciliation reads."""

"""A reconciliation covers at most a year: weeks and months are the normal case; a longer
period is almost certainly a mistake that would scan the platform's whole history."""

WORK_MEM = "64MB"
"""``work_mem`` for the reconciliation statement only (set, then reset, around it): the join
hashes every trip of the period, and at PostgreSQL's 4 MB default a million trips split into
16 batches written to temporary files; with 64 MB (x ``hash_mem_multiplier``) they fit in one.
``bench/reconcile.py`` runs its baseline join with the same setting."""

# The items' ids: time-ordered UUIDv7s (like ``core.orm.new_id``) made from one random UUID
# per run (``:id_base``, from Python) with the statement's millisecond timestamp over its first
# six bytes and a counter unique within the run over bytes 13-16 (RFC 9562, 6.2 method 1), then
# the version bits. PostgreSQL 15 has no uuidv7(), and one gen_random_uuid() per item costs a
# strong-random call each; the counter makes the ids unique within a run, the 42 random bits
# left across runs started in the same millisecond.
_ITEM_ID_SQL = (
    "encode(set_bit(set_bit(overlay(overlay(uuid_send(CAST(:id_base AS uuid)) placing"
    " substring(int8send((extract(epoch FROM statement_timestamp()) * 1000)::bigint) FROM 3)"
    " FROM 1 FOR 6) placing int4send(({counter})::int) FROM 13 FOR 4), 52, 1), 53, 1),"
    " 'hex')::uuid"
)

_TRIP_TIME = "COALESCE(t.ended_at, t.started_at, t.requested_at)"

# The trips in scope, written so that the (tenant_id, platform_id, ended_at) index serves it
# (``ended_at`` is set for almost every trip: the import fills it from the report's time).
_TRIPS_IN_PERIOD = (
    "t.tenant_id = :tenant AND t.platform_id = :platform AND t.deleted_at IS NULL"
    " AND ((t.ended_at >= :start AND t.ended_at < :end)"
    "   OR (t.ended_at IS NULL AND COALESCE(t.started_at, t.requested_at) >= :start"
    "       AND COALESCE(t.started_at, t.requested_at) < :end))"
)

# The report rows in scope, over ``r`` (rev_import_rows): the rows of the imports found first
# (``:imports``, a handful of ids), so the (tenant_id, import_id, row_number) index bounds the
# scan to the period's reports instead of the platform's whole history.
_REPORT_ROWS = (
    "r.tenant_id = :tenant AND r.import_id = ANY(CAST(:imports AS uuid[]))"
    " AND r.platform_id = :platform AND r.external_trip_id IS NOT NULL"
    " AND r.occurred_at >= :start AND r.occurred_at < :end"
)

_IMPORTS_SQL = f"""
SELECT i.id FROM rev_revenue_imports i
 WHERE i.tenant_id = :tenant AND i.platform_id = :platform AND i.status = 'committed'
   AND i.report_type IN ({', '.join(repr(t) for t in TRIP_MONEY_REPORTS)})
   AND (i.period_start IS NULL OR i.period_start < :end)
   AND (i.period_end IS NULL OR i.period_end > :start)
   AND (CAST(:import_id AS uuid) IS NULL OR i.id = CAST(:import_id AS uuid))
"""

# The whole run in one statement (one snapshot): the pass over the period, its one-row summary
# (counts, drift, the discrepant pairs), then the items written from the summary.
_RECONCILE_SQL = f"""
WITH rep AS (
  SELECT r.external_trip_id AS xid, sum(r.fare_gross) AS fare, sum(r.commission) AS commission,
         sum(r.cash_collected) AS cash, count(*) AS n_rows,
         count(*) FILTER (WHERE r.currency <> CAST(:currency AS char(3))) AS foreign_rows
    FROM rev_import_rows r
   WHERE {_REPORT_ROWS}
   GROUP BY r.external_trip_id
),
trp AS (
  SELECT t.external_trip_id AS xid, t.fare_gross AS fare, t.platform_commission AS commission,
         t.cash_collected AS cash, t.currency <> CAST(:currency AS char(3)) AS foreign_trip
    FROM trp_trips t
   WHERE {_TRIPS_IN_PERIOD}
),
pairs AS (
  -- One row per trip id, its discrepancies as bits (computed once; OFFSET 0 keeps the
  -- subquery so the aggregates below read the bits instead of recomputing them):
  -- 1 missing_internal, 2 missing_platform, 4 fare_mismatch, 8 commission_mismatch,
  -- 16 cash_mismatch (only when both sides state cash: a report without a cash column
  -- contradicts nothing).
  SELECT COALESCE(rep.xid, trp.xid) AS xid,
         rep.fare AS report_fare, trp.fare AS internal_fare,
         rep.commission AS report_commission, trp.commission AS internal_commission,
         rep.cash AS report_cash, trp.cash AS internal_cash,
         CASE WHEN trp.xid IS NULL THEN 1
              WHEN rep.xid IS NULL THEN
                -- A trip with no money has nothing to find in a payment report.
                CASE WHEN COALESCE(trp.fare, 0) <> 0 OR COALESCE(trp.commission, 0) <> 0
                     THEN 2 ELSE 0 END
              ELSE CASE WHEN abs(COALESCE(rep.fare, 0) - COALESCE(trp.fare, 0)) > :tolerance
                        THEN 4 ELSE 0 END
                 + CASE WHEN abs(COALESCE(rep.commission, 0) - COALESCE(trp.commission, 0))
                             > :tolerance THEN 8 ELSE 0 END
                 + CASE WHEN abs(rep.cash - trp.cash) > :tolerance THEN 16 ELSE 0 END
         END AS bits,
         rep.xid IS NOT NULL AND trp.xid IS NOT NULL AS paired, rep.n_rows,
         COALESCE(rep.foreign_rows, 0)
           + CASE WHEN trp.foreign_trip THEN 1 ELSE 0 END AS foreign_rows
    FROM rep FULL JOIN trp ON trp.xid = rep.xid
  OFFSET 0
),
summary AS (
  SELECT count(*) FILTER (WHERE paired AND bits = 0) AS matched,
         count(*) FILTER (WHERE bits = 1) AS missing_internal,
         count(*) FILTER (WHERE bits = 2) AS missing_platform,
         count(*) FILTER (WHERE bits & 4 <> 0) AS fare_mismatch,
         count(*) FILTER (WHERE bits & 8 <> 0) AS commission_mismatch,
         count(*) FILTER (WHERE bits & 16 <> 0) AS cash_mismatch,
         COALESCE(sum(report_fare), 0) - COALESCE(sum(internal_fare), 0) AS drift,
         COALESCE(sum(foreign_rows), 0) AS foreign_rows,
         -- The discrepant pairs only, collected by the same pass that counts.
         array_agg(xid) FILTER (WHERE bits <> 0) AS xids,
         array_agg(bits) FILTER (WHERE bits <> 0) AS bitss,
         array_agg(report_fare) FILTER (WHERE bits <> 0) AS report_fares,
         array_agg(internal_fare) FILTER (WHERE bits <> 0) AS internal_fares,
         array_agg(report_commission) FILTER (WHERE bits <> 0) AS report_commissions,
         array_agg(internal_commission) FILTER (WHERE bits <> 0) AS internal_commissions,
         array_agg(report_cash) FILTER (WHERE bits <> 0) AS report_cashes,
         array_agg(internal_cash) FILTER (WHERE bits <> 0) AS internal_cashes,
         array_agg(n_rows) FILTER (WHERE bits <> 0) AS n_rowss
    FROM pairs
),
first_rows AS MATERIALIZED (
  -- The first report row of each trip the period's trips lack (what its item links to), in
  -- one pass over the period's rows: report rows have no index on the trip id (decision
  -- 0018), and a lookup per missing trip would read the period's rows once each.
  SELECT DISTINCT ON (r.external_trip_id) r.external_trip_id AS xid, r.id, r.driver_id
    FROM summary s
   CROSS JOIN LATERAL unnest(s.xids, s.bitss) AS m(xid, bits)
    JOIN rev_import_rows r ON r.external_trip_id = m.xid
   WHERE m.bits = 1 AND {_REPORT_ROWS}
   ORDER BY r.external_trip_id, r.occurred_at, r.row_number
),
discrepant AS MATERIALIZED (
  -- Only now, for the few discrepant trips, what the items link to: the trip (by the unique
  -- platform trip id; for a trip missing from the period, the same trip in another period:
  -- a late fare adjustment or tip of an older trip), and, when the period has no trip to
  -- link, the trip's first report row.
  SELECT u.*, u.bits <> 2 AS in_report, u.bits <> 1 AS in_trips,
         trip.id AS trip_id, trip.driver_id AS trip_driver, trip.at AS trip_at,
         src.id AS row_id, src.driver_id AS row_driver
    FROM summary s
   CROSS JOIN LATERAL unnest(s.xids, s.bitss, s.report_fares, s.internal_fares,
         s.report_commissions, s.internal_commissions, s.report_cashes, s.internal_cashes,
         s.n_rowss) WITH ORDINALITY
         AS u(xid, bits, report_fare, internal_fare, report_commission, internal_commission,
              report_cash, internal_cash, n_rows, n)
    LEFT JOIN LATERAL (
         SELECT t.id, t.driver_id, {_TRIP_TIME} AS at FROM trp_trips t
          WHERE t.tenant_id = :tenant AND t.platform_id = :platform
            AND t.external_trip_id = u.xid AND t.deleted_at IS NULL) trip ON true
    LEFT JOIN first_rows src ON u.bits = 1 AND src.xid = u.xid
   -- Nothing is written when the period mixes currencies (the run is refused).
   WHERE s.foreign_rows = 0
),
items AS (
  INSERT INTO rev_reconciliation_items (tenant_id, id, reconciliation_id, kind,
      external_trip_id, trip_id, import_row_id, report_amount, internal_amount, difference,
      currency, details, created_by, updated_by)
  SELECT :tenant, {_ITEM_ID_SQL.format(counter="p.n * 8 + k.slot")}, :reconciliation, k.kind,
         p.xid, p.trip_id, p.row_id,
         k.report_amount, k.internal_amount,
         COALESCE(k.report_amount, 0) - COALESCE(k.internal_amount, 0), :currency,
         jsonb_build_object(
           'driver_id', COALESCE(p.trip_driver, p.row_driver),
           'report_rows', CASE WHEN p.in_report THEN p.n_rows END,
           'trip_at', p.trip_at,
           'trip_outside_period', NOT p.in_trips AND p.trip_id IS NOT NULL,
           -- Amounts as strings: a JSON number would come back as a float.
           'report_fare', p.report_fare::text, 'internal_fare', p.internal_fare::text,
           'report_commission', p.report_commission::text,
           'internal_commission', p.internal_commission::text,
           'report_cash', p.report_cash::text, 'internal_cash', p.internal_cash::text),
         :actor, :actor
    FROM discrepant p
   CROSS JOIN LATERAL (VALUES
         ('missing_internal', p.report_fare, NULL::numeric, 1, 0),
         ('missing_platform', NULL::numeric, p.internal_fare, 2, 1),
         ('fare_mismatch', p.report_fare, p.internal_fare, 4, 2),
         ('commission_mismatch', p.report_commission, p.internal_commission, 8, 3),
         ('cash_mismatch', p.report_cash, p.internal_cash, 16, 4))
         AS k(kind, report_amount, internal_amount, bit, slot)
   WHERE p.bits & k.bit <> 0
  RETURNING (details ->> 'driver_id')::uuid AS driver_id
)
SELECT s.matched, s.missing_internal, s.missing_platform, s.fare_mismatch,
       s.commission_mismatch, s.cash_mismatch, s.drift, s.foreign_rows,
       (SELECT count(*) FROM items) AS written,
       (SELECT array_agg(DISTINCT driver_id) FILTER (WHERE driver_id IS NOT NULL) FROM items)
         AS drivers
  FROM summary s
"""

# Which currencies the rows and trips in scope carry (only run to explain a refusal).
_CURRENCIES_SQL = f"""
SELECT currency, sum(n) AS n FROM (
  SELECT r.currency, count(*) AS n FROM rev_import_rows r WHERE {_REPORT_ROWS}
   GROUP BY r.currency
  UNION ALL
  SELECT t.currency, count(*) FROM trp_trips t
   WHERE {_TRIPS_IN_PERIOD} AND t.currency IS NOT NULL
   GROUP BY t.currency) c
 GROUP BY currency ORDER BY n DESC, currency
"""

# Driver revenues of the platform inside the period: reconciled when none of the run's items
# concerns the driver (``:drivers``, returned by the run), provisional again when one does
# (settled ones are never touched).
_DRIVER_REVENUES_SQL = """
UPDATE rev_driver_revenues d
   SET status = CASE WHEN d.driver_id = ANY(CAST(:drivers AS uuid[]))
                THEN 'provisional' ELSE 'reconciled' END,
       reconciliation_id = :reconciliation, updated_by = :actor
 WHERE d.tenant_id = :tenant AND d.platform_id = :platform AND d.currency = :currency
   AND d.period_start >= :start AND d.period_end <= :end AND d.status <> :settled
"""


# --- the run -----------------------------------------------------------------------------------


def _member(actor: Actor) -> uuid.UUID | None:
    return actor.id if actor.type is ActorType.MEMBER else None


def _check_tolerance(tolerance: Money) -> None:
    if tolerance.is_negative():
        raise field_error("tolerance", "The tolerance cannot be negative.")
    if tolerance.amount != tolerance.amount.quantize(Decimal("0.0001")):
        raise field_error("tolerance", "The tolerance has at most 4 decimals.")
    if tolerance.amount >= Decimal("1e14"):
        raise field_error("tolerance", "The tolerance is too large.")


def _check_import(session: Session, tenant_id: uuid.UUID, import_id: uuid.UUID,
                  platform_id: uuid.UUID) -> None:
    imp = session.scalar(select(RevenueImport).where(RevenueImport.tenant_id == tenant_id,
                                                     RevenueImport.id == import_id))
    if imp is None:
        raise field_error("import_id", "No such import in this fleet.")
    if imp.status != ImportStatus.COMMITTED.value:
        raise field_error("import_id",
                           f"Only a committed import can be reconciled (this one is {imp.status}).")
    if imp.platform_id != platform_id:
        raise field_error("import_id", "This import is another platform's report.")
    if imp.report_type not in TRIP_MONEY_REPORTS:
        raise field_error(
            "import_id",
            f"A {imp.report_type} report has no per-trip amounts to reconcile; choose a "
            "per-transaction payments report (Uber) or an orders report (Bolt).")


@dataclass(frozen=True, slots=True)
class _Outcome:
    matched: int
    missing_internal: int
    missing_platform: int
    fare_mismatch: int
    commission_mismatch: int
    cash_mismatch: int
    drift: Decimal
    foreign_rows: int
    written: int


class _MixedCurrencies(Exception):  # noqa: N818 - internal signal, never leaves this module
    pass


def reconcile_period(
    session: Session, actor: Actor, *, platform_id: uuid.UUID, period_start: datetime,
    period_end: datetime, tolerance: Money, import_id: uuid.UUID | None = None,
) -> Reconciliation:
    """Reconcile the platform's report with the trips of ``[period_start, period_end)``.

    Returns the stored run: ``completed`` with its counts, drift and items, or ``failed`` with
    the database's error. Raises 422 (nothing stored) on invalid input or when the rows in
    scope are not all in the tolerance's currency. Every call is a new run: history is kept.
    """
    tenant_id = tenant_of(actor)
    check_period(period_start, period_end, what="reconciliation")
    _check_tolerance(tolerance)
    if session.scalar(select(Platform.id).where(Platform.id == platform_id)) is None:
        raise field_error("platform_id", "No such platform.")
    if import_id is not None:
        _check_import(session, tenant_id, import_id, platform_id)
    params: dict[str, Any] = {
        "tenant": tenant_id, "platform": platform_id, "start": period_start, "end": period_end,
        "import_id": import_id,
        "currency": tolerance.currency, "tolerance": tolerance.amount, "actor": _member(actor),
        "settled": DriverRevenueStatus.SETTLED.value, "id_base": uuid.uuid4(),
    }

    def header() -> Reconciliation:
        run = Reconciliation(
            tenant_id=tenant_id, platform_id=platform_id, import_id=import_id,
            period_start=period_start, period_end=period_end,
            status=ReconciliationStatus.RUNNING.value, tolerance_amount=tolerance.amount,
            currency=tolerance.currency, run_by=_member(actor), created_by=_member(actor),
            updated_by=_member(actor), started_at=func.clock_timestamp())
        session.add(run)
        session.flush()
        return run

    try:
        # The header and its items in one savepoint: a refusal or a failure leaves nothing
        # half-written (the failed run is recorded afresh below).
        with session.begin_nested():
            run = header()
            params["reconciliation"] = run.id
            outcome = _run(session, params)
            checks = trip_checks.run_checks(session, params)
            _finish(session, run, outcome, checks)
        return run
    except _MixedCurrencies:
        found = session.execute(text(_CURRENCIES_SQL), params).all()
        listed = ", ".join(f"{c} ({n} rows)" for c, n in found)
        raise field_error(
            "tolerance",
            f"The platform's rows and trips of this period are not all in "
            f"{tolerance.currency}: {listed}. A reconciliation compares one currency; give the "
            "tolerance in the period's currency.") from None
    except (DataError, OperationalError) as exc:
        # Recorded, not raised: the user sees a failed run and why, in the run's history.
        run = header()
        run.status = ReconciliationStatus.FAILED.value
        run.error = _error_text(exc)
        run.finished_at = func.clock_timestamp()
        session.flush()
        session.refresh(run)
        return run


def _run(session: Session, params: dict[str, Any]) -> _Outcome:
    """The run's one statement (counts, drift, items), then the driver revenues it settles."""
    params["imports"] = list(session.scalars(text(_IMPORTS_SQL), params))
    session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    row = session.execute(text(_RECONCILE_SQL), params).one()
    session.execute(text("SET LOCAL work_mem TO DEFAULT"))
    if row.foreign_rows:
        raise _MixedCurrencies
    session.execute(text(_DRIVER_REVENUES_SQL), {**params, "drivers": list(row.drivers or [])})
    return _Outcome(
        matched=int(row.matched), missing_internal=int(row.missing_internal),
        missing_platform=int(row.missing_platform), fare_mismatch=int(row.fare_mismatch),
        commission_mismatch=int(row.commission_mismatch),
        cash_mismatch=int(row.cash_mismatch), drift=Decimal(row.drift),
        foreign_rows=int(row.foreign_rows), written=int(row.written))


def _finish(session: Session, run: Reconciliation, outcome: _Outcome,
            checks: trip_checks.CheckOutcome) -> None:
    run.status = ReconciliationStatus.COMPLETED.value
    run.matched_count = outcome.matched
    run.missing_internal_count = outcome.missing_internal
    run.missing_platform_count = outcome.missing_platform
    run.fare_mismatch_count = outcome.fare_mismatch
    run.commission_mismatch_count = outcome.commission_mismatch
    run.cash_mismatch_count = outcome.cash_mismatch
    run.gps_mismatch_count = checks.gps_mismatch
    run.outside_shift_count = checks.outside_shift
    run.amount_discrepancy = outcome.drift
    run.finished_at = func.clock_timestamp()
    session.flush()
    session.refresh(run)


def _error_text(exc: Exception) -> str:
    """The database's own message (first line), without the statement or parameters."""
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).strip().splitlines()
    return (message[0] if message else type(exc).__name__)[:1000]


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReconciliationFilter:
    platform_id: uuid.UUID | None = None
    import_id: uuid.UUID | None = None
    status: str | None = None
    period_since: datetime | None = None
    period_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ItemFilter:
    kind: str | None = None
    external_trip_id: str | None = None


def reconciliations_query(actor: Actor, spec: ReconciliationFilter) -> Select[Any]:
    """The filtered runs (list)."""
    stmt = select(Reconciliation).where(Reconciliation.tenant_id == tenant_of(actor))
    stmt = equal_filters(stmt, {Reconciliation.platform_id: spec.platform_id,
                                Reconciliation.import_id: spec.import_id,
                                Reconciliation.status: spec.status})
    return range_filter(stmt, Reconciliation.period_start, since=spec.period_since,
                        until=spec.period_until)


def list_reconciliations(session: Session, actor: Actor, params: PageParams,
                         spec: ReconciliationFilter) -> tuple[list[Reconciliation], str | None]:
    """A page of runs, newest first."""
    return keyset_page(session, reconciliations_query(actor, spec), [Reconciliation.id], params,
                       descending=True)


def get_reconciliation(session: Session, actor: Actor,
                       reconciliation_id: uuid.UUID) -> Reconciliation:
    """One run, or 404."""
    run = session.scalar(select(Reconciliation).where(
        Reconciliation.tenant_id == tenant_of(actor), Reconciliation.id == reconciliation_id))
    if run is None:
        raise NotFound("No such reconciliation.")
    return run


def items_query(actor: Actor, reconciliation_id: uuid.UUID, spec: ItemFilter) -> Select[Any]:
    """A run's items, filtered (list and CSV)."""
    stmt = select(ReconciliationItem).where(
        ReconciliationItem.tenant_id == tenant_of(actor),
        ReconciliationItem.reconciliation_id == reconciliation_id)
    return equal_filters(stmt, {ReconciliationItem.kind: spec.kind,
                                ReconciliationItem.external_trip_id: spec.external_trip_id})


def list_items(session: Session, actor: Actor, reconciliation_id: uuid.UUID,
               params: PageParams, spec: ItemFilter) -> tuple[list[ReconciliationItem], str | None]:
    """A page of a run's items, by kind then id (404 when the run is not the tenant's)."""
    get_reconciliation(session, actor, reconciliation_id)
    return keyset_page(session, items_query(actor, reconciliation_id, spec),
                       [ReconciliationItem.kind, ReconciliationItem.id], params)

