"""Reversals (money.md ledger rules 2 and 4; M2, M3, M4, M5): a reversal mirrors an event's
entries and nets to zero, is idempotent (replay = the first result, same key other payload =
409), an event is reversed at most once — also under concurrency — and the books stay balanced
whatever is posted and reversed."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from settlement_fixtures import Books, at, books_on, committed_books, midnight
from sqlalchemy.orm import Session

from api_support import TenantWorld
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.errors import Conflict, NotFound, ValidationProblem
from fleetcore.finance import service as ledger
from fleetcore.trips import settlement_service as settlements

WEEK = date(2026, 3, 23)
LAST_DAY = date(2026, 3, 29)


def _rent_week(db: Session, books: Books, rent: str = "150.00") -> tuple[Any, Any]:
    driver = books.driver("Bo")
    books.terms(driver, midnight(date(2026, 1, 1)), model="fixed_rent", rent=rent,
                rent_period="week", deposit_amount=Decimal("100"),
                weekly_deposit_instalment=Decimal("25"))
    (draft,) = settlements.compute_settlements(db, books.actor, period=WEEK)
    settlement = settlements.confirm_settlement(db, books.actor, draft.id, draft.version)
    event_id = books.sql("SELECT DISTINCT event_id FROM fin_transactions WHERE settlement_id"
                         " = :s", s=settlement.id)[0][0]
    return driver, event_id


def _account_sums(books: Books) -> dict[Any, Decimal]:
    """Each account's debits - credits, straight from the entries."""
    rows = books.sql("""
        SELECT a.id, coalesce(sum(CASE WHEN t.debit_account_id = a.id THEN t.amount
                                       ELSE -t.amount END), 0)
          FROM fin_accounts a LEFT JOIN fin_transactions t ON t.tenant_id = a.tenant_id
               AND a.id IN (t.debit_account_id, t.credit_account_id)
         WHERE a.tenant_id = :t GROUP BY a.id""", t=books.tenant_id)
    return dict(rows)


def test_a_reversal_mirrors_the_event_and_nets_to_zero(db: Session) -> None:
    books = books_on(db)
    driver, event_id = _rent_week(db, books)
    before = ledger.driver_balances(db, books.actor, driver_ids=[driver])[0].balance
    assert before == Decimal("-175.00")  # rent 150 + deposit instalment 25
    reversal = ledger.reverse_event(db, books.actor, event_id, idempotency_key="fix-1",
                                    reason="wrong terms", effective_on=date(2026, 4, 2))
    assert not reversal.replayed
    originals = books.sql("SELECT * FROM fin_transactions WHERE event_id = :e", e=event_id)
    mirrors = books.sql("SELECT * FROM fin_transactions WHERE event_id = :e",
                        e=reversal.event_id)
    assert len(mirrors) == len(originals) == len(reversal.entry_ids)
    by_original = {m.reversal_of_id: m for m in mirrors}
    for o in originals:
        m = by_original[o.id]
        assert (m.debit_account_id, m.credit_account_id) == (o.credit_account_id,
                                                             o.debit_account_id)
        assert (m.amount, m.currency, m.settlement_id, m.settlement_line_id) == (
            o.amount, o.currency, o.settlement_id, o.settlement_line_id)
        assert (m.transaction_type, m.effective_on) == ("reversal", date(2026, 4, 2))
    assert set(_account_sums(books).values()) == {Decimal(0)}
    # As of the original week the rent is still owed; from the reversal's date it is not.
    assert ledger.driver_balances(db, books.actor, driver_ids=[driver],
                                  as_of=date(2026, 3, 31))[0].balance == before
    assert ledger.driver_balances(db, books.actor, driver_ids=[driver],
                                  as_of=date(2026, 4, 2))[0].balance == 0
    # The statement links both ways.
    entries = ledger.statement_entries(db, books.actor, driver, ledger.LedgerFilter())
    assert all(e.reversed_by_id for e in entries if e.transaction_type != "reversal")
    assert all(e.source_label.startswith("Reversal · Settlement week of 2026-03-23")
               for e in entries if e.transaction_type == "reversal")
    assert entries[-1].balance == 0


def test_replays_keys_and_second_reversals(db: Session) -> None:
    books = books_on(db)
    _, event_id = _rent_week(db, books)
    first = ledger.reverse_event(db, books.actor, event_id, idempotency_key="k",
                                 reason="typo", effective_on=date(2026, 4, 1))
    again = ledger.reverse_event(db, books.actor, event_id, idempotency_key="k",
                                 reason="typo", effective_on=date(2026, 4, 1))
    assert again.replayed
    assert (again.event_id, sorted(again.entry_ids)) == (first.event_id,
                                                         sorted(first.entry_ids))
    with pytest.raises(Conflict, match="another reversal"):
        ledger.reverse_event(db, books.actor, event_id, idempotency_key="k",
                             reason="another reason", effective_on=date(2026, 4, 1))
    with pytest.raises(Conflict, match="already reversed"):
        ledger.reverse_event(db, books.actor, event_id, idempotency_key="k2", reason="typo",
                             effective_on=date(2026, 4, 1))
    with pytest.raises(Conflict, match="not reversed"):
        ledger.reverse_event(db, books.actor, first.event_id, idempotency_key="k3",
                             reason="undo", effective_on=date(2026, 4, 1))
    with pytest.raises(NotFound):
        ledger.reverse_event(db, books.actor, uuid.uuid4(), idempotency_key="k4",
                             reason="x")
    count = books.sql("SELECT count(*) FROM fin_transactions WHERE tenant_id = :t",
                      t=books.tenant_id)[0][0]
    assert count == 2 * len(first.entry_ids)


def test_a_reversal_cannot_take_effect_before_its_entries(db: Session) -> None:
    books = books_on(db)
    _, event_id = _rent_week(db, books)
    with pytest.raises(ValidationProblem) as problem:
        ledger.reverse_event(db, books.actor, event_id, idempotency_key="early",
                             reason="x", effective_on=LAST_DAY - timedelta(days=1))
    assert problem.value.errors[0]["field"] == "effective_on"
    # Another tenant cannot see, let alone reverse, the event.
    other = books_on(db)
    with pytest.raises(NotFound):
        ledger.reverse_event(db, other.actor, event_id, idempotency_key="x", reason="x")


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(weeks=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 200), st.booleans()),
                      min_size=1, max_size=4))
def test_m2_m3_hold_after_postings_and_reversals(
    db: Session, weeks: list[tuple[int, int, bool]],
) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    ref = books.account(ana, uber)
    books.terms(ana, midnight(date(2026, 1, 1)), model="fixed_rent", rent="70.00",
                rent_period="week", deposit_amount=Decimal("60"),
                weekly_deposit_instalment=Decimal("25"))
    for n, (fare, fuel, reverse) in enumerate(weeks):
        week = WEEK + timedelta(days=7 * n)
        if fare:
            books.row(books.report(uber, week=week), uber, ana, at(week), ref=ref,
                      fare_gross=f"{fare}.10", commission="1.00")
        if fuel:
            books.expense(ana, week + timedelta(days=1), f"{fuel}.05")
        for s in settlements.compute_settlements(db, books.actor, period=week):
            settlements.confirm_settlement(db, books.actor, s.id, s.version)
        if reverse:
            for (event_id,) in books.sql("""
                    SELECT DISTINCT t.event_id FROM fin_transactions t
                      JOIN trp_settlements s ON s.id = t.settlement_id
                     WHERE t.tenant_id = :t AND s.period_start >= :start
                       AND t.transaction_type <> 'reversal'""",
                                         t=books.tenant_id, start=midnight(week)):
                ledger.reverse_event(db, books.actor, event_id, idempotency_key=f"r{event_id}",
                                     reason="property", effective_on=week + timedelta(days=8))
    sums = _account_sums(books)
    # M2: the tenant's books balance (one currency here).
    assert sum(sums.values(), Decimal(0)) == 0
    # M3: the driver's balance as projected equals the entries, at every day asked.
    account = books.sql("SELECT id FROM fin_accounts WHERE kind = 'driver_balance'"
                        " AND tenant_id = :t", t=books.tenant_id)
    if account:
        (row,) = ledger.driver_balances(db, books.actor, driver_ids=[ana])
        assert row.balance == -sums[account[0][0]]
        last = ledger.statement_entries(db, books.actor, ana, ledger.LedgerFilter())[-1]
        assert last.balance == row.balance
        for n in range(len(weeks) + 2):
            day = WEEK + timedelta(days=7 * n + 6)
            expected = books.sql("""
                SELECT coalesce(sum(CASE WHEN credit_account_id = :a THEN amount
                                         ELSE -amount END), 0)
                  FROM fin_transactions WHERE :a IN (debit_account_id, credit_account_id)
                   AND effective_on <= :d""", a=account[0][0], d=day)[0][0]
            assert ledger.driver_balances(db, books.actor, as_of=day)[0].balance == expected
    # No-overdraft accounts (the deposit held) never go below zero.
    for kind, total in books.sql("""
            SELECT a.kind, coalesce(sum(CASE WHEN t.credit_account_id = a.id THEN t.amount
                                             ELSE -t.amount END), 0)
              FROM fin_accounts a LEFT JOIN fin_transactions t ON t.tenant_id = a.tenant_id
                   AND a.id IN (t.debit_account_id, t.credit_account_id)
             WHERE a.tenant_id = :t AND NOT a.allow_negative GROUP BY a.id, a.kind""",
                                 t=books.tenant_id):
        assert total >= 0, kind


def _committed_rent_week(tenant_a: TenantWorld, sessions: Any) -> tuple[Books, Any]:
    books = committed_books(sessions, tenant_a.id)
    driver = books.driver("Bo")
    books.terms(driver, midnight(date(2026, 1, 1)), model="fixed_rent", rent="99.00",
                rent_period="week")
    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        (draft,) = settlements.compute_settlements(session, books.actor, period=WEEK)
        settlements.confirm_settlement(session, books.actor, draft.id, draft.version)
        session.commit()
    event_id = books.sql("SELECT DISTINCT event_id FROM fin_transactions WHERE tenant_id = :t",
                         t=tenant_a.id)[0][0]
    return books, event_id


def _race(sessions: Any, books: Books, event_id: Any, keys: list[str]) -> list[Any]:
    barrier = threading.Barrier(len(keys))
    outcomes: list[Any] = [None] * len(keys)

    def run(i: int) -> None:
        try:
            with context_session(sessions, DbContext.for_tenant(books.tenant_id)) as session:
                barrier.wait(timeout=10)
                outcomes[i] = ledger.reverse_event(session, books.actor, event_id,
                                                   idempotency_key=keys[i], reason="race",
                                                   effective_on=date(2026, 4, 1))
                session.commit()
        except Exception as exc:  # the outcome is what the test checks
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


def test_concurrent_reversals_post_once(tenant_a: TenantWorld, sessions: Any) -> None:
    books, event_id = _committed_rent_week(tenant_a, sessions)
    originals = books.sql("SELECT count(*) FROM fin_transactions WHERE event_id = :e",
                          e=event_id)[0][0]
    # The same command replayed concurrently posts once.
    same = _race(sessions, books, event_id, ["same", "same", "same"])
    assert all(isinstance(o, ledger.Reversal) for o in same), same
    assert len({o.event_id for o in same}) == 1
    # Another key at the same time: the event is already reversed.
    other = _race(sessions, books, event_id, ["other-1", "other-2"])
    assert all(isinstance(o, Conflict) for o in other), other
    reversals = books.sql("SELECT count(*) FROM fin_transactions WHERE tenant_id = :t"
                          " AND transaction_type = 'reversal'", t=tenant_a.id)[0][0]
    assert reversals == originals


def test_concurrent_reversals_under_two_keys_post_one(
    tenant_a: TenantWorld, sessions: Any,
) -> None:
    books, event_id = _committed_rent_week(tenant_a, sessions)
    outcomes = _race(sessions, books, event_id, ["a", "b"])
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "Reversal"], outcomes
    originals = books.sql("SELECT count(*) FROM fin_transactions WHERE event_id = :e",
                          e=event_id)[0][0]
    reversals = books.sql("SELECT count(*) FROM fin_transactions WHERE tenant_id = :t"
                          " AND transaction_type = 'reversal'", t=tenant_a.id)[0][0]
    assert reversals == originals
