"""Shifts and recurring series (service level, rolled back): overlaps, leave, blacklist, RRULE."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from scheduling_support import World

from fleetcore.core.errors import Conflict, ValidationProblem
from fleetcore.core.pagination import PageParams
from fleetcore.scheduling import service
from fleetcore.scheduling.filters import ShiftFilter
from fleetcore.scheduling.schemas import ShiftCreate, ShiftSeriesCreate, ShiftUpdate

PARIS = ZoneInfo("Europe/Paris")
DAY = datetime(2027, 3, 1, 8, 0, tzinfo=PARIS)


def _shift(world: World, driver: uuid.UUID, start: datetime, hours: int = 8,
           **extra: object) -> object:
    return service.create_shift(world.session, world.actor, data=ShiftCreate(
        driver_id=driver, starts_at=start, ends_at=start + timedelta(hours=hours), **extra))


def test_a_shift_is_created_and_an_overlap_is_refused_naming_it(world: World) -> None:
    driver = world.driver()
    first = _shift(world, driver, DAY)
    with pytest.raises(Conflict) as refused:
        _shift(world, driver, DAY + timedelta(hours=4))
    assert refused.value.extensions["conflicting_shift_ids"] == [str(first.id)]  # type: ignore[attr-defined]
    assert str(first.id) in refused.value.detail  # type: ignore[attr-defined]
    # Back to back is not an overlap ([start, end)), and another driver is free.
    _shift(world, driver, DAY + timedelta(hours=8))
    _shift(world, world.driver(), DAY + timedelta(hours=4))


def test_the_database_refuses_an_overlap_the_service_did_not_see(world: World) -> None:
    from sqlalchemy.exc import IntegrityError

    from fleetcore.scheduling.models import Shift

    driver = world.driver()
    _shift(world, driver, DAY)
    world.session.add(Shift(tenant_id=world.tenant_id, driver_id=driver,
                            starts_at=DAY + timedelta(hours=1), ends_at=DAY + timedelta(hours=2)))
    with pytest.raises(IntegrityError):
        world.session.flush()
    world.session.rollback()


def test_a_cancelled_shift_frees_its_slot(world: World) -> None:
    driver = world.driver()
    first = _shift(world, driver, DAY)
    cancelled = service.cancel_shift(world.session, world.actor, first.id)  # type: ignore[attr-defined]
    assert cancelled.status == "cancelled"
    _shift(world, driver, DAY)
    with pytest.raises(Conflict):
        service.update_shift(world.session, world.actor, cancelled.id,
                             data=ShiftUpdate(status="in_progress"))


def test_shifts_are_refused_during_approved_leave_only(world: World) -> None:
    driver = world.driver()
    world.leave(driver, DAY - timedelta(days=1), DAY + timedelta(days=2))
    world.leave(driver, DAY + timedelta(days=5), DAY + timedelta(days=6), status="pending")
    with pytest.raises(Conflict, match="leave"):
        _shift(world, driver, DAY)
    _shift(world, driver, DAY + timedelta(days=5))  # a pending leave blocks nothing
    _shift(world, driver, DAY + timedelta(days=3))


def test_shifts_are_refused_during_an_active_blacklist(world: World) -> None:
    driver = world.driver()
    world.blacklist(driver, DAY - timedelta(days=10), DAY + timedelta(days=1))
    with pytest.raises(Conflict, match="blacklisted"):
        _shift(world, driver, DAY)
    _shift(world, driver, DAY + timedelta(days=2))


def test_a_shift_for_an_unknown_driver_or_vehicle_is_422(world: World) -> None:
    with pytest.raises(ValidationProblem) as no_driver:
        _shift(world, uuid.uuid4(), DAY)
    assert no_driver.value.errors[0]["field"] == "driver_id"
    with pytest.raises(ValidationProblem) as no_vehicle:
        _shift(world, world.driver(), DAY, vehicle_id=uuid.uuid4())
    assert no_vehicle.value.errors[0]["field"] == "vehicle_id"
    with pytest.raises(ValidationProblem):
        _shift(world, world.driver(), DAY, hours=30)


def test_moving_a_shift_rechecks_overlaps(world: World) -> None:
    driver = world.driver()
    _shift(world, driver, DAY)
    second = _shift(world, driver, DAY + timedelta(days=1))
    with pytest.raises(Conflict):
        service.update_shift(world.session, world.actor, second.id, data=ShiftUpdate(  # type: ignore[attr-defined]
            starts_at=DAY + timedelta(hours=2), ends_at=DAY + timedelta(hours=9)))
    moved = service.update_shift(world.session, world.actor, second.id, data=ShiftUpdate(  # type: ignore[attr-defined]
        starts_at=DAY + timedelta(hours=8), ends_at=DAY + timedelta(hours=12)))
    assert moved.starts_at == DAY + timedelta(hours=8)
    assert moved.version == 2


# --- RRULE ---------------------------------------------------------------------------------


def test_rrule_expansion_keeps_local_time_across_the_dst_change() -> None:
    # Europe/Paris springs forward on Sunday 28 March 2027.
    occurrences, _ = service.expand_series(
        "FREQ=DAILY;COUNT=4", datetime(2027, 3, 26, 8, 0), "Europe/Paris", timedelta(hours=8),
        now=datetime(2027, 3, 1, tzinfo=UTC))
    assert [s.astimezone(PARIS).hour for s, _ in occurrences] == [8, 8, 8, 8]
    assert [s.astimezone(UTC).hour for s, _ in occurrences] == [7, 7, 6, 6]
    assert all(e - s == timedelta(hours=8) for s, e in occurrences)


def test_rrule_expansion_is_bounded_by_until_or_twelve_weeks() -> None:
    now = datetime(2027, 1, 4, tzinfo=UTC)
    forever, horizon = service.expand_series(
        "FREQ=WEEKLY;BYDAY=MO,WE,FR", datetime(2027, 1, 4, 8, 0), "Europe/Paris",
        timedelta(hours=8), now=now)
    assert len(forever) == 36  # 12 weeks x 3
    assert horizon == datetime(2027, 1, 4, 8, tzinfo=PARIS) + timedelta(weeks=12)
    until = datetime(2027, 1, 15, 23, 0, tzinfo=UTC)
    bounded, _ = service.expand_series(
        "RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR", datetime(2027, 1, 4, 8, 0), "Europe/Paris",
        timedelta(hours=8), until=until, now=now)
    assert len(bounded) == 6


@pytest.mark.parametrize("rule", ["FREQ=SECONDLY", "FREQ=WEEKLY;BYDAY=XX", "BYDAY=MO",
                                  "DTSTART:20270101T000000\nRRULE:FREQ=DAILY"])
def test_invalid_rrules_are_422_on_rrule(rule: str) -> None:
    with pytest.raises(ValidationProblem) as refused:
        service.expand_series(rule, datetime(2027, 1, 4, 8), "Europe/Paris", timedelta(hours=1))
    assert refused.value.errors[0]["field"] == "rrule"


def _series(world: World, driver: uuid.UUID, **extra: object) -> tuple[object, list, datetime]:
    data = {"driver_id": driver, "rrule": "FREQ=DAILY;COUNT=7", "dtstart": "2027-03-24T08:00:00",
            "duration_minutes": 480, "timezone": "Europe/Paris", **extra}
    return service.create_series(world.session, world.actor, data=ShiftSeriesCreate(**data),
                                 now=datetime(2027, 3, 1, tzinfo=UTC))


def test_a_series_materialises_its_occurrences_over_a_dst_week(world: World) -> None:
    driver = world.driver()
    series, shifts, _ = _series(world, driver)
    assert len(shifts) == 7
    assert {s.starts_at.astimezone(PARIS).hour for s in shifts} == {8}
    assert all(s.series_id == series.id for s in shifts)  # type: ignore[attr-defined]
    listed, _ = service.list_shifts(world.session, world.actor, PageParams(),
                                    ShiftFilter(series_id=series.id))  # type: ignore[attr-defined]
    assert [s.id for s in listed] == [s.id for s in shifts]


def test_a_conflicting_series_is_refused_whole_listing_each_occurrence(world: World) -> None:
    driver = world.driver()
    blocking = _shift(world, driver, datetime(2027, 3, 26, 12, 0, tzinfo=PARIS))
    world.leave(driver, datetime(2027, 3, 28, 0, 0, tzinfo=PARIS),
                datetime(2027, 3, 29, 0, 0, tzinfo=PARIS))
    with pytest.raises(Conflict) as refused:
        _series(world, driver)
    conflicts = refused.value.extensions["conflicts"]
    assert [c["occurrence_starts_at"][:10] for c in conflicts] == ["2027-03-26", "2027-03-28"]
    assert conflicts[0]["conflicting_shift_ids"] == [str(blocking.id)]  # type: ignore[attr-defined]
    assert "leave" in conflicts[1]["reasons"][0]
    listed, _ = service.list_shifts(world.session, world.actor, PageParams(),
                                    ShiftFilter(driver_id=driver))
    assert len(listed) == 1  # nothing of the series was written


def test_self_overlapping_series_and_bad_until_are_422(world: World) -> None:
    driver = world.driver()
    with pytest.raises(ValidationProblem) as too_often:
        _series(world, driver, rrule="FREQ=HOURLY;COUNT=3")
    assert too_often.value.errors[0]["field"] == "rrule"
    with pytest.raises(ValidationProblem) as overlapping:  # 08:00 and 20:00, 13 h each
        _series(world, driver, rrule="FREQ=DAILY;BYHOUR=8,20;COUNT=4", duration_minutes=780)
    assert overlapping.value.errors[0]["field"] == "duration_minutes"
    with pytest.raises(ValidationProblem) as until:
        _series(world, driver, until="2027-03-01T00:00:00+01:00")
    assert until.value.errors[0]["field"] == "until"
    _, twice_a_day, _ = _series(world, driver, rrule="FREQ=DAILY;BYHOUR=8,20;COUNT=4",
                                duration_minutes=720)
    assert len(twice_a_day) == 4


def test_cancelling_a_series_cancels_future_occurrences_only(world: World) -> None:
    driver = world.driver()
    series, shifts, _ = _series(world, driver)
    cut = shifts[3].starts_at - timedelta(minutes=1)
    stopped, cancelled = service.cancel_series(world.session, world.actor,
                                               series.id, now=cut)  # type: ignore[attr-defined]
    assert not stopped.active
    assert cancelled == [s.id for s in shifts[3:]]
    for shift in shifts:
        world.session.refresh(shift)
    assert [s.status for s in shifts] == ["scheduled"] * 3 + ["cancelled"] * 4
    # The freed slots take a new shift.
    _shift(world, driver, shifts[4].starts_at)
