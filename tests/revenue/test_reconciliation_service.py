"""reconcile_period on hand-made report rows and trips: classification, tolerance, sums of a
trip's rows, deleted and out-of-period trips, currencies, failures, history, driver revenues."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from reconciliation_fixtures import IN_WEEK, WEEK_END, WEEK_START, RecData, rec_world
from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.db import DbContext, bind_context
from fleetcore.core.errors import ValidationProblem
from fleetcore.core.money import Money
from fleetcore.revenue.models import Reconciliation
from fleetcore.revenue.reconciliation_service import reconcile_period

EUR = "EUR"


def run(data: RecData, actor: Actor, tolerance: str = "0.00", currency: str = EUR,
        **kwargs: Any) -> Reconciliation:
    kwargs.setdefault("platform_id", data.platform_id)
    kwargs.setdefault("period_start", WEEK_START)
    kwargs.setdefault("period_end", WEEK_END)
    return reconcile_period(data.session, actor, tolerance=Money(tolerance, currency), **kwargs)


def items(session: Session, run_id: uuid.UUID) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(kind, trip id) → (report amount, internal amount, difference, trip id, row id, details)."""
    rows = session.execute(text(
        "SELECT kind, external_trip_id, report_amount, internal_amount, difference, trip_id,"
        " import_row_id, details FROM rev_reconciliation_items WHERE reconciliation_id = :r"),
        {"r": run_id}).all()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


@pytest.fixture
def world(db: Session) -> tuple[RecData, Actor]:
    return rec_world(db)


def test_each_kind_of_discrepancy_is_found_with_its_amounts(world: tuple[RecData, Actor]) -> None:
    data, actor = world
    data.both("ok-1", "20.00", "5.00")
    data.both("ok-2", "12.40", "3.10")
    only_row = data.row("only-report", "18.00", "4.50")
    only_trip = data.trip("only-trip", "9.00", "2.25")
    fare_trip = data.trip("fare", "25.00", "6.25")
    data.row("fare", "27.50", "6.25")
    data.trip("commission", "30.00", "7.50")
    data.row("commission", "30.00", "6.00")
    data.trip("both", "10.00", "2.50")
    data.row("both", "11.00", "3.00")

    result = run(data, actor)

    assert result.status == "completed"
    assert result.error is None
    assert (result.matched_count, result.missing_internal_count, result.missing_platform_count,
            result.fare_mismatch_count, result.commission_mismatch_count) == (2, 1, 1, 2, 2)
    # Report fares 20 + 12.40 + 18 + 27.50 + 30 + 11 = 118.90; trips 20 + 12.40 + 9 + 25 + 30
    # + 10 = 106.40.
    assert result.amount_discrepancy == Decimal("12.50")
    assert result.currency == EUR
    assert result.finished_at is not None
    assert result.finished_at >= result.started_at
    found = items(data.session, result.id)
    assert set(found) == {("missing_internal", "only-report"), ("missing_platform", "only-trip"),
                          ("fare_mismatch", "fare"), ("commission_mismatch", "commission"),
                          ("fare_mismatch", "both"), ("commission_mismatch", "both")}
    # The report row is linked where there is no trip; a trip is linked wherever there is one.
    assert found[("missing_internal", "only-report")][:5] == (Decimal("18.00"), None,
                                                              Decimal("18.00"), None, only_row)
    assert found[("missing_platform", "only-trip")][:4] == (None, Decimal("9.00"),
                                                            Decimal("-9.00"), only_trip)
    assert found[("fare_mismatch", "fare")][:5] == (Decimal("27.50"), Decimal("25.00"),
                                                    Decimal("2.50"), fare_trip, None)
    assert found[("commission_mismatch", "commission")][:3] == (
        Decimal("6.00"), Decimal("7.50"), Decimal("-1.50"))
    ids = data.session.execute(text(
        "SELECT count(DISTINCT id), count(*) FILTER (WHERE substring(id::text, 15, 1) = '7')"
        " FROM rev_reconciliation_items WHERE reconciliation_id = :r"), {"r": result.id}).one()
    assert tuple(ids) == (6, 6)  # unique, time-ordered (UUIDv7) ids
    details = found[("fare_mismatch", "both")][5]
    assert details["report_commission"] == "3.0000"
    assert details["internal_commission"] == "2.5000"
    assert details["report_rows"] == 1


def test_a_difference_equal_to_the_tolerance_matches_one_cent_more_does_not(
    world: tuple[RecData, Actor],
) -> None:
    data, actor = world
    data.trip("at-tolerance", "20.00", "5.00")
    data.row("at-tolerance", "20.05", "4.95")
    data.trip("below", "20.00", "5.00")
    data.row("below", "19.95", "5.05")
    data.trip("fare-over", "20.00", "5.00")
    data.row("fare-over", "20.06", "5.00")
    data.trip("commission-over", "20.00", "5.00")
    data.row("commission-over", "20.00", "4.94")

    result = run(data, actor, tolerance="0.05")

    assert result.matched_count == 2
    assert result.fare_mismatch_count == 1
    assert result.commission_mismatch_count == 1
    assert set(items(data.session, result.id)) == {("fare_mismatch", "fare-over"),
                                                   ("commission_mismatch", "commission-over")}
    # Matched within the tolerance still counts in the drift: 0.05 - 0.05 + 0.06.
    assert result.amount_discrepancy == Decimal("0.06")
    assert result.tolerance_amount == Decimal("0.05")


def test_the_rows_of_one_trip_are_summed(world: tuple[RecData, Actor]) -> None:
    data, actor = world
    data.trip("split", "30.00", "7.50")
    data.row("split", "27.00", "7.50")
    data.row("split", None, None, description="tip")
    data.row("split", "3.00", "0", description="trip fare adjust order")
    data.trip("adjusted", "30.00", "7.50")
    data.row("adjusted", "30.00", "7.50")
    data.row("adjusted", "-2.00", "0", description="trip fare adjust order")

    result = run(data, actor)

    assert result.matched_count == 1
    assert result.fare_mismatch_count == 1
    found = items(data.session, result.id)
    assert list(found) == [("fare_mismatch", "adjusted")]
    report, internal, difference, _trip, _row, details = found[("fare_mismatch", "adjusted")]
    assert (report, internal, difference) == (Decimal("28.00"), Decimal("30.00"),
                                              Decimal("-2.00"))
    assert details["report_rows"] == 2


def test_deleted_trips_and_moneyless_trips_are_not_compared(world: tuple[RecData, Actor]) -> None:
    data, actor = world
    data.trip("deleted-in-report", "15.00", deleted=True)
    data.row("deleted-in-report", "15.00")
    data.trip("deleted-alone", "15.00", deleted=True)
    # A trip-activity trip (no amounts) and a cancelled trip without fee: not in a payments
    # report, and not a discrepancy.
    data.trip("activity-only", None, None, currency=None)
    data.trip("cancelled", "0.00", "0.00", status="cancelled_by_rider")
    data.both("kept", "11.00")

    result = run(data, actor)

    assert (result.matched_count, result.missing_internal_count,
            result.missing_platform_count) == (1, 1, 0)
    assert set(items(data.session, result.id)) == {("missing_internal", "deleted-in-report")}
    assert result.amount_discrepancy == Decimal("15.00")


def test_only_the_period_platform_and_committed_reports_count(
    world: tuple[RecData, Actor],
) -> None:
    data, actor = world
    other_platform = insert_platform(data)
    data.both("in", "10.00")
    # Outside the period, on both sides.
    data.trip("late", "10.00", at=WEEK_END)
    data.row("late", "10.00", at=WEEK_END)
    data.trip("early", "10.00", at=WEEK_START - timedelta(seconds=1))
    # Another platform's trip and row with the same trip id.
    data.trip("other", "10.00", platform_id=other_platform)
    other_import = data.new_import(platform_id=other_platform)
    data.row("other", "99.00", import_id=other_import, platform_id=other_platform)
    # Rows of imports that are not committed, or a weekly summary (no trip ids) of the week.
    for status in ("validated", "rolled_back"):
        data.row("uncommitted", "50.00", import_id=data.new_import(status=status))
    summary = data.new_import(report_type="payments_driver")
    data.row(None, "500.00", import_id=summary, at=None)
    # A trip whose time is its start (not ended yet) is in the period too.
    data.both("started", "8.00", ended=False)

    result = run(data, actor)

    assert (result.matched_count, result.missing_internal_count,
            result.missing_platform_count, result.fare_mismatch_count) == (2, 0, 0, 0)
    assert result.amount_discrepancy == Decimal("0")


def insert_platform(data: RecData) -> uuid.UUID:
    from reconciliation_fixtures import new_platform

    return new_platform(data.session)


def test_a_report_row_of_a_trip_of_another_period_says_so(world: tuple[RecData, Actor]) -> None:
    data, actor = world
    older = data.trip("older-trip", "20.00", at=WEEK_START - timedelta(days=3))
    data.row("older-trip", "1.50", description="trip fare adjust order")

    result = run(data, actor)

    found = items(data.session, result.id)
    assert list(found) == [("missing_internal", "older-trip")]
    _report, internal, difference, trip_id, _row, details = found[("missing_internal",
                                                                   "older-trip")]
    assert internal is None
    assert difference == Decimal("1.50")
    assert trip_id == older
    assert details["trip_outside_period"] is True


def test_one_import_only(world: tuple[RecData, Actor]) -> None:
    data, actor = world
    second = data.new_import()
    data.trip("a", "10.00")
    data.row("a", "10.00")
    data.trip("b", "12.00")
    data.row("b", "12.00", import_id=second)

    whole = run(data, actor)
    first_only = run(data, actor, import_id=data.import_id)

    assert (whole.matched_count, whole.missing_platform_count) == (2, 0)
    assert (first_only.matched_count, first_only.missing_platform_count) == (1, 1)
    assert first_only.import_id == data.import_id
    assert set(items(data.session, first_only.id)) == {("missing_platform", "b")}


@pytest.mark.parametrize(("status", "report_type", "message"), [
    ("validated", "payments_order", "Only a committed import"),
    ("committed", "payments_driver", "no per-trip amounts"),
])
def test_an_import_that_cannot_be_reconciled_is_refused(
    world: tuple[RecData, Actor], status: str, report_type: str, message: str,
) -> None:
    data, actor = world
    imp = data.new_import(status=status, report_type=report_type)
    with pytest.raises(ValidationProblem) as caught:
        run(data, actor, import_id=imp)
    assert caught.value.errors[0]["field"] == "import_id"
    assert message in caught.value.detail


def test_another_platforms_import_is_refused(world: tuple[RecData, Actor]) -> None:
    data, actor = world
    imp = data.new_import(platform_id=insert_platform(data))
    with pytest.raises(ValidationProblem, match="another platform"):
        run(data, actor, import_id=imp)


@pytest.mark.parametrize(("changes", "field"), [
    ({"period_end": WEEK_START}, "period_end"),
    ({"period_end": WEEK_START + timedelta(days=400)}, "period_end"),
    ({"period_start": WEEK_START.replace(tzinfo=None)}, "period_start"),
    ({"platform_id": uuid.uuid4()}, "platform_id"),
    ({"import_id": uuid.uuid4()}, "import_id"),
    ({"tolerance": Money("-0.01", EUR)}, "tolerance"),
    ({"tolerance": Money("0.00001", EUR)}, "tolerance"),
])
def test_invalid_requests_are_refused_naming_the_field(
    world: tuple[RecData, Actor], changes: dict[str, Any], field: str,
) -> None:
    data, actor = world
    arguments: dict[str, Any] = {"platform_id": data.platform_id, "period_start": WEEK_START,
                                 "period_end": WEEK_END, "tolerance": Money("0", EUR),
                                 **changes}
    with pytest.raises(ValidationProblem) as caught:
        reconcile_period(data.session, actor, **arguments)
    assert caught.value.errors[0]["field"] == field
    assert _runs(data.session) == 0


def _runs(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM rev_reconciliations")).scalar_one())


def test_rows_in_another_currency_are_refused_and_nothing_is_stored(
    world: tuple[RecData, Actor],
) -> None:
    data, actor = world
    data.both("eur", "10.00")
    data.row("usd", "12.00", currency="USD")
    data.trip("usd", "12.00", currency="USD")

    with pytest.raises(ValidationProblem) as caught:
        run(data, actor)

    assert "EUR (2 rows), USD (2 rows)" in caught.value.detail
    assert caught.value.errors[0]["field"] == "tolerance"
    assert _runs(data.session) == 0
    assert data.session.execute(text("SELECT count(*) FROM rev_reconciliation_items")
                                ).scalar_one() == 0


def test_a_tolerance_in_another_currency_than_the_periods_is_refused(
    world: tuple[RecData, Actor],
) -> None:
    data, actor = world
    data.both("a", "10.00")
    with pytest.raises(ValidationProblem, match=r"not all in USD: EUR \(2 rows\)"):
        run(data, actor, currency="USD")


def test_three_decimal_currencies_are_compared_to_the_fils(world: tuple[RecData, Actor]) -> None:
    data, actor = world
    data.trip("k1", "4.125", "1.000", currency="KWD")
    data.row("k1", "4.126", "1.000", currency="KWD")
    data.trip("k2", "4.125", "1.000", currency="KWD")
    data.row("k2", "4.127", "1.000", currency="KWD")

    result = run(data, actor, tolerance="0.001", currency="KWD")

    assert (result.matched_count, result.fare_mismatch_count) == (1, 1)
    assert result.amount_discrepancy == Decimal("0.003")
    assert result.currency == "KWD"


def test_a_database_error_leaves_a_failed_run_with_the_error(
    world: tuple[RecData, Actor],
) -> None:
    data, actor = world
    # Each amount fits numeric(18,4); their sum does not fit the item's report amount.
    data.trip("huge", "1.00")
    data.row("huge", "90000000000000.00")
    data.row("huge", "90000000000000.00")

    result = run(data, actor)

    assert result.status == "failed"
    assert result.error is not None
    assert "numeric field overflow" in result.error
    assert result.finished_at is not None
    assert result.matched_count == 0
    assert items(data.session, result.id) == {}
    assert _runs(data.session) == 1


def test_every_run_is_kept(world: tuple[RecData, Actor]) -> None:
    data, actor = world
    data.trip("x", "10.00")
    first = run(data, actor)
    data.row("x", "10.00")
    second = run(data, actor)

    assert first.id != second.id
    assert (first.missing_platform_count, second.missing_platform_count) == (1, 0)
    assert (first.matched_count, second.matched_count) == (0, 1)
    assert len(items(data.session, first.id)) == 1
    assert items(data.session, second.id) == {}
    assert _runs(data.session) == 2


def test_driver_revenues_become_reconciled_when_the_driver_has_no_discrepancy(
    world: tuple[RecData, Actor],
) -> None:
    data, actor = world
    clean, wrong, settled, unknown_row = (data.driver(n) for n in ("Clean", "Wrong", "Settled",
                                                                   "Unknown"))
    data.both("c1", "10.00", driver_id=clean)
    data.row("w1", "10.00", driver_id=wrong)
    data.trip("w1", "11.00", driver_id=wrong)
    data.both("s1", "10.00", driver_id=settled)
    data.row("u1", "10.00", driver_id=unknown_row)  # only in the report: the driver's problem
    revenues = {d: data.revenue(d) for d in (clean, wrong, unknown_row)}
    revenues[settled] = data.revenue(settled, status="settled")

    result = run(data, actor)

    statuses = dict(data.session.execute(text(
        "SELECT driver_id, status || ':' || COALESCE(reconciliation_id::text, '-')"
        " FROM rev_driver_revenues")).all())
    assert statuses[clean] == f"reconciled:{result.id}"
    assert statuses[wrong] == f"provisional:{result.id}"
    assert statuses[unknown_row] == f"provisional:{result.id}"
    assert statuses[settled] == "settled:-"


def test_another_tenants_rows_and_trips_are_never_seen(db: Session) -> None:
    data, actor = rec_world(db)
    other, _ = rec_world(db)
    # The other tenant has the same trip ids on the same platform, disagreeing.
    bind_context(db, DbContext.for_tenant(other.tenant_id))
    other_data = RecData(db, other.tenant_id, data.platform_id)
    other_data.trip("shared", "99.00")
    other_data.row("only-theirs", "5.00")
    bind_context(db, DbContext.for_tenant(data.tenant_id))
    data.both("shared", "10.00")

    result = run(data, actor)

    assert (result.matched_count, result.missing_internal_count,
            result.missing_platform_count) == (1, 0, 0)
    # Under the other tenant's context the run and its items do not exist.
    bind_context(db, DbContext.for_tenant(other.tenant_id))
    assert _runs(db) == 0
    assert db.execute(text("SELECT count(*) FROM rev_reconciliation_items")).scalar_one() == 0


def test_a_trip_time_of_exactly_the_period_start_is_in_it(world: tuple[RecData, Actor]) -> None:
    data, actor = world
    data.trip("edge", "10.00", at=WEEK_START)
    data.row("edge", "10.00", at=WEEK_START)
    result = run(data, actor)
    assert result.matched_count == 1
    assert IN_WEEK < WEEK_END
