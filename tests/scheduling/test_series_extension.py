"""The nightly extension of recurring shift series: 12 weeks ahead, the rules of creation
(overlaps, leave, blacklist) with conflicting occurrences recorded as cancelled exceptions,
idempotent, set-based per tenant, and run by the worker in the tenant's context."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from scheduling_support import World, insert
from sqlalchemy import Engine, event, select, text

from fleetcore.core.db import DbContext, bind_context, context_session, session_factory
from fleetcore.core.jobs import defer_in_transaction
from fleetcore.scheduling import service
from fleetcore.scheduling.jobs import dispatch_series_extension
from fleetcore.scheduling.models import Shift
from fleetcore.scheduling.schemas import ShiftCreate, ShiftSeriesCreate
from fleetcore.settings import Settings
from fleetcore.worker import run as run_worker

PARIS = ZoneInfo("Europe/Paris")
CREATED = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)
"""When the series were created (a Monday)."""
LATER = CREATED + timedelta(weeks=5)
"""When the nightly job runs: five weeks on, so five weeks are missing at the far end."""


def _series(world: World, driver: uuid.UUID, rrule: str = "FREQ=DAILY",
            dtstart: str = "2027-01-04T08:00:00", **extra: Any) -> Any:
    series, shifts, _ = service.create_series(
        world.session, world.actor, now=CREATED, data=ShiftSeriesCreate(
            driver_id=driver, rrule=rrule, dtstart=dtstart, duration_minutes=480,
            timezone="Europe/Paris", notes="Morning round", **extra))
    return series, shifts


def _shifts(world: World, series_id: uuid.UUID) -> list[Shift]:
    world.session.expire_all()
    return list(world.session.scalars(
        select(Shift).where(Shift.series_id == series_id).order_by(Shift.starts_at)))


def test_a_series_is_topped_up_to_twelve_weeks_ahead_once(world: World) -> None:
    driver = world.driver()
    series, created = _series(world, driver)

    report = service.extend_series(world.session, world.tenant_id, now=LATER)
    shifts = _shifts(world, series.id)
    assert (report.series, report.skipped) == (1, [])
    assert report.created == len(shifts) - len(created) >= 34  # five weeks, give or take DST
    assert shifts[-1].starts_at < LATER + service.SERIES_HORIZON
    assert shifts[-1].starts_at + timedelta(days=1) >= LATER + service.SERIES_HORIZON
    # Local wall-clock time across the March DST change, and the series' own values.
    assert {s.starts_at.astimezone(PARIS).hour for s in shifts} == {8}
    assert {(s.status, s.notes, s.driver_id) for s in shifts[len(created):]} == {
        ("scheduled", "Morning round", driver)}
    days = [s.starts_at.astimezone(PARIS).date() for s in shifts]
    assert days == [days[0] + timedelta(days=n) for n in range(len(days))]  # no gap, no twin

    again = service.extend_series(world.session, world.tenant_id, now=LATER)
    assert (again.created, again.skipped) == (0, [])
    assert len(_shifts(world, series.id)) == len(shifts)


def test_conflicting_occurrences_are_recorded_as_cancelled_exceptions(world: World) -> None:
    driver = world.driver()
    series, created = _series(world, driver, rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR")
    blocking = service.create_shift(world.session, world.actor, data=ShiftCreate(
        driver_id=driver, starts_at=datetime(2027, 4, 14, 12, 0, tzinfo=PARIS),
        ends_at=datetime(2027, 4, 14, 18, 0, tzinfo=PARIS)))
    world.leave(driver, datetime(2027, 4, 19, 0, 0, tzinfo=PARIS),
                datetime(2027, 4, 22, 0, 0, tzinfo=PARIS))
    world.blacklist(driver, datetime(2027, 4, 30, 0, 0, tzinfo=PARIS),
                    datetime(2027, 5, 1, 0, 0, tzinfo=PARIS))
    world.leave(driver, datetime(2027, 4, 26, 0, 0, tzinfo=PARIS),
                datetime(2027, 4, 27, 0, 0, tzinfo=PARIS), status="pending")

    report = service.extend_series(world.session, world.tenant_id, now=LATER)

    skipped = {s["occurrence_starts_at"][:10]: s for s in report.skipped}
    assert sorted(skipped) == ["2027-04-14", "2027-04-19", "2027-04-21", "2027-04-30"]
    assert skipped["2027-04-14"]["conflicting_shift_ids"] == [str(blocking.id)]
    assert "leave" in skipped["2027-04-19"]["reasons"][0]
    assert "blacklisted" in skipped["2027-04-30"]["reasons"][0]
    assert {s["series_id"] for s in report.skipped} == {str(series.id)}
    known = {s.id for s in created}
    new = [s for s in _shifts(world, series.id) if s.id not in known]
    # Mondays, Wednesdays and Fridays from 29 March to 30 April, less the 4 conflicts.
    assert (len(new), report.created) == (15, 11)
    cancelled = {s.starts_at.astimezone(PARIS).date().isoformat(): s for s in new
                 if s.status == "cancelled"}
    assert sorted(cancelled) == sorted(skipped)
    assert cancelled["2027-04-14"].notes.startswith("Not scheduled by the series: ")
    assert str(blocking.id) in cancelled["2027-04-14"].notes
    assert "approved leave" in cancelled["2027-04-21"].notes
    # A pending leave blocks nothing (as at creation).
    assert any(s.starts_at.astimezone(PARIS).date().isoformat() == "2027-04-26"
               and s.status == "scheduled" for s in new)

    # The exceptions stay: a re-run schedules nothing, even once the blocking shift is gone.
    service.cancel_shift(world.session, world.actor, blocking.id)
    again = service.extend_series(world.session, world.tenant_id, now=LATER)
    assert (again.created, again.skipped) == (0, [])


def test_two_series_of_one_driver_do_not_collide_the_older_wins(world: World) -> None:
    driver = world.driver()
    # Two series never expanded (e.g. written before their rules changed) whose new
    # occurrences overlap each other: only the database rows of one may be live.
    older, newer = (
        insert(world.session, "sch_shift_series", tenant_id=world.tenant_id, driver_id=driver,
               rrule="FREQ=WEEKLY;BYDAY=MO", dtstart=datetime(2027, 1, 4, hour, tzinfo=PARIS),
               duration_s=8 * 3600, timezone="Europe/Paris")
        for hour in (8, 10))

    report = service.extend_series(world.session, world.tenant_id, now=LATER)

    assert report.skipped
    assert {s["series_id"] for s in report.skipped} == {str(newer)}
    assert all(f"series {older}" in s["reasons"][0] for s in report.skipped)
    assert {s.status for s in _shifts(world, older)} == {"scheduled"}
    assert {s.status for s in _shifts(world, newer)} == {"cancelled"}
    assert len(_shifts(world, older)) == len(_shifts(world, newer)) == len(report.skipped)


def test_stopped_deleted_finished_series_and_deleted_drivers_are_left_alone(
    world: World,
) -> None:
    stopped, _ = _series(world, world.driver())
    service.cancel_series(world.session, world.actor, stopped.id, now=CREATED)
    deleted, _ = _series(world, world.driver())
    world.session.execute(text("UPDATE sch_shift_series SET deleted_at = now() WHERE id = :id"),
                          {"id": deleted.id})
    finished, _ = _series(world, world.driver(), until=datetime(2027, 2, 1, tzinfo=UTC))
    gone_driver = world.driver()
    orphan, _ = _series(world, gone_driver)
    world.session.execute(text("UPDATE rid_drivers SET deleted_at = now() WHERE id = :id"),
                          {"id": gone_driver})
    before = world.session.execute(text("SELECT count(*) FROM sch_shifts")).scalar_one()

    report = service.extend_series(world.session, world.tenant_id, now=LATER)

    assert (report.series, report.created, report.skipped) == (0, 0, [])
    assert world.session.execute(text("SELECT count(*) FROM sch_shifts")).scalar_one() == before
    assert len({stopped.id, deleted.id, finished.id, orphan.id}) == 4


@contextmanager
def _statements(world: World) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = world.session.get_bind()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_the_extension_is_set_based_per_tenant(world: World) -> None:
    """The statements do not grow with the number of series or drivers."""
    def extend_with(series_count: int) -> tuple[int, int]:
        for _ in range(series_count):
            _series(world, world.driver(), rrule="FREQ=WEEKLY;BYDAY=TU")
        world.session.flush()
        with _statements(world) as seen:
            report = service.extend_series(world.session, world.tenant_id, now=LATER)
        return len(seen), report.created

    one, created_one = extend_with(1)
    five, created_five = extend_with(5)
    assert (created_one, created_five) == (5, 25)
    assert one == five <= 7


def test_tenants_with_active_series_are_the_ones_extended(world: World) -> None:
    series, _ = _series(world, world.driver())
    bind_context(world.session, DbContext.system())
    assert world.tenant_id in service.tenants_with_active_series(world.session, now=LATER)
    world.session.execute(text("UPDATE sch_shift_series SET active = false WHERE id = :id"),
                          {"id": series.id})
    assert world.tenant_id not in service.tenants_with_active_series(world.session, now=LATER)


@pytest.fixture
def committed_series(app_engine: Engine) -> Iterator[tuple[uuid.UUID, uuid.UUID]]:
    """A committed tenant with a daily series created a month ago and never extended; the job
    queue emptied around the test."""
    sessions = session_factory(app_engine)

    def purge() -> None:
        with app_engine.begin() as conn:
            conn.execute(text("DELETE FROM procrastinate_jobs"))

    purge()
    tag = uuid.uuid4().hex[:10]
    with context_session(sessions, DbContext.system()) as session:
        tenant = insert(session, "adm_tenants", name="Series job", slug=f"series-{tag}",
                        country="FR", default_currency="EUR", timezone="Europe/Paris")
    start = (datetime.now(UTC) - timedelta(days=30)).replace(hour=6, minute=0, second=0,
                                                              microsecond=0)
    with context_session(sessions, DbContext.for_tenant(tenant)) as session:
        driver = insert(session, "rid_drivers", tenant_id=tenant, first_name="Job",
                        last_name="Runner", status="active")
        series = insert(session, "sch_shift_series", tenant_id=tenant, driver_id=driver,
                        rrule="FREQ=DAILY", dtstart=start, duration_s=3600, timezone="UTC")
    yield tenant, series
    purge()


def test_the_nightly_job_extends_each_tenant_in_its_context(
    app_engine: Engine, test_database: Any, tmp_path: Path,
    committed_series: tuple[uuid.UUID, uuid.UUID],
) -> None:
    tenant, series = committed_series
    sessions = session_factory(app_engine)
    settings = Settings(database_url=test_database.app_url, fleetcore_data_dir=tmp_path,
                        fleetcore_env="test")

    def night() -> list[Any]:
        with context_session(sessions, DbContext.system()) as session:
            defer_in_transaction(session, dispatch_series_extension)
        asyncio.run(run_worker(settings, app_engine, test_database.app_url, wait=False,
                               install_signal_handlers=False))
        with context_session(sessions, DbContext.for_tenant(tenant)) as session:
            return list(session.execute(text(
                "SELECT id, starts_at, status, created_by FROM sch_shifts WHERE series_id = :s"
                " ORDER BY starts_at"), {"s": series}).all())

    first = night()
    now = datetime.now(UTC)
    # Every day ahead within 12 weeks (the job's "now" is a moment earlier), none behind.
    assert len(first) == 84
    assert now - timedelta(days=1) < first[0].starts_at
    assert first[-1].starts_at < now + service.SERIES_HORIZON
    assert {(r.status, r.created_by) for r in first} == {("scheduled", None)}
    assert night() == first  # the next night creates nothing new
    with context_session(sessions, DbContext.system()) as session:
        failed = session.execute(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'")).scalar_one()
    assert failed == 0
