"""Import benchmark: a 1,000,000-row Uber payments report through the real import pipeline.

    python bench/import_report.py [--rows 1000000] [--drivers 200] [--runs 1]
    python bench/import_report.py --rows 5000000 --drivers 200 --runs 1   # bounded memory

What it does (quality.md, ``bench/import_report.py``):

1. Starts a private embedded PostgreSQL (or uses ``DATABASE_URL``/``DATABASE_OWNER_URL`` like the
   tests do), migrates it, loads the reference data, provisions one tenant with 200 drivers and
   their Uber platform accounts.
2. Generates an Uber ``payments_order`` CSV (1 week, ≈175 bytes/row) with the project's report
   generator (``fleetcore.demo.reports``).
3. **Pipeline** — in a fresh child process (so its peak memory is its own), as the app role under
   row-level security, exactly what ``POST /v1/revenue-imports`` with ``commit=true`` and
   ``fleetcore import --commit`` do: parse (polars), COPY into staging, validate in SQL, write
   ``rev_import_rows``, upsert ``trp_trips``, recompute ``rev_driver_revenues``, commit.
4. **Baseline** — in the same run: the least work that makes those rows durable, a raw ``COPY``
   of the same rows (in trip shape, converted before timing) into a logged table identical to
   ``trp_trips`` (``LIKE trp_trips INCLUDING ALL``: same columns, defaults, CHECKs and indexes;
   foreign keys are not copied by LIKE), as the superuser.

Prints both, the ratio and rows/s, the load average around each run, and the CPU each side
cost (the database backend's, read from ``/proc``, plus the pipeline process's own) — the
figure to compare levers by on a shared machine, where wall times follow the load. Targets:
≤ 2.5 times the baseline, ≥ 120k rows/s, peak memory
< 1 GB for a 5M-row file (≈ 915 MB; the reader holds one batch at a time, so the peak should
not grow with the file). Record the median of several runs in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import psycopg

from fleetcore.core import embedded as embedded_pg


def _setup_database(work: Path) -> tuple[str, str, str, embedded_pg.EmbeddedPostgres | None]:
    """(owner url, app url, superuser conninfo, server) of a migrated database."""
    from fleetcore.core.migrations import upgrade_to_head

    if os.environ.get("DATABASE_URL"):
        raise SystemExit("bench/import_report.py runs on its own embedded server: "
                         "unset DATABASE_URL")
    server = embedded_pg.EmbeddedPostgres(work / "pgdata")
    server.start()
    owner, app = server.url(embedded_pg.OWNER_ROLE), server.url(embedded_pg.APP_ROLE)
    upgrade_to_head(owner, app_role=embedded_pg.APP_ROLE)
    return owner, app, server.conninfo(), server


def _provision(app_url: str, driver_refs: list[str]) -> uuid.UUID:
    """One tenant with a driver and an Uber account per Driver UUID of the file."""
    from sqlalchemy import text

    from fleetcore.admin import service as admin
    from fleetcore.admin.schemas import OwnerInvitation, TenantProvision
    from fleetcore.core.db import DbContext, context_session, make_engine, session_factory
    from fleetcore.reference.service import load_reference_data

    engine = make_engine(app_url)
    sessions = session_factory(engine)
    with context_session(sessions, DbContext.system()) as session:
        load_reference_data(session)
        tenant = admin.provision_tenant(session, None, data=TenantProvision(
            name="Bench Fleet", slug=f"bench-{uuid.uuid4().hex[:8]}", country="FR",
            default_currency="EUR", timezone="Europe/Paris",
            clerk_organization_id=f"org_bench_{uuid.uuid4().hex[:8]}", trial_days=14,
            owner=OwnerInvitation(email="owner@bench.example", first_name="Bench")))
        tenant_id = tenant.id
    with context_session(sessions, DbContext.for_tenant(tenant_id)) as session:
        session.execute(text(
            "WITH d AS (INSERT INTO rid_drivers (id, tenant_id, first_name, last_name, status)"
            " SELECT gen_random_uuid(), :t, 'Driver', 'N' || n, 'active'"
            " FROM generate_series(1, :n) n RETURNING id, last_name),"
            " numbered AS (SELECT id, row_number() OVER (ORDER BY last_name) AS n FROM d)"
            " INSERT INTO trp_platform_accounts (id, tenant_id, platform_id, driver_id,"
            " external_account_id, external_account_kind)"
            " SELECT gen_random_uuid(), :t, (SELECT id FROM dir_platforms WHERE code = 'uber'),"
            " numbered.id, refs.ref, 'uuid' FROM numbered"
            " JOIN unnest(CAST(:refs AS text[])) WITH ORDINALITY refs(ref, n) USING (n)"),
            {"t": tenant_id, "n": len(driver_refs), "refs": driver_refs})
    engine.dispose()
    return tenant_id


def _backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) a local server process has used so far: what a run costs
    the database, whatever else the machine is doing (wall times are not, on a shared one)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(args: dict[str, Any]) -> None:
    """The pipeline, timed, in this (fresh) process; prints one JSON line."""
    from sqlalchemy import text

    from fleetcore.core.auth import ALL_PERMISSIONS, Actor
    from fleetcore.core.db import (
        ActorType,
        DbContext,
        context_session,
        make_engine,
        session_factory,
    )
    from fleetcore.documents.storage import LocalStorage
    from fleetcore.revenue import service

    engine = make_engine(args["app_url"])
    sessions = session_factory(engine)
    tenant_id = uuid.UUID(args["tenant_id"])
    actor = Actor(type=ActorType.SYSTEM, id=uuid.UUID(int=0), clerk_user_id="bench",
                  tenant_id=tenant_id, tenant_status="active",
                  permissions=frozenset({ALL_PERMISSIONS}))
    storage = LocalStorage(Path(args["storage"]))
    # The file as `fleetcore import FILE` and a spooled upload give it: a path, read from disk
    # in bounded batches (peak memory must not grow with the file).
    data = Path(args["file"])
    started, own = time.perf_counter(), _own_cpu()
    with context_session(sessions, DbContext.for_tenant(tenant_id)) as session:
        backend = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        db_cpu = _backend_cpu(backend)
        imports = service.upload_import(
            session, actor, storage, commit=True,
            upload=service.ImportUpload(file_name="bench.csv", data=data, currency="EUR"))
        summary = {"rows_valid": imports[0].rows_valid, "rows_total": imports[0].rows_total,
                   "trips": imports[0].summary.get("trips"),
                   "timings_ms": imports[0].summary.get("timings_ms"),
                   # Before the commit: the transaction's own work, not the fsync.
                   "db_cpu_s": _backend_cpu(backend) - db_cpu}
    elapsed = time.perf_counter() - started
    summary["py_cpu_s"] = _own_cpu() - own
    engine.dispose()
    print(json.dumps({"seconds": elapsed, "peak_mb": _peak_rss_mb(), **summary}))


def _peak_rss_mb() -> float:
    """This process's own peak resident memory since it started (``VmHWM``: the high-water
    mark of its address space). Not ``getrusage``'s ``ru_maxrss``: Linux carries into it, at
    ``exec``, the peak of the address space the process had before — the bench parent's at
    fork, which holds the generated file's rows (≈ 900 MB at 1M rows) — so the child reported
    the parent's memory, not its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _baseline(superuser: str, trips_csv: Path) -> tuple[float, float]:
    """(wall seconds, database CPU seconds) of the baseline COPY."""
    with psycopg.connect(superuser, autocommit=True) as conn:
        backend = conn.info.backend_pid
        conn.execute("DROP TABLE IF EXISTS bench_trips")
        conn.execute("CREATE TABLE bench_trips (LIKE trp_trips INCLUDING ALL)")
        columns = pl.read_csv(trips_csv, n_rows=0).columns
        started, db_cpu = time.perf_counter(), _backend_cpu(backend)
        with conn.cursor() as cursor, cursor.copy(
                f"COPY bench_trips ({', '.join(columns)}) FROM STDIN (FORMAT csv, HEADER true)"
        ) as copy, trips_csv.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        elapsed, db_cpu = time.perf_counter() - started, _backend_cpu(backend) - db_cpu
        conn.execute("DROP TABLE bench_trips")
    return elapsed, db_cpu


def _trip_shaped(report: Path, target: Path, tenant_id: uuid.UUID) -> None:
    """The report's rows as trp_trips rows (for the baseline COPY), built before timing."""
    frame = pl.read_csv(report, infer_schema=False, encoding="utf8-lossy")
    headers = {h.strip().lower(): h for h in frame.columns}

    def col(name: str) -> str:
        return next(h for key, h in headers.items() if key.replace(" ", "") == name)

    platform_id = uuid.uuid4()
    out = pl.DataFrame({
        "id": [str(uuid.uuid4()) for _ in range(frame.height)],
        "tenant_id": str(tenant_id),
        "platform_id": str(platform_id),
        "external_trip_id": frame[col("tripuuid")] + "-" + pl.Series(
            [str(i) for i in range(frame.height)]),
        "status": "completed",
        "fare_gross": "10.00", "tip": "0.00", "platform_commission": "2.50",
        "net_earnings": "7.50", "currency": "EUR",
    })
    out.write_csv(target)


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--drivers", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    from fleetcore.demo.reports import write_uber_payments_csv

    with tempfile.TemporaryDirectory(prefix="fleetcore-bench-import-") as tmp:
        work = Path(tmp)
        _, app_url, superuser, server = _setup_database(work)
        try:
            report = work / "payments_order.csv"
            started = time.perf_counter()
            write_uber_payments_csv(report, rows=args.rows, drivers=args.drivers, seed=7)
            size = report.stat().st_size
            print(f"generated {args.rows:,} rows, {size / 1e6:.0f} MB "
                  f"({size / args.rows:.0f} bytes/row) in {time.perf_counter() - started:.1f} s")
            refs = pl.scan_csv(report, infer_schema=False).select(
                pl.col("Driver UUID").str.to_lowercase().unique()).collect()["Driver UUID"]
            trips_csv = work / "trips.csv"
            pipeline: list[float] = []
            baseline: list[float] = []
            peaks: list[float] = []
            cpu_ratios: list[float] = []
            for run in range(args.runs):
                tenant_id = _provision(app_url, sorted(refs.to_list()))
                if run == 0:
                    _trip_shaped(report, trips_csv, tenant_id)
                print(f"load average before run {run + 1}: {_load()}")
                base_wall, base_cpu = _baseline(superuser, trips_csv)
                baseline.append(base_wall)
                child = subprocess.run(
                    [sys.executable, __file__, "--child", json.dumps({
                        "app_url": app_url, "tenant_id": str(tenant_id),
                        "storage": str(work / "storage"), "file": str(report)})],
                    check=True, capture_output=True, text=True)
                result = json.loads(child.stdout.strip().splitlines()[-1])
                pipeline.append(result["seconds"])
                peaks.append(result["peak_mb"])
                # CPU: the pipeline's database backend and its own process (parsing, staging)
                # against the baseline's backend.
                cpu = result["db_cpu_s"] + result["py_cpu_s"]
                cpu_ratios.append(cpu / base_cpu)
                print(f"run {run + 1}: pipeline {result['seconds']:.2f} s "
                      f"({args.rows / result['seconds']:,.0f} rows/s, peak {result['peak_mb']:.0f}"
                      f" MB, {result['rows_valid']:,} valid rows, trips {result['trips']},"
                      f" phases in ms {result['timings_ms']}); "
                      f"baseline COPY {baseline[-1]:.2f} s; CPU: pipeline database"
                      f" {result['db_cpu_s']:.2f} s + process {result['py_cpu_s']:.2f} s,"
                      f" baseline database {base_cpu:.2f} s ({cpu_ratios[-1]:.2f}x);"
                      f" load average after: {_load()}")
            p, b = statistics.median(pipeline), statistics.median(baseline)
            print(f"\nmedian of {args.runs}: pipeline {p:.2f} s = {args.rows / p:,.0f} rows/s; "
                  f"baseline {b:.2f} s = {args.rows / b:,.0f} rows/s; ratio {p / b:.2f}x "
                  f"(target ≤ 2.5x); peak memory {max(peaks):.0f} MB "
                  f"(target < 1024 MB); CPU ratio {statistics.median(cpu_ratios):.2f}x")
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
