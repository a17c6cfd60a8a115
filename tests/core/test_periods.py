"""Settlement periods in the tenant's time zone (money.md M11): every instant — every trip —
falls in exactly one period, across DST changes, month ends and zones."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from fleetcore.core.periods import period_containing, period_of_week, periods_between

# DST at 02:00/03:00 (Paris), DST at midnight (Santiago, historical São Paulo), 30-minute DST
# (Lord Howe), +13:45 (Chatham), no DST (Kolkata), a skipped calendar day (Apia, 2011-12-30),
# and the zones either side of the date line.
ZONES = [
    "Europe/Paris", "Europe/Lisbon", "America/Santiago", "America/Sao_Paulo",
    "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kolkata", "Pacific/Apia",
    "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/St_Johns", "Africa/Casablanca", "UTC",
]

zones = st.sampled_from(ZONES)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))


@given(instant=instants, zone=zones)
def test_m11_every_instant_is_in_exactly_one_period(instant: datetime, zone: str) -> None:
    period = period_containing(instant, zone)
    assert period.contains(instant)
    before = period_of_week(period.first_day - timedelta(days=7), zone)
    after = period_of_week(period.first_day + timedelta(days=7), zone)
    # Neighbours touch without gap or overlap, so no other period can hold the instant.
    assert before.end == period.start
    assert period.end == after.start
    assert not before.contains(instant)
    assert not after.contains(instant)
    local_day = instant.astimezone(ZoneInfo(zone)).date()
    assert period.first_day.weekday() == 0
    assert period.first_day <= local_day < period.first_day + timedelta(days=7)
    assert local_day in period.days


@given(day=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)), zone=zones)
def test_m11_a_period_starts_at_the_first_instant_of_its_monday(day: date, zone: str) -> None:
    period = period_of_week(day, zone)
    tz = ZoneInfo(zone)
    assert period.start.tzinfo is UTC
    assert period.end.tzinfo is UTC
    assert period.start.astimezone(tz).date() == period.first_day
    # The instant just before is still the previous week (Sunday or earlier, local time).
    assert (period.start - timedelta(microseconds=1)).astimezone(tz).date() < period.first_day
    assert period_of_week(day, zone) == period_of_week(period.first_day, zone)


@given(start=instants, hours=st.integers(min_value=1, max_value=24 * 120), zone=zones)
def test_m11_periods_between_tile_the_span(start: datetime, hours: int, zone: str) -> None:
    end = start + timedelta(hours=hours)
    periods = periods_between(start, end, zone)
    assert periods[0].contains(start)
    assert periods[-1].start < end <= periods[-1].end
    for earlier, later in itertools.pairwise(periods):
        assert earlier.end == later.start


@pytest.mark.parametrize(("day", "zone", "hours"), [
    (date(2026, 3, 25), "Europe/Paris", 167),  # spring forward on Sunday 29 March
    (date(2026, 10, 21), "Europe/Paris", 169),  # fall back on Sunday 25 October
    (date(2026, 11, 18), "Europe/Paris", 168),
    (date(2026, 4, 1), "Australia/Lord_Howe", 168.5),  # 30-minute change on 5 April
    (date(2011, 12, 28), "Pacific/Apia", 144),  # 30 December 2011 never happened in Samoa
])
def test_dst_weeks_are_not_168_hours(day: date, zone: str, hours: float) -> None:
    period = period_of_week(day, zone)
    assert (period.end - period.start) / timedelta(hours=1) == hours


def test_a_week_across_a_month_end_is_one_period() -> None:
    period = period_of_week(date(2026, 11, 30), "Europe/Paris")  # Monday 30 Nov - Sun 6 Dec
    assert period.first_day == date(2026, 11, 30)
    assert period.contains(datetime(2026, 12, 6, 22, 59, tzinfo=UTC))  # Sunday 23:59 Paris
    assert not period.contains(datetime(2026, 12, 6, 23, 0, tzinfo=UTC))
    assert period_containing(datetime(2026, 11, 29, 23, 0, tzinfo=UTC), "Europe/Paris") == period


def test_the_same_instant_is_in_different_weeks_in_different_zones() -> None:
    instant = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)  # Sunday evening in Paris
    assert period_containing(instant, "Europe/Paris").first_day == date(2026, 11, 16)
    assert period_containing(instant, "Pacific/Kiritimati").first_day == date(2026, 11, 23)


def test_an_aware_instant_is_required() -> None:
    with pytest.raises(ValueError, match="aware"):
        period_containing(datetime(2026, 11, 22, 20, 0), "Europe/Paris")


# PostgreSQL and Python each carry their own copy of the tz database, and releases differ on
# future rules (Casablanca's Ramadan shifts, Chile's announced changes): compare them on past
# instants and zones whose rules are settled, which is what the property is about.
past_instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2025, 12, 31), timezones=st.just(UTC))
settled_zones = st.sampled_from([z for z in ZONES if z not in ("Africa/Casablanca",)])


@settings(max_examples=40, deadline=None)
@given(batch=st.lists(st.tuples(past_instants, settled_zones), min_size=1, max_size=50))
def test_m11_the_database_reads_local_days_as_the_periods_do(
    db_session_for_periods: Session, batch: list[tuple[datetime, str]],
) -> None:
    """Settlements bucket rows in SQL by ``(instant AT TIME ZONE zone)::date``: it agrees
    with Python's local day, hence with the periods above, for every zone."""
    rows = db_session_for_periods.execute(text(
        "SELECT (x.at AT TIME ZONE x.zone)::date FROM unnest(CAST(:ats AS timestamptz[]),"
        " CAST(:zones AS text[])) AS x(at, zone)"),
        {"ats": [i for i, _ in batch], "zones": [z for _, z in batch]}).scalars().all()
    assert rows == [i.astimezone(ZoneInfo(z)).date() for i, z in batch]


@pytest.fixture(scope="module")
def db_session_for_periods(app_engine: Engine) -> Iterator[Session]:
    """A plain read-only session (hypothesis reuses it across examples)."""
    with Session(app_engine) as session:
        yield session
