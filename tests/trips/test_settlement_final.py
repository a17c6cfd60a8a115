"""Confirmed is final, and a settlement only ever posts report rows that exist.

The database, not only the service, refuses any change of a confirmed or paid settlement and of
its lines (trigger + privileges, as the app role here); only the payout moves on. Settlement
lines reference their report rows by a foreign key: rolling an import back rebuilds the drafts
its rows fed, and a draft whose rows are gone cannot be confirmed.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from settlement_fixtures import WEEK, Books, at, books_on, midnight
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from fleetcore.core.errors import Conflict
from fleetcore.core.schemas import SignedMoneyIn
from fleetcore.revenue.service import rollback_import
from fleetcore.trips import settlement_service as service
from fleetcore.trips.settlement_schemas import AdjustmentCreate

AFTER = WEEK + timedelta(days=14)


def _week(db: Session) -> tuple[Books, Any, Any, Any]:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), pct="25")
    report = books.report(uber)
    books.row(report, uber, ana, at(WEEK + timedelta(days=1)), fare_gross="100.00",
              commission="25.00")
    service.compute_settlements(db, books.actor, period=WEEK)
    return books, ana, uber, report


def _confirmed(db: Session) -> tuple[Books, Any]:
    books, ana, uber, _ = _week(db)
    draft = books.settlement(ana, uber)
    return books, service.confirm_settlement(db, books.actor, draft.id, draft.version)


def _state(books: Books, settlement_id: Any) -> tuple[Any, ...]:
    header = books.sql("SELECT status, gross, commission, fleet_share, adjustments, net, version"
                       " FROM trp_settlements WHERE id = :s", s=settlement_id)[0]
    lines = books.sql("SELECT id, amount, confirmed FROM trp_settlement_lines"
                      " WHERE settlement_id = :s ORDER BY id", s=settlement_id)
    return tuple(header), [tuple(line) for line in lines]


@pytest.mark.parametrize("statement", [
    # amounts, then totals kept consistent (the CHECK would pass), then the status
    "UPDATE trp_settlements SET gross = gross + 10, net = net + 10 WHERE id = :s",
    "UPDATE trp_settlements SET adjustments = adjustments - 5, net = net - 5 WHERE id = :s",
    "UPDATE trp_settlements SET status = 'draft' WHERE id = :s",
    "UPDATE trp_settlements SET confirmed_at = now() - interval '1 day' WHERE id = :s",
    "DELETE FROM trp_settlements WHERE id = :s",
    "UPDATE trp_settlement_lines SET amount = amount + 1 WHERE settlement_id = :s",
    "UPDATE trp_settlement_lines SET description = 'edited' WHERE settlement_id = :s",
    "DELETE FROM trp_settlement_lines WHERE id = (SELECT min(id::text)::uuid"
    " FROM trp_settlement_lines WHERE settlement_id = :s)",
])
def test_the_database_refuses_any_change_of_a_confirmed_settlement(
    db: Session, statement: str,
) -> None:
    books, confirmed = _confirmed(db)
    before = _state(books, confirmed.id)
    with pytest.raises(DBAPIError, match=r"permission denied|refused"), db.begin_nested():
        books.sql(statement, s=confirmed.id)
    assert _state(books, confirmed.id) == before


def test_no_line_is_slipped_into_a_confirmed_settlement(db: Session) -> None:
    books, confirmed = _confirmed(db)
    before = _state(books, confirmed.id)
    for flag in (True, False):  # the trigger, then the confirmed flag's foreign key
        with pytest.raises(DBAPIError, match=r"refused|foreign key"), db.begin_nested():
            books.insert("trp_settlement_lines", settlement_id=confirmed.id,
                         line_type="adjustment", description="extra", amount=Decimal("5.00"),
                         currency="EUR", source_type="manual", consumed_key="manual:extra",
                         confirmed=flag)
    assert _state(books, confirmed.id) == before


def test_only_the_payout_moves_on_once_confirmed(db: Session) -> None:
    books, confirmed = _confirmed(db)
    batch = books.insert("fin_driver_payment_batches", period_start=confirmed.period_start,
                         period_end=confirmed.period_end, method="manual", currency="EUR")
    other = books.insert("fin_driver_payment_batches", period_start=confirmed.period_start,
                         period_end=confirmed.period_end, method="manual", currency="EUR")
    # Reserved by a batch, released, reserved again, then paid: the payout's progress.
    books.sql("UPDATE trp_settlements SET payment_batch_id = :b WHERE id = :s",
              b=other, s=confirmed.id)
    books.sql("UPDATE trp_settlements SET payment_batch_id = NULL WHERE id = :s", s=confirmed.id)
    books.sql("UPDATE trp_settlements SET status = 'paid', payment_batch_id = :b WHERE id = :s",
              b=batch, s=confirmed.id)
    for statement in (
        "UPDATE trp_settlements SET status = 'confirmed' WHERE id = :s",
        "UPDATE trp_settlements SET payment_batch_id = :b WHERE id = :s",
        "UPDATE trp_settlements SET net = net + 1, adjustments = adjustments + 1 WHERE id = :s",
        "DELETE FROM trp_settlements WHERE id = :s",
    ):
        with pytest.raises(DBAPIError, match="refused"), db.begin_nested():
            books.sql(statement, s=confirmed.id, b=other)
    assert books.sql("SELECT status, payment_batch_id FROM trp_settlements WHERE id = :s",
                     s=confirmed.id)[0] == ("paid", batch)


def test_lines_reference_their_report_row(db: Session) -> None:
    books, ana, uber, _ = _week(db)
    lines = books.lines(books.settlement(ana, uber).id)
    assert {(line.source_type, line.import_row_id == line.source_id) for line in lines} == {
        ("import_row", True), ("term", False)}
    assert all(line.import_row_id is None for line in lines if line.source_type == "term")


def test_rolling_an_import_back_rebuilds_the_drafts_it_fed(db: Session) -> None:
    books, ana, uber, first = _week(db)
    second = books.report(uber)
    kept = books.row(second, uber, ana, at(WEEK + timedelta(days=2)), fare_gross="40.00",
                     commission="10.00")
    service.compute_settlements(db, books.actor, period=WEEK)
    draft = books.settlement(ana, uber)
    service.add_adjustment(db, books.actor, draft.id, data=AdjustmentCreate(
        amount=SignedMoneyIn(amount="5.00", currency="EUR"), description="Bonus"))
    assert books.settlement(ana, uber).gross == Decimal("140.00")

    rolled = rollback_import(db, books.actor, first)
    assert rolled.status == "rolled_back"
    rebuilt = books.settlement(ana, uber)
    assert rebuilt.status == "draft"
    # Only the second import's row is left, and the manual adjustment survives.
    assert (rebuilt.gross, rebuilt.commission, rebuilt.fleet_share, rebuilt.adjustments) == (
        Decimal("40.00"), Decimal("10.00"), Decimal("7.50"), Decimal("5.00"))
    sources = {line.source_id for line in books.lines(rebuilt.id)
               if line.source_type == "import_row"}
    assert sources == {kept}
    confirmed = service.confirm_settlement(db, books.actor, rebuilt.id, rebuilt.version)
    assert confirmed.net == Decimal("27.50")

    # The same rows imported again are settled once, in the next open period.
    again = books.report(uber)
    books.row(again, uber, ana, at(WEEK + timedelta(days=1)), fare_gross="100.00",
              commission="25.00")
    service.compute_settlements(db, books.actor, period=WEEK + timedelta(days=7))
    late = books.settlement(ana, uber, WEEK + timedelta(days=7))
    assert late.adjustments == Decimal("75.00")


def test_a_draft_whose_report_rows_are_gone_cannot_be_confirmed(db: Session) -> None:
    books, ana, uber, report = _week(db)
    draft = books.settlement(ana, uber)
    # The rows vanish without the rollback's rebuild (say, a hand-written DELETE).
    books.sql("DELETE FROM rev_import_rows WHERE import_id = :i", i=report)
    assert {line.import_row_id for line in books.lines(draft.id)} == {None}
    with pytest.raises(Conflict, match="no longer exist"):
        service.confirm_settlement(db, books.actor, draft.id, draft.version)
    # Past the service, the database says no as well.
    with pytest.raises(DBAPIError, match="no longer exists"), db.begin_nested():
        books.sql("UPDATE trp_settlements SET status = 'confirmed', confirmed_at = now(),"
                  " confirmed_by = :a WHERE id = :s", a=books.actor.id, s=draft.id)
    service.compute_settlements(db, books.actor, period=WEEK)
    assert [s for s in books.settlements() if s.platform_id == uber] == []


def test_rows_of_a_confirmed_settlement_cannot_be_rolled_back(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), pct="25")
    # An import of a later week holding a row of this week (a late correction).
    report = books.report(uber, week=AFTER)
    row = books.row(report, uber, ana, at(WEEK + timedelta(days=1)), fare_gross="30.00")
    (draft,) = service.compute_settlements(db, books.actor, period=WEEK)
    service.confirm_settlement(db, books.actor, draft.id, draft.version)
    with pytest.raises(Conflict, match=rf"settled by a confirmed settlement \(week of {WEEK}\)"):
        rollback_import(db, books.actor, report)
    # Past the service, the row cannot be deleted from under the confirmed line either.
    with pytest.raises(DBAPIError, match="refused"), db.begin_nested():
        books.sql("DELETE FROM rev_import_rows WHERE id = :r", r=row)
    assert books.sql("SELECT count(*) FROM rev_import_rows WHERE id = :r", r=row)[0][0] == 1


def test_the_database_keeps_each_committed_transaction_once_per_platform(db: Session) -> None:
    books = books_on(db)
    uber, bolt = books.platform("uber"), books.platform("bolt")
    first, second = books.report(uber), books.report(uber)

    def row(import_id: Any, platform: Any, key: str | None, number: int) -> None:
        books.insert("rev_import_rows", import_id=import_id, platform_id=platform,
                     row_number=number, currency="EUR", transaction_key=key)

    row(first, uber, "tx-1", 2)
    row(first, uber, "week:2026-11-15T23:00Z:driver-1", 3)
    for key in ("tx-1", "week:2026-11-15T23:00Z:driver-1"):
        with pytest.raises(DBAPIError, match="uq_rev_import_rows_transaction_key"), \
                db.begin_nested():
            row(second, uber, key, 2)
    # Another platform's identifiers are its own; rows without money carry no key.
    row(books.report(bolt), bolt, "tx-1", 2)
    row(second, uber, None, 3)
    row(second, uber, None, 4)
