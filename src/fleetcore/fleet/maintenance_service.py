"""Odometer readings, maintenance schedules and maintenance records: the business rules.

Odometer (workflows.md, "Vehicles…" 4)
    A vehicle's current odometer is its latest *trusted* reading: not superseded by a correction
    and not an unconfirmed anomaly. Readings never go backwards: a new reading must be at least
    the latest trusted reading at or before its time and at most the earliest trusted one after
    it (a back-dated reading sits between its neighbours), or it is refused with 409 naming the
    value it contradicts. The only way down is an explicit correction: a reading that names the
    reading it corrects (``corrects_reading_id``, once per reading — correct the correction to
    amend again) and gives a reason; it takes the corrected reading's place and time.

    A reading is implausible (stored with ``is_anomaly`` and a reason, kept out of the current
    odometer and due forecasts until confirmed with ``POST …/confirm``) when, since the previous
    trusted reading:

    * the distance exceeds what a car can drive: :data:`MAX_KM_PER_DAY` km per 24 h of elapsed
      time (elapsed time counted as at least :data:`MIN_ELAPSED`, so two readings a minute apart
      may differ by a normal short trip), or
    * it is far above the vehicle's usual daily use: more than :data:`USUAL_USE_FACTOR` times its
      average km/day over the previous :data:`USUAL_USE_WINDOW` (measured over at least
      :data:`USUAL_USE_MIN_SPAN` of trusted readings) *and* more than
      :data:`USUAL_USE_MIN_EXCESS_KM` km beyond what that usual use explains.

    The correction's reason is kept in ``anomaly_reason`` (the table has no separate column; the
    API shows it as ``correction_reason``), a correction is trusted by construction.

Maintenance schedules
    ``next_due_km = last_done_km + interval_km`` and ``next_due_on = last_done_on +
    interval_days``; a schedule never done counts from its creation (today, current odometer).
    Status, from the tenant's today and the current trusted odometer: ``overdue`` when past the
    due date or beyond the due km; ``due_soon`` within ``reminder_lead_days`` /
    ``reminder_lead_km`` of either; else ``ok``. Completing a maintenance record records an
    odometer reading (source ``maintenance``) and advances its schedule in the same transaction.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import Session, aliased

from fleetcore.admin.models import Tenant
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import (
    Conflict,
    ConstraintProblem,
    NotFound,
    ValidationProblem,
    flush_checked,
)
from fleetcore.core.pagination import (
    PageParams,
    decode_cursor,
    encode_cursor,
    equal_filters,
    keyset_page,
    range_filter,
)
from fleetcore.core.resource import check_transition
from fleetcore.core.versioning import check_if_match, refresh_version
from fleetcore.fleet.maintenance_schemas import (
    DueStatus,
    MaintenanceComplete,
    MaintenanceCreate,
    MaintenanceUpdate,
    OdometerReadingCreate,
    ScheduleCreate,
    ScheduleUpdate,
)
from fleetcore.fleet.models import (
    MaintenanceSchedule,
    MaintenanceStatus,
    OdometerReading,
    OdometerSource,
    Vehicle,
    VehicleMaintenance,
)

MAX_KM_PER_DAY = Decimal(1500)
"""More than this per 24 h is beyond what a car can drive (two drivers, motorway, all day)."""
MIN_ELAPSED = timedelta(hours=2)
"""Elapsed time below this counts as this much for the physical limit (125 km)."""
USUAL_USE_WINDOW = timedelta(days=90)
"""How far back the vehicle's usual daily use is measured."""
USUAL_USE_MIN_SPAN = timedelta(days=14)
"""Usual use is only judged from at least this much reading history."""
USUAL_USE_FACTOR = Decimal(4)
"""A rate above this multiple of the usual km/day is implausible…"""
USUAL_USE_MIN_EXCESS_KM = Decimal(500)
"""…when it also exceeds what the usual use explains by more than this."""
FUTURE_TOLERANCE = timedelta(minutes=5)
"""Clock skew allowed for a reading taken "now" on another device."""

# --- helpers -------------------------------------------------------------------------------


def _tenant_zone(session: Session, tenant_id: uuid.UUID) -> zoneinfo.ZoneInfo:
    name = session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def tenant_today(session: Session, tenant_id: uuid.UUID) -> date:
    """Today's date in the tenant's time zone."""
    return datetime.now(_tenant_zone(session, tenant_id)).date()


def _invalid(field: str, message: str) -> ValidationProblem:
    return ValidationProblem(message, errors=[{"field": field, "message": message}])


_CORRECTED_TWICE = {"corrects_reading_id": ConstraintProblem(
    "corrects_reading_id", "That reading was already corrected: correct the correction.")}
"""A race past the "already corrected" check: one correction per reading."""


def _flush(session: Session, known: Mapping[str, ConstraintProblem] | None = None) -> None:
    """Flush in a savepoint; a constraint violation becomes a 409/422 naming the field."""
    flush_checked(session, known)


def _vehicle(
    session: Session, tenant_id: uuid.UUID, vehicle_id: uuid.UUID, *, field: str | None = None,
    lock: bool = False,
) -> Vehicle:
    """A live vehicle of the tenant; 404 (path) or 422 naming ``field`` (body) otherwise."""
    stmt = select(Vehicle).where(Vehicle.tenant_id == tenant_id, Vehicle.id == vehicle_id,
                                 Vehicle.deleted_at.is_(None))
    vehicle = session.scalar(stmt.with_for_update() if lock else stmt)
    if vehicle is None:
        if field:
            raise _invalid(field, "No such vehicle in this fleet.")
        raise NotFound("No such vehicle.")
    return vehicle


# --- odometer ------------------------------------------------------------------------------


def _trusted(r: type[OdometerReading] | Any) -> ColumnElement[bool]:
    """Not an unconfirmed anomaly and not superseded by a correction."""
    c = aliased(OdometerReading)
    return and_(
        or_(r.is_anomaly.is_(False), r.confirmed_at.is_not(None)),
        ~exists().where(c.tenant_id == r.tenant_id, c.corrects_reading_id == r.id),
    )


def _latest_trusted_km(tenant_id: Any, vehicle_id: Any) -> Select[Decimal, datetime]:
    r = aliased(OdometerReading)
    return (
        select(r.odometer_km, r.read_at)
        .where(r.tenant_id == tenant_id, r.vehicle_id == vehicle_id, _trusted(r))
        .order_by(r.read_at.desc(), r.id.desc())
        .limit(1)
    )


def current_odometer(session: Session, vehicle_id: uuid.UUID) -> Decimal | None:
    """The vehicle's current odometer km (latest trusted reading), None without readings.

    Scoped by the session's tenant (RLS). Used by assignment handovers and compliance.
    """
    r = aliased(OdometerReading)
    return session.scalar(
        select(r.odometer_km).where(r.vehicle_id == vehicle_id, _trusted(r))
        .order_by(r.read_at.desc(), r.id.desc()).limit(1)
    )


def _neighbour(
    session: Session, tenant_id: uuid.UUID, vehicle_id: uuid.UUID, at: datetime, *,
    before: bool,
) -> OdometerReading | None:
    r = OdometerReading
    stmt = select(r).where(r.tenant_id == tenant_id, r.vehicle_id == vehicle_id, _trusted(r))
    if before:
        stmt = stmt.where(r.read_at <= at).order_by(r.read_at.desc(), r.id.desc())
    else:
        stmt = stmt.where(r.read_at > at).order_by(r.read_at.asc(), r.id.asc())
    return session.scalar(stmt.limit(1))


def _anomaly_reason(
    session: Session, tenant_id: uuid.UUID, vehicle_id: uuid.UUID, previous: OdometerReading,
    km: Decimal, at: datetime,
) -> str | None:
    """Why ``km`` at ``at`` is implausible after ``previous`` (None when plausible)."""
    delta = km - previous.odometer_km
    if delta <= 0:
        return None
    elapsed = at - previous.read_at
    physical_days = Decimal(max(elapsed, MIN_ELAPSED).total_seconds()) / Decimal(86400)
    rate = delta / physical_days
    if rate > MAX_KM_PER_DAY:
        return (f"{delta} km in {_human(elapsed)} since the reading of "
                f"{previous.read_at.isoformat()} ({rate:.0f} km/day; a car cannot drive more "
                f"than {MAX_KM_PER_DAY} km/day).")
    r = OdometerReading
    base = session.scalar(
        select(r).where(r.tenant_id == tenant_id, r.vehicle_id == vehicle_id, _trusted(r),
                        r.read_at >= previous.read_at - USUAL_USE_WINDOW,
                        r.read_at <= previous.read_at - USUAL_USE_MIN_SPAN)
        .order_by(r.read_at.asc(), r.id.asc()).limit(1)
    )
    if base is None:
        return None
    span_days = Decimal((previous.read_at - base.read_at).total_seconds()) / Decimal(86400)
    usual = (previous.odometer_km - base.odometer_km) / span_days
    days = Decimal(max(elapsed, timedelta(days=1)).total_seconds()) / Decimal(86400)
    if delta / days > USUAL_USE_FACTOR * usual and delta - usual * days > USUAL_USE_MIN_EXCESS_KM:
        return (f"{delta} km in {_human(elapsed)} ({delta / days:.0f} km/day) is far above this "
                f"vehicle's usual {usual:.0f} km/day.")
    return None


def _human(elapsed: timedelta) -> str:
    hours = elapsed.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def record_odometer_reading(
    session: Session, actor: Actor | None, *, vehicle_id: uuid.UUID, data: OdometerReadingCreate,
    tenant_id: uuid.UUID | None = None,
) -> OdometerReading:
    """Record a reading (refused if it goes backwards unless it is a correction; flagged if
    implausible).

    Call it from other services (e.g. an assignment handover) as::

        record_odometer_reading(session, actor, vehicle_id=vehicle.id,
                                data=OdometerReadingCreate(odometer_km=km, read_at=at,
                                                           source=OdometerSource.HANDOVER))

    ``actor`` may be None for system/integration callers, who then pass ``tenant_id``. Raises
    NotFound (vehicle), Conflict (backwards: ``errors[0].field == "odometer_km"`` and the
    contradicted value in ``latest_odometer_km``), ValidationProblem (future time, correction
    without reason). Locks the vehicle row, flushes, never commits.
    """
    tenant = tenant_id if tenant_id is not None or actor is None else tenant_of(actor)
    if tenant is None:
        raise NotFound("No tenant is open.")
    _vehicle(session, tenant, vehicle_id, lock=True)
    now = datetime.now(UTC)
    actor_id = actor.id if actor is not None else None
    if data.read_at is not None and data.read_at > now + FUTURE_TOLERANCE:
        raise _invalid("read_at", "A reading cannot be taken in the future.")
    reading = OdometerReading(
        tenant_id=tenant, vehicle_id=vehicle_id, odometer_km=data.odometer_km,
        source=data.source.value, recorded_by=actor_id, created_by=actor_id,
        updated_by=actor_id,
    )
    if data.corrects_reading_id is not None:
        if not data.reason:
            raise _invalid("reason", "A correction needs a reason.")
        target = session.scalar(select(OdometerReading).where(
            OdometerReading.tenant_id == tenant, OdometerReading.id == data.corrects_reading_id,
            OdometerReading.vehicle_id == vehicle_id))
        if target is None:
            raise _invalid("corrects_reading_id", "No such reading of this vehicle.")
        corrected_by = session.scalar(select(OdometerReading.id).where(
            OdometerReading.tenant_id == tenant,
            OdometerReading.corrects_reading_id == target.id))
        if corrected_by is not None:
            raise Conflict(
                f"That reading was already corrected by {corrected_by}: correct the correction.",
                errors=[{"field": "corrects_reading_id", "message": "already corrected"}],
                correction_id=str(corrected_by))
        reading.corrects_reading_id = target.id
        reading.read_at = data.read_at or target.read_at
        reading.anomaly_reason = data.reason
        session.add(reading)
        _flush(session, _CORRECTED_TWICE)
        return reading

    at = data.read_at or now
    reading.read_at = at
    previous = _neighbour(session, tenant, vehicle_id, at, before=True)
    following = _neighbour(session, tenant, vehicle_id, at, before=False)
    if previous is not None and data.odometer_km < previous.odometer_km:
        raise Conflict(
            f"The odometer cannot go backwards: the latest reading is {previous.odometer_km} km "
            f"({previous.read_at.isoformat()}). Send a correction (corrects_reading_id and "
            "reason) if that reading was wrong.",
            errors=[{"field": "odometer_km",
                     "message": f"below the latest reading {previous.odometer_km} km"}],
            latest_odometer_km=str(previous.odometer_km), latest_reading_id=str(previous.id))
    if following is not None and data.odometer_km > following.odometer_km:
        raise Conflict(
            f"A later reading ({following.read_at.isoformat()}) shows {following.odometer_km} km, "
            f"less than {data.odometer_km} km: correct that reading first.",
            errors=[{"field": "odometer_km",
                     "message": f"above the later reading {following.odometer_km} km"}],
            latest_odometer_km=str(following.odometer_km), latest_reading_id=str(following.id))
    if previous is not None:
        reason = _anomaly_reason(session, tenant, vehicle_id, previous, data.odometer_km, at)
        if reason:
            reading.is_anomaly = True
            reading.anomaly_reason = reason
    session.add(reading)
    _flush(session)
    return reading


GPS_READING_SPACING = timedelta(minutes=15)
"""A GPS fix becomes a reading only when the vehicle has no GPS reading this close to it."""


def gps_reading_due(
    session: Session, tenant_id: uuid.UUID, vehicle_id: uuid.UUID, at: datetime
) -> bool:
    """No GPS reading of the vehicle lies within :data:`GPS_READING_SPACING` of ``at``."""
    r = OdometerReading
    return session.scalar(select(r.id).where(
        r.tenant_id == tenant_id, r.vehicle_id == vehicle_id,
        r.source == OdometerSource.GPS.value,
        r.read_at > at - GPS_READING_SPACING, r.read_at < at + GPS_READING_SPACING,
    ).limit(1)) is None


def record_gps_odometer_reading(
    session: Session, *, tenant_id: uuid.UUID, vehicle_id: uuid.UUID, odometer_km: Decimal,
    read_at: datetime,
) -> OdometerReading | None:
    """Keep a GPS odometer fix as a reading (None when not due or the car has not moved).

    Forwarded positions are many, duplicated and out of order: a fix is kept only when no GPS
    reading lies within :data:`GPS_READING_SPACING` of it and the odometer moved since the
    reading before it. A fix that contradicts its neighbours (below an earlier reading, above a
    later one — manual, handover, maintenance or platform alike) or that is implausible is
    kept flagged (``is_anomaly`` with the reason), never refused and never overwriting the
    other reading: staff confirm it or correct the wrong one. Locks the vehicle row (so two
    fixes of one car are judged one after the other), flushes, never commits.
    """
    if read_at > datetime.now(UTC) + FUTURE_TOLERANCE:
        return None
    # Most fixes are not due: say so without taking the lock; decide again under it.
    if not gps_reading_due(session, tenant_id, vehicle_id, read_at):
        return None
    _vehicle(session, tenant_id, vehicle_id, lock=True)
    if not gps_reading_due(session, tenant_id, vehicle_id, read_at):
        return None
    previous = _neighbour(session, tenant_id, vehicle_id, read_at, before=True)
    following = _neighbour(session, tenant_id, vehicle_id, read_at, before=False)
    if previous is not None and previous.odometer_km == odometer_km:
        return None
    reason: str | None = None
    if previous is not None and odometer_km < previous.odometer_km:
        reason = (f"GPS reads {odometer_km} km, below the {previous.source} reading of "
                  f"{previous.odometer_km} km at {previous.read_at.isoformat()}.")
    elif following is not None and odometer_km > following.odometer_km:
        reason = (f"GPS reads {odometer_km} km, above the later {following.source} reading of "
                  f"{following.odometer_km} km at {following.read_at.isoformat()}.")
    elif previous is not None:
        reason = _anomaly_reason(session, tenant_id, vehicle_id, previous, odometer_km, read_at)
    reading = OdometerReading(
        tenant_id=tenant_id, vehicle_id=vehicle_id, odometer_km=odometer_km, read_at=read_at,
        source=OdometerSource.GPS.value, is_anomaly=reason is not None, anomaly_reason=reason,
    )
    session.add(reading)
    _flush(session)
    return reading


def _reading(
    session: Session, tenant_id: uuid.UUID, vehicle_id: uuid.UUID, reading_id: uuid.UUID
) -> OdometerReading:
    reading = session.scalar(select(OdometerReading).where(
        OdometerReading.tenant_id == tenant_id, OdometerReading.vehicle_id == vehicle_id,
        OdometerReading.id == reading_id))
    if reading is None:
        raise NotFound("No such odometer reading.")
    return reading


def get_odometer_reading(
    session: Session, actor: Actor, *, vehicle_id: uuid.UUID, reading_id: uuid.UUID
) -> OdometerReading:
    """One reading of a live vehicle, or 404."""
    tenant = tenant_of(actor)
    _vehicle(session, tenant, vehicle_id)
    return _reading(session, tenant, vehicle_id, reading_id)


def confirm_odometer_reading(
    session: Session, actor: Actor, *, vehicle_id: uuid.UUID, reading_id: uuid.UUID
) -> OdometerReading:
    """Confirm a flagged reading, so it counts for the current odometer and forecasts."""
    tenant = tenant_of(actor)
    _vehicle(session, tenant, vehicle_id, lock=True)
    reading = _reading(session, tenant, vehicle_id, reading_id)
    if not reading.is_anomaly:
        raise Conflict("Only a reading flagged as an anomaly needs confirming.")
    if reading.confirmed_at is None:
        reading.confirmed_at = datetime.now(UTC)
        reading.confirmed_by = actor.id
        reading.updated_by = actor.id
        refresh_version(session, reading)
    return reading


def odometer_readings_query(
    session: Session, actor: Actor, *, vehicle_id: uuid.UUID, source: str | None = None,
    anomalies: bool | None = None, since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    """A vehicle's readings, filtered (list and CSV export); 404 when the vehicle is not the
    tenant's."""
    tenant = tenant_of(actor)
    _vehicle(session, tenant, vehicle_id)
    stmt = equal_filters(
        select(OdometerReading).where(OdometerReading.tenant_id == tenant,
                                      OdometerReading.vehicle_id == vehicle_id),
        {OdometerReading.source: source, OdometerReading.is_anomaly: anomalies},
    )
    return range_filter(stmt, OdometerReading.read_at, since=since, until=until)


def list_odometer_readings(
    session: Session, actor: Actor, params: PageParams, *, vehicle_id: uuid.UUID,
    source: str | None = None, anomalies: bool | None = None, since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[OdometerReading], str | None]:
    """A vehicle's readings, newest first."""
    stmt = odometer_readings_query(session, actor, vehicle_id=vehicle_id, source=source,
                                   anomalies=anomalies, since=since, until=until)
    return keyset_page(session, stmt, [OdometerReading.read_at, OdometerReading.id], params,
                       descending=True)


def correction_id_of_reading() -> ScalarSelect[Any]:
    """Correlated subquery: the id of the reading that corrects each reading (exports; the
    paged list asks :func:`corrections_of` once per page instead)."""
    correction = aliased(OdometerReading)
    return (
        select(correction.id)
        .where(correction.tenant_id == OdometerReading.tenant_id,
               correction.corrects_reading_id == OdometerReading.id)
        .limit(1)
        .scalar_subquery()
    )


def corrections_of(
    session: Session, tenant_id: uuid.UUID, reading_ids: list[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Corrected reading id → its correction's id, for a page of readings (one query)."""
    if not reading_ids:
        return {}
    rows = session.execute(select(OdometerReading.corrects_reading_id, OdometerReading.id).where(
        OdometerReading.tenant_id == tenant_id,
        OdometerReading.corrects_reading_id.in_(reading_ids)))
    return {corrected: correction for corrected, correction in rows if corrected is not None}


# --- maintenance schedules -----------------------------------------------------------------


def _plus_km(km: Decimal | None, interval: int | None) -> Decimal | None:
    return km + interval if km is not None and interval is not None else None


def _plus_days(on: date | None, interval: int | None) -> date | None:
    return on + timedelta(days=interval) if on is not None and interval is not None else None


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """A schedule with what its status is computed from."""

    schedule: MaintenanceSchedule
    current_odometer_km: Decimal | None
    due_status: DueStatus


def _with_status(tenant_id: uuid.UUID, today: date) -> Select[Any]:
    """Schedules, each with its vehicle's current trusted odometer (LATERAL) and due status."""
    s = MaintenanceSchedule
    latest = _latest_trusted_km(s.tenant_id, s.vehicle_id).lateral("current_odometer")
    km = latest.c.odometer_km
    overdue = or_(
        and_(s.next_due_on.is_not(None), s.next_due_on < today),
        and_(s.next_due_km.is_not(None), km.is_not(None), km > s.next_due_km),
    )
    soon = or_(
        and_(s.next_due_on.is_not(None),
             s.next_due_on <= literal(today) + _coalesce0(s.reminder_lead_days)),
        and_(s.next_due_km.is_not(None), km.is_not(None),
             km >= s.next_due_km - _coalesce0(s.reminder_lead_km)),
    )
    status = case((overdue, DueStatus.OVERDUE.value), (soon, DueStatus.DUE_SOON.value),
                  else_=DueStatus.OK.value).label("due_status")
    return (
        select(s, km.label("current_odometer_km"), status)
        .outerjoin(latest, true())
        .where(s.tenant_id == tenant_id)
    )


def _coalesce0(column: Any) -> Any:
    return func.coalesce(column, 0)


def _views(rows: Any) -> list[ScheduleView]:
    return [ScheduleView(s, km, DueStatus(status)) for s, km, status in rows]


def _schedule(
    session: Session, tenant_id: uuid.UUID, schedule_id: uuid.UUID, *, field: str | None = None,
    lock: bool = False, include_deleted: bool = False,
) -> MaintenanceSchedule:
    stmt = select(MaintenanceSchedule).where(MaintenanceSchedule.tenant_id == tenant_id,
                                             MaintenanceSchedule.id == schedule_id)
    if not include_deleted:
        stmt = stmt.where(MaintenanceSchedule.deleted_at.is_(None))
    schedule = session.scalar(stmt.with_for_update() if lock else stmt)
    if schedule is None:
        if field:
            raise _invalid(field, "No such maintenance schedule in this fleet.")
        raise NotFound("No such maintenance schedule.")
    return schedule


def schedule_view(
    session: Session, actor: Actor, schedule_id: uuid.UUID, *, today: date | None = None
) -> ScheduleView:
    """One live schedule with its current odometer and due status, or 404."""
    tenant = tenant_of(actor)
    today = today or tenant_today(session, tenant)
    rows = session.execute(_with_status(tenant, today).where(
        MaintenanceSchedule.id == schedule_id, MaintenanceSchedule.deleted_at.is_(None)))
    views = _views(rows)
    if not views:
        raise NotFound("No such maintenance schedule.")
    return views[0]


def _page_views(
    session: Session, stmt: Select[Any], params: PageParams
) -> tuple[list[ScheduleView], str | None]:
    s = MaintenanceSchedule
    if params.cursor:
        (after,) = decode_cursor(params.cursor, 1)
        stmt = stmt.where(tuple_(s.id) > tuple_(after))
    views = _views(session.execute(stmt.limit(params.limit + 1)))
    cursor = None
    if len(views) > params.limit:
        views = views[: params.limit]
        cursor = encode_cursor([views[-1].schedule.id])
    return views, cursor


def schedules_query(
    session: Session, actor: Actor, *, vehicle_id: uuid.UUID | None = None,
    maintenance_type: str | None = None, active: bool | None = None,
    due_status: list[str] | None = None, include_deleted: bool = False,
    today: date | None = None,
) -> Select[Any]:
    """Schedules with their due status, filtered, by id (the list and its CSV export)."""
    tenant = tenant_of(actor)
    today = today or tenant_today(session, tenant)
    s = MaintenanceSchedule
    stmt = equal_filters(_with_status(tenant, today), {
        s.vehicle_id: vehicle_id, s.maintenance_type: maintenance_type, s.active: active})
    if not include_deleted:
        stmt = stmt.where(s.deleted_at.is_(None))
    if due_status:
        stmt = stmt.where(stmt.selected_columns.due_status.in_(due_status))
    return stmt.order_by(s.id)


def list_schedules(
    session: Session, actor: Actor, params: PageParams, **filters: Any
) -> tuple[list[ScheduleView], str | None]:
    """Schedules with their due status (one query per page, the odometer by LATERAL join)."""
    return _page_views(session, schedules_query(session, actor, **filters), params)


def due_query(
    session: Session, actor: Actor, *, due_status: list[str] | None = None,
    vehicle_id: uuid.UUID | None = None, today: date | None = None,
) -> Select[Any]:
    """The fleet's active schedules of live vehicles that are due soon or overdue (or
    ``due_status``), by id: the due list and its CSV export."""
    tenant = tenant_of(actor)
    today = today or tenant_today(session, tenant)
    s = MaintenanceSchedule
    statuses = due_status or [DueStatus.DUE_SOON.value, DueStatus.OVERDUE.value]
    live_vehicle = exists().where(Vehicle.tenant_id == s.tenant_id, Vehicle.id == s.vehicle_id,
                                  Vehicle.deleted_at.is_(None))
    stmt = equal_filters(_with_status(tenant, today), {s.vehicle_id: vehicle_id}).where(
        s.deleted_at.is_(None), s.active.is_(True), live_vehicle)
    return stmt.where(stmt.selected_columns.due_status.in_(statuses)).order_by(s.id)


def maintenance_due(
    session: Session, actor: Actor, params: PageParams, *, due_status: list[str] | None = None,
    vehicle_id: uuid.UUID | None = None, today: date | None = None,
) -> tuple[list[ScheduleView], str | None]:
    """The fleet's active schedules that are due soon or overdue (or ``due_status``)."""
    return _page_views(session, due_query(session, actor, due_status=due_status,
                                          vehicle_id=vehicle_id, today=today), params)


def create_schedule(
    session: Session, actor: Actor, *, data: ScheduleCreate
) -> MaintenanceSchedule:
    """A maintenance plan; its next due km/date counts from the last service (or from now)."""
    tenant = tenant_of(actor)
    if data.interval_km is None and data.interval_days is None:
        raise _invalid("interval_km", "Give interval_km and/or interval_days.")
    _vehicle(session, tenant, data.vehicle_id, field="vehicle_id")
    today = tenant_today(session, tenant)
    if data.last_done_on is not None and data.last_done_on > today:
        raise _invalid("last_done_on", "The last service cannot be in the future.")
    basis_km = data.last_done_km
    if basis_km is None:
        basis_km = current_odometer(session, data.vehicle_id)
    schedule = MaintenanceSchedule(
        tenant_id=tenant, vehicle_id=data.vehicle_id,
        maintenance_type=data.maintenance_type.value, description=data.description,
        interval_km=data.interval_km, interval_days=data.interval_days,
        last_done_km=data.last_done_km, last_done_on=data.last_done_on,
        next_due_km=_plus_km(basis_km, data.interval_km),
        next_due_on=_plus_days(data.last_done_on or today, data.interval_days),
        reminder_lead_km=data.reminder_lead_km, reminder_lead_days=data.reminder_lead_days,
        active=data.active, created_by=actor.id, updated_by=actor.id,
    )
    session.add(schedule)
    _flush(session)
    return schedule


def update_schedule(
    session: Session, actor: Actor, schedule_id: uuid.UUID, *, data: ScheduleUpdate,
    if_match: str | None = None,
) -> MaintenanceSchedule:
    """Change a schedule's interval, leads or last service; its next due follows."""
    tenant = tenant_of(actor)
    schedule = _schedule(session, tenant, schedule_id, lock=True)
    check_if_match(if_match, schedule.version)
    fields = data.model_fields_set
    old_km, old_days = schedule.interval_km, schedule.interval_days
    for name in ("description", "interval_km", "interval_days", "last_done_km", "last_done_on",
                 "reminder_lead_km", "reminder_lead_days", "active"):
        if name in fields:
            value = getattr(data, name)
            if value is None and name == "active":
                raise _invalid(name, "active cannot be null.")
            setattr(schedule, name, value)
    if schedule.interval_km is None and schedule.interval_days is None:
        raise _invalid("interval_km", "A schedule needs interval_km and/or interval_days.")
    if schedule.last_done_on is not None and schedule.last_done_on > tenant_today(session, tenant):
        raise _invalid("last_done_on", "The last service cannot be in the future.")
    _recompute_next_due(schedule, old_km, old_days)
    schedule.updated_by = actor.id
    _flush(session)
    refresh_version(session, schedule)
    return schedule


def _recompute_next_due(
    schedule: MaintenanceSchedule, old_km: int | None, old_days: int | None
) -> None:
    """From the last service when known; else shift the first due by the interval change."""
    if schedule.last_done_km is not None:
        schedule.next_due_km = _plus_km(schedule.last_done_km, schedule.interval_km)
    elif schedule.interval_km is None:
        schedule.next_due_km = None
    elif schedule.next_due_km is not None and old_km is not None:
        schedule.next_due_km = schedule.next_due_km + (schedule.interval_km - old_km)
    if schedule.last_done_on is not None:
        schedule.next_due_on = _plus_days(schedule.last_done_on, schedule.interval_days)
    elif schedule.interval_days is None:
        schedule.next_due_on = None
    elif schedule.next_due_on is not None and old_days is not None:
        schedule.next_due_on = schedule.next_due_on + timedelta(
            days=schedule.interval_days - old_days)


def delete_schedule(
    session: Session, actor: Actor, schedule_id: uuid.UUID, *, reason: str | None = None,
    if_match: str | None = None,
) -> None:
    """Soft-delete a schedule (its records keep their link)."""
    schedule = _schedule(session, tenant_of(actor), schedule_id)
    check_if_match(if_match, schedule.version)
    schedule.mark_deleted(actor.id, reason)
    session.flush()


def restore_schedule(session: Session, actor: Actor, schedule_id: uuid.UUID) -> None:
    """Bring back a soft-deleted schedule."""
    schedule = _schedule(session, tenant_of(actor), schedule_id, include_deleted=True)
    if schedule.mark_restored(actor.id):
        _flush(session)


# --- maintenance records -------------------------------------------------------------------

_RECORD_TRANSITIONS: dict[str, set[str]] = {
    MaintenanceStatus.SCHEDULED.value: {MaintenanceStatus.IN_PROGRESS.value,
                                        MaintenanceStatus.CANCELLED.value},
    MaintenanceStatus.IN_PROGRESS.value: {MaintenanceStatus.SCHEDULED.value,
                                          MaintenanceStatus.CANCELLED.value},
    MaintenanceStatus.COMPLETED.value: set(),
    MaintenanceStatus.CANCELLED.value: {MaintenanceStatus.SCHEDULED.value},
}


def _record(
    session: Session, tenant_id: uuid.UUID, record_id: uuid.UUID, *, lock: bool = False,
    include_deleted: bool = False,
) -> VehicleMaintenance:
    stmt = select(VehicleMaintenance).where(VehicleMaintenance.tenant_id == tenant_id,
                                            VehicleMaintenance.id == record_id)
    if not include_deleted:
        stmt = stmt.where(VehicleMaintenance.deleted_at.is_(None))
    record = session.scalar(stmt.with_for_update() if lock else stmt)
    if record is None:
        raise NotFound("No such maintenance record.")
    return record


def get_maintenance(session: Session, actor: Actor, record_id: uuid.UUID) -> VehicleMaintenance:
    """One live maintenance record, or 404."""
    return _record(session, tenant_of(actor), record_id)


def get_schedule(session: Session, actor: Actor, schedule_id: uuid.UUID) -> MaintenanceSchedule:
    """One live maintenance schedule, or 404."""
    return _schedule(session, tenant_of(actor), schedule_id)


def maintenance_query(
    actor: Actor, *, vehicle_id: uuid.UUID | None = None, schedule_id: uuid.UUID | None = None,
    status: str | None = None, maintenance_type: str | None = None,
    scheduled_from: date | None = None, scheduled_to: date | None = None,
    include_deleted: bool = False,
) -> Select[Any]:
    """The filtered maintenance records (unpaged; for list and CSV export)."""
    m = VehicleMaintenance
    stmt = equal_filters(select(m).where(m.tenant_id == tenant_of(actor)), {
        m.vehicle_id: vehicle_id, m.schedule_id: schedule_id, m.status: status,
        m.maintenance_type: maintenance_type})
    stmt = range_filter(stmt, m.scheduled_on, since=scheduled_from, until=scheduled_to)
    if not include_deleted:
        stmt = stmt.where(m.deleted_at.is_(None))
    return stmt


def list_maintenance(
    session: Session, actor: Actor, params: PageParams, **filters: Any
) -> tuple[list[VehicleMaintenance], str | None]:
    """Maintenance records, filtered, by id."""
    return keyset_page(session, maintenance_query(actor, **filters), [VehicleMaintenance.id],
                       params)


def _check_off_road(starts: datetime | None, ends: datetime | None) -> None:
    if ends is not None and (starts is None or ends <= starts):
        raise _invalid("off_road_ends_at", "Must be after off_road_starts_at.")


def create_maintenance(
    session: Session, actor: Actor, *, data: MaintenanceCreate
) -> VehicleMaintenance:
    """A planned maintenance job, optionally fulfilling a schedule of the same vehicle."""
    tenant = tenant_of(actor)
    _vehicle(session, tenant, data.vehicle_id, field="vehicle_id")
    kind = data.maintenance_type.value if data.maintenance_type else None
    if data.schedule_id is not None:
        schedule = _schedule(session, tenant, data.schedule_id, field="schedule_id")
        if schedule.vehicle_id != data.vehicle_id:
            raise _invalid("schedule_id", "The schedule belongs to another vehicle.")
        if kind is not None and kind != schedule.maintenance_type:
            raise _invalid("maintenance_type",
                           f"The schedule is for {schedule.maintenance_type}, not {kind}.")
        kind = schedule.maintenance_type
    if kind is None:
        raise _invalid("maintenance_type", "Required without a schedule_id.")
    _check_off_road(data.off_road_starts_at, data.off_road_ends_at)
    cost = data.cost.to_money() if data.cost else None
    record = VehicleMaintenance(
        tenant_id=tenant, vehicle_id=data.vehicle_id, schedule_id=data.schedule_id,
        maintenance_type=kind, status=MaintenanceStatus.SCHEDULED.value,
        scheduled_on=data.scheduled_on, provider=data.provider, description=data.description,
        cost=cost.amount if cost else None, currency=cost.currency if cost else None,
        off_road_starts_at=data.off_road_starts_at, off_road_ends_at=data.off_road_ends_at,
        driver_at_fault=data.driver_at_fault, notes=data.notes,
        created_by=actor.id, updated_by=actor.id,
    )
    session.add(record)
    _flush(session)
    return record


def update_maintenance(
    session: Session, actor: Actor, record_id: uuid.UUID, *, data: MaintenanceUpdate,
    if_match: str | None = None,
) -> VehicleMaintenance:
    """Edit a maintenance job or move it between scheduled, in progress and cancelled."""
    record = _record(session, tenant_of(actor), record_id, lock=True)
    check_if_match(if_match, record.version)
    fields = data.model_fields_set
    if data.status is not None and data.status.value != record.status:
        if data.status is MaintenanceStatus.COMPLETED:
            raise Conflict("Complete a job with POST /v1/vehicle-maintenance/{id}/complete.",
                           errors=[{"field": "status", "message": "use the complete action"}])
        check_transition(record.status, data.status.value, _RECORD_TRANSITIONS, "job")
        record.status = data.status.value
    for name in ("scheduled_on", "provider", "description", "off_road_starts_at",
                 "off_road_ends_at", "driver_at_fault", "notes"):
        if name in fields:
            value = getattr(data, name)
            if value is None and name in ("scheduled_on", "driver_at_fault") \
                    and record.completed_on is None:
                raise _invalid(name, f"{name} cannot be null.")
            setattr(record, name, value)
    if "cost" in fields:
        cost = data.cost.to_money() if data.cost else None
        record.cost = cost.amount if cost else None
        record.currency = cost.currency if cost else None
    _check_off_road(record.off_road_starts_at, record.off_road_ends_at)
    record.updated_by = actor.id
    _flush(session)
    refresh_version(session, record)
    return record


def _reading_time(session: Session, tenant_id: uuid.UUID, on: date) -> datetime:
    """When a job completed on ``on`` read the odometer: now if today, else noon local."""
    zone = _tenant_zone(session, tenant_id)
    if on == datetime.now(zone).date():
        return datetime.now(UTC)
    return datetime.combine(on, time(12), tzinfo=zone)


def complete_maintenance(
    session: Session, actor: Actor, record_id: uuid.UUID, *, data: MaintenanceComplete,
    if_match: str | None = None,
) -> VehicleMaintenance:
    """Complete a job: record its odometer (source maintenance) and advance its schedule."""
    tenant = tenant_of(actor)
    record = _record(session, tenant, record_id, lock=True)
    check_if_match(if_match, record.version)
    if record.status not in (MaintenanceStatus.SCHEDULED.value,
                             MaintenanceStatus.IN_PROGRESS.value):
        raise Conflict(f"A {record.status} job cannot be completed.",
                       errors=[{"field": "status", "message": f"is {record.status}"}])
    if data.completed_on > tenant_today(session, tenant):
        raise _invalid("completed_on", "A job cannot be completed in the future.")
    record.status = MaintenanceStatus.COMPLETED.value
    record.completed_on = data.completed_on
    record.odometer_km = data.odometer_km
    if data.cost is not None:
        cost = data.cost.to_money()
        record.cost, record.currency = cost.amount, cost.currency
    if data.provider is not None:
        record.provider = data.provider
    if data.notes is not None:
        record.notes = data.notes
    reading = OdometerReadingCreate(
        odometer_km=data.odometer_km, read_at=_reading_time(session, tenant, data.completed_on),
        source=OdometerSource.MAINTENANCE)
    record_odometer_reading(session, actor, vehicle_id=record.vehicle_id, data=reading)
    if record.schedule_id is not None:
        schedule = _schedule(session, tenant, record.schedule_id, lock=True,
                             include_deleted=True)
        # Completing an older job late must not move the schedule back in time.
        if schedule.last_done_on is None or data.completed_on >= schedule.last_done_on:
            schedule.last_done_on = data.completed_on
            schedule.last_done_km = data.odometer_km
            schedule.next_due_on = _plus_days(data.completed_on, schedule.interval_days)
            schedule.next_due_km = _plus_km(data.odometer_km, schedule.interval_km)
            schedule.updated_by = actor.id
        record.next_due_km = schedule.next_due_km
        record.next_due_on = schedule.next_due_on
    record.updated_by = actor.id
    _flush(session)
    refresh_version(session, record)
    return record


def delete_maintenance(
    session: Session, actor: Actor, record_id: uuid.UUID, *, reason: str | None = None,
    if_match: str | None = None,
) -> None:
    """Soft-delete a maintenance record."""
    record = _record(session, tenant_of(actor), record_id)
    check_if_match(if_match, record.version)
    record.mark_deleted(actor.id, reason)
    session.flush()


def restore_maintenance(session: Session, actor: Actor, record_id: uuid.UUID) -> None:
    """Bring back a soft-deleted maintenance record."""
    record = _record(session, tenant_of(actor), record_id, include_deleted=True)
    if record.mark_restored(actor.id):
        _flush(session)
