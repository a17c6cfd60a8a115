"""Computing settlements (workflows.md Trips 3, money.md): every rule, with exact amounts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from settlement_fixtures import WEEK, at, books_on, midnight
from sqlalchemy.orm import Session

from fleetcore.trips import settlement_service as service


def test_revenue_share_with_terms_changing_mid_week(db: Session) -> None:
    books = books_on(db)
    uber = books.platform("uber")
    ana = books.driver()
    ref = books.account(ana, uber)
    books.terms(ana, midnight(date(2026, 1, 5)), midnight(date(2026, 11, 19)), pct="25",
                version="v1")
    books.terms(ana, midnight(date(2026, 11, 19)), pct="30", version="v2")
    report = books.report(uber)
    # Monday and Tuesday under v1 (25 %), Thursday under v2 (30 %).
    books.row(report, uber, ana, at(WEEK), ref=ref, trip="t1", fare_gross="100.00",
              commission="25.00", tip="5.00", tolls="3.10", cash_collected="0")
    books.row(report, uber, ana, at(WEEK + timedelta(days=1)), ref=ref, trip="t2",
              fare_gross="40.10", commission="10.03")
    books.row(report, uber, ana, at(WEEK + timedelta(days=3)), ref=ref, trip="t3",
              fare_gross="60.00", commission="15.00", cash_collected="60.00")

    settlements = service.compute_settlements(db, books.actor, period=WEEK + timedelta(days=2))

    assert len(settlements) == 1
    s = books.settlement(ana, uber)
    assert s.gross == Decimal("200.10")
    assert s.commission == Decimal("50.03")
    assert s.tips == Decimal("5.00")
    assert s.toll_refunds == Decimal("3.10")
    assert s.cash_collected == Decimal("60.00")
    # v1: 25 % of (100 + 40.10 - 25 - 10.03) = 25 % of 105.07 = 26.2675 -> 26.27
    # v2: 30 % of (60 - 15) = 13.50
    assert s.fleet_share == Decimal("39.77")
    assert s.net == Decimal("200.10") - Decimal("50.03") + Decimal("5.00") + Decimal("3.10") \
        - Decimal("39.77") - Decimal("60.00")
    shares = sorted(line.amount for line in books.lines(s.id) if line.line_type == "fleet_share")
    assert shares == [Decimal("-26.27"), Decimal("-13.50")]
    assert s.trip_count == 3
    assert s.payout_receiver == "fleet"
    assert s.status == "draft"


def _platform_week(books, driver, platform, *rows, ref=None):  # type: ignore[no-untyped-def]
    """Rows (day offset in WEEK, amounts) of one committed payments_order import."""
    report = books.report(platform)
    return [books.row(report, platform, driver, at(WEEK + timedelta(days=offset)), ref=ref,
                      **amounts) for offset, amounts in rows]


def test_fixed_rent_is_prorated_by_days_in_force_from_a_wednesday(db: Session) -> None:
    books = books_on(db)
    weekly, daily = books.driver("Weekly"), books.driver("Daily")
    wednesday = WEEK + timedelta(days=2)
    weekly_terms = books.terms(weekly, at(wednesday, 9), model="fixed_rent", rent="100.00",
                               rent_period="week")
    books.terms(daily, midnight(wednesday), model="fixed_rent", rent="30.00", rent_period="day")
    # A platform row of a fixed-rent driver gives no fleet share: the driver keeps the rest.
    uber = books.platform()
    _platform_week(books, weekly, uber, (3, {"fare_gross": "80.00", "commission": "20.00"}))

    service.compute_settlements(db, books.actor, period=WEEK)

    rent = books.settlement(weekly, None)
    # 100.00 split exactly into 7 day parts: 14.29 x 4 (Mon-Thu), 14.28 x 3 (Fri-Sun); the
    # terms start on Wednesday (at 9:00: the day they start counts), so Wed-Sun are charged.
    lines = books.lines(rent.id)
    assert [(line.line_type, line.service_date, line.amount) for line in lines] == [
        ("rent", wednesday + timedelta(days=i), Decimal(a))
        for i, a in enumerate(["-14.29", "-14.29", "-14.28", "-14.28", "-14.28"])]
    assert {line.consumed_key for line in lines} == {
        f"term:{weekly_terms}:{(wednesday + timedelta(days=i)).isoformat()}" for i in range(5)}
    assert (rent.charges, rent.net, rent.payout_receiver) == (
        Decimal("71.42"), Decimal("-71.42"), None)
    assert books.settlement(daily, None).charges == Decimal("150.00")
    platform = books.settlement(weekly, uber)
    assert (platform.fleet_share, platform.net) == (Decimal("0"), Decimal("60.00"))


def test_a_full_week_of_weekly_rent_is_exactly_the_weekly_rent(db: Session) -> None:
    books = books_on(db)
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), model="fixed_rent", rent="250.00",
                rent_period="week")
    service.compute_settlements(db, books.actor, period=WEEK)
    s = books.settlement(ana, None)
    assert s.charges == Decimal("250.00")
    assert len(books.lines(s.id)) == 7


def test_salaried_driver_leaves_all_earnings_after_commission_to_the_fleet(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), model="salaried")
    _platform_week(books, ana, uber,
                   (0, {"fare_gross": "120.00", "commission": "30.00", "tip": "4.00"}))
    service.compute_settlements(db, books.actor, period=WEEK)
    s = books.settlement(ana, uber)
    # Tips and toll refunds are never shared: the driver keeps the tip.
    assert (s.fleet_share, s.tips, s.net) == (Decimal("90.00"), Decimal("4.00"), Decimal("4.00"))


def test_costs_are_recharged_only_when_the_terms_and_the_cost_say_so(db: Session) -> None:
    books = books_on(db)
    yes, no = books.driver("Recharged"), books.driver("Not recharged")
    books.terms(yes, midnight(date(2026, 1, 1)), recharge_fuel=True, recharge_tolls=True,
                recharge_fines=True, recharge_other_expenses=True)
    books.terms(no, midnight(date(2026, 1, 1)))
    tuesday = WEEK + timedelta(days=1)
    for driver in (yes, no):
        books.expense(driver, tuesday, "61.30")  # fuel, fleet's fuel card, rechargeable
        books.expense(driver, tuesday, "9.99", category="wash", rechargeable=False)
        books.toll(driver, at(tuesday, 8), "7.40")
        books.toll(driver, at(tuesday, 9), "3.00", status="disputed")
        books.fine(driver, at(tuesday, 10), "135.00")
        books.fine(driver, at(tuesday, 11), "90.00", status="driver_designated")
        books.expense(driver, tuesday, "20.00", category="parking", rechargeable=False,
                      reimbursable=True, payment_method="driver_paid")

    service.compute_settlements(db, books.actor, period=WEEK)

    charged = books.amounts(books.settlement(yes, None).id)
    assert charged == {"fuel": Decimal("-61.30"), "toll": Decimal("-7.40"),
                       "fine": Decimal("-135.00"), "adjustment": Decimal("20.00")}
    # Without recharge flags only the reimbursement of what the driver paid remains.
    assert books.amounts(books.settlement(no, None).id) == {"adjustment": Decimal("20.00")}
    s = books.settlement(yes, None)
    assert (s.charges, s.adjustments, s.net) == (
        Decimal("203.70"), Decimal("20.00"), Decimal("-183.70"))


def test_driver_level_charges_once_for_a_driver_on_two_platforms(db: Session) -> None:
    books = books_on(db)
    uber, bolt = books.platform("uber"), books.platform("bolt")
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), model="fixed_rent", rent="210.00",
                rent_period="week", recharge_fuel=True)
    _platform_week(books, ana, uber, (1, {"fare_gross": "50.00", "commission": "12.50"}))
    _platform_week(books, ana, bolt, (2, {"fare_gross": "40.00", "commission": "8.00"}))
    books.expense(ana, WEEK + timedelta(days=4), "45.00")

    service.compute_settlements(db, books.actor, period=WEEK)

    settlements = books.settlements(driver_id=ana)
    assert sorted((s.platform_id is None) for s in settlements) == [False, False, True]
    driver_level = books.settlement(ana, None)
    assert books.amounts(driver_level.id) == {"rent": Decimal("-210.00"),
                                              "fuel": Decimal("-45.00")}
    for platform in (uber, bolt):
        assert books.settlement(ana, platform).charges == Decimal("0")


def test_cash_collected_can_make_the_balance_negative(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), pct="20")
    _platform_week(books, ana, uber,
                   (0, {"fare_gross": "100.00", "commission": "25.00",
                        "cash_collected": "100.00"}))
    service.compute_settlements(db, books.actor, period=WEEK)
    s = books.settlement(ana, uber)
    # The driver holds the 100.00 cash: the fleet is owed 25 commission + 15 share.
    assert (s.cash_collected, s.fleet_share, s.net) == (
        Decimal("100.00"), Decimal("15.00"), Decimal("-40.00"))


def test_a_platform_paying_the_driver_directly_makes_the_settlement_a_receivable(
    db: Session,
) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    ref = books.account(ana, uber, receiver="driver")
    books.terms(ana, midnight(date(2026, 1, 1)), pct="25")
    _platform_week(books, ana, uber,
                   (0, {"fare_gross": "100.00", "commission": "25.00", "tip": "5.00"}),
                   (1, {"fare_gross": "20.00", "commission": "5.00", "cash_collected": "20.00"}),
                   ref=ref)
    service.compute_settlements(db, books.actor, period=WEEK)
    s = books.settlement(ana, uber)
    assert s.payout_receiver == "driver"
    # The driver already has the platform's payout (75.00) and the cash (20.00): they owe
    # the fleet its share, 25 % of 90.00.
    assert (s.fleet_share, s.net) == (Decimal("22.50"), Decimal("-22.50"))
    payout = [line for line in books.lines(s.id) if line.source_type == "settlement"]
    assert [(line.line_type, line.amount, line.consumed_key) for line in payout] == [
        ("adjustment", Decimal("-75.00"), f"settlement:{s.id}:platform_payout")]


def test_rows_of_unlinked_accounts_wait_until_the_account_is_linked(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)))
    report = books.report(uber)
    row = books.row(report, uber, None, at(WEEK), fare_gross="30.00", commission="7.50")

    outcome = service.compute_week(db, books.actor, period=WEEK)
    assert (outcome.settlements, outcome.unlinked_rows) == ([], 1)

    books.sql("UPDATE rev_import_rows SET driver_id = :d WHERE id = :r", d=ana, r=row)
    outcome = service.compute_week(db, books.actor, period=WEEK)
    assert outcome.unlinked_rows == 0
    assert books.settlement(ana, uber).gross == Decimal("30.00")


def test_only_committed_money_reports_are_settled_finest_first(db: Session) -> None:
    books = books_on(db)
    uber, bolt = books.platform("uber"), books.platform("bolt")
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), pct="0")
    # Uber: the weekly summary and the per-transaction report of the same week → the latter.
    summary = books.report(uber, "payments_driver")
    books.row(summary, uber, ana, None, earnings="90.00", commission="30.00")
    _platform_week(books, ana, uber, (0, {"fare_gross": "70.00", "commission": "20.00"}),
                   (1, {"fare_gross": "50.00", "commission": "10.00"}))
    # Bolt: only the weekly summary (no occurred_at: the import's week) → it is used, with
    # gross = earnings + commission since it has no fare_gross.
    weekly = books.report(bolt, "bolt_weekly")
    books.row(weekly, bolt, ana, None, earnings="80.00", commission="20.00", tip="2.00")
    # Trip activity carries no money; rolled-back imports are gone.
    activity = books.report(uber, "trip_activity")
    books.row(activity, uber, ana, at(WEEK), fare_gross="999.00")
    rolled_back = books.report(uber, status="rolled_back")
    books.row(rolled_back, uber, ana, at(WEEK), fare_gross="555.00")

    service.compute_settlements(db, books.actor, period=WEEK)

    assert books.settlement(ana, uber).gross == Decimal("120.00")
    bolt_settlement = books.settlement(ana, bolt)
    assert (bolt_settlement.gross, bolt_settlement.commission, bolt_settlement.tips) == (
        Decimal("100.00"), Decimal("20.00"), Decimal("2.00"))


def test_negative_parts_of_a_row_become_one_signed_adjustment_line(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), pct="10")
    row_ids = _platform_week(
        books, ana, uber,
        (0, {"fare_gross": "100.00", "commission": "25.00"}),
        (1, {"fare_gross": "-20.00", "commission": "-5.00", "adjustments": "1.00",
             "description": "trip fare adjust order"}))
    service.compute_settlements(db, books.actor, period=WEEK)
    s = books.settlement(ana, uber)
    correction = [line for line in books.lines(s.id) if line.source_id == row_ids[1]]
    # -20 fare + 5 commission refunded + 1 adjustment = -14.00, one line.
    assert [(line.line_type, line.amount) for line in correction] == [
        ("adjustment", Decimal("-14.00"))]
    # Shared base: (100 - 25) + (-20 + 5) = 60 → 10 % = 6.00.
    assert (s.gross, s.commission, s.fleet_share, s.adjustments, s.net) == (
        Decimal("100.00"), Decimal("25.00"), Decimal("6.00"), Decimal("-14.00"),
        Decimal("55.00"))


def test_lines_are_rounded_half_up_to_the_currency_minor_unit(db: Session) -> None:
    books = books_on(db, zone="Asia/Kuwait", currency="KWD")
    careem = books.platform("careem")
    ana = books.driver()
    books.terms(ana, at(date(2026, 1, 1), 0, "Asia/Kuwait"), pct="12.5")
    report = books.report(careem, week=WEEK)
    books.row(report, careem, ana, at(WEEK, 12, "Asia/Kuwait"), fare_gross="10.1235",
              commission="2.0005", tip="0.0004")
    service.compute_settlements(db, books.actor, period=WEEK)
    s = books.settlement(ana, careem)
    # KWD has three decimals; ties go away from zero; a tip of 0.0004 rounds to nothing.
    assert books.amounts(s.id) == {
        "platform_earning": Decimal("10.124"), "commission": Decimal("-2.001"),
        # 12.5 % of (10.124 - 2.001) = 1.015375 -> 1.015
        "fleet_share": Decimal("-1.015")}
    assert s.net == Decimal("7.108")


def test_rows_in_another_currency_are_left_out_and_counted(db: Session) -> None:
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)))
    report = books.report(uber)
    for amount in ("10.00", "20.00"):
        books.row(report, uber, ana, at(WEEK), fare_gross=amount)
    stray = books.row(report, uber, ana, at(WEEK), fare_gross="5.00", currency="GBP")
    outcome = service.compute_week(db, books.actor, period=WEEK)
    (s,) = outcome.settlements
    assert (s.currency, s.gross, outcome.other_currency_rows) == ("EUR", Decimal("30.00"), 1)
    assert stray not in {line.source_id for line in books.lines(s.id)}
