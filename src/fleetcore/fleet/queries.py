"""Read-only, set-based queries of the fleet the console shows: vehicle labels and choices,
who has which vehicle now, the dashboard's fleet counts and daily utilisation.

Reads only (no writes, no business rule), like ``filters.py``: each runs under the request's
row-level security and names the tenant as well, and answers for a whole page at once (one
statement for any number of rows), so no page runs a query per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.choices import Choice
from fleetcore.drivers.models import Driver, DriverStatus
from fleetcore.fleet.filters import AssignmentFilter
from fleetcore.fleet.models import AssignmentStatus, Vehicle, VehicleAssignment, VehicleStatus
from fleetcore.fleet.service import assignments_query
from fleetcore.reference.models import CarMake, CarModel


def vehicle_labels(session: Session, tenant_id: uuid.UUID,
                   ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``plate · make model`` of each vehicle id (deleted ones included: history shows them)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Vehicle.id, Vehicle.licence_plate, CarMake.name, CarModel.name)
        .outerjoin(CarMake, CarMake.id == Vehicle.make_id)
        .outerjoin(CarModel, CarModel.id == Vehicle.model_id)
        .where(Vehicle.tenant_id == tenant_id, Vehicle.id.in_(list(ids)))
    )
    return {vid: " · ".join(p for p in (plate, " ".join(n for n in (make, model) if n)) if p)
            for vid, plate, make, model in rows}


@dataclass(frozen=True, slots=True)
class Custody:
    """Who has a vehicle now (or who has which vehicle)."""

    assignment_id: uuid.UUID
    vehicle_id: uuid.UUID
    driver_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime | None


def current_custody(session: Session, tenant_id: uuid.UUID, at: datetime, *,
                    vehicle_ids: Collection[uuid.UUID] | None = None,
                    driver_ids: Collection[uuid.UUID] | None = None) -> list[Custody]:
    """The live assignments covering ``at`` for the given vehicles or drivers, in one query.

    The set-based sibling of ``fleet.service.custodian`` (one vehicle).
    """
    stmt = select(VehicleAssignment.id, VehicleAssignment.vehicle_id,
                  VehicleAssignment.driver_id, VehicleAssignment.starts_at,
                  VehicleAssignment.ends_at).where(
        VehicleAssignment.tenant_id == tenant_id, VehicleAssignment.deleted_at.is_(None),
        VehicleAssignment.status != AssignmentStatus.CANCELLED.value,
        VehicleAssignment.starts_at <= at,
        or_(VehicleAssignment.ends_at.is_(None), VehicleAssignment.ends_at > at))
    if vehicle_ids is not None:
        if not vehicle_ids:
            return []
        stmt = stmt.where(VehicleAssignment.vehicle_id.in_(list(vehicle_ids)))
    if driver_ids is not None:
        if not driver_ids:
            return []
        stmt = stmt.where(VehicleAssignment.driver_id.in_(list(driver_ids)))
    return [Custody(*row) for row in session.execute(stmt)]


def vehicle_choices(session: Session, tenant_id: uuid.UUID, *,
                    status: str | None = VehicleStatus.ACTIVE.value) -> list[Choice]:
    """The live vehicles (active ones by default) to pick from, by plate."""
    stmt = (select(Vehicle.id, Vehicle.licence_plate, CarMake.name, CarModel.name)
            .outerjoin(CarMake, CarMake.id == Vehicle.make_id)
            .outerjoin(CarModel, CarModel.id == Vehicle.model_id)
            .where(Vehicle.tenant_id == tenant_id, Vehicle.deleted_at.is_(None))
            .order_by(Vehicle.licence_plate))
    if status is not None:
        stmt = stmt.where(Vehicle.status == status)
    return [Choice(vid, f"{plate} · {' '.join(n for n in (make, model) if n)}")
            for vid, plate, make, model in session.execute(stmt)]


@dataclass(frozen=True, slots=True)
class FleetCounts:
    """Headline numbers of the dashboard."""

    vehicles: int
    active_vehicles: int
    drivers: int
    active_drivers: int
    assigned_vehicles: int


def fleet_counts(session: Session, tenant_id: uuid.UUID, at: datetime) -> FleetCounts:
    """Vehicles and drivers (all live, and active) and vehicles in custody now: one query."""
    live_vehicle = (Vehicle.tenant_id == tenant_id, Vehicle.deleted_at.is_(None))
    live_driver = (Driver.tenant_id == tenant_id, Driver.deleted_at.is_(None))
    assigned = select(func.count(func.distinct(VehicleAssignment.vehicle_id))).where(
        VehicleAssignment.tenant_id == tenant_id, VehicleAssignment.deleted_at.is_(None),
        VehicleAssignment.status != AssignmentStatus.CANCELLED.value,
        VehicleAssignment.starts_at <= at,
        or_(VehicleAssignment.ends_at.is_(None), VehicleAssignment.ends_at > at),
    )
    row = session.execute(select(
        select(func.count()).where(*live_vehicle).scalar_subquery(),
        select(func.count()).where(*live_vehicle, Vehicle.status == VehicleStatus.ACTIVE.value)
        .scalar_subquery(),
        select(func.count()).where(*live_driver).scalar_subquery(),
        select(func.count()).where(*live_driver, Driver.status == DriverStatus.ACTIVE.value)
        .scalar_subquery(),
        assigned.scalar_subquery(),
    )).one()
    return FleetCounts(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))


@dataclass(frozen=True, slots=True)
class DayUtilisation:
    """How much of the fleet was in drivers' hands on one day."""

    day: date
    assigned: int
    fleet: int

    @property
    def percent(self) -> float:
        """Assigned vehicles as a share of the fleet that day (0 to 100)."""
        return 100.0 * self.assigned / self.fleet if self.fleet else 0.0


_UTILISATION = text(
    """
    WITH days AS (
        SELECT d::date AS day,
               (d::date)::timestamp AT TIME ZONE :tz AS day_start,
               (d::date + 1)::timestamp AT TIME ZONE :tz AS day_end
          FROM generate_series(CAST(:first AS date), CAST(:last AS date),
                               interval '1 day') AS d
    )
    SELECT days.day,
           (SELECT count(DISTINCT a.vehicle_id)
              FROM flt_vehicle_assignments a
             WHERE a.tenant_id = :tenant_id AND a.deleted_at IS NULL
               AND a.status <> 'cancelled'
               AND a.starts_at < days.day_end
               AND (a.ends_at IS NULL OR a.ends_at > days.day_start)) AS assigned,
           (SELECT count(*)
              FROM flt_vehicles v
             WHERE v.tenant_id = :tenant_id AND v.deleted_at IS NULL
               AND v.status NOT IN ('retired', 'sold')
               AND (v.acquired_on IS NULL OR v.acquired_on <= days.day)) AS fleet
      FROM days
     ORDER BY days.day
    """
)


def daily_utilisation(session: Session, tenant_id: uuid.UUID, timezone: str, first: date,
                      last: date) -> list[DayUtilisation]:
    """Per day: vehicles with a live assignment during the day / vehicles in the fleet then
    (live, not retired or sold, acquired by that day), in one statement."""
    rows = session.execute(_UTILISATION, {"tenant_id": tenant_id, "tz": timezone,
                                          "first": first, "last": last})
    return [DayUtilisation(r.day, int(r.assigned), int(r.fleet)) for r in rows]


def assignments_between(session: Session, actor: Actor, vehicle_ids: Collection[uuid.UUID],
                        since: datetime, until: datetime) -> list[VehicleAssignment]:
    """The vehicles' assignments (not cancelled) overlapping ``[since, until)``: the service's
    assignment query, one statement (the calendar)."""
    if not vehicle_ids:
        return []
    stmt = assignments_query(actor, AssignmentFilter(since=since, until=until)).where(
        VehicleAssignment.vehicle_id.in_(list(vehicle_ids)),
        VehicleAssignment.status != AssignmentStatus.CANCELLED.value)
    return list(session.scalars(stmt))


# --- the driver portal (one driver's own rows) ----------------------------------------------


def driver_current_cars(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID
                        ) -> list[Any]:
    """The driver's car now (plate, since when, odometer out): at most one row."""
    return list(session.execute(text("""
        SELECT v.licence_plate, a.starts_at, a.odometer_out_km
          FROM flt_vehicle_assignments a
          JOIN flt_vehicles v ON v.tenant_id = a.tenant_id AND v.id = a.vehicle_id
         WHERE a.tenant_id = :t AND a.driver_id = :d AND a.deleted_at IS NULL
           AND a.status = 'active' AND a.starts_at <= now()
           AND (a.ends_at IS NULL OR a.ends_at > now())
         ORDER BY a.starts_at DESC LIMIT 1"""),
        {"t": tenant_id, "d": driver_id}).all())


def vehicles_to_change_to(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID
                          ) -> list[Any]:
    """The cars a driver's vehicle change may ask for (plates only): the fleet's cars in
    service, not the one the driver drives now."""
    return list(session.execute(text("""
        SELECT v.id, v.licence_plate FROM flt_vehicles v
         WHERE v.tenant_id = :t AND v.deleted_at IS NULL AND v.status = 'active'
           AND NOT EXISTS (
                 SELECT 1 FROM flt_vehicle_assignments a
                  WHERE a.tenant_id = v.tenant_id AND a.vehicle_id = v.id
                    AND a.driver_id = :d AND a.deleted_at IS NULL AND a.status <> 'cancelled'
                    AND a.starts_at <= now() AND (a.ends_at IS NULL OR a.ends_at > now()))
         ORDER BY v.licence_plate LIMIT 500"""),
        {"t": tenant_id, "d": driver_id}).all())
