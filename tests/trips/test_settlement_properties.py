"""Property tests of settlements (money.md M7, and M6 as the weekly rent uses it).

M7: for random drivers, platforms, term versions, report rows (any sign, up to 4 decimals,
spread over three weeks, some late), costs and payout receivers — computed and confirmed in a
random order, recomputed in between — the database ends with: every settlement's totals equal
to the sums of its lines, no source consumed by two confirmed settlements, one settlement per
driver/platform/week, every posted amount on the minor-unit grid, and every linked row of a
confirmed week settled exactly once.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from settlement_fixtures import WEEK, at, books_on, midnight
from sqlalchemy.orm import Session

from fleetcore.core.errors import Conflict
from fleetcore.core.money import Money, split
from fleetcore.trips import settlement_service as service

WEEKS = [WEEK - timedelta(days=7), WEEK, WEEK + timedelta(days=7)]

amounts = st.decimals(min_value=Decimal("-50"), max_value=Decimal("400"), places=4,
                      allow_nan=False, allow_infinity=False).map(str)
positive = st.decimals(min_value=Decimal("0"), max_value=Decimal("300"), places=4,
                       allow_nan=False, allow_infinity=False).map(str)
row_amounts = st.fixed_dictionaries({}, optional={
    "fare_gross": amounts, "earnings": amounts, "commission": amounts, "tip": positive,
    "tolls": positive, "cash_collected": positive, "promotions": positive,
    "adjustments": amounts,
})
terms_strategy = st.one_of(
    st.fixed_dictionaries({"model": st.just("revenue_share"),
                           "pct": st.decimals(min_value=0, max_value=100, places=2,
                                              allow_nan=False).map(str)}),
    st.fixed_dictionaries({"model": st.just("fixed_rent"),
                           "rent": st.decimals(min_value=1, max_value=900, places=2,
                                               allow_nan=False).map(str),
                           "rent_period": st.sampled_from(["day", "week"])}),
    st.fixed_dictionaries({"model": st.just("salaried")}),
)
driver_strategy = st.fixed_dictionaries({
    "versions": st.lists(terms_strategy, min_size=1, max_size=2),
    "switch_day": st.integers(min_value=-10, max_value=12),
    "receivers": st.lists(st.sampled_from(["fleet", "driver"]), min_size=2, max_size=2),
    "rows": st.lists(st.tuples(st.integers(0, 1), st.integers(-9, 20), row_amounts,
                               st.sampled_from(["payments_order", "payments_driver"])),
                     max_size=8),
    "expenses": st.lists(st.tuples(st.integers(-9, 20), positive), max_size=2),
})
plan = st.fixed_dictionaries({
    "drivers": st.lists(driver_strategy, min_size=1, max_size=3),
    "order": st.permutations(range(6)),
    "confirm": st.lists(st.booleans(), min_size=6, max_size=6),
})


def _check(db: Session, books: object) -> None:
    run = books.sql  # type: ignore[attr-defined]
    tenant = books.tenant_id  # type: ignore[attr-defined]
    mismatched = run("""
        SELECT s.id FROM trp_settlements s
          LEFT JOIN trp_settlement_lines l
                 ON l.tenant_id = s.tenant_id AND l.settlement_id = s.id
         WHERE s.tenant_id = :t
         GROUP BY s.tenant_id, s.id
        HAVING count(l.id) = 0
            OR s.net <> sum(l.amount)
            OR s.gross
               <> coalesce(sum(l.amount) FILTER (WHERE l.line_type = 'platform_earning'), 0)
            OR s.commission
               <> -coalesce(sum(l.amount) FILTER (WHERE l.line_type = 'commission'), 0)
            OR s.fleet_share
               <> -coalesce(sum(l.amount) FILTER (WHERE l.line_type = 'fleet_share'), 0)
            OR s.cash_collected
               <> -coalesce(sum(l.amount) FILTER (WHERE l.line_type = 'cash_collected'), 0)
            OR s.charges <> -coalesce(sum(l.amount) FILTER (WHERE l.line_type IN
                 ('rent', 'fuel', 'toll', 'fine', 'damage', 'expense', 'advance', 'deposit')), 0)
            OR s.adjustments <> coalesce(sum(l.amount) FILTER (WHERE l.line_type IN
                 ('adjustment', 'carry_over')), 0)""", t=tenant)
    assert mismatched == []
    consumed_twice = run("""
        SELECT consumed_key FROM trp_settlement_lines WHERE tenant_id = :t AND confirmed
         GROUP BY consumed_key HAVING count(DISTINCT settlement_id) > 1""", t=tenant)
    assert consumed_twice == []
    duplicated = run("""
        SELECT driver_id, platform_id, period_start FROM trp_settlements WHERE tenant_id = :t
         GROUP BY driver_id, platform_id, period_start HAVING count(*) > 1""", t=tenant)
    assert duplicated == []
    off_grid = run("SELECT id FROM trp_settlement_lines WHERE tenant_id = :t"
                   " AND amount <> round(amount, 2)", t=tenant)
    assert off_grid == []
    # A linked row of a week confirmed for its driver and platform is settled exactly once,
    # in that week or a later one, unless a finer report replaced it or it adds up to nothing.
    unsettled = run("""
        SELECT r.id FROM rev_import_rows r
          JOIN rev_revenue_imports i ON i.tenant_id = r.tenant_id AND i.id = r.import_id
          JOIN trp_settlements s ON s.tenant_id = r.tenant_id AND s.driver_id = r.driver_id
                                AND s.platform_id = r.platform_id AND s.confirmed
                                AND coalesce(r.occurred_at, i.period_start) >= s.period_start
                                AND coalesce(r.occurred_at, i.period_start) < s.period_end
         WHERE r.tenant_id = :t AND i.report_type = 'payments_order'
           AND round(coalesce(r.fare_gross, r.earnings + coalesce(r.commission, 0), 0), 2)
               <> 0
           AND NOT EXISTS (SELECT 1 FROM trp_settlement_lines l
                            WHERE l.tenant_id = r.tenant_id AND l.confirmed
                              AND l.consumed_key = 'import_row:' || r.id::text)""", t=tenant)
    assert unsettled == []


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=plan)
def test_m7_totals_are_line_sums_sources_consumed_once_one_per_slot(
    db: Session, data: dict[str, object],
) -> None:
    books = books_on(db)
    platforms = [books.platform("uber"), books.platform("bolt")]
    reports: dict[tuple[int, date, str], object] = {}
    for spec in data["drivers"]:  # type: ignore[attr-defined]
        driver = books.driver()
        refs = [books.account(driver, p, receiver=r)
                for p, r in zip(platforms, spec["receivers"], strict=True)]
        switch = midnight(WEEK + timedelta(days=spec["switch_day"]))
        versions = spec["versions"]
        books.terms(driver, midnight(date(2026, 1, 1)),
                    switch if len(versions) > 1 else None, version="v1",
                    weekly_deposit_instalment=None, recharge_fuel=True, **versions[0])
        if len(versions) > 1:
            books.terms(driver, switch, version="v2", recharge_fuel=True, **versions[1])
        for platform_index, offset, row, report_type in spec["rows"]:
            day = WEEK + timedelta(days=offset)
            monday = day - timedelta(days=day.weekday())
            key = (platform_index, monday, report_type)
            if key not in reports:
                reports[key] = books.report(platforms[platform_index], report_type, week=day)
            books.row(reports[key], platforms[platform_index], driver,  # type: ignore[arg-type]
                      at(day) if report_type == "payments_order" else None,
                      ref=refs[platform_index], **row)
        for offset, amount in spec["expenses"]:
            books.expense(driver, WEEK + timedelta(days=offset), amount)

    steps = [WEEKS[i % 3] for i in data["order"]]  # type: ignore[attr-defined]
    for step, confirm in zip(steps, data["confirm"], strict=True):  # type: ignore[arg-type]
        for settlement in service.compute_settlements(db, books.actor, period=step):
            if confirm:
                try:
                    service.confirm_settlement(db, books.actor, settlement.id,
                                               settlement.version)
                except Conflict:
                    event("a source already consumed was refused")
        _check(db, books)
    # Finally every week is recomputed and confirmed in order.
    for week in WEEKS:
        for settlement in service.compute_settlements(db, books.actor, period=week):
            service.confirm_settlement(db, books.actor, settlement.id, settlement.version)
    _check(db, books)
    confirmed = books.sql("SELECT count(*) FROM trp_settlements WHERE tenant_id = :t",
                          t=books.tenant_id)[0][0]
    event(f"confirmed settlements: {min(confirmed, 10)}{'+' if confirmed >= 10 else ''}")
    late = books.sql("SELECT count(*) FROM trp_settlement_lines WHERE tenant_id = :t"
                     " AND description LIKE 'Late %'", t=books.tenant_id)[0][0]
    event(f"late lines: {'yes' if late else 'no'}")


@given(rent=st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False),
       currency=st.sampled_from(["EUR", "JPY", "KWD"]),
       days=st.sets(st.integers(0, 6)))
def test_m6_weekly_rent_days_sum_to_the_rent_and_stay_within_a_minor_unit(
    rent: Decimal, currency: str, days: set[int],
) -> None:
    """The weekly rent is split once into seven day parts (what settlements charge per day in
    force): the week sums exactly to the rounded rent, each day within one minor unit of
    rent / 7, so a partial week is never off by more than a unit per day."""
    week = [(WEEK + timedelta(days=i)).isoformat() for i in range(7)]
    parts = split(Money(rent, currency), [1] * 7, keys=week)
    total = Money(rent, currency).rounded()
    assert sum(parts, Money.zero(currency)) == total
    unit = Fraction(Money.from_minor(1, currency).amount)
    for i in days:
        assert abs(Fraction(parts[i].amount) - Fraction(total.amount) / 7) < unit
    # Earlier days get the remainder: the parts never increase through the week.
    assert [p.amount for p in parts] == sorted((p.amount for p in parts), reverse=True)
