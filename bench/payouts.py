"""Payout benchmark: a 10,000-driver batch over 1M ledger rows, drafted, approved and exported.

    python bench/payouts.py [--drivers 10000] [--entries 1000000] [--runs 3]

What it does (quality.md, the ``bench/payouts.py`` row):

1. **A database**, as ``bench/reconcile.py``: ``DATABASE_URL`` (a role that may create roles and
   databases; a scratch database is created, migrated and dropped) or a private embedded
   PostgreSQL. Migrations run as the owner role; the service runs as the app role under
   row-level security.
2. **Setup (not timed).** One tenant with its SEPA debtor account; ``--drivers`` drivers, each
   with a ``driver_balance`` account and a bank account (a valid German IBAN); ``--entries``
   ``fin_transactions`` rows between the drivers' balances and a platform receivable, written
   as the superuser with ``INSERT … SELECT generate_series`` into the real table (every
   index in place; triggers — the per-row audit — off for this bench data, so setup takes
   seconds, not the half hour 1M audited inserts take). One driver in ten ends with a
   negative balance (carried, not paid). Then ``VACUUM ANALYZE`` and a ``CHECKPOINT``.
3. **Timed, ``--runs`` times, alternating:** the *baseline* — one hand-written SQL aggregate
   of the same balances over the same ledger (superuser, no RLS, nothing stored: the count and
   total of the positive ones) — and the *service*: ``draft_batch`` + ``approve_batch`` +
   ``export_sepa`` as the app role, each committed like its request, the pain.001 validated
   against the XSD. Each run's batch is cancelled afterwards (not timed) so the next run finds
   the same balances.
4. **Checks every run:** the batch's payment count and total equal the baseline's; the file's
   ``NbOfTxs`` and ``CtrlSum`` equal them; every ``EndToEndId`` is unique and ≤ 35 characters.

Prints every run, the medians and the ratio (target ≤ 3x).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from lxml import etree
from reconcile import Database, embedded_database, external_database
from schwifty import IBAN
from sqlalchemy import text
from sqlalchemy.orm import Session, configure_mappers

from fleetcore.catalogue import import_all_models
from fleetcore.core import embedded as embedded_pg
from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, bind_context, make_engine
from fleetcore.core.migrations import upgrade_to_head
from fleetcore.finance import payout_service
from fleetcore.finance.models import PaymentBatchMethod
from fleetcore.finance.payout_schemas import BatchDraft
from fleetcore.finance.sepa_service import export_sepa

WEEK = date(2026, 11, 16)
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}

SETUP_SQL = [
    "INSERT INTO adm_tenants (id, name, slug, country, default_currency, timezone, status,"
    " settings) VALUES (%(tenant)s, 'Bench fleet', %(slug)s, 'FR', 'EUR', 'Europe/Paris',"
    " 'active', '{\"payouts\": {\"four_eyes\": false, \"debtor\": {\"name\": \"Bench fleet\","
    " \"iban\": \"FR1420041010050500013M02606\", \"bic\": \"PSSTFRPP\"}}}')",
    "INSERT INTO dir_platforms (id, code, name) VALUES (%(platform)s, %(code)s, 'Bench')",
    "INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, status)"
    " SELECT %(tenant)s, md5('bench-driver-' || d)::uuid, 'Driver', 'No ' || d, 'active'"
    " FROM generate_series(0, %(drivers)s - 1) d",
    "INSERT INTO fin_accounts (tenant_id, id, owner_type, driver_id, kind, name, currency,"
    " allow_negative) SELECT %(tenant)s, md5('bench-balance-' || d)::uuid, 'driver',"
    " md5('bench-driver-' || d)::uuid, 'driver_balance', 'Driver balance', 'EUR', true"
    " FROM generate_series(0, %(drivers)s - 1) d",
    "INSERT INTO fin_accounts (tenant_id, id, owner_type, kind, platform_id, name, currency,"
    " allow_negative) VALUES (%(tenant)s, %(receivable)s, 'tenant', 'platform_receivable',"
    " %(platform)s, 'Platform receivable', 'EUR', true)",
    # Entry i of driver d = i %% drivers: credits the driver (the fleet owes more) two times
    # in three, except for one driver in ten, whose balance ends negative.
    "INSERT INTO fin_transactions (tenant_id, id, event_id, transaction_type,"
    " debit_account_id, credit_account_id, amount, currency, posted_at, effective_on,"
    " idempotency_key, payload_sha256)"
    " SELECT %(tenant)s, gen_random_uuid(), gen_random_uuid(), 'adjustment',"
    "  CASE WHEN owed THEN %(receivable)s ELSE bal END,"
    "  CASE WHEN owed THEN bal ELSE %(receivable)s END,"
    "  ((i * 7919) %% 10000 + 1)::numeric / 100, 'EUR',"
    "  %(posted)s::timestamptz + (i %% 600000) * interval '1 second',"
    # The economic date the trigger (off here) would give: the local day posted.
    "  ((%(posted)s::timestamptz + (i %% 600000) * interval '1 second')"
    "   AT TIME ZONE 'Europe/Paris')::date,"
    "  'bench:' || i, repeat('0', 64)"
    " FROM generate_series(0::bigint, %(entries)s - 1) i,"
    " LATERAL (SELECT md5('bench-balance-' || (i %% %(drivers)s))::uuid AS bal,"
    "   CASE WHEN (i %% %(drivers)s) %% 10 = 0 THEN (i / %(drivers)s) %% 3 = 0"
    "        ELSE (i / %(drivers)s) %% 3 <> 0 END AS owed) x",
]

BASELINE_SQL = """
SELECT count(*) FILTER (WHERE balance > 0), coalesce(sum(balance) FILTER (WHERE balance > 0), 0)
  FROM (SELECT m.account_id, sum(m.amount) AS balance
          FROM fin_transactions t
         CROSS JOIN LATERAL (VALUES (t.credit_account_id, t.amount),
                                    (t.debit_account_id, -t.amount)) m(account_id, amount)
         WHERE t.tenant_id = %(tenant)s AND t.currency = 'EUR'
         GROUP BY m.account_id) b
  JOIN fin_accounts a ON a.tenant_id = %(tenant)s AND a.id = b.account_id
 WHERE a.kind = 'driver_balance'
"""


def setup(db: Database, drivers: int, entries: int) -> dict[str, uuid.UUID]:
    ids = {"tenant": uuid.uuid4(), "platform": uuid.uuid4(), "receivable": uuid.uuid4()}
    params = {**ids, "slug": f"bench-{ids['tenant'].hex[:8]}",
              "code": f"bench{ids['platform'].hex[:8]}", "drivers": drivers,
              "entries": entries, "posted": "2026-11-16T00:00:00+01:00"}
    started = time.perf_counter()
    with psycopg.connect(db.admin) as conn:
        # Bench data, not a business event: written without the per-row audit trigger (the
        # rows' constraints were checked by the statements above and by the tests).
        conn.execute("SET session_replication_role = replica")
        for statement in SETUP_SQL:
            conn.execute(statement, params)
        conn.execute("SET session_replication_role = origin")
        with conn.cursor().copy(
            "COPY fin_accounts (tenant_id, id, owner_type, driver_id, kind, name, currency,"
            " iban, allow_negative) FROM STDIN"
        ) as copy:
            for d in range(drivers):
                driver = uuid.UUID(hex=hashlib.md5(
                    f"bench-driver-{d}".encode()).hexdigest())
                iban = IBAN.generate("DE", bank_code="37040044", account_code=str(d + 1))
                copy.write_row((ids["tenant"], uuid.uuid4(), "driver", driver, "bank",
                                f"Driver {d}", "EUR", iban.compact, True))
    with psycopg.connect(db.admin, autocommit=True) as conn:
        for table in ("fin_transactions", "fin_accounts", "rid_drivers"):
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CHECKPOINT")
    print(f"setup: {drivers:,} drivers, {entries:,} ledger rows written in "
          f"{time.perf_counter() - started:.0f} s (superuser)", flush=True)
    return ids


def run_baseline(db: Database, tenant: uuid.UUID) -> tuple[float, int, Decimal]:
    with psycopg.connect(db.admin) as conn:
        conn.execute("SET jit = off")  # as the service's transactions (payout_service._tune)
        started = time.perf_counter()
        row = conn.execute(BASELINE_SQL, {"tenant": tenant}).fetchone()
        elapsed = time.perf_counter() - started
    assert row is not None
    return elapsed, int(row[0]), Decimal(row[1])


def _session(engine: object, tenant: uuid.UUID, actor: Actor) -> Session:
    session = Session(engine)  # type: ignore[call-overload]
    bind_context(session, DbContext.for_tenant(tenant, actor_type=ActorType.MEMBER,
                                               actor_id=actor.id))
    return session


def run_service(engine: object, tenant: uuid.UUID) -> tuple[float, dict[str, float], object,
                                                            bytes]:
    actor = Actor(type=ActorType.MEMBER, id=uuid.uuid4(), clerk_user_id="user_bench",
                  tenant_id=tenant, tenant_status="active",
                  permissions=frozenset({"payouts:write", "payouts:approve"}))
    steps: dict[str, float] = {}
    started = time.perf_counter()
    with _session(engine, tenant, actor) as session:
        batch = payout_service.draft_batch(session, actor, data=BatchDraft(
            period_first_day=WEEK, period_last_day=WEEK + timedelta(days=6),
            method=PaymentBatchMethod.SEPA_TRANSFER))
        session.commit()
        batch_id, version = batch.id, batch.version
    steps["draft"] = time.perf_counter() - started
    with _session(engine, tenant, actor) as session:
        mark = time.perf_counter()
        payout_service.approve_batch(session, actor, batch_id, f'"{version}"')
        session.commit()
        steps["approve"] = time.perf_counter() - mark
    with _session(engine, tenant, actor) as session:
        mark = time.perf_counter()
        document = export_sepa(session, actor, batch_id)
        session.commit()
        steps["export"] = time.perf_counter() - mark
    elapsed = time.perf_counter() - started
    with _session(engine, tenant, actor) as session:
        batch = payout_service.get_batch(session, actor, batch_id)
        summary = (batch.payment_count, batch.net_total, batch.id)
        # Release the money for the next run (not timed): an exported batch is not
        # cancellable through the service, so the bench sets it aside directly.
        session.execute(text(
            "UPDATE fin_driver_payment_batches SET status = 'cancelled' WHERE id = :b"),
            {"b": batch_id})
        session.execute(text(
            "UPDATE fin_driver_payments SET status = 'cancelled' WHERE batch_id = :b"),
            {"b": batch_id})
        session.commit()
    return elapsed, steps, summary, document


def check(count: int, total: Decimal, summary: object, document: bytes) -> list[str]:
    problems = []
    payment_count, net_total, _ = summary  # type: ignore[misc]
    if payment_count != count or net_total != total:
        problems.append(f"batch {payment_count} / {net_total} != baseline {count} / {total}")
    tree = etree.fromstring(document)
    header = tree.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    if int(header.findtext("p:NbOfTxs", namespaces=NS)) != count:
        problems.append("NbOfTxs differs from the batch")
    if Decimal(header.findtext("p:CtrlSum", namespaces=NS)) != total:
        problems.append("CtrlSum differs from the batch")
    ids = [e.text for e in tree.iterfind(".//p:EndToEndId", NS)]
    if len(set(ids)) != count or any(len(i) > 35 for i in ids):
        problems.append("EndToEndId not unique or longer than 35 characters")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import_all_models()
    configure_mappers()
    work = Path(tempfile.mkdtemp(prefix="fleetcore-bench-payouts-"))
    admin_url = os.environ.get("DATABASE_URL")
    db = external_database(admin_url) if admin_url else embedded_database(work)
    print(f"database: {'DATABASE_URL (scratch database)' if admin_url else 'embedded'}",
          flush=True)
    try:
        upgrade_to_head(db.owner_url, app_role=embedded_pg.APP_ROLE)
        ids = setup(db, args.drivers, args.entries)
        engine = make_engine(db.app_url, pool_size=1)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        base_times: list[float] = []
        serv_times: list[float] = []
        problems: list[str] = []
        for number in range(1, args.runs + 1):
            elapsed, count, total = run_baseline(db, ids["tenant"])
            base_times.append(elapsed)
            elapsed, steps, summary, document = run_service(engine, ids["tenant"])
            serv_times.append(elapsed)
            problems += check(count, total, summary, document)
            print(f"run {number}: baseline {base_times[-1]:6.2f} s   service "
                  f"{serv_times[-1]:6.2f} s (draft {steps['draft']:.2f}, approve "
                  f"{steps['approve']:.2f}, export {steps['export']:.2f})   ratio "
                  f"{serv_times[-1] / base_times[-1]:.2f}   {count:,} payments, "
                  f"{total:,} EUR, file {len(document) / 1e6:.1f} MB", flush=True)
        engine.dispose()
        base, serv = statistics.median(base_times), statistics.median(serv_times)
        ratio = serv / base
        print(f"\nmedian of {args.runs}: baseline (hand-written aggregate) {base:.2f} s; "
              f"service (draft + approve + SEPA export, committed) {serv:.2f} s")
        print(f"ratio {ratio:.2f}x (target ≤ 3x): {'yes' if ratio <= 3 else 'NO'}")
        if problems:
            print("\nCHECKS FAILED:\n  " + "\n  ".join(problems[:20]))
            sys.exit(1)
        print("checks: payment count and total equal the baseline's; NbOfTxs, CtrlSum and "
              "EndToEndIds match (M8)")
    finally:
        cleanup = db.cleanup
        assert callable(cleanup)
        cleanup()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
