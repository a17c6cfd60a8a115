"""M9 (money.md): the reconciliation drift per platform, period and currency is exactly the
planted difference, and the items are exactly the planted discrepancies.

Hypothesis plants random report/trip sets on two platforms of one tenant (each in its own
currency, EUR with cents and a second one with 0 or 3 decimals), with rows split across
several report rows, trips missing on either side, differences at, below and beyond the
tolerance, and noise outside the period; every reconciliation must find what was planted —
nothing less, nothing more, to the last minor unit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reconciliation_fixtures import IN_WEEK, WEEK_END, WEEK_START, RecData, new_platform, rec_world
from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.money import Money, minor_unit_exponent
from fleetcore.revenue.reconciliation_service import reconcile_period

SIDES = ("both", "trips", "report")


@dataclass(frozen=True)
class Planted:
    side: str
    fare: int  # minor units
    commission: int
    fare_delta: int  # report - trip, minor units
    commission_delta: int
    rows: int  # report rows the report side is split into
    status: str


@st.composite
def planted_trip(draw: st.DrawFn, tolerance: int) -> Planted:
    near = st.sampled_from([0, tolerance, -tolerance, tolerance + 1, -(tolerance + 1)])
    delta = st.one_of(near, st.integers(-5000, 5000))
    money = st.one_of(st.just(0), st.integers(1, 200_000))
    return Planted(side=draw(st.sampled_from(SIDES)), fare=draw(money), commission=draw(money),
                   fare_delta=draw(delta), commission_delta=draw(delta),
                   rows=draw(st.integers(1, 3)),
                   status=draw(st.sampled_from(["completed", "completed", "cancelled_by_rider"])))


@st.composite
def platform_case(draw: st.DrawFn) -> tuple[int, list[Planted]]:
    tolerance = draw(st.integers(0, 100))
    trips = draw(st.lists(planted_trip(tolerance), max_size=20))
    return tolerance, trips


@dataclass
class Expectation:
    counts: tuple[int, int, int, int, int]
    drift: Decimal
    items: dict[tuple[str, str], Decimal]


def plant(data: RecData, platform: uuid.UUID, currency: str, trips: list[Planted],
          tolerance: int) -> Expectation:
    """Write ``trips`` for ``platform`` and say what reconciling them must give."""
    unit = Decimal(1).scaleb(-minor_unit_exponent(currency))
    imp = data.new_import(platform_id=platform)
    matched = missing_internal = missing_platform = fare_bad = commission_bad = 0
    drift = Decimal(0)
    expected: dict[tuple[str, str], Decimal] = {}
    for p in trips:
        xid = uuid.uuid4().hex
        trip_fare, trip_commission = p.fare * unit, p.commission * unit
        report_fare = (p.fare + p.fare_delta) * unit
        report_commission = (p.commission + p.commission_delta) * unit
        if p.side in ("both", "trips"):
            data.trip(xid, trip_fare, trip_commission, currency=currency, platform_id=platform,
                      status=p.status)
        if p.side in ("both", "report"):
            # Split the report side into rows that sum to it (the last takes the remainder).
            fare_parts = [report_fare / p.rows for _ in range(p.rows - 1)]
            fare_parts = [part.quantize(unit) for part in fare_parts]
            fare_parts.append(report_fare - sum(fare_parts, Decimal(0)))
            for n, part in enumerate(fare_parts):
                data.row(xid, part, report_commission if n == 0 else Decimal(0),
                         currency=currency, platform_id=platform, import_id=imp)
        if p.side == "report":
            missing_internal += 1
            drift += report_fare
            expected[("missing_internal", xid)] = report_fare
        elif p.side == "trips":
            drift -= trip_fare
            if p.fare or p.commission:  # a trip with no money is not looked for
                missing_platform += 1
                expected[("missing_platform", xid)] = -trip_fare
        else:
            drift += report_fare - trip_fare
            fare_off = abs(p.fare_delta) > tolerance
            commission_off = abs(p.commission_delta) > tolerance
            if fare_off:
                fare_bad += 1
                expected[("fare_mismatch", xid)] = report_fare - trip_fare
            if commission_off:
                commission_bad += 1
                expected[("commission_mismatch", xid)] = report_commission - trip_commission
            if not fare_off and not commission_off:
                matched += 1
    # Noise that must change nothing: the same platform's trips and rows outside the period.
    data.trip(uuid.uuid4().hex, "77.00", currency=currency, platform_id=platform,
              at=WEEK_END + timedelta(hours=1))
    data.row(uuid.uuid4().hex, "55.00", currency=currency, platform_id=platform, import_id=imp,
             at=WEEK_START - timedelta(hours=1))
    return Expectation((matched, missing_internal, missing_platform, fare_bad, commission_bad),
                       drift, expected)


def found_items(session: Session, run_id: uuid.UUID) -> dict[tuple[str, str], Decimal]:
    return {(k, x): d for k, x, d in session.execute(text(
        "SELECT kind, external_trip_id, difference FROM rev_reconciliation_items"
        " WHERE reconciliation_id = :r"), {"r": run_id}).all()}


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=platform_case(), second=platform_case(),
       second_currency=st.sampled_from(["KWD", "JPY", "EUR"]))
def test_drift_per_platform_period_and_currency_is_exactly_the_planted_difference(
    db: Session, first: tuple[int, list[Planted]], second: tuple[int, list[Planted]],
    second_currency: str,
) -> None:
    data, actor = rec_world(db)
    example = db.begin_nested()
    try:
        other_platform = new_platform(db)
        cases = [(data.platform_id, "EUR", *first), (other_platform, second_currency, *second)]
        plans = [plant(data, platform, currency, trips, tolerance)
                 for platform, currency, tolerance, trips in cases]
        for (platform, currency, tolerance, _trips), want in zip(cases, plans, strict=True):
            unit = Decimal(1).scaleb(-minor_unit_exponent(currency))
            result = reconcile_period(db, actor, platform_id=platform, period_start=WEEK_START,
                                      period_end=WEEK_END,
                                      tolerance=Money(tolerance * unit, currency))
            assert result.status == "completed", result.error
            assert (result.matched_count, result.missing_internal_count,
                    result.missing_platform_count, result.fare_mismatch_count,
                    result.commission_mismatch_count) == want.counts
            assert result.amount_discrepancy == want.drift
            assert result.currency == currency
            assert found_items(db, result.id) == want.items
    finally:
        example.rollback()
    assert IN_WEEK < WEEK_END
