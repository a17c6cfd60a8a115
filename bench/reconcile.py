"""Reconciliation benchmark: 1M report rows against 1M trips, through the real service.

    python bench/reconcile.py [--trips 1000000] [--runs 3]

What it does (quality.md, the ``bench/reconcile.py`` row):

1. **A database.** ``DATABASE_URL`` when set — a role that may create roles and databases
   (e.g. the local ``postgres``): a scratch database is created, migrated and dropped at the
   end. Otherwise a private embedded PostgreSQL in a temporary directory, as ``bench/api.py``
   and the tests do. Either way the migrations run as the owner role and the service runs as
   the app role, under row-level security.
2. **Setup (not timed).** One tenant, one platform, 200 drivers and one committed per-trip
   payments import; then, written *as the database superuser* with ``INSERT … SELECT
   generate_series`` straight into the real tables (``trp_trips``, ``rev_import_rows``: every
   index, constraint and trigger in place; the service is never used to load), ``--trips``
   trips of one week and their report rows:

   * 1% of the trips are missing from the report (``missing_platform``) and 1% more trip ids
     are in the report only (``missing_internal``);
   * 1% of the trips in both have a fare difference between 0.06 and 5.00 (either sign),
     beyond the 0.05 tolerance (``fare_mismatch``);
   * 1% differ by exactly the tolerance (matched: a difference equal to the tolerance is not
     a discrepancy) and 1% are split into two report rows (trip + fare adjustment) that sum to
     the trip's fare (matched: the report side of a trip is the sum of its rows).

   Then ``VACUUM ANALYZE``, as a database that has been running would be, and a
   ``CHECKPOINT`` so that writing the setup's pages does not compete with the timed runs.
3. **Timed, ``--runs`` times, alternating:** the *baseline* — one hand-written SQL
   ``FULL OUTER JOIN`` of the report rows aggregated per trip id against the period's trips,
   classifying and counting the same rows with the same WHERE clauses as the service
   (superuser, no RLS, nothing stored) — and the
   *service* — :func:`fleetcore.revenue.reconciliation_service.reconcile_period` as the app
   role with the tenant's context, storing the run and its itemised discrepancies, committed.
   Both run with the service's ``work_mem`` (``WORK_MEM``), so the ratio compares work, not
   configuration.
4. **Checks every run:** the baseline's and the service's counts equal the planted ones; the
   service's items are exactly the planted discrepancies (kind, trip id and difference, to the
   cent), none invented; the stored drift equals the planted drift exactly.

Prints every run, the medians and the ratio (target ≤ 1.5x). Set ``BENCH_KEEP=1`` to keep the
embedded database's directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import make_url
from sqlalchemy.orm import Session, configure_mappers

from fleetcore.catalogue import import_all_models
from fleetcore.core import embedded as embedded_pg
from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, bind_context, make_engine, normalise_url
from fleetcore.core.migrations import upgrade_to_head
from fleetcore.core.money import Money
from fleetcore.revenue.reconciliation_service import WORK_MEM, reconcile_period

PERIOD_START = datetime(2026, 11, 2, tzinfo=UTC)
PERIOD_END = PERIOD_START + timedelta(days=7)
TOLERANCE = Decimal("0.05")
DRIVERS = 200
PASSWORD = "fleetcore-bench"

# The planted classes, by trip number i (trips are 0..N-1, report ids M..N+M-1).
MISMATCH, EDGE, SPLIT = 7, 13, 21  # i % 100


def fare(i: int) -> Decimal:
    """The trip's fare (same formula as the SQL below)."""
    return Decimal(1000 + (i * 7919) % 3000) / 100


def delta(i: int) -> Decimal:
    """The planted fare difference of a mismatched trip: 0.06 .. 5.00, either sign."""
    magnitude = Decimal(6 + (i * 37) % 495) / 100
    return -magnitude if i % 2 else magnitude


def edge(i: int) -> Decimal:
    """A difference of exactly the tolerance (matched)."""
    return -TOLERANCE if i % 2 else TOLERANCE


# SQL of the same formulas, for statements with psycopg parameters (``%%`` is ``%``).
FARE_SQL = "((1000 + (i * 7919) %% 3000)::numeric / 100)"
COMMISSION_SQL = "((250 + (i * 104729) %% 750)::numeric / 100)"
DELTA_SQL = ("(CASE WHEN i %% 2 = 1 THEN -1 ELSE 1 END"
             " * (6 + (i * 37) %% 495)::numeric / 100)")
EDGE_SQL = f"(CASE WHEN i %% 2 = 1 THEN -{TOLERANCE} ELSE {TOLERANCE} END)"
XID_SQL = "md5('bench-trip-' || i)::uuid::text"
# Trips spread over the week; a report-only id takes the time of trip i - N.
TIME_SQL = ("(%(start)s::timestamptz + interval '30 minutes'"
            " + ((i %% %(n)s) * 0.59) * interval '1 second')")


def xid(i: int) -> str:
    import hashlib

    digest = hashlib.md5(f"bench-trip-{i}".encode()).hexdigest()
    return str(uuid.UUID(digest))


@dataclass
class Ids:
    tenant: uuid.UUID
    platform: uuid.UUID
    import_id: uuid.UUID
    member: uuid.UUID


@dataclass
class Expected:
    matched: int
    missing_internal: int
    missing_platform: int
    fare_mismatch: int
    drift: Decimal
    items: dict[tuple[str, str], Decimal]
    report_rows: int


def expected(n: int, m: int) -> Expected:
    """What the planted data must give, computed from the formulas, not from the database."""
    items: dict[tuple[str, str], Decimal] = {}
    drift = Decimal(0)
    report_rows = 0
    for i in range(m):  # in trips only
        items[("missing_platform", xid(i))] = -fare(i)
        drift -= fare(i)
    for i in range(n, n + m):  # in the report only
        items[("missing_internal", xid(i))] = fare(i)
        drift += fare(i)
        report_rows += 1
    mismatches = 0
    for i in range(m, n):
        report_rows += 2 if i % 100 == SPLIT else 1
        if i % 100 == MISMATCH:
            items[("fare_mismatch", xid(i))] = delta(i)
            drift += delta(i)
            mismatches += 1
        elif i % 100 == EDGE:
            drift += edge(i)
    return Expected(matched=(n - m) - mismatches, missing_internal=m, missing_platform=m,
                    fare_mismatch=mismatches, drift=drift, items=items, report_rows=report_rows)


SETUP_SQL = [
    "INSERT INTO adm_tenants (id, name, slug, country, default_currency, timezone, status)"
    " VALUES (%(tenant)s, 'Bench fleet', %(slug)s, 'FR', 'EUR', 'Europe/Paris', 'active')",
    "INSERT INTO dir_platforms (id, code, name) VALUES (%(platform)s, %(code)s, 'Bench platform')",
    "INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, status)"
    " SELECT %(tenant)s, md5('bench-driver-' || d)::uuid, 'Driver', 'No ' || d, 'active'"
    " FROM generate_series(0, %(drivers)s - 1) d",
    "INSERT INTO rev_revenue_imports (tenant_id, id, platform_id, report_type, period_start,"
    " period_end, file_name, sha256, size_bytes, storage_key, status, rows_total, rows_valid,"
    " committed_at, summary)"
    " VALUES (%(tenant)s, %(import)s, %(platform)s, 'payments_order', %(start)s, %(end)s,"
    " 'bench-payments.csv', repeat('b', 64), 1, 'bench', 'committed', 0, 0, now(), '{}')",
    # Trips 0 .. N-1.
    "INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, driver_id, status,"
    " requested_at, started_at, ended_at, distance_km, duration_s, fare_gross,"
    " platform_commission, currency, import_id)"
    f" SELECT %(tenant)s, gen_random_uuid(), %(platform)s, {XID_SQL},"
    " md5('bench-driver-' || (i %% %(drivers)s))::uuid, 'completed',"
    " t - interval '20 minutes', t - interval '15 minutes', t, 5.5, 900,"
    f" {FARE_SQL}, {COMMISSION_SQL}, 'EUR', %(import)s"
    f" FROM generate_series(0::bigint, %(n)s - 1) i, LATERAL (SELECT {TIME_SQL} AS t) x",
    # Report rows for ids M .. N+M-1 (the split trips have a second, fare-adjust row).
    "INSERT INTO rev_import_rows (tenant_id, id, import_id, row_number, platform_id,"
    " driver_id, external_trip_id, external_transaction_id, occurred_at, description,"
    " fare_gross, commission, earnings, tip, currency)"
    f" SELECT %(tenant)s, gen_random_uuid(), %(import)s, 2 * i + part, %(platform)s,"
    f" md5('bench-driver-' || (i %% %(drivers)s))::uuid, {XID_SQL},"
    " md5('bench-tx-' || i || '-' || part)::uuid::text, t,"
    " CASE part WHEN 0 THEN 'trip completed order' ELSE 'trip fare adjust order' END,"
    f" CASE WHEN i %% 100 = {SPLIT} AND i < %(n)s"
    f"      THEN CASE part WHEN 0 THEN {FARE_SQL} - 2.50 ELSE 2.50 END"
    f"      ELSE {FARE_SQL}"
    f"        + CASE WHEN i < %(n)s AND i %% 100 = {MISMATCH} THEN {DELTA_SQL}"
    f"               WHEN i < %(n)s AND i %% 100 = {EDGE} THEN {EDGE_SQL} ELSE 0 END END,"
    f" CASE part WHEN 0 THEN {COMMISSION_SQL} ELSE 0 END,"
    f" CASE part WHEN 0 THEN {FARE_SQL} - {COMMISSION_SQL} ELSE 2.50 END, 0, 'EUR'"
    f" FROM generate_series(%(m)s::bigint, %(n)s + %(m)s - 1) i"
    f" CROSS JOIN LATERAL (SELECT generate_series(0,"
    f"   CASE WHEN i %% 100 = {SPLIT} AND i < %(n)s THEN 1 ELSE 0 END) AS part) p,"
    f" LATERAL (SELECT {TIME_SQL} AS t) x",
    "UPDATE rev_revenue_imports SET rows_total = (SELECT count(*) FROM rev_import_rows"
    " WHERE tenant_id = %(tenant)s), rows_valid = (SELECT count(*) FROM rev_import_rows"
    " WHERE tenant_id = %(tenant)s) WHERE tenant_id = %(tenant)s AND id = %(import)s",
    # The week's provisional driver revenues (the run marks them reconciled or not).
    "INSERT INTO rev_driver_revenues (tenant_id, id, driver_id, platform_id, period_start,"
    " period_end, gross, net, currency, import_id)"
    " SELECT %(tenant)s, gen_random_uuid(), md5('bench-driver-' || d)::uuid, %(platform)s,"
    " %(start)s, %(end)s, 1000, 750, 'EUR', %(import)s FROM generate_series(0, %(drivers)s - 1) d",
]

BASELINE_SQL = """
SELECT count(*) FILTER (WHERE r.xid IS NOT NULL AND t.xid IS NOT NULL
         AND abs(COALESCE(r.fare, 0) - COALESCE(t.fare, 0)) <= %(tol)s
         AND abs(COALESCE(r.commission, 0) - COALESCE(t.commission, 0)) <= %(tol)s) AS matched,
       count(*) FILTER (WHERE t.xid IS NULL) AS missing_internal,
       count(*) FILTER (WHERE r.xid IS NULL
         AND (COALESCE(t.fare, 0) <> 0 OR COALESCE(t.commission, 0) <> 0)) AS missing_platform,
       count(*) FILTER (WHERE r.xid IS NOT NULL AND t.xid IS NOT NULL
         AND abs(COALESCE(r.fare, 0) - COALESCE(t.fare, 0)) > %(tol)s) AS fare_mismatch,
       count(*) FILTER (WHERE r.xid IS NOT NULL AND t.xid IS NOT NULL
         AND abs(COALESCE(r.commission, 0) - COALESCE(t.commission, 0)) > %(tol)s)
         AS commission_mismatch,
       COALESCE(sum(r.fare), 0) - COALESCE(sum(t.fare), 0) AS drift
  FROM (SELECT external_trip_id AS xid, sum(fare_gross) AS fare, sum(commission) AS commission
          FROM rev_import_rows
         WHERE tenant_id = %(tenant)s AND import_id = ANY(%(imports)s)
           AND platform_id = %(platform)s AND external_trip_id IS NOT NULL
           AND occurred_at >= %(start)s AND occurred_at < %(end)s
         GROUP BY external_trip_id) r
  FULL JOIN
       (SELECT external_trip_id AS xid, fare_gross AS fare, platform_commission AS commission
          FROM trp_trips
         WHERE tenant_id = %(tenant)s AND platform_id = %(platform)s AND deleted_at IS NULL
           AND ((ended_at >= %(start)s AND ended_at < %(end)s)
             OR (ended_at IS NULL AND COALESCE(started_at, requested_at) >= %(start)s
                 AND COALESCE(started_at, requested_at) < %(end)s))) t
    ON t.xid = r.xid
"""


# --- the database ------------------------------------------------------------------------------


@dataclass
class Database:
    admin: str  # libpq conninfo of a superuser (setup, baseline, checks)
    owner_url: str
    app_url: str
    cleanup: object


def embedded_database(work: Path) -> Database:
    server = embedded_pg.EmbeddedPostgres(work / "pgdata")
    server.start()

    def stop() -> None:
        server.stop()

    return Database(server.conninfo(), server.url(embedded_pg.OWNER_ROLE),
                    server.url(embedded_pg.APP_ROLE), stop)


def external_database(admin_url: str) -> Database:
    """A scratch database and the two roles on the server of ``admin_url`` (dropped after)."""
    admin = make_url(normalise_url(admin_url))
    name = f"fleetcore_bench_{uuid.uuid4().hex[:8]}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        for role, extra in ((embedded_pg.OWNER_ROLE, "CREATEROLE"), (embedded_pg.APP_ROLE, "")):
            verb = "ALTER" if role in roles else "CREATE"
            conn.execute(sql.SQL(f"{verb} ROLE {{}} LOGIN NOSUPERUSER NOBYPASSRLS {extra}"
                                 " PASSWORD {}").format(sql.Identifier(role),
                                                        sql.Literal(PASSWORD)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(embedded_pg.OWNER_ROLE)))
    db_admin = admin.set(drivername="postgresql", database=name)
    db_conninfo = db_admin.render_as_string(hide_password=False)
    with psycopg.connect(db_conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")

    def url_for(role: str) -> str:
        return admin.set(username=role, password=PASSWORD,
                         database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(name)))

    return Database(db_conninfo, url_for(embedded_pg.OWNER_ROLE),
                    url_for(embedded_pg.APP_ROLE), drop)


def setup(db: Database, n: int, m: int) -> Ids:
    ids = Ids(tenant=uuid.uuid4(), platform=uuid.uuid4(), import_id=uuid.uuid4(),
              member=uuid.uuid4())
    params = {"tenant": ids.tenant, "platform": ids.platform, "import": ids.import_id,
              "slug": f"bench-{ids.tenant.hex[:8]}", "code": f"bench{ids.platform.hex[:8]}",
              "start": PERIOD_START, "end": PERIOD_END, "n": n, "m": m, "drivers": DRIVERS}
    started = time.perf_counter()
    with psycopg.connect(db.admin) as conn:
        for statement in SETUP_SQL:
            conn.execute(statement, params)
    with psycopg.connect(db.admin, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE trp_trips")
        conn.execute("VACUUM ANALYZE rev_import_rows")
        conn.execute("VACUUM ANALYZE rev_driver_revenues")
        # Write the setup's dirty pages now, not during the timed runs.
        conn.execute("CHECKPOINT")
    print(f"setup: {n:,} trips and their report rows written in "
          f"{time.perf_counter() - started:.0f} s (superuser, INSERT … SELECT)", flush=True)
    return ids


# --- the two contenders ------------------------------------------------------------------------


@dataclass
class Counts:
    matched: int
    missing_internal: int
    missing_platform: int
    fare_mismatch: int
    commission_mismatch: int
    drift: Decimal


def run_baseline(db: Database, ids: Ids) -> tuple[float, Counts]:
    params = {"tenant": ids.tenant, "platform": ids.platform, "imports": [ids.import_id],
              "start": PERIOD_START, "end": PERIOD_END, "tol": TOLERANCE}
    with psycopg.connect(db.admin) as conn:
        conn.execute(f"SET work_mem = '{WORK_MEM}'")
        started = time.perf_counter()
        row = conn.execute(BASELINE_SQL, params).fetchone()
        elapsed = time.perf_counter() - started
    assert row is not None
    return elapsed, Counts(*row)


def run_service(session: Session, ids: Ids) -> tuple[float, uuid.UUID, Counts]:
    actor = Actor(type=ActorType.MEMBER, id=ids.member, clerk_user_id="user_bench",
                  tenant_id=ids.tenant, tenant_status="active",
                  permissions=frozenset({"reconciliations:write"}))
    bind_context(session, DbContext.for_tenant(ids.tenant, actor_type=ActorType.MEMBER,
                                               actor_id=ids.member))
    started = time.perf_counter()
    run = reconcile_period(session, actor, platform_id=ids.platform, period_start=PERIOD_START,
                           period_end=PERIOD_END, tolerance=Money(TOLERANCE, "EUR"))
    session.commit()
    elapsed = time.perf_counter() - started
    if run.status != "completed":
        raise SystemExit(f"the run {run.status}: {run.error}")
    return elapsed, run.id, Counts(run.matched_count, run.missing_internal_count,
                                   run.missing_platform_count, run.fare_mismatch_count,
                                   run.commission_mismatch_count, run.amount_discrepancy)


def check(label: str, counts: Counts, want: Expected) -> list[str]:
    problems = []
    for name in ("matched", "missing_internal", "missing_platform", "fare_mismatch"):
        if getattr(counts, name) != getattr(want, name):
            problems.append(f"{label}: {name} {getattr(counts, name)} != {getattr(want, name)}")
    if counts.commission_mismatch != 0:
        problems.append(f"{label}: commission_mismatch {counts.commission_mismatch} != 0")
    if counts.drift != want.drift:
        problems.append(f"{label}: drift {counts.drift} != {want.drift}")
    return problems


def check_items(db: Database, reconciliation: uuid.UUID, want: Expected) -> list[str]:
    with psycopg.connect(db.admin) as conn:
        found = {(kind, trip): diff for kind, trip, diff in conn.execute(
            "SELECT kind, external_trip_id, difference FROM rev_reconciliation_items"
            " WHERE reconciliation_id = %s", (reconciliation,))}
    missed = [k for k in want.items if k not in found]
    invented = [k for k in found if k not in want.items]
    wrong = [k for k, v in found.items() if k in want.items and v != want.items[k]]
    problems = []
    if missed:
        problems.append(f"service: {len(missed)} planted discrepancies not found, e.g. {missed[0]}")
    if invented:
        problems.append(f"service: {len(invented)} invented discrepancies, e.g. {invented[0]}")
    if wrong:
        problems.append(f"service: {len(wrong)} items with a wrong difference, e.g. {wrong[0]}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trips", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = args.trips
    m = max(1, n // 100)

    import_all_models()
    configure_mappers()  # once per process, as at the app's start: not the service's work
    work = Path(tempfile.mkdtemp(prefix="fleetcore-bench-reconcile-"))
    admin_url = os.environ.get("DATABASE_URL")
    db = external_database(admin_url) if admin_url else embedded_database(work)
    print(f"database: {'DATABASE_URL (scratch database)' if admin_url else 'embedded'}",
          flush=True)
    try:
        upgrade_to_head(db.owner_url, app_role=embedded_pg.APP_ROLE)
        ids = setup(db, n, m)
        want = expected(n, m)
        print(f"{n:,} trips, {want.report_rows:,} report rows ({n:,} trip ids); planted: "
              f"{want.missing_platform:,} missing from the report, {want.missing_internal:,} "
              f"missing from the trips, {want.fare_mismatch:,} fare mismatches; "
              f"work_mem {WORK_MEM}\n", flush=True)
        engine = make_engine(db.app_url, pool_size=1)
        with engine.connect() as conn:  # connect now: the connection is not the service's work
            conn.exec_driver_sql("SELECT 1")
        baseline_times: list[float] = []
        service_times: list[float] = []
        problems: list[str] = []
        items = 0
        for number in range(1, args.runs + 1):
            elapsed, counts = run_baseline(db, ids)
            baseline_times.append(elapsed)
            problems += check("baseline", counts, want)
            with Session(engine) as session:
                elapsed, run_id, counts = run_service(session, ids)
            service_times.append(elapsed)
            problems += check("service", counts, want)
            problems += check_items(db, run_id, want)
            items = len(want.items)
            print(f"run {number}: baseline {baseline_times[-1]:6.2f} s   "
                  f"service {service_times[-1]:6.2f} s   ratio "
                  f"{service_times[-1] / baseline_times[-1]:.2f}", flush=True)
        engine.dispose()
        base, serv = statistics.median(baseline_times), statistics.median(service_times)
        print(f"\nmedian of {args.runs}: baseline (hand-written FULL OUTER JOIN, counts only) "
              f"{base:.2f} s; service (reconcile_period, {items:,} items stored, committed) "
              f"{serv:.2f} s")
        ratio = serv / base
        print(f"ratio {ratio:.2f}x (target ≤ 1.5x): {'yes' if ratio <= 1.5 else 'NO'}")
        if problems:
            print("\nCHECKS FAILED:\n  " + "\n  ".join(problems[:20]))
            sys.exit(1)
        print("checks: every planted discrepancy found, none invented, counts and drift exact")
    finally:
        cleanup = db.cleanup
        assert callable(cleanup)
        cleanup()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
