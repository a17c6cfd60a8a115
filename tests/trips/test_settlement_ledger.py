"""Confirmation posts to the ledger (money.md ledger rules 1, 2, 4, 5, 6; M1, M2, M4, M5):
drafts post nothing; a confirmed settlement posts one balanced entry per line, the driver's
balance moves by exactly its net, a replay posts nothing, and entries cannot be altered."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from settlement_fixtures import WEEK, Books, at, books_on, midnight
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from fleetcore.core.errors import Conflict
from fleetcore.finance.ledger_service import post_settlement
from fleetcore.trips import settlement_service as service


def _balances(books: Books) -> dict[tuple[str, Any], Decimal]:
    """Each account's balance on its normal side, by (kind, system role or driver/platform)."""
    rows = books.sql("""
        SELECT a.kind, coalesce(a.metadata ->> 'system', a.driver_id::text,
                                a.platform_id::text, ''),
               coalesce(sum(CASE WHEN t.debit_account_id = a.id THEN t.amount
                                 ELSE -t.amount END), 0) * CASE a.normal_balance
                                 WHEN 'debit' THEN 1 ELSE -1 END
          FROM fin_accounts a
          LEFT JOIN fin_transactions t ON t.tenant_id = a.tenant_id
               AND a.id IN (t.debit_account_id, t.credit_account_id)
         WHERE a.tenant_id = :t GROUP BY a.id, a.kind, a.metadata, a.driver_id, a.platform_id,
               a.normal_balance""", t=books.tenant_id)
    return {(kind, owner): amount for kind, owner, amount in rows}


def _week(db: Session, receiver: str = "fleet") -> tuple[Books, Any, Any]:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    ref = books.account(ana, uber, receiver=receiver)
    books.terms(ana, midnight(date(2026, 1, 1)), model="fixed_rent", rent="70.00",
                rent_period="week", recharge_fuel=True, deposit_amount=Decimal("200"),
                weekly_deposit_instalment=Decimal("20"))
    report = books.report(uber)
    books.row(report, uber, ana, at(WEEK), ref=ref, fare_gross="100.00", commission="25.00",
              tip="5.00", cash_collected="30.00")
    books.expense(ana, WEEK + timedelta(days=1), "40.00")
    books.expense(ana, WEEK + timedelta(days=1), "12.00", category="parking",
                  rechargeable=False, reimbursable=True, payment_method="driver_paid")
    return books, ana, uber


def _confirm_all(db: Session, books: Books) -> list[Any]:
    confirmed = []
    for s in service.compute_settlements(db, books.actor, period=WEEK):
        confirmed.append(service.confirm_settlement(db, books.actor, s.id, s.version))
    return confirmed


def test_drafts_post_nothing_and_confirmation_posts_each_line(db: Session) -> None:
    books, ana, uber = _week(db)
    service.compute_settlements(db, books.actor, period=WEEK)
    assert books.sql("SELECT count(*) FROM fin_transactions WHERE tenant_id = :t",
                     t=books.tenant_id)[0][0] == 0
    settlements = _confirm_all(db, books)
    lines = sum(len(books.lines(s.id)) for s in settlements)
    entries = books.sql("SELECT transaction_type, amount, settlement_line_id, idempotency_key"
                        " FROM fin_transactions WHERE tenant_id = :t", t=books.tenant_id)
    # One entry per line, plus the full cost of the recharged fuel the fleet paid.
    assert len(entries) == lines + 1
    assert all(e.amount > 0 for e in entries)
    assert len({e.idempotency_key for e in entries}) == lines + 1
    balances = _balances(books)
    net = sum(s.net for s in settlements)
    # The driver's balance is what the fleet owes them: the sum of the confirmed nets.
    assert balances[("driver_balance", str(ana))] == net
    platform = next(s for s in settlements if s.platform_id)
    assert balances[("platform_receivable", str(uber))] == Decimal("100.00") - Decimal(
        "25.00") + Decimal("5.00") - Decimal("30.00")
    assert platform.net == Decimal("50.00")
    assert balances[("revenue", "rent")] == Decimal("70.00")
    # The fuel's cost (40.00, paid by the fleet) and its recharge net to zero; the parking the
    # driver paid is the fleet's cost, reimbursed.
    assert balances[("expense", "recharged")] == Decimal("40.00") - Decimal("40.00") + Decimal(
        "12.00")
    assert balances[("bank", "paid_bank")] == Decimal("-40.00")
    assert balances[("driver_deposit", str(ana))] == Decimal("20.00")
    kinds = {e.transaction_type for e in entries}
    assert {"platform_earning", "commission", "tip", "cash_collected", "rent", "fuel",
            "deposit", "reimbursement"} <= kinds
    # M2: debits equal credits over the tenant's books.
    signed = books.sql("""
        SELECT coalesce(sum(CASE WHEN a.id = t.debit_account_id THEN t.amount
                                 ELSE -t.amount END), 0)
          FROM fin_transactions t JOIN fin_accounts a ON a.tenant_id = t.tenant_id
               AND a.id IN (t.debit_account_id, t.credit_account_id)
         WHERE t.tenant_id = :t""", t=books.tenant_id)[0][0]
    assert signed == 0


def test_fleet_share_and_direct_payout_post_against_their_accounts(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    ref = books.account(ana, uber, receiver="driver")
    books.terms(ana, midnight(date(2026, 1, 1)), pct="30")
    books.row(books.report(uber), uber, ana, at(WEEK), ref=ref, fare_gross="200.00",
              commission="50.00")
    (settlement,) = _confirm_all(db, books)
    balances = _balances(books)
    assert settlement.net == Decimal("-45.00")
    assert balances[("driver_balance", str(ana))] == Decimal("-45.00")  # the driver owes
    assert balances[("fleet_share", "")] == Decimal("45.00")
    # The platform paid the driver: nothing is receivable from it.
    assert balances[("platform_receivable", str(uber))] == Decimal("0")


def test_posting_again_is_a_no_op_and_posted_lines_cannot_change(db: Session) -> None:
    books, _, _ = _week(db)
    settlement = _confirm_all(db, books)[0]
    count = books.sql("SELECT count(*) FROM fin_transactions WHERE settlement_id = :s",
                      s=settlement.id)[0][0]
    assert post_settlement(db, books.actor, settlement.id) == count
    assert books.sql("SELECT count(*) FROM fin_transactions WHERE settlement_id = :s",
                     s=settlement.id)[0][0] == count
    # The lines it posted can never differ from the entries: the database refuses any change
    # of a confirmed settlement's lines (tests/trips/test_settlement_final.py).
    line = books.lines(settlement.id)[0]
    with pytest.raises(DBAPIError, match="permission denied"), db.begin_nested():
        books.sql("UPDATE trp_settlement_lines SET amount = amount - 1 WHERE id = :l", l=line.id)


def test_drafts_cannot_be_posted(db: Session) -> None:
    books, _, _ = _week(db)
    draft = service.compute_settlements(db, books.actor, period=WEEK)[0]
    with pytest.raises(Conflict, match="Drafts post nothing"):
        post_settlement(db, books.actor, draft.id)


def test_ledger_entries_are_append_only_and_single_currency(db: Session) -> None:
    books, _, _ = _week(db)
    _confirm_all(db, books)
    entry = books.sql("SELECT id, debit_account_id, credit_account_id FROM fin_transactions"
                      " WHERE tenant_id = :t LIMIT 1", t=books.tenant_id)[0]
    for statement in ("UPDATE fin_transactions SET amount = 1 WHERE id = :e",
                      "DELETE FROM fin_transactions WHERE id = :e"):
        with pytest.raises(DBAPIError), db.begin_nested():
            books.sql(statement, e=entry.id)
    # M1: an entry in another currency than its accounts cannot exist.
    with pytest.raises(DBAPIError, match="fk_fin_transactions"), db.begin_nested():
        books.sql("""
            INSERT INTO fin_transactions (tenant_id, id, event_id, transaction_type,
              debit_account_id, credit_account_id, amount, currency, posted_at,
              idempotency_key, payload_sha256)
            VALUES (:t, gen_random_uuid(), gen_random_uuid(), 'adjustment', :d, :c, 1, 'GBP',
                    now(), 'x', repeat('0', 64))""",
                  t=books.tenant_id, d=entry.debit_account_id, c=entry.credit_account_id)
