"""Settlement periods: weeks in the tenant's time zone (money.md, ledger rule 7; property M11).

A period is the half-open interval ``[start, end)`` of instants between two local midnights
on Mondays in the tenant's time zone. Across a DST change a week is 167 or 169 hours long, not
168: the boundaries are local midnights, so every instant (and every trip) falls in exactly
one period. Boundaries are returned as aware UTC datetimes, as they are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Period", "period_containing", "period_of_week", "periods_between", "week_starts"]


@dataclass(frozen=True, slots=True)
class Period:
    """One settlement week ``[start, end)`` (UTC instants) and its first local day."""

    start: datetime
    end: datetime
    first_day: date

    def contains(self, instant: datetime) -> bool:
        """Whether ``instant`` (aware) falls inside the period."""
        return self.start <= instant < self.end

    @property
    def days(self) -> list[date]:
        """The seven local calendar days of the period."""
        return [self.first_day + timedelta(days=i) for i in range(7)]


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    # fold=0 and a nonexistent 00:00 (a few zones jump at midnight) both resolve forward
    # through the UTC round trip, so consecutive boundaries stay strictly increasing.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def period_of_week(any_day: date, timezone: str) -> Period:
    """The period of the ISO week holding ``any_day`` (a local calendar date)."""
    tz = ZoneInfo(timezone)
    monday = any_day - timedelta(days=any_day.weekday())
    return Period(
        start=_local_midnight(monday, tz),
        end=_local_midnight(monday + timedelta(days=7), tz),
        first_day=monday,
    )


def period_containing(instant: datetime, timezone: str) -> Period:
    """The period holding ``instant`` (an aware datetime) in the tenant's ``timezone``."""
    if instant.tzinfo is None:
        raise ValueError("period_containing() needs an aware datetime")
    return period_of_week(instant.astimezone(ZoneInfo(timezone)).date(), timezone)


def periods_between(start: datetime, end: datetime, timezone: str) -> list[Period]:
    """Every period overlapping ``[start, end)``, in order."""
    if end <= start:
        return []
    periods = [period_containing(start, timezone)]
    while periods[-1].end < end:
        periods.append(period_of_week(periods[-1].first_day + timedelta(days=7), timezone))
    return periods


def week_starts(today: date, weeks: int) -> list[date]:
    """The Mondays of the last ``weeks`` weeks, oldest first, this week included."""
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=i) for i in reversed(range(weeks))]
