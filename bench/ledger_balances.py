"""Ledger benchmark: ``driver_balances`` for 10,000 drivers over 1,000,000 ledger entries.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/ledger_balances.py \
        [--drivers 10000] [--entries 1000000] [--repeat 5]

Creates a scratch database on that server (dropped at the end), migrates it, and writes one
tenant with ``--drivers`` driver balance accounts and ``--entries`` entries spread evenly over
them and over two years of economic dates (half credits, half debits against one platform
receivable), then asks, as the app role under row-level security:

* every driver's balance as of a day (what a payout batch asks), and
* 100 drivers' balances as of a day,

printing the median wall time of ``--repeat`` runs and the plan of one run
(``EXPLAIN (ANALYZE, BUFFERS)``): the sums must be index-only scans of
``ix_fin_transactions_tenant_id_{credit,debit}_effective_on``. The table is vacuumed after the
load, as autovacuum would (statistics and the visibility map). The entries are written with
the table's audit trigger disabled (a scratch database: one audit row per entry would only
slow the set-up down); the other triggers and the app role's privileges are as migrated.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import date

import psycopg
from psycopg import sql
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session

from fleetcore.core import embedded as embedded_pg
from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, bind_context, make_engine, normalise_url
from fleetcore.core.migrations import upgrade_to_head
from fleetcore.finance import service as ledger
from fleetcore.finance.service import _BALANCES

PASSWORD = "fleetcore-bench"


def _database(admin_url: str) -> tuple[str, str, str, str]:
    admin = make_url(normalise_url(admin_url))
    name = f"fleetcore_ledger_bench_{uuid.uuid4().hex[:8]}"
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
    db = admin.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")

    def url(role: str) -> str:
        return admin.set(username=role, password=PASSWORD, database=name).render_as_string(
            hide_password=False)

    return url(embedded_pg.OWNER_ROLE), url(embedded_pg.APP_ROLE), conninfo, name


def _populate(owner_url: str, drivers: int, entries: int) -> uuid.UUID:
    tenant = uuid.uuid4()
    engine = make_engine(owner_url, pool_size=1)
    with Session(engine) as session, session.begin():
        bind_context(session, DbContext.system())
        session.execute(text("ALTER TABLE fin_transactions DISABLE TRIGGER fin_transactions_audit"))
        session.execute(text(
            "INSERT INTO adm_tenants (id, name, slug, country, default_currency, timezone)"
            " VALUES (:t, 'Bench', :slug, 'FR', 'EUR', 'Europe/Paris')"),
            {"t": tenant, "slug": f"bench-{tenant.hex[:10]}"})
        session.execute(text("""
            INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, status)
            SELECT :t, gen_random_uuid(), 'D' || g, 'Bench', 'active'
              FROM generate_series(1, :n) g"""), {"t": tenant, "n": drivers})
        session.execute(text("""
            INSERT INTO fin_accounts (tenant_id, id, owner_type, driver_id, kind, name, currency,
                                      allow_negative)
            SELECT tenant_id, gen_random_uuid(), 'driver', id, 'driver_balance',
                   'Driver balance', 'EUR', true
              FROM rid_drivers WHERE tenant_id = :t"""), {"t": tenant})
        session.execute(text("""
            INSERT INTO fin_accounts (tenant_id, id, owner_type, kind, name, currency,
                                      allow_negative)
            VALUES (:t, gen_random_uuid(), 'tenant', 'platform_receivable', 'Receivable', 'EUR',
                    true)"""), {"t": tenant})
        session.execute(text("""
            WITH accounts AS (
              SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM fin_accounts
               WHERE tenant_id = :t AND kind = 'driver_balance'),
            other AS (SELECT id FROM fin_accounts WHERE tenant_id = :t
                       AND kind = 'platform_receivable')
            INSERT INTO fin_transactions (tenant_id, id, event_id, transaction_type,
              debit_account_id, credit_account_id, amount, currency, posted_at, effective_on,
              idempotency_key, payload_sha256)
            SELECT :t, gen_random_uuid(), gen_random_uuid(), 'platform_earning',
                   CASE WHEN g % 2 = 0 THEN o.id ELSE a.id END,
                   CASE WHEN g % 2 = 0 THEN a.id ELSE o.id END,
                   1 + (g % 97), 'EUR', now(), DATE '2025-01-01' + (g % 730),
                   'bench:' || g, repeat('0', 64)
              FROM generate_series(0, :m - 1) g
              JOIN accounts a ON a.n = g % :n
              CROSS JOIN other o"""), {"t": tenant, "n": drivers, "m": entries})
        session.execute(text("ALTER TABLE fin_transactions ENABLE TRIGGER fin_transactions_audit"))
    engine.dispose()
    # What autovacuum does to a table that was written once: statistics, and the visibility
    # map that lets index-only scans skip the heap.
    owner = make_url(normalise_url(owner_url)).set(drivername="postgresql")
    with psycopg.connect(owner.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) fin_transactions")
        conn.execute("VACUUM (ANALYZE) fin_accounts")
    return tenant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL")
    if not admin_url:
        sys.exit("Set DATABASE_URL to a role that may create databases and roles.")
    owner_url, app_url, conninfo, name = _database(admin_url)
    try:
        upgrade_to_head(owner_url, app_role=embedded_pg.APP_ROLE)
        started = time.perf_counter()
        tenant = _populate(owner_url, args.drivers, args.entries)
        print(f"populated {args.drivers:,} drivers, {args.entries:,} entries in "
              f"{time.perf_counter() - started:.1f} s")
        actor = Actor(type=ActorType.MEMBER, id=uuid.uuid4(), clerk_user_id="user_bench",
                      tenant_id=tenant, tenant_status="active", permissions=frozenset({"*"}))
        engine = make_engine(app_url, pool_size=1)
        as_of = date(2026, 3, 31)
        with Session(engine) as session:
            bind_context(session, DbContext.for_tenant(tenant))
            some = [r.driver_id for r in ledger.driver_balances(session, actor)][:100]
            for label, ids in (("all drivers", None), ("100 drivers", some)):
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    rows = ledger.driver_balances(session, actor, driver_ids=ids, as_of=as_of)
                    times.append(time.perf_counter() - started)
                print(f"{label}: {len(rows):,} balances, median {statistics.median(times):.3f} s"
                      f" (min {min(times):.3f} s) over {args.repeat} runs")
            query = _BALANCES.format(as_of_c="AND c.effective_on <= :as_of",
                                     as_of_d="AND d.effective_on <= :as_of", drivers="",
                                     currency="")
            plan = session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + query),
                                   {"t": tenant, "as_of": as_of}).scalars().all()
            print("\n".join(plan))
        engine.dispose()
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


if __name__ == "__main__":
    main()
