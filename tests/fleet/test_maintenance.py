"""Odometer readings and maintenance (service level, rolled back): every rule refused and passed.

Odometer: backwards refused (409 naming the latest value), correction accepted, anomalies
flagged and kept out of the current odometer until confirmed. Schedules: next due computed,
status ok → due_soon → overdue by date and by km; completing maintenance advances the schedule
and records a reading; the due list is one query.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, bind_context
from fleetcore.core.errors import Conflict, NotFound, ValidationProblem
from fleetcore.core.orm import new_id
from fleetcore.core.pagination import PageParams
from fleetcore.core.schemas import MoneyIn
from fleetcore.fleet import maintenance_service as svc
from fleetcore.fleet.maintenance_schemas import (
    DueStatus,
    MaintenanceComplete,
    MaintenanceCreate,
    MaintenanceUpdate,
    OdometerReadingCreate,
    ScheduleCreate,
    ScheduleUpdate,
)
from fleetcore.fleet.models import OdometerSource

NOW = datetime.now(UTC)


def insert(session: Session, table: str, **values: Any) -> uuid.UUID:
    values.setdefault("id", new_id())
    columns = ", ".join(values)
    params = ", ".join(f":{c}" for c in values)
    session.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)
    return values["id"]  # type: ignore[no-any-return]


@dataclass
class Fleet:
    session: Session
    tenant_id: uuid.UUID
    actor: Actor
    vehicle_id: uuid.UUID
    make_id: uuid.UUID

    def vehicle(self, plate: str) -> uuid.UUID:
        return insert(self.session, "flt_vehicles", tenant_id=self.tenant_id,
                      make_id=self.make_id, licence_plate=plate, country="FR", year=2023,
                      fuel_type="hybrid", ownership_type="owned")

    def read(self, km: str, at: datetime, **extra: Any) -> Any:
        return svc.record_odometer_reading(
            self.session, self.actor, vehicle_id=extra.pop("vehicle_id", self.vehicle_id),
            data=OdometerReadingCreate(odometer_km=Decimal(km), read_at=at, **extra))


@pytest.fixture
def fleet(db: Session) -> Fleet:
    bind_context(db, DbContext.system())
    tenant = insert(db, "adm_tenants", name="Maintenance test", slug=f"m-{uuid.uuid4().hex[:10]}",
                    country="FR", default_currency="EUR", timezone="Europe/Paris")
    bind_context(db, DbContext.for_tenant(tenant))
    make = insert(db, "dir_car_makes", tenant_id=tenant, name=f"Make {uuid.uuid4().hex[:6]}")
    actor = Actor(type=ActorType.MEMBER, id=new_id(), clerk_user_id="user_m", tenant_id=tenant,
                  tenant_status="active", permissions=frozenset({"*"}))
    f = Fleet(db, tenant, actor, uuid.uuid4(), make)
    f.vehicle_id = f.vehicle("AB-123-CD")
    return f


# --- odometer ------------------------------------------------------------------------------


def test_first_reading_becomes_the_current_odometer(fleet: Fleet) -> None:
    assert svc.current_odometer(fleet.session, fleet.vehicle_id) is None
    reading = fleet.read("12000.0", NOW - timedelta(days=1))
    assert not reading.is_anomaly
    assert svc.current_odometer(fleet.session, fleet.vehicle_id) == Decimal("12000.0")


def test_a_reading_below_the_latest_is_refused_naming_the_latest(fleet: Fleet) -> None:
    fleet.read("12000.0", NOW - timedelta(days=2))
    with pytest.raises(Conflict) as refused:
        fleet.read("11950.0", NOW - timedelta(days=1))
    assert "12000.0" in refused.value.detail
    assert refused.value.extensions["latest_odometer_km"] == "12000.0"
    assert refused.value.errors[0]["field"] == "odometer_km"
    # Equal or higher passes.
    fleet.read("12000.0", NOW - timedelta(hours=20))
    fleet.read("12100.0", NOW - timedelta(hours=10))
    assert svc.current_odometer(fleet.session, fleet.vehicle_id) == Decimal("12100.0")


def test_a_backdated_reading_must_sit_between_its_neighbours(fleet: Fleet) -> None:
    fleet.read("10000.0", NOW - timedelta(days=10))
    fleet.read("11000.0", NOW - timedelta(days=2))
    with pytest.raises(Conflict, match="later reading"):
        fleet.read("11500.0", NOW - timedelta(days=5))
    fleet.read("10500.0", NOW - timedelta(days=5))
    assert svc.current_odometer(fleet.session, fleet.vehicle_id) == Decimal("11000.0")


def test_a_correction_may_go_backwards_and_needs_a_reason(fleet: Fleet) -> None:
    fleet.read("12000.0", NOW - timedelta(days=3))
    typo = fleet.read("21000.0", NOW - timedelta(days=2, hours=12))  # 9000 km in 12 h: anomaly
    assert typo.is_anomaly
    wrong = fleet.read("12500.0", NOW - timedelta(days=2))
    with pytest.raises(ValidationProblem) as no_reason:
        fleet.read("12400.0", NOW, corrects_reading_id=wrong.id)
    assert no_reason.value.errors[0]["field"] == "reason"
    correction = fleet.read("12400.0", NOW, corrects_reading_id=wrong.id,
                            reason="Photo shows 12 400.")
    assert correction.read_at == NOW
    assert svc.current_odometer(fleet.session, fleet.vehicle_id) == Decimal("12400.0")
    with pytest.raises(Conflict, match="already corrected"):
        fleet.read("12300.0", NOW, corrects_reading_id=wrong.id, reason="Again.")
    # Correcting the correction is the way to amend again.
    fleet.read("12300.0", NOW, corrects_reading_id=correction.id, reason="Second look.")
    assert svc.current_odometer(fleet.session, fleet.vehicle_id) == Decimal("12300.0")


def test_a_correction_of_an_unknown_or_foreign_reading_is_refused(fleet: Fleet) -> None:
    other = fleet.vehicle("EF-456-GH")
    foreign = fleet.read("5000.0", NOW - timedelta(days=1), vehicle_id=other)
    with pytest.raises(ValidationProblem) as refused:
        fleet.read("4000.0", NOW, corrects_reading_id=foreign.id, reason="Wrong car.")
    assert refused.value.errors[0]["field"] == "corrects_reading_id"


def test_more_than_a_car_can_drive_is_flagged_and_excluded_until_confirmed(fleet: Fleet) -> None:
    fleet.read("12000.0", NOW - timedelta(days=1))
    jump = fleet.read("14000.0", NOW - timedelta(hours=12))  # 2000 km in 12 h
    assert jump.is_anomaly
    assert "km/day" in (jump.anomaly_reason or "")
    assert svc.current_odometer(fleet.session, fleet.vehicle_id) == Decimal("12000.0")
    # Not a trusted reading: the next plausible reading is judged against 12 000, not 14 000.
    fleet.read("12300.0", NOW - timedelta(hours=6))
    assert svc.current_odometer(fleet.session, fleet.vehicle_id) == Decimal("12300.0")
    with pytest.raises(Conflict, match="Only a reading flagged"):
        svc.confirm_odometer_reading(fleet.session, fleet.actor, vehicle_id=fleet.vehicle_id,
                                     reading_id=svc.list_odometer_readings(
                                         fleet.session, fleet.actor, PageParams(),
                                         vehicle_id=fleet.vehicle_id, anomalies=False,
                                     )[0][0].id)


def test_confirming_an_anomaly_makes_it_count(fleet: Fleet) -> None:
    fleet.read("12000.0", NOW - timedelta(days=1))
    jump = fleet.read("14000.0", NOW - timedelta(hours=12))
    confirmed = svc.confirm_odometer_reading(fleet.session, fleet.actor,
                                             vehicle_id=fleet.vehicle_id, reading_id=jump.id)
    assert confirmed.confirmed_at is not None
    assert confirmed.confirmed_by == fleet.actor.id
    assert svc.current_odometer(fleet.session, fleet.vehicle_id) == Decimal("14000.0")


def test_far_above_usual_use_is_flagged(fleet: Fleet) -> None:
    start = NOW - timedelta(days=40)
    for day in range(0, 31, 5):  # 100 km/day for a month
        fleet.read(str(10000 + 100 * day), start + timedelta(days=day))
    usual = fleet.read("13100.0", start + timedelta(days=31))  # 100 km in a day: fine
    assert not usual.is_anomaly
    spike = fleet.read("14200.0", start + timedelta(days=32))  # 1100 km/day: plausible for a car
    assert spike.is_anomaly
    assert "usual" in (spike.anomaly_reason or "")


def test_readings_in_the_future_are_refused(fleet: Fleet) -> None:
    with pytest.raises(ValidationProblem) as refused:
        fleet.read("100.0", NOW + timedelta(days=1))
    assert refused.value.errors[0]["field"] == "read_at"


def test_another_tenants_vehicle_is_not_found(fleet: Fleet, db: Session) -> None:
    with pytest.raises(NotFound):
        fleet.read("100.0", NOW, vehicle_id=uuid.uuid4())


# --- schedules -----------------------------------------------------------------------------


def _schedule(fleet: Fleet, **values: Any) -> Any:
    data = {"vehicle_id": fleet.vehicle_id, "maintenance_type": "oil_change",
            "interval_km": 15000, "interval_days": 365, "reminder_lead_km": 1000,
            "reminder_lead_days": 14, **values}
    return svc.create_schedule(fleet.session, fleet.actor, data=ScheduleCreate(**data))


def _status(fleet: Fleet, schedule_id: uuid.UUID, today: date) -> DueStatus:
    return svc.schedule_view(fleet.session, fleet.actor, schedule_id, today=today).due_status


def test_next_due_is_computed_from_the_last_service(fleet: Fleet) -> None:
    schedule = _schedule(fleet, last_done_km="30000.0", last_done_on=date(2026, 6, 1))
    assert schedule.next_due_km == Decimal("45000.0")
    assert schedule.next_due_on == date(2027, 6, 1)


def test_a_schedule_never_done_counts_from_now(fleet: Fleet) -> None:
    fleet.read("20000.0", NOW - timedelta(hours=1))
    schedule = _schedule(fleet)
    assert schedule.next_due_km == Decimal("35000.0")
    assert schedule.next_due_on == svc.tenant_today(fleet.session, fleet.tenant_id) + timedelta(
        days=365)


def test_a_schedule_needs_an_interval(fleet: Fleet) -> None:
    with pytest.raises(ValidationProblem) as refused:
        _schedule(fleet, interval_km=None, interval_days=None)
    assert refused.value.errors[0]["field"] == "interval_km"


def test_status_moves_by_date(fleet: Fleet) -> None:
    schedule = _schedule(fleet, interval_km=None, last_done_on=date(2026, 1, 1))
    due = schedule.next_due_on
    assert due == date(2027, 1, 1)
    assert _status(fleet, schedule.id, due - timedelta(days=15)) is DueStatus.OK
    assert _status(fleet, schedule.id, due - timedelta(days=14)) is DueStatus.DUE_SOON
    assert _status(fleet, schedule.id, due) is DueStatus.DUE_SOON
    assert _status(fleet, schedule.id, due + timedelta(days=1)) is DueStatus.OVERDUE


def test_status_moves_by_km_and_ignores_unconfirmed_anomalies(fleet: Fleet) -> None:
    today = date(2026, 11, 25)
    fleet.read("30000.0", NOW - timedelta(days=30))
    schedule = _schedule(fleet, interval_days=None, last_done_km="30000.0")
    assert schedule.next_due_km == Decimal("45000.0")
    assert _status(fleet, schedule.id, today) is DueStatus.OK
    fleet.read("43999.0", NOW - timedelta(days=20))
    assert _status(fleet, schedule.id, today) is DueStatus.OK
    fleet.read("44000.0", NOW - timedelta(days=19))
    assert _status(fleet, schedule.id, today) is DueStatus.DUE_SOON
    jump = fleet.read("46000.0", NOW - timedelta(days=18, hours=22))  # 2000 km in 2 h
    assert jump.is_anomaly
    assert _status(fleet, schedule.id, today) is DueStatus.DUE_SOON  # excluded until confirmed
    svc.confirm_odometer_reading(fleet.session, fleet.actor, vehicle_id=fleet.vehicle_id,
                                 reading_id=jump.id)
    assert _status(fleet, schedule.id, today) is DueStatus.OVERDUE


def test_changing_the_interval_moves_the_next_due(fleet: Fleet) -> None:
    schedule = _schedule(fleet, last_done_km="30000.0", last_done_on=date(2026, 6, 1))
    updated = svc.update_schedule(fleet.session, fleet.actor, schedule.id,
                                  data=ScheduleUpdate(interval_km=20000, interval_days=180))
    assert updated.next_due_km == Decimal("50000.0")
    assert updated.next_due_on == date(2026, 11, 28)


def test_the_due_list_is_one_query_and_filters_by_status(fleet: Fleet) -> None:
    today = date(2026, 11, 25)
    fleet.read("44500.0", NOW - timedelta(days=1))
    soon = _schedule(fleet, interval_days=None, last_done_km="30000.0")
    late = _schedule(fleet, maintenance_type="tyres", interval_km=None,
                     last_done_on=date(2025, 1, 1))
    fine = _schedule(fleet, maintenance_type="brakes", interval_km=None,
                     last_done_on=date(2026, 11, 1))
    other = fleet.vehicle("EF-456-GH")
    for plate_vehicle in (other,):
        svc.create_schedule(fleet.session, fleet.actor, data=ScheduleCreate(
            vehicle_id=plate_vehicle, maintenance_type="inspection", interval_days=30,
            last_done_on=date(2026, 10, 1)))
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = fleet.session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        views, _ = svc.maintenance_due(fleet.session, fleet.actor, PageParams(), today=today)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert "LATERAL" in statements[0]
    by_id = {v.schedule.id: v.due_status for v in views}
    assert by_id[soon.id] is DueStatus.DUE_SOON
    assert by_id[late.id] is DueStatus.OVERDUE
    assert fine.id not in by_id
    assert len(by_id) == 3
    overdue, _ = svc.maintenance_due(fleet.session, fleet.actor, PageParams(),
                                     due_status=["overdue"], today=today)
    assert {v.schedule.id for v in overdue} == {late.id} | {
        v.schedule.id for v in views if v.schedule.vehicle_id == other}
    assert views[0].current_odometer_km in (Decimal("44500.0"), None)


# --- maintenance records -------------------------------------------------------------------


def test_completing_maintenance_advances_the_schedule_and_records_a_reading(fleet: Fleet) -> None:
    fleet.read("44000.0", NOW - timedelta(days=3))
    schedule = _schedule(fleet, last_done_km="30000.0", last_done_on=date(2026, 1, 10))
    job = svc.create_maintenance(fleet.session, fleet.actor, data=MaintenanceCreate(
        vehicle_id=fleet.vehicle_id, schedule_id=schedule.id, scheduled_on=date(2026, 11, 24)))
    assert job.maintenance_type == "oil_change"
    done_on = svc.tenant_today(fleet.session, fleet.tenant_id) - timedelta(days=1)
    completed = svc.complete_maintenance(fleet.session, fleet.actor, job.id,
                                         data=MaintenanceComplete(
                                             completed_on=done_on,
                                             odometer_km=Decimal("44210.0"),
                                             cost=MoneyIn(amount="189.90", currency="EUR")))
    assert completed.status == "completed"
    assert completed.cost == Decimal("189.90")
    assert completed.currency == "EUR"
    fleet.session.refresh(schedule)
    assert schedule.last_done_km == Decimal("44210.0")
    assert schedule.last_done_on == done_on
    assert schedule.next_due_km == Decimal("59210.0")
    assert schedule.next_due_on == done_on + timedelta(days=365)
    assert (completed.next_due_km, completed.next_due_on) == (schedule.next_due_km,
                                                              schedule.next_due_on)
    readings, _ = svc.list_odometer_readings(fleet.session, fleet.actor, PageParams(),
                                             vehicle_id=fleet.vehicle_id,
                                             source=OdometerSource.MAINTENANCE.value)
    assert [r.odometer_km for r in readings] == [Decimal("44210.0")]
    assert svc.current_odometer(fleet.session, fleet.vehicle_id) == Decimal("44210.0")
    assert _status(fleet, schedule.id, done_on) is DueStatus.OK


def test_completing_twice_or_backwards_is_refused(fleet: Fleet) -> None:
    fleet.read("44000.0", NOW - timedelta(days=3))
    job = svc.create_maintenance(fleet.session, fleet.actor, data=MaintenanceCreate(
        vehicle_id=fleet.vehicle_id, maintenance_type="tyres", scheduled_on=date(2026, 11, 24)))
    today = svc.tenant_today(fleet.session, fleet.tenant_id)
    with pytest.raises(Conflict, match="backwards"), fleet.session.begin_nested():
        svc.complete_maintenance(fleet.session, fleet.actor, job.id, data=MaintenanceComplete(
            completed_on=today, odometer_km=Decimal("43000.0")))
    fleet.session.refresh(job)
    with pytest.raises(ValidationProblem):
        svc.complete_maintenance(fleet.session, fleet.actor, job.id, data=MaintenanceComplete(
            completed_on=today + timedelta(days=2), odometer_km=Decimal("44100.0")))
    svc.complete_maintenance(fleet.session, fleet.actor, job.id, data=MaintenanceComplete(
        completed_on=today, odometer_km=Decimal("44100.0")))
    with pytest.raises(Conflict, match="completed job cannot be completed"):
        svc.complete_maintenance(fleet.session, fleet.actor, job.id, data=MaintenanceComplete(
            completed_on=today, odometer_km=Decimal("44200.0")))


def test_record_rules_schedule_of_another_vehicle_and_status_transitions(fleet: Fleet) -> None:
    other = fleet.vehicle("EF-456-GH")
    schedule = _schedule(fleet, last_done_on=date(2026, 1, 1))
    with pytest.raises(ValidationProblem) as refused:
        svc.create_maintenance(fleet.session, fleet.actor, data=MaintenanceCreate(
            vehicle_id=other, schedule_id=schedule.id, scheduled_on=date(2026, 12, 1)))
    assert refused.value.errors[0]["field"] == "schedule_id"
    with pytest.raises(ValidationProblem) as no_type:
        svc.create_maintenance(fleet.session, fleet.actor, data=MaintenanceCreate(
            vehicle_id=other, scheduled_on=date(2026, 12, 1)))
    assert no_type.value.errors[0]["field"] == "maintenance_type"
    job = svc.create_maintenance(fleet.session, fleet.actor, data=MaintenanceCreate(
        vehicle_id=other, maintenance_type="brakes", scheduled_on=date(2026, 12, 1)))
    with pytest.raises(Conflict):
        svc.update_maintenance(fleet.session, fleet.actor, job.id,
                               data=MaintenanceUpdate(status="completed"))
    moved = svc.update_maintenance(fleet.session, fleet.actor, job.id,
                                   data=MaintenanceUpdate(status="in_progress"))
    assert moved.status == "in_progress"
    assert moved.version == 2
    svc.update_maintenance(fleet.session, fleet.actor, job.id,
                           data=MaintenanceUpdate(status="cancelled"))
    with pytest.raises(Conflict):
        svc.update_maintenance(fleet.session, fleet.actor, job.id,
                               data=MaintenanceUpdate(status="in_progress"))
