"""Billing benchmark: usage metrics and invoices for 10,000 tenants.

    python bench/billing.py [--tenants 10000] [--trips 50] [--drivers 8] [--runs 1]

What it does (quality.md, the ``bench/billing.py`` row):

1. **A database**, as ``bench/payouts.py``: ``DATABASE_URL`` (a scratch database is created,
   migrated and dropped) or a private embedded PostgreSQL. The service runs as the app role
   under row-level security.
2. **Setup (not timed).** One plan; ``--tenants`` active fleets, each subscribed to it for the
   period 2026-01-01 → 2026-02-01, with ``--drivers`` drivers (one in four inactive) and
   ``--trips`` trips (one in ten cancelled, one in twenty outside the period) carrying
   distances; written as the superuser with ``INSERT … SELECT generate_series`` (triggers off
   for this bench data). Then ``VACUUM ANALYZE`` and a ``CHECKPOINT``.
3. **Timed, ``--runs`` times, alternating:** the *baseline* — hand-written SQL counting the
   same metrics (active drivers, completed trips and their km in the period) for every
   tenant over the same data, nothing stored — and the *service*: what the hourly
   ``fleetcore.dispatch_billing`` job does, as the app role in the provider context of a
   system job, one committed transaction: ``fleetcore.billing.closing.close_due_periods``
   (usage measured and stored, invoices and lines written, gapless numbers taken, the next
   periods started, for every due subscription at once). Between runs the invoices, usage,
   number series and periods are reset (not timed).
4. **Checks every run:** one invoice per tenant; every invoice's lines sum to its total; the
   stored usage totals equal the baseline's.
5. **The floor, every run (rolled back):** the rows the service just wrote — usage values,
   invoices, lines, number series — written again plainly, one ``INSERT … SELECT`` per table
   from a copy, and the periods advanced by one ``UPDATE``, into the same tables and indexes,
   as the superuser without row-level security or triggers; then its audit rows the same way.
   What no implementation of the close on this data model can go below (it must also read
   what the baseline reads).

Prints every run, the medians, the ratio (target ≤ 3x) and the floor.
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
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from reconcile import Database, embedded_database, external_database
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, configure_mappers

from fleetcore.billing.closing import close_due_periods
from fleetcore.catalogue import import_all_models
from fleetcore.core import embedded as embedded_pg
from fleetcore.core.db import DbContext, bind_context, make_engine
from fleetcore.core.migrations import upgrade_to_head

JAN = "2026-01-01T00:00:00+00:00"
FEB = "2026-02-01T00:00:00+00:00"
NOW = datetime(2026, 2, 2, tzinfo=UTC)

SETUP_SQL = [
    "INSERT INTO bil_billing_plans (id, code, plan_version, name, monthly_fee, currency,"
    " included_vehicles, included_drivers, included_trips, included_km,"
    " overage_vehicle_price, overage_driver_price, overage_trip_price, overage_km_price,"
    " trial_days, status) VALUES (%(plan)s, %(code)s, 1, 'Bench', 149, 'EUR', 5, 5, 30, 300,"
    " 6, 2, 0.05, 0.0150, 0, 'active')",
    "INSERT INTO dir_platforms (id, code, name) VALUES (%(platform)s, %(pcode)s, 'Bench')",
    "INSERT INTO adm_tenants (id, name, slug, country, default_currency, timezone, status)"
    " SELECT md5(%(tag)s || n)::uuid, 'Bench fleet ' || n, %(tag)s || n, 'FR', 'EUR',"
    " 'Europe/Paris', 'active' FROM generate_series(0, %(tenants)s - 1) n",
    "INSERT INTO bil_tenant_subscriptions (tenant_id, id, plan_id, plan_version, status,"
    " current_period_start, current_period_end)"
    " SELECT md5(%(tag)s || n)::uuid, gen_random_uuid(), %(plan)s, 1, 'active',"
    " %(jan)s, %(feb)s FROM generate_series(0, %(tenants)s - 1) n",
    "INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, status)"
    " SELECT md5(%(tag)s || n)::uuid, gen_random_uuid(), 'Driver', 'No ' || d,"
    " CASE WHEN d %% 4 = 3 THEN 'inactive' ELSE 'active' END"
    " FROM generate_series(0, %(tenants)s - 1) n, generate_series(0, %(drivers)s - 1) d",
    "INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, status, ended_at,"
    " distance_km)"
    " SELECT md5(%(tag)s || n)::uuid, gen_random_uuid(), %(platform)s, n || '-' || k,"
    " CASE WHEN k %% 10 = 9 THEN 'cancelled_by_rider' ELSE 'completed' END,"
    " CASE WHEN k %% 20 = 7 THEN %(feb)s::timestamptz + interval '2 hours'"
    "      ELSE %(jan)s::timestamptz + (k * 7 + n %% 13) * interval '1 hour' END,"
    " ((n + k * 31) %% 400)::numeric / 10"
    " FROM generate_series(0, %(tenants)s - 1) n, generate_series(0, %(trips)s - 1) k",
]

BASELINE_SQL = """
SELECT (SELECT count(*) FROM rid_drivers WHERE tenant_id = ANY(%(tenants)s)
           AND deleted_at IS NULL AND status = 'active'),
       count(*), coalesce(sum(distance_km), 0), count(DISTINCT tenant_id)
  FROM trp_trips
 WHERE tenant_id = ANY(%(tenants)s) AND deleted_at IS NULL AND status = 'completed'
   AND coalesce(ended_at, started_at) >= %(jan)s AND coalesce(ended_at, started_at) < %(feb)s
"""

RESET_SQL = [
    "DELETE FROM bil_tenant_invoice_lines WHERE tenant_id = ANY(%(tenants)s)",
    "DELETE FROM bil_tenant_invoices WHERE tenant_id = ANY(%(tenants)s)",
    "DELETE FROM bil_tenant_usage_metrics WHERE tenant_id = ANY(%(tenants)s)",
    "DELETE FROM adm_number_sequences WHERE tenant_id = ANY(%(tenants)s)",
    "UPDATE bil_tenant_subscriptions SET current_period_start = %(jan)s,"
    " current_period_end = %(feb)s WHERE tenant_id = ANY(%(tenants)s)",
]


def setup(db: Database, tenants: int, drivers: int, trips: int) -> dict[str, object]:
    tag = f"bench-{uuid.uuid4().hex[:6]}-"
    params: dict[str, object] = {
        "plan": uuid.uuid4(), "code": f"bench_{uuid.uuid4().hex[:8]}",
        "platform": uuid.uuid4(), "pcode": f"b{uuid.uuid4().hex[:8]}", "tag": tag,
        "tenants": tenants, "drivers": drivers, "trips": trips, "jan": JAN, "feb": FEB}
    started = time.perf_counter()
    with psycopg.connect(db.admin) as conn:
        conn.execute("SET session_replication_role = replica")
        for statement in SETUP_SQL:
            conn.execute(statement, params)
        ids = [r[0] for r in conn.execute(
            "SELECT md5(%(tag)s || n)::uuid FROM generate_series(0, %(tenants)s - 1) n",
            params).fetchall()]
    with psycopg.connect(db.admin, autocommit=True) as conn:
        for table in ("adm_tenants", "bil_tenant_subscriptions", "rid_drivers", "trp_trips"):
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CHECKPOINT")
    print(f"setup: {tenants:,} tenants, {tenants * drivers:,} drivers, {tenants * trips:,} "
          f"trips written in {time.perf_counter() - started:.0f} s (superuser)", flush=True)
    return {"ids": ids}


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the database backend ``pid``, read from
    ``/proc`` (the server runs on this machine); NaN when it cannot be read. Unlike wall time,
    other sessions' load barely changes it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_baseline(db: Database, ids: list[uuid.UUID]) -> tuple[float, float, tuple[object, ...]]:
    with psycopg.connect(db.admin) as conn:
        pid = conn.info.backend_pid
        cpu = backend_cpu(pid)
        started = time.perf_counter()
        row = conn.execute(BASELINE_SQL, {"tenants": ids, "jan": JAN, "feb": FEB}).fetchone()
        elapsed = time.perf_counter() - started
        cpu = backend_cpu(pid) - cpu
    assert row is not None
    return elapsed, cpu, tuple(row)


def run_service(engine: Engine, ids: list[uuid.UUID], *,
                statements: bool = False) -> tuple[float, float]:
    timings: list[tuple[str, float]] = []
    clock: list[float] = []

    def before(*_args: object) -> None:
        clock.append(time.perf_counter())

    def after(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        words = " ".join(statement.split())
        timings.append((words[:90], time.perf_counter() - clock.pop()))

    if statements:
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
    try:
        with Session(engine) as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            session.commit()
            cpu = backend_cpu(pid)
            started = time.perf_counter()
            bind_context(session, DbContext.system())
            with session.begin():
                closed = close_due_periods(session, now=NOW)
            elapsed = time.perf_counter() - started
            cpu = backend_cpu(pid) - cpu
    finally:
        if statements:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
    assert closed.periods >= len(ids), closed.periods
    if statements:
        in_sql = sum(t for _, t in timings)
        for words, seconds in timings:
            if seconds >= 0.005:
                print(f"    {seconds:6.3f} s  {words}")
        print(f"    {in_sql:6.3f} s in {len(timings)} statements; "
              f"{elapsed - in_sql:6.3f} s outside them (Python, commit)", flush=True)
    return elapsed, cpu


def check(db: Database, ids: list[uuid.UUID], baseline: tuple[object, ...]) -> list[str]:
    problems = []
    with psycopg.connect(db.admin) as conn:
        invoices, numbered = conn.execute(
            "SELECT count(*), count(invoice_number) FROM bil_tenant_invoices"
            " WHERE tenant_id = ANY(%(t)s)", {"t": ids}).fetchone() or (0, 0)
        unbalanced = conn.execute(
            "SELECT count(*) FROM bil_tenant_invoices i WHERE tenant_id = ANY(%(t)s)"
            " AND total <> (SELECT sum(amount) FROM bil_tenant_invoice_lines l"
            " WHERE l.tenant_id = i.tenant_id AND l.invoice_id = i.id)", {"t": ids}).fetchone()
        usage = dict(conn.execute(
            "SELECT metric, sum(value) FROM bil_tenant_usage_metrics WHERE tenant_id = ANY(%(t)s)"
            " GROUP BY metric", {"t": ids}).fetchall())
    if invoices != len(ids) or numbered != len(ids):
        problems.append(f"{invoices} invoices ({numbered} numbered) for {len(ids)} tenants")
    if unbalanced and unbalanced[0]:
        problems.append(f"{unbalanced[0]} invoices whose lines do not sum to the total")
    drivers, trips, km, _ = baseline
    if (usage.get("active_drivers"), usage.get("trips"), usage.get("distance_km")) != (
            drivers, trips, km):
        problems.append(f"usage {usage} != baseline drivers {drivers}, trips {trips}, km {km}")
    return problems


FLOOR_TABLES = ("bil_tenant_usage_metrics", "bil_tenant_invoices", "bil_tenant_invoice_lines",
                "adm_number_sequences")


def run_floor(db: Database, ids: list[uuid.UUID]) -> tuple[float, float, float, float]:
    """The physical floor of the close (after a service run, rolled back): the plain cost of
    writing exactly the rows the service wrote — its usage values, invoices, lines and number
    series, one ``INSERT … SELECT`` each from a copy, and its periods advanced, one
    ``UPDATE`` — into the same tables with the same indexes, as the superuser with no
    row-level security and no triggers (no audit, no reference checks). Returns the seconds
    and the backend's CPU seconds for those rows, then for the audit rows the service wrote,
    written the same way."""
    with psycopg.connect(db.admin) as conn:
        conn.execute("SELECT set_config('max_parallel_workers_per_gather', '0', true)")
        for table in FLOOR_TABLES:
            conn.execute(f"CREATE TEMP TABLE floor_{table} AS SELECT * FROM {table}"
                         " WHERE tenant_id = ANY(%(t)s)", {"t": ids})
            conn.execute(f"DELETE FROM {table} WHERE tenant_id = ANY(%(t)s)", {"t": ids})
        conn.execute("CREATE TEMP TABLE floor_periods AS SELECT tenant_id, id,"
                     " current_period_start, current_period_end FROM bil_tenant_subscriptions"
                     " WHERE tenant_id = ANY(%(t)s)", {"t": ids})
        # The service's audit rows: those of its transaction, the latest for these tenants.
        conn.execute("CREATE TEMP TABLE floor_audit AS SELECT * FROM adm_audit_logs"
                     " WHERE tenant_id = ANY(%(t)s) AND entity_type LIKE 'bil_%%'"
                     " AND xmin = (SELECT xmin FROM bil_tenant_subscriptions"
                     " WHERE tenant_id = ANY(%(t)s) LIMIT 1)", {"t": ids})
        conn.execute("SET session_replication_role = replica")
        statements = [f"INSERT INTO {table} SELECT * FROM floor_{table}" for table in FLOOR_TABLES]
        statements.append(
            "UPDATE bil_tenant_subscriptions s SET current_period_start = f.current_period_end,"
            " current_period_end = f.current_period_end + interval '1 month'"
            " FROM floor_periods f WHERE s.tenant_id = f.tenant_id AND s.id = f.id")
        pid = conn.info.backend_pid
        cpu = backend_cpu(pid)
        started = time.perf_counter()
        for statement in statements:
            conn.execute(statement)
        rows = time.perf_counter() - started
        rows_cpu = backend_cpu(pid) - cpu
        cpu = backend_cpu(pid)
        started = time.perf_counter()
        conn.execute("INSERT INTO adm_audit_logs (id, tenant_id, occurred_at, actor_type,"
                     " actor_id, action, entity_type, entity_id, changes, ip, user_agent,"
                     " request_id) SELECT gen_random_uuid(), tenant_id, occurred_at, actor_type,"
                     " actor_id, action, entity_type, entity_id, changes, ip, user_agent,"
                     " request_id FROM floor_audit")
        audit = time.perf_counter() - started
        audit_cpu = backend_cpu(pid) - cpu
        conn.rollback()
    return rows, rows_cpu, audit, audit_cpu


def reset(db: Database, ids: list[uuid.UUID]) -> None:
    with psycopg.connect(db.admin) as conn:
        conn.execute("SET session_replication_role = replica")
        for statement in RESET_SQL:
            conn.execute(statement, {"tenants": ids, "jan": JAN, "feb": FEB})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--drivers", type=int, default=8)
    parser.add_argument("--trips", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--statements", action="store_true",
                        help="time every statement of the service from Python")
    args = parser.parse_args()

    import_all_models()
    configure_mappers()
    work = Path(tempfile.mkdtemp(prefix="fleetcore-bench-billing-"))
    admin_url = os.environ.get("DATABASE_URL")
    db = external_database(admin_url) if admin_url else embedded_database(work)
    print(f"database: {'DATABASE_URL (scratch database)' if admin_url else 'embedded'}",
          flush=True)
    try:
        upgrade_to_head(db.owner_url, app_role=embedded_pg.APP_ROLE)
        ids = setup(db, args.tenants, args.drivers, args.trips)["ids"]
        assert isinstance(ids, list)
        engine = make_engine(db.app_url, pool_size=1)
        # Per run: wall and backend CPU seconds of the baseline, the service, the floor's rows
        # and the floor's audit rows.
        runs: list[tuple[float, float, float, float, float, float, float, float]] = []
        problems: list[str] = []
        for number in range(1, args.runs + 1):
            if number > 1:
                reset(db, ids)
            base, base_cpu, baseline = run_baseline(db, ids)
            serv, serv_cpu = run_service(engine, ids, statements=args.statements)
            problems += check(db, ids, baseline)
            floor, floor_cpu, audit, audit_cpu = run_floor(db, ids)
            runs.append((base, base_cpu, serv, serv_cpu, floor, floor_cpu, audit, audit_cpu))
            print(f"run {number}: baseline {base:6.2f} s   service {serv:6.2f} s "
                  f"({serv / len(ids) * 1000:.1f} ms a tenant)   ratio {serv / base:.1f}   "
                  f"floor {floor:5.2f} s + audit rows {audit:5.2f} s   database CPU: baseline "
                  f"{base_cpu:.2f} s, service {serv_cpu:.2f} s ({serv_cpu / base_cpu:.1f}x), "
                  f"floor {floor_cpu:.2f} + {audit_cpu:.2f} s", flush=True)
        engine.dispose()
        base, base_cpu, serv, serv_cpu, floor, floor_cpu, audit, audit_cpu = (
            statistics.median(column) for column in zip(*runs, strict=True))
        ratio = serv / base
        print(f"\nmedian of {args.runs}: baseline (hand-written counts) {base:.2f} s; "
              f"service (set-based close: usage + invoices + numbers, committed) {serv:.2f} s")
        print(f"ratio {ratio:.1f}x (target ≤ 3x): {'yes' if ratio <= 3 else 'NO'}")
        print(f"database CPU (this backend, from /proc): baseline {base_cpu:.2f} s, service "
              f"{serv_cpu:.2f} s ({serv_cpu / base_cpu:.1f}x)")
        print(f"floor: the same rows written plainly (one INSERT … SELECT per table, the periods"
              f" one UPDATE; no RLS, no triggers) {floor:.2f} s = {floor / base:.1f}x the"
              f" baseline (CPU {floor_cpu / base_cpu:.1f}x); the service's audit rows, written"
              f" the same way, {audit:.2f} s more ({(floor + audit) / base:.1f}x, CPU"
              f" {(floor_cpu + audit_cpu) / base_cpu:.1f}x)")
        print(f"so reading what the baseline reads, then writing those rows and audit rows, and"
              f" nothing else: {(base + floor + audit) / base:.1f}x the baseline (CPU"
              f" {(base_cpu + floor_cpu + audit_cpu) / base_cpu:.1f}x) — the least the close"
              " can cost on this data model")
        if problems:
            print("\nCHECKS FAILED:\n  " + "\n  ".join(problems[:20]))
            sys.exit(1)
        print("checks: one numbered invoice per tenant; lines sum to every total; stored usage "
              "equals the baseline's counts")
    finally:
        cleanup = db.cleanup
        assert callable(cleanup)
        cleanup()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
