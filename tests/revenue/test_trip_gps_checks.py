"""The GPS and cash side of a reconciliation run: planted mismatches are found exactly, clean
trips and trips without GPS produce nothing, another tenant's track is never read."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from reconciliation_fixtures import WEEK_END, WEEK_START, RecData, insert, new_tenant, rec_world
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.db import DbContext, bind_context
from fleetcore.core.money import Money
from fleetcore.fleet.gps_jobs import purge_gps_track
from fleetcore.revenue.models import Reconciliation, ReconciliationItem
from fleetcore.revenue.reconciliation_schemas import item_out
from fleetcore.revenue.reconciliation_service import reconcile_period

DAY = WEEK_START + timedelta(days=2)  # Wednesday 2026-11-18, 00:00 UTC
PARIS = (Decimal("48.856600"), Decimal("2.352200"))
NORTH = (Decimal("48.870000"), Decimal("2.360000"))  # about 1.6 km north of PARIS


def at(hh: int, mm: int = 0) -> datetime:
    return DAY + timedelta(hours=hh, minutes=mm)


def make(session: Session) -> uuid.UUID:
    previous = session.info.get("fleetcore.db_context")
    bind_context(session, DbContext.system())
    make_id = insert(session, "dir_car_makes", name=f"Make {uuid.uuid4().hex[:6]}")
    assert previous is not None
    bind_context(session, previous)
    return make_id


class Gps:
    """Vehicles, assignments, shifts and minute-level track points of one tenant."""

    def __init__(self, session: Session, tenant_id: uuid.UUID) -> None:
        self.session, self.tenant_id = session, tenant_id
        self.make_id = make(session)

    def vehicle(self) -> uuid.UUID:
        return insert(self.session, "flt_vehicles", tenant_id=self.tenant_id,
                      make_id=self.make_id, licence_plate=f"GP-{uuid.uuid4().hex[:6]}",
                      country="FR", year=2022, fuel_type="hybrid", ownership_type="owned")

    def assign(self, vehicle: uuid.UUID, driver: uuid.UUID) -> None:
        insert(self.session, "flt_vehicle_assignments", tenant_id=self.tenant_id,
               vehicle_id=vehicle, driver_id=driver, starts_at=WEEK_START,
               assignment_type="permanent", status="active")

    def shift(self, driver: uuid.UUID, start: datetime, end: datetime) -> None:
        insert(self.session, "sch_shifts", tenant_id=self.tenant_id, driver_id=driver,
               starts_at=start, ends_at=end)

    def track(self, vehicle: uuid.UUID, start: datetime, minutes: int,
              frm: tuple[Decimal, Decimal], to: tuple[Decimal, Decimal],
              speed: str = "30") -> None:
        """One point a minute (at second 7) from ``frm`` to ``to``, in one statement."""
        self.session.execute(text(
            "INSERT INTO flt_gps_track (tenant_id, vehicle_id, minute, fix_time, latitude,"
            " longitude, speed_kmh)"
            " SELECT :t, :v, date_trunc('minute', f), f,"
            "        round(:lat0 + (:lat1 - :lat0) * i / greatest(:n - 1, 1), 6),"
            "        round(:lon0 + (:lon1 - :lon0) * i / greatest(:n - 1, 1), 6), :speed"
            "   FROM generate_series(0, :n - 1) i,"
            "        LATERAL (SELECT :start + i * interval '1 minute' + interval '7 s' AS f) x"),
            {"t": self.tenant_id, "v": vehicle, "start": start, "n": minutes,
             "lat0": frm[0], "lon0": frm[1], "lat1": to[0], "lon1": to[1],
             "speed": Decimal(speed)})


def run(data: RecData, actor: Actor) -> Reconciliation:
    return reconcile_period(data.session, actor, platform_id=data.platform_id,
                            period_start=WEEK_START, period_end=WEEK_END,
                            tolerance=Money("0.00", "EUR"))


def items(session: Session, run_id: uuid.UUID) -> list[tuple[str, str | None, dict[str, Any]]]:
    rows = session.execute(text(
        "SELECT kind, external_trip_id, details FROM rev_reconciliation_items"
        " WHERE reconciliation_id = :r ORDER BY kind, external_trip_id"), {"r": run_id}).all()
    return [(r[0], r[1], r[2]) for r in rows]


def trip(data: RecData, xid: str, vehicle: uuid.UUID | None, driver: uuid.UUID | None,
         start: datetime, end: datetime, pickup: tuple[Decimal, Decimal],
         dropoff: tuple[Decimal, Decimal], cash: str | None = None) -> uuid.UUID:
    data.row(xid, "20.00", "5.00", at=end,
             cash_collected=Decimal(cash) if cash is not None else None)
    return insert(data.session, "trp_trips", tenant_id=data.tenant_id,
                  platform_id=data.platform_id, external_trip_id=xid, status="completed",
                  fare_gross=Decimal("20.00"), platform_commission=Decimal("5.00"),
                  currency="EUR", vehicle_id=vehicle, driver_id=driver,
                  requested_at=start - timedelta(minutes=5), started_at=start, ended_at=end,
                  pickup_lat=pickup[0], pickup_lon=pickup[1], dropoff_lat=dropoff[0],
                  dropoff_lon=dropoff[1],
                  cash_collected=Decimal(cash) if cash is not None else None)


@pytest.fixture
def world(db: Session) -> tuple[RecData, Actor, Gps]:
    data, actor = rec_world(db)
    return data, actor, Gps(db, data.tenant_id)


def test_clean_trips_and_trips_without_gps_produce_nothing(
    world: tuple[RecData, Actor, Gps],
) -> None:
    data, actor, gps = world
    car, quiet_car = gps.vehicle(), gps.vehicle()
    driver = data.driver()
    gps.assign(car, driver)
    gps.shift(driver, at(7), at(17))
    # The car waits at the pickup, drives to the drop-off during the trip, then stays.
    gps.track(car, at(8, 40), 5, PARIS, PARIS, speed="0")
    gps.track(car, at(8, 45), 15, PARIS, NORTH)
    gps.track(car, at(9, 0), 5, NORTH, NORTH, speed="0")
    trip(data, "clean", car, driver, at(8, 45), at(9, 0), PARIS, NORTH)
    # No tracker on this car, and a trip with no vehicle: nothing to compare, nothing said.
    trip(data, "no-gps", quiet_car, driver, at(12), at(12, 20), PARIS, NORTH)
    trip(data, "no-vehicle", None, driver, at(13), at(13, 20), PARIS, NORTH)

    result = run(data, actor)

    assert result.status == "completed"
    assert items(data.session, result.id) == []
    assert (result.matched_count, result.gps_mismatch_count, result.outside_shift_count,
            result.cash_mismatch_count) == (3, 0, 0, 0)


def test_planted_trip_gps_cash_and_shift_mismatches_are_found_exactly(
    world: tuple[RecData, Actor, Gps],
) -> None:
    data, actor, gps = world
    car, still_car = gps.vehicle(), gps.vehicle()
    driver, other = data.driver("One"), data.driver("Two")
    gps.assign(car, driver)
    gps.assign(still_car, other)
    gps.shift(driver, at(7), at(17))
    gps.shift(other, at(9), at(18))
    # Clean trip, cash agreeing.
    gps.track(car, at(8, 45), 15, PARIS, NORTH)
    trip(data, "clean", car, driver, at(8, 45), at(9, 0), PARIS, NORTH, cash="20.00")
    # Pickup 5 km away from where the car was when the trip started (the drop-off matches).
    far_from, far_to = (Decimal("48.900000"), Decimal("2.300000")), (Decimal("48.910000"),
                                                                     Decimal("2.310000"))
    gps.track(car, at(10, 55), 25, far_from, far_to)
    trip(data, "far-pickup", car, driver, at(11), at(11, 15), PARIS, far_to)
    # A car parked (GPS jitter of a few metres, walking speed at most) during a 15-min "trip".
    spot = (Decimal("48.800000"), Decimal("2.400000"))
    near = (Decimal("48.800020"), Decimal("2.400030"))
    gps.track(still_car, at(10, 10), 25, spot, near, speed="1.5")
    trip(data, "still", still_car, other, at(10, 15), at(10, 30), spot, near)
    # Cash: the driver's trip says 15, the report 20 -> mismatch; a report without cash for
    # the trip contradicts nothing.
    gps.track(car, at(12, 0), 15, PARIS, NORTH)
    trip(data, "cash", car, driver, at(12, 0), at(12, 15), PARIS, NORTH, cash="20.00")
    data.session.execute(text("UPDATE trp_trips SET cash_collected = 15"
                              " WHERE external_trip_id = 'cash'"))
    data.row("cash-unknown", "20.00", "5.00", at=at(12, 40))
    data.trip("cash-unknown", "20.00", "5.00", at=at(12, 40), driver_id=driver,
              cash_collected=Decimal("10.00"))
    # The car out at night, after its driver's shift: 21 minutes moving; a single moving
    # minute later is not a use.
    gps.track(car, at(20, 0), 21, PARIS, NORTH)
    gps.track(car, at(22, 0), 1, NORTH, NORTH)
    # The parked car's driver is on shift: its (slow) points are not movement anyway.

    result = run(data, actor)

    found = items(data.session, result.id)
    kinds = [(k, x) for k, x, _ in found]
    # The use outside shifts is counted, but is no item of this platform's run (below).
    assert kinds == [("cash_mismatch", "cash"), ("pickup_far", "far-pickup"),
                     ("trip_not_moving", "still")]
    assert (result.cash_mismatch_count, result.gps_mismatch_count,
            result.outside_shift_count) == (1, 2, 1)
    details = {k: d for k, _, d in found}
    assert details["cash_mismatch"]["report_cash"] == "20.0000"
    assert details["cash_mismatch"]["internal_cash"] == "15.0000"
    assert 5000 < details["pickup_far"]["distance_m"] < 6500
    assert "from the pickup" in details["pickup_far"]["reason"]
    assert details["pickup_far"]["driver_id"] == str(driver)
    assert details["trip_not_moving"]["gps_points"] == 15
    assert details["trip_not_moving"]["vehicle_id"] == str(still_car)
    # The API form spells the details out.
    api = {o.kind.value: o for o in (item_out(i) for i in data.session.scalars(
        select(ReconciliationItem).where(ReconciliationItem.reconciliation_id == result.id)))}
    assert api["pickup_far"].vehicle_id == car
    assert api["pickup_far"].reason == details["pickup_far"]["reason"]
    assert api["trip_not_moving"].gps == {"gps_points": 15, "max_speed_kmh": "1.5",
                                          "spread_m": details["trip_not_moving"]["spread_m"]}
    assert api["cash_mismatch"].report_cash is not None
    assert api["cash_mismatch"].report_cash.amount == "20.00"
    # Its home is one vehicle event, whatever the number of runs: a re-run counts the same
    # stretch and lists it nowhere again.
    again = run(data, actor)
    assert again.outside_shift_count == 1
    assert [k for k, _, _ in items(data.session, again.id)].count("use_outside_shift") == 0
    events = data.session.execute(text(
        "SELECT vehicle_id, driver_id, occurred_at, source, event_type, severity, description,"
        " metadata FROM flt_vehicle_events WHERE external_event_id LIKE 'outside-shift:%'")).all()
    assert [tuple(e)[:6] for e in events] == [
        (car, driver, at(20, 0), "system", "other", "medium")]
    assert events[0].description.startswith(
        "The vehicle moved outside its driver's shifts: 21 minutes of movement between")
    assert events[0].metadata["moving_minutes"] == 21
    assert datetime.fromisoformat(events[0].metadata["until"]) == at(20, 21)


def test_movement_of_an_unassigned_car_is_use_outside_shift(
    world: tuple[RecData, Actor, Gps],
) -> None:
    data, actor, gps = world
    car = gps.vehicle()
    gps.track(car, at(3, 0), 4, PARIS, NORTH)

    result = run(data, actor)

    assert items(data.session, result.id) == []
    assert result.outside_shift_count == 1
    events = data.session.execute(text(
        "SELECT vehicle_id, driver_id, description, metadata FROM flt_vehicle_events"
        " WHERE external_event_id LIKE 'outside-shift:%'")).all()
    assert [(e.vehicle_id, e.driver_id, e.metadata["moving_minutes"]) for e in events] == [
        (car, None, 4)]
    assert "assigned to nobody" in events[0].description


def test_another_tenants_track_is_never_read(world: tuple[RecData, Actor, Gps]) -> None:
    data, actor, gps = world
    mine = gps.vehicle()
    # Tenant B: a car driving at night with nobody assigned (its own run would list it).
    other_tenant = new_tenant(data.session)
    bind_context(data.session, DbContext.for_tenant(other_tenant))
    theirs = Gps(data.session, other_tenant)
    their_car = theirs.vehicle()
    theirs.track(their_car, at(3, 0), 30, PARIS, NORTH)
    # A trip of ours naming B's car id cannot exist (composite reference): ours has no GPS.
    bind_context(data.session, DbContext.for_tenant(data.tenant_id))
    trip(data, "mine", mine, None, at(3, 0), at(3, 20), PARIS, NORTH)

    result = run(data, actor)

    assert items(data.session, result.id) == []
    assert result.outside_shift_count == 0
    assert data.session.scalar(text("SELECT count(*) FROM flt_vehicle_events")) == 0
    assert data.session.scalar(text("SELECT count(*) FROM flt_gps_track")) == 0


def test_the_track_is_bounded_by_the_nightly_purge(world: tuple[RecData, Actor, Gps]) -> None:
    data, _actor, gps = world
    car = gps.vehicle()
    gps.track(car, at(8), 3, PARIS, NORTH)
    gps.track(car, at(8) + timedelta(days=3), 2, PARIS, NORTH)
    bind_context(data.session, DbContext.system())  # the job's context: every tenant

    deleted = purge_gps_track(data.session, keep_days=2, now=at(9) + timedelta(days=4))

    bind_context(data.session, DbContext.for_tenant(data.tenant_id))
    assert deleted == 3
    assert data.session.scalar(text("SELECT count(*) FROM flt_gps_track")) == 2
