"""Driver balances and statements read by economic date (money.md ledger rules 3 and 7):
a March week confirmed in April counts "as of 31 March"; a rent week leaves the driver owing;
each statement entry names its source; a recharged expense is posted in full."""

from __future__ import annotations

import importlib.util
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from settlement_fixtures import Books, at, books_on, midnight
from sqlalchemy import text
from sqlalchemy.orm import Session

import fleetcore.migrations
from fleetcore.core.errors import Conflict, NotFound
from fleetcore.core.pagination import PageParams
from fleetcore.core.schemas import MoneyIn
from fleetcore.core.versioning import etag
from fleetcore.finance import service as ledger
from fleetcore.finance.ledger_service import post_settlement
from fleetcore.fleet import service as fleet_service
from fleetcore.fleet.schemas import ExpenseUpdate
from fleetcore.trips import settlement_service as settlements

MARCH_WEEK = date(2026, 3, 23)
"""Monday 23 March 2026: the week ends on Sunday 29 March (Europe/Paris)."""


def _confirm(db: Session, books: Books, week: date) -> list[Any]:
    return [settlements.confirm_settlement(db, books.actor, s.id, s.version)
            for s in settlements.compute_settlements(db, books.actor, period=week)]


def _earning_week(books: Books, driver: Any, platform: Any, ref: str, week: date,
                  fare: str, commission: str) -> None:
    report = books.report(platform, week=week)
    books.row(report, platform, driver, at(week + timedelta(days=1)), ref=ref,
              fare_gross=fare, commission=commission)


def test_a_march_week_confirmed_in_april_counts_as_of_31_march(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    ref = books.account(ana, uber)
    books.terms(ana, midnight(date(2026, 1, 1)), pct="25")
    _earning_week(books, ana, uber, ref, MARCH_WEEK, "100.00", "20.00")
    (settlement,) = _confirm(db, books, MARCH_WEEK)
    assert settlement.net == Decimal("60.00")  # 80 after commission, 25 % to the fleet
    # Confirmed today (long after March): the posting time is not March, the economic date is.
    entries = books.sql("SELECT posted_at, effective_on FROM fin_transactions"
                        " WHERE settlement_id = :s", s=settlement.id)
    assert {e.effective_on for e in entries} == {date(2026, 3, 29)}
    assert all(e.posted_at.date() > date(2026, 3, 31) for e in entries)

    def balance(as_of: date | None) -> Decimal:
        (row,) = ledger.driver_balances(db, books.actor, driver_ids=[ana], as_of=as_of)
        return row.balance

    assert balance(date(2026, 3, 31)) == Decimal("60.00")
    assert balance(date(2026, 3, 29)) == Decimal("60.00")
    assert balance(date(2026, 3, 28)) == Decimal("0")  # the week is not over on the 28th
    assert balance(None) == Decimal("60.00")


def test_a_rent_week_leaves_the_driver_owing_the_fleet(db: Session) -> None:
    books = books_on(db)
    bo = books.driver("Bo")
    books.terms(bo, midnight(date(2026, 1, 1)), model="fixed_rent", rent="150.00",
                rent_period="week")
    (settlement,) = _confirm(db, books, MARCH_WEEK)
    assert settlement.net == Decimal("-150.00")
    (row,) = ledger.driver_balances(db, books.actor, as_of=date(2026, 3, 31))
    assert (row.driver_id, row.currency, row.balance) == (bo, "EUR", Decimal("-150.00"))
    assert row.owed_by_driver
    entries, cursor = ledger.driver_statement(db, books.actor, bo, PageParams(limit=50),
                                              ledger.LedgerFilter())
    assert cursor is None
    assert sum(e.amount for e in entries) == Decimal("-150.00")
    assert entries[-1].balance == Decimal("-150.00")
    assert {e.line_type for e in entries} == {"rent"}
    assert all(e.source_label.startswith("Settlement week of 2026-03-23 · driver-level · Rent")
               for e in entries)
    assert {e.counterpart_name for e in entries} == {"Rent"}


def test_balances_of_many_drivers_in_one_statement(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    drivers = [books.driver(f"D{i}") for i in range(5)]
    for i, driver in enumerate(drivers):
        ref = books.account(driver, uber)
        books.terms(driver, midnight(date(2026, 1, 1)), pct="25")
        _earning_week(books, driver, uber, ref, MARCH_WEEK, f"{100 + i}.00", "0")
    _confirm(db, books, MARCH_WEEK)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    from sqlalchemy import event
    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        rows = ledger.driver_balances(db, books.actor, driver_ids=drivers[:3])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert [(r.driver_id, r.balance) for r in rows] == sorted(
        (d, Decimal(f"{100 + i}.00") * Decimal("0.75")) for i, d in enumerate(drivers[:3]))
    assert ledger.driver_balances(db, books.actor, currency="GBP") == []
    assert len(ledger.driver_balances(db, books.actor)) == 5


def test_the_statement_resolves_sources_and_pages_with_a_running_balance(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    ref = books.account(ana, uber)
    books.terms(ana, midnight(date(2026, 1, 1)), pct="25", recharge_fuel=True)
    _earning_week(books, ana, uber, ref, MARCH_WEEK, "100.00", "20.00")
    books.expense(ana, MARCH_WEEK + timedelta(days=2), "30.00")
    _confirm(db, books, MARCH_WEEK)
    nxt = MARCH_WEEK + timedelta(days=7)
    _earning_week(books, ana, uber, ref, nxt, "50.00", "10.00")
    _confirm(db, books, nxt)
    everything, _ = ledger.driver_statement(db, books.actor, ana, PageParams(limit=200),
                                            ledger.LedgerFilter())
    # Pages of 2 give the same entries with the same running balances.
    paged: list[Any] = []
    cursor = None
    while True:
        page, cursor = ledger.driver_statement(db, books.actor, ana,
                                               PageParams(limit=2, cursor=cursor),
                                               ledger.LedgerFilter())
        paged.extend(page)
        if cursor is None:
            break
    assert [(e.id, e.balance) for e in paged] == [(e.id, e.balance) for e in everything]
    running = Decimal(0)
    for entry in everything:
        running += entry.amount
        assert entry.balance == running
    assert [e.effective_on for e in everything] == sorted(e.effective_on for e in everything)
    # The platform and driver-level settlements of a week share their date and posting time:
    # each one's entries still come together.
    runs = [e.event_id for i, e in enumerate(everything)
            if i == 0 or everything[i - 1].event_id != e.event_id]
    assert len(runs) == len(set(runs)) == 3
    (total,) = ledger.driver_balances(db, books.actor, driver_ids=[ana])
    assert everything[-1].balance == total.balance == Decimal("60.00") - Decimal(
        "30.00") + Decimal("30.00")
    by_type = {e.line_type: e for e in reversed(everything)}  # each type's first entry
    earning = by_type["platform_earning"]
    assert earning.import_row_number is not None
    assert earning.import_id is not None
    assert (earning.platform, earning.settlement_week) == ("Uber", MARCH_WEEK)
    assert "report row" in earning.source_label
    assert "Uber" in earning.source_label
    assert by_type["fuel"].expense_id is not None
    assert by_type["fuel"].source_type == "settlement"
    # Filtered to the second week: the running balance still counts the first.
    later, _ = ledger.driver_statement(db, books.actor, ana, PageParams(limit=50),
                                       ledger.LedgerFilter(since=nxt))
    assert {e.effective_on for e in later} == {nxt + timedelta(days=6)}
    assert later[-1].balance == everything[-1].balance


def test_a_recharged_expense_is_posted_in_full(db: Session) -> None:
    books = books_on(db)
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), pct="25", recharge_fuel=True,
                recharge_other_expenses=True)
    fuel = books.expense(ana, MARCH_WEEK + timedelta(days=1), "45.00", payment_method="fuel_card")
    wash = books.expense(ana, MARCH_WEEK + timedelta(days=2), "12.50", category="wash",
                         payment_method="cash")
    paid_by_driver = books.expense(ana, MARCH_WEEK + timedelta(days=3), "8.00",
                                   category="parking", payment_method="driver_paid",
                                   reimbursable=True, rechargeable=False)
    (settlement,) = _confirm(db, books, MARCH_WEEK)
    assert settlement.net == Decimal("-45.00") - Decimal("12.50") + Decimal("8.00")
    entries = books.sql("""
        SELECT t.expense_id, t.amount, t.transaction_type, d.kind AS debit, c.kind AS credit,
               coalesce(d.metadata ->> 'system', d.kind) AS debit_role,
               coalesce(c.metadata ->> 'system', c.kind) AS credit_role
          FROM fin_transactions t
          JOIN fin_accounts d ON d.id = t.debit_account_id
          JOIN fin_accounts c ON c.id = t.credit_account_id
         WHERE t.settlement_id = :s""", s=settlement.id)
    by_expense: dict[Any, list[Any]] = {}
    for e in entries:
        by_expense.setdefault(e.expense_id, []).append(e)
    # Each recharged expense: its full cost (Recharged costs ← the account that paid) and the
    # recharge (driver ← Recharged costs), both of the whole amount.
    for expense, amount, payer in ((fuel, "45.00", "paid_bank"), (wash, "12.50", "paid_cash")):
        moves = sorted((e.debit_role, e.credit_role, e.amount) for e in by_expense[expense])
        assert moves == [("driver_balance", "recharged", Decimal(amount)),
                         ("recharged", payer, Decimal(amount))]
    # The driver paid the parking: reimbursed, no fleet cost to post.
    assert [(e.debit_role, e.credit_role, e.amount) for e in by_expense[paid_by_driver]] == [
        ("recharged", "driver_balance", Decimal("8.00"))]
    recharged = books.sql("""
        SELECT coalesce(sum(CASE WHEN t.debit_account_id = a.id THEN t.amount
                                 ELSE -t.amount END), 0)
          FROM fin_accounts a JOIN fin_transactions t ON t.tenant_id = a.tenant_id
               AND a.id IN (t.debit_account_id, t.credit_account_id)
         WHERE a.tenant_id = :t AND a.metadata ->> 'system' = 'recharged'""",
                          t=books.tenant_id)[0][0]
    assert recharged == Decimal("8.00")  # fully recharged costs net to zero for the fleet
    # The expense is posted: it points at its cost entry and can no longer be deleted.
    posted = books.sql("SELECT transaction_id FROM flt_vehicle_expenses WHERE id = :e",
                       e=fuel)[0][0]
    assert posted is not None
    version = books.sql("SELECT version FROM flt_vehicle_expenses WHERE id = :e", e=fuel)[0][0]
    with pytest.raises(Conflict, match="posted to the ledger"):
        fleet_service.delete_expense(db, books.actor, fuel, reason="typo",
                                     if_match=etag(version))
    # What was posted cannot change behind the ledger's back; a note still can.
    with pytest.raises(Conflict, match="amount can no longer change"):
        fleet_service.update_expense(
            db, books.actor, fuel, if_match=etag(version),
            data=ExpenseUpdate(amount=MoneyIn(amount="40.00", currency="EUR")))
    noted = fleet_service.update_expense(db, books.actor, fuel, if_match=etag(version),
                                         data=ExpenseUpdate(vendor="TotalEnergies"))
    assert noted.vendor == "TotalEnergies"
    # Posting again changes nothing.
    count = len(entries)
    assert post_settlement(db, books.actor, settlement.id) == count


def test_other_postings_default_to_their_local_business_date(db: Session) -> None:
    books = books_on(db, zone="Pacific/Auckland")
    bo = books.driver("Bo")
    books.terms(bo, midnight(date(2026, 1, 1), "Pacific/Auckland"), model="fixed_rent",
                rent="70.00", rent_period="week")
    (settlement,) = _confirm(db, books, MARCH_WEEK)
    entry = books.sql("SELECT * FROM fin_transactions WHERE settlement_id = :s LIMIT 1",
                      s=settlement.id)[0]
    # An entry posted without an economic date gets the local day of posted_at (trigger):
    # 30 March 13:00 UTC is already 31 March in Auckland.
    books.sql("""
        INSERT INTO fin_transactions (tenant_id, id, event_id, transaction_type,
          debit_account_id, credit_account_id, amount, currency, posted_at, idempotency_key,
          payload_sha256)
        VALUES (:t, gen_random_uuid(), gen_random_uuid(), 'adjustment', :d, :c, 1, 'EUR',
                '2026-03-30T13:00:00Z', 'manual:1', repeat('0', 64))""",
              t=books.tenant_id, d=entry.credit_account_id, c=entry.debit_account_id)
    (row,) = books.sql("SELECT effective_on FROM fin_transactions WHERE idempotency_key ="
                       " 'manual:1'")
    assert row.effective_on == date(2026, 3, 31)


def test_another_tenants_driver_has_no_statement(db: Session) -> None:
    ours = books_on(db)
    ana = ours.driver()
    ours.terms(ana, midnight(date(2026, 1, 1)), model="fixed_rent", rent="70.00",
               rent_period="week")
    _confirm(db, ours, MARCH_WEEK)
    theirs = books_on(db)
    with pytest.raises(NotFound):
        ledger.driver_statement(db, theirs.actor, ana, PageParams(), ledger.LedgerFilter())
    assert ledger.driver_balances(db, theirs.actor, driver_ids=[ana]) == []
    # RLS, not the WHERE clause: the other tenant's rows are not even visible.
    assert db.execute(text("SELECT count(*) FROM fin_transactions WHERE tenant_id = :t"),
                      {"t": ours.tenant_id}).scalar_one() == 0


def _migration() -> Any:
    path = (Path(fleetcore.migrations.__file__).parent / "versions"
            / "0013_ledger_economic_date.py")
    spec = importlib.util.spec_from_file_location("migration_0013", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_backfill_gives_existing_entries_the_dates_postings_give(db: Session) -> None:
    """Migration 0013's backfill computes, for entries posted before it, the economic date the
    posting code and the trigger give new ones (checked on fresh postings, reversal aside)."""
    books = books_on(db, zone="America/New_York")
    uber = books.platform()
    ana = books.driver()
    ref = books.account(ana, uber)
    books.terms(ana, midnight(date(2026, 1, 1), "America/New_York"), model="fixed_rent",
                rent="70.00", rent_period="week")
    _earning_week(books, ana, uber, ref, MARCH_WEEK, "100.00", "20.00")
    _confirm(db, books, MARCH_WEEK)
    entry = books.sql("SELECT * FROM fin_transactions WHERE tenant_id = :t LIMIT 1",
                      t=books.tenant_id)[0]
    books.sql("""
        INSERT INTO fin_transactions (tenant_id, id, event_id, transaction_type,
          debit_account_id, credit_account_id, amount, currency, posted_at, idempotency_key,
          payload_sha256)
        VALUES (:t, gen_random_uuid(), gen_random_uuid(), 'adjustment', :d, :c, 1, 'EUR',
                '2026-04-01T02:00:00Z', 'manual:2', repeat('0', 64))""",
              t=books.tenant_id, d=entry.credit_account_id, c=entry.debit_account_id)
    rows = books.sql(f"""
        SELECT t.effective_on, {_migration().ECONOMIC_DATE} AS backfilled
          FROM fin_transactions t JOIN adm_tenants a ON a.id = t.tenant_id
         WHERE t.tenant_id = :t""", t=books.tenant_id)
    assert len(rows) > 3
    assert all(r.effective_on == r.backfilled for r in rows)
    # 02:00 UTC on 1 April is still 31 March in New York.
    assert date(2026, 3, 31) in {r.effective_on for r in rows}


def test_the_ledger_stays_append_only_after_the_migration(db: Session) -> None:
    triggers = dict(db.execute(text(
        "SELECT tgname, tgenabled FROM pg_trigger"
        " WHERE tgrelid = 'fin_transactions'::regclass AND NOT tgisinternal")).all())
    for name in ("fin_transactions_append_only", "fin_transactions_no_truncate",
                 "fin_transactions_audit", "fin_transactions_effective_on"):
        assert triggers.get(name) == "O", (name, triggers)  # "O": enabled
    grants = {r[0] for r in db.execute(text(
        "SELECT privilege_type FROM information_schema.role_table_grants"
        " WHERE table_name = 'fin_transactions' AND grantee = current_user"))}
    assert grants == {"SELECT", "INSERT"}
