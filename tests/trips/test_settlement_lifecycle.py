"""Draft → confirmed (immutable): recomputation, late rows into the next open week, sources
consumed once, manual adjustments, deposit instalments, and a set-based computation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from settlement_fixtures import WEEK, Books, at, books_on, midnight
from sqlalchemy import event
from sqlalchemy.orm import Session

from fleetcore.core.errors import Conflict, PreconditionFailed, ValidationProblem
from fleetcore.core.schemas import SignedMoneyIn
from fleetcore.trips import settlement_service as service
from fleetcore.trips.settlement_schemas import AdjustmentCreate

NEXT = WEEK + timedelta(days=7)
AFTER = WEEK + timedelta(days=14)


def _confirm(db: Session, books: Books, settlement: Any) -> Any:
    return service.confirm_settlement(db, books.actor, settlement.id, settlement.version)


def _adjust(amount: str, currency: str = "EUR", why: str = "Bonus") -> AdjustmentCreate:
    return AdjustmentCreate(amount=SignedMoneyIn(amount=amount, currency=currency),
                            description=why)


def _driver_with_week(db: Session) -> tuple[Books, Any, Any]:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), pct="25")
    report = books.report(uber)
    books.row(report, uber, ana, at(WEEK + timedelta(days=1)), fare_gross="100.00",
              commission="25.00")
    service.compute_settlements(db, books.actor, period=WEEK)
    return books, ana, uber


def test_a_late_row_of_a_confirmed_week_lands_in_the_next_open_week(db: Session) -> None:
    books, ana, uber = _driver_with_week(db)
    first = books.settlement(ana, uber)
    _confirm(db, books, first)
    # Next week's report brings a fare correction of a trip of the confirmed week.
    late_report = books.report(uber, week=NEXT)
    late = books.row(late_report, uber, ana, at(WEEK + timedelta(days=2)),
                     description="trip fare adjust order", fare_gross="-10.00",
                     commission="-2.50")
    books.row(late_report, uber, ana, at(NEXT), fare_gross="50.00", commission="12.50")

    # Recomputing the settled week never reopens it.
    assert service.compute_settlements(db, books.actor, period=WEEK) == []
    assert books.settlement(ana, uber).version == _reload(books, first).version

    service.compute_settlements(db, books.actor, period=NEXT)
    s = books.settlement(ana, uber, NEXT)
    late_lines = [line for line in books.lines(s.id) if line.source_id == late]
    assert [(line.line_type, line.amount, line.consumed_key) for line in late_lines] == [
        ("adjustment", Decimal("-7.50"), f"import_row:{late}")]
    assert late_lines[0].description.startswith("Late trip fare adjust order of 2026-11-18")
    # The share is per terms: 25 % of (50 - 12.50 - 7.50) = 7.50.
    assert (s.gross, s.fleet_share, s.adjustments, s.net) == (
        Decimal("50.00"), Decimal("7.50"), Decimal("-7.50"), Decimal("22.50"))


def _reload(books: Books, settlement: Any) -> Any:
    return next(s for s in books.settlements() if s.id == settlement.id)


def test_a_source_is_consumed_by_one_confirmed_settlement_only(db: Session) -> None:
    books, ana, uber = _driver_with_week(db)
    _confirm(db, books, books.settlement(ana, uber))
    late = books.row(books.report(uber, week=NEXT), uber, ana, at(WEEK), tip="3.00",
                     description="tip")
    # Two later drafts both pick the late row up; the first confirmed wins.
    service.compute_settlements(db, books.actor, period=NEXT)
    service.compute_settlements(db, books.actor, period=AFTER)
    _confirm(db, books, books.settlement(ana, uber, NEXT))
    other = books.settlement(ana, uber, AFTER)
    with pytest.raises(Conflict) as refused:
        _confirm(db, books, other)
    assert refused.value.extensions["conflicts"] == [
        {"consumed_key": f"import_row:{late}",
         "settlement_id": str(books.settlement(ana, uber, NEXT).id)}]
    assert _reload(books, other).status == "draft"
    # Recomputing drops what is settled: nothing is left for that week.
    assert service.compute_settlements(db, books.actor, period=AFTER) == []


def test_the_database_refuses_a_source_in_two_confirmed_settlements(db: Session) -> None:
    books, ana, uber = _driver_with_week(db)
    _confirm(db, books, books.settlement(ana, uber))
    books.row(books.report(uber, week=NEXT), uber, ana, at(WEEK), tip="3.00")
    service.compute_settlements(db, books.actor, period=NEXT)
    service.compute_settlements(db, books.actor, period=AFTER)
    _confirm(db, books, books.settlement(ana, uber, NEXT))
    other = books.settlement(ana, uber, AFTER)
    # Bypassing the service's check: the exclusion constraint still says no.
    with pytest.raises(Exception, match="ex_trp_settlement_lines_consumed_once"), \
            db.begin_nested():
        books.sql("UPDATE trp_settlements SET status = 'confirmed', confirmed_at = now(),"
                  " confirmed_by = :a WHERE id = :s", a=books.actor.id, s=other.id)


def test_confirming_twice_or_a_stale_version_is_refused(db: Session) -> None:
    books, ana, uber = _driver_with_week(db)
    draft = books.settlement(ana, uber)
    with pytest.raises(PreconditionFailed):
        service.confirm_settlement(db, books.actor, draft.id, draft.version + 1)
    confirmed = _confirm(db, books, draft)
    assert (confirmed.status, confirmed.confirmed_by) == ("confirmed", books.actor.id)
    assert {line.confirmed for line in books.lines(draft.id)} == {True}
    with pytest.raises(Conflict, match="immutable"):
        service.confirm_settlement(db, books.actor, draft.id, confirmed.version)


def test_a_confirmed_settlement_is_immutable(db: Session) -> None:
    books, ana, uber = _driver_with_week(db)
    confirmed = _confirm(db, books, books.settlement(ana, uber))
    with pytest.raises(Conflict, match="immutable"):
        service.add_adjustment(db, books.actor, confirmed.id, data=_adjust("5.00"))
    books.row(books.report(uber), uber, ana, at(WEEK), fare_gross="10.00")
    service.compute_settlements(db, books.actor, period=WEEK)
    after = _reload(books, confirmed)
    assert (after.status, after.version, after.gross) == ("confirmed", confirmed.version,
                                                          confirmed.gross)
    assert len(books.lines(confirmed.id)) == 3  # fare, commission, fleet share


def test_recomputing_replaces_drafts_and_keeps_manual_adjustments(db: Session) -> None:
    books, ana, uber = _driver_with_week(db)
    first = books.settlement(ana, uber)
    line = service.add_adjustment(db, books.actor, first.id, data=_adjust("-12.34"))
    assert (line.line_type, line.source_type, line.consumed_key) == (
        "adjustment", "manual", f"manual:{line.id}")
    line_id = line.id
    adjusted = _reload(books, first)
    assert (adjusted.adjustments, adjusted.net, adjusted.version) == (
        Decimal("-12.34"), first.net - Decimal("12.34"), first.version + 1)

    books.row(books.report(uber), uber, ana, at(WEEK + timedelta(days=3)), fare_gross="20.00",
              commission="5.00")
    service.compute_settlements(db, books.actor, period=WEEK)
    rebuilt = books.settlement(ana, uber)
    assert rebuilt.id != first.id
    assert rebuilt.gross == Decimal("120.00")
    assert rebuilt.adjustments == Decimal("-12.34")
    kept = [line for line in books.lines(rebuilt.id) if line.source_type == "manual"]
    assert [(line.amount, line.description, line.consumed_key) for line in kept] == [
        (Decimal("-12.34"), "Bonus", f"manual:{line_id}")]


@pytest.mark.parametrize(("amount", "currency", "field"), [
    ("1.005", "EUR", "amount.amount"),
    ("0", "EUR", "amount.amount"),
    ("5.00", "GBP", "amount.currency"),
])
def test_manual_adjustments_are_refused_when_not_postable(
    db: Session, amount: str, currency: str, field: str,
) -> None:
    books, ana, uber = _driver_with_week(db)
    with pytest.raises(ValidationProblem) as refused:
        service.add_adjustment(db, books.actor, books.settlement(ana, uber).id,
                               data=_adjust(amount, currency))
    assert refused.value.errors[0]["field"] == field


def test_deposit_instalments_stop_when_the_deposit_is_collected(db: Session) -> None:
    books = books_on(db)
    ana = books.driver()
    terms = books.terms(ana, midnight(date(2026, 1, 1)), deposit_amount=Decimal("120.00"),
                        weekly_deposit_instalment=Decimal("50.00"))
    taken = []
    for week in (WEEK, NEXT, AFTER, AFTER + timedelta(days=7)):
        settlements = service.compute_settlements(db, books.actor, period=week)
        for s in settlements:
            taken.append([(line.amount, line.consumed_key) for line in books.lines(s.id)])
            _confirm(db, books, s)
    assert taken == [
        [(Decimal("-50.00"), f"term:{terms}:deposit:{WEEK}")],
        [(Decimal("-50.00"), f"term:{terms}:deposit:{NEXT}")],
        [(Decimal("-20.00"), f"term:{terms}:deposit:{AFTER}")],
    ]


def test_unknown_drivers_are_refused(db: Session) -> None:
    books = books_on(db)
    other = books_on(db)
    stranger = other.driver()
    books.sql("SELECT 1")  # back in the first tenant
    with pytest.raises(ValidationProblem) as refused:
        service.compute_settlements(db, books.actor, period=WEEK, driver_ids=[stranger])
    assert refused.value.errors[0]["field"] == "driver_ids"


def test_computing_for_some_drivers_leaves_the_others_drafts(db: Session) -> None:
    books, ana, uber = _driver_with_week(db)
    bob = books.driver("Bob")
    books.terms(bob, midnight(date(2026, 1, 1)), pct="25")
    books.row(books.report(uber), uber, bob, at(WEEK), fare_gross="10.00")
    service.compute_settlements(db, books.actor, period=WEEK)
    ana_draft = books.settlement(ana, uber)
    redone = service.compute_settlements(db, books.actor, period=WEEK, driver_ids=[bob])
    assert [s.driver_id for s in redone] == [bob]
    assert books.settlement(ana, uber).id == ana_draft.id


@contextmanager
def _statements(db: Session) -> Iterator[list[str]]:
    seen: list[str] = []
    connection = db.connection()

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(connection, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", count)


def _busy_drivers(books: Books, n: int) -> None:
    uber, bolt = books.platform("uber"), books.platform("bolt")
    reports = {p: books.report(p) for p in (uber, bolt)}
    for i in range(n):
        driver = books.driver(f"D{i}")
        books.terms(driver, midnight(date(2026, 1, 1)), model="fixed_rent", rent="100.00",
                    rent_period="week", recharge_fuel=True, deposit_amount=Decimal("100"),
                    weekly_deposit_instalment=Decimal("10"))
        books.expense(driver, WEEK, "30.00")
        for platform, report in reports.items():
            for day in range(3):
                books.row(report, platform, driver, at(WEEK + timedelta(days=day)),
                          fare_gross="20.00", commission="5.00", tip="1.00")


def test_computation_is_set_based(db: Session) -> None:
    counts = []
    for n in (1, 12):
        books = books_on(db)
        _busy_drivers(books, n)
        with _statements(db) as seen:
            settlements = service.compute_settlements(db, books.actor, period=WEEK)
        assert len(settlements) == 3 * n
        counts.append(len(seen))
    # The same handful of statements for 1 driver or 12 (no statement per driver or row).
    assert counts[0] == counts[1] <= 12, counts


def test_a_late_row_keeps_the_fleet_share_of_its_own_day(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    v1 = books.terms(ana, midnight(date(2026, 1, 1)), midnight(NEXT), pct="25", version="v1")
    books.terms(ana, midnight(NEXT), pct="30", version="v2")
    books.row(books.report(uber), uber, ana, at(WEEK + timedelta(days=2)), fare_gross="80.00",
              commission="20.00")
    _confirm(db, books, service.compute_settlements(db, books.actor, period=WEEK)[0])
    report = books.report(uber, week=NEXT)
    books.row(report, uber, ana, at(WEEK + timedelta(days=2)), fare_gross="-10.00",
              commission="-2.50", description="trip fare adjust order")
    books.row(report, uber, ana, at(NEXT), fare_gross="50.00", commission="10.00")
    service.compute_settlements(db, books.actor, period=NEXT)
    s = books.settlement(ana, uber, NEXT)
    by_term = {(line.line_type, line.amount) for line in books.lines(s.id)
               if line.source_type == "term"}
    # v1 on the late row's day: 25 % of -7.50 = -1.875 -> the fleet gives 1.88 back;
    # v2 on this week's row: 30 % of 40.00 = 12.00.
    assert by_term == {("adjustment", Decimal("1.88")), ("fleet_share", Decimal("-12.00"))}
    returned = next(line for line in books.lines(s.id) if line.line_type == "adjustment"
                    and line.source_type == "term")
    assert returned.source_id == v1
    assert s.net == Decimal("50.00") - Decimal("10.00") - Decimal("12.00") - Decimal("7.50") \
        + Decimal("1.88")


def test_a_week_across_the_autumn_dst_change(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), model="fixed_rent", rent="7.00",
                rent_period="day")
    monday = date(2026, 10, 19)  # Sunday 25 October has 25 hours in Paris
    report = books.report(uber, week=monday)
    inside = books.row(report, uber, ana, at(date(2026, 10, 25), 23), fare_gross="10.00")
    outside = books.row(report, uber, ana, midnight(date(2026, 10, 26)), fare_gross="20.00")
    (platform, rent) = sorted(service.compute_settlements(db, books.actor, period=monday),
                              key=lambda s: s.platform_id is None)
    assert platform.period_end - platform.period_start == timedelta(hours=169)
    assert {line.source_id for line in books.lines(platform.id)} == {inside}
    assert rent.charges == Decimal("49.00")  # seven local days, whatever their length
    following = service.compute_settlements(db, books.actor, period=date(2026, 10, 26))
    assert outside in {line.source_id for s in following for line in books.lines(s.id)}
