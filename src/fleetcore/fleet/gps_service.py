"""GPS telemetry (Traccar forwarding): the tenant's token, devices, odometer and vehicle events.

Fleetcore keeps derived facts (workflows.md, GPS) and a bounded track: one point per vehicle
and minute (``flt_gps_track``, kept ``FLEETCORE_GPS_TRACK_DAYS``) to validate trips and draw the
live map; the full position history stays in Traccar.

Routing
    Traccar posts with ``Authorization: Bearer <token>``; the tenant is the one whose
    ``adm_tenants.traccar_token_sha256`` is the token's SHA-256 (looked up by the
    ``SECURITY DEFINER`` function ``tenant_for_traccar_token``). The token is random (256 bits),
    shown once by :func:`rotate_traccar_token` and never stored; rotating it revokes the old one.

Devices
    A device is linked to the tenant's live vehicle whose ``traccar_device_id`` equals its
    ``uniqueId`` (preferred) or its numeric Traccar id; the link is looked up on every delivery,
    so setting ``traccar_device_id`` on a vehicle links it at once. Devices without a vehicle are
    listed for linking (:func:`devices_query`); their events are not kept.

Odometer
    A fix's odometer is the device's own ``odometer`` attribute when it has one (read from the
    vehicle), else Traccar's ``totalDistance`` calibrated to the vehicle: the first fix a device
    sends for a vehicle pairs its ``totalDistance`` with the vehicle's current trusted odometer,
    later fixes add the distance since. A vehicle with no reading yet cannot be calibrated: its
    GPS distance is not kept until one is recorded. Fixes become readings through
    :func:`~fleetcore.fleet.maintenance_service.record_gps_odometer_reading` (spaced, flagged when
    they disagree with other sources, never overwriting them), so they move maintenance due.

Events
    Traccar's events that say something about the vehicle (overspeed, geofence, ignition,
    alarms, maintenance) become ``flt_vehicle_events`` rows (source ``traccar``) with the driver
    who had the vehicle at the event's time, once per Traccar event id whatever the number of
    deliveries. Status events update the device; anything else is acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, Select, Text, cast, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from fleetcore.admin.models import Tenant
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import NotFound
from fleetcore.core.pagination import PageParams, keyset_page
from fleetcore.fleet import maintenance_service
from fleetcore.fleet.models import (
    AssignmentStatus,
    EventSeverity,
    GpsDevice,
    Vehicle,
    VehicleAssignment,
    VehicleEvent,
    VehicleEventSource,
    VehicleEventType,
)

TOKEN_PREFIX = "fct_"  # noqa: S105 - a prefix, not a secret
"""Tokens read as Fleetcore's in a config file or a leaked log."""
SEEN_EVERY = timedelta(minutes=5)
"""A device's ``last_seen_at`` moves at most this often (the row is not rewritten per fix)."""
KM = Decimal("0.1")


def token_sha256(token: str) -> str:
    """The stored form of a forwarding token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new forwarding token: shown once."""

    token: str
    created_at: datetime


def rotate_traccar_token(session: Session, actor: Actor) -> IssuedToken:
    """Issue the tenant's Traccar forwarding token, revoking the previous one."""
    tenant_id = tenant_of(actor)
    tenant = session.scalar(select(Tenant).where(Tenant.id == tenant_id).with_for_update())
    if tenant is None:
        raise NotFound("No such tenant.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    tenant.traccar_token_sha256 = token_sha256(token)
    tenant.settings = {**(tenant.settings or {}), "traccar": {
        "token_created_at": now.isoformat(), "token_created_by": str(actor.id)}}
    tenant.updated_by = actor.id
    session.flush()
    return IssuedToken(token=token, created_at=now)


def traccar_token_created_at(session: Session, actor: Actor) -> datetime | None:
    """When the tenant's current forwarding token was issued (None: no token)."""
    row = session.execute(select(Tenant.traccar_token_sha256, Tenant.settings).where(
        Tenant.id == tenant_of(actor))).one_or_none()
    if row is None or row.traccar_token_sha256 is None:
        return None
    raw = (row.settings or {}).get("traccar", {}).get("token_created_at")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


# --- what the receivers hand over (no Traccar vocabulary past this point) ---------------------


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """The device a delivery is about."""

    unique_id: str
    traccar_id: int | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class GpsFix:
    """One position: when, and the distances it carries (km)."""

    fix_time: datetime | None
    odometer_km: Decimal | None = None
    total_distance_km: Decimal | None = None
    # Where and how fast (None: the fix has no valid position); kept once per vehicle and
    # minute in ``flt_gps_track``.
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    speed_kmh: Decimal | None = None


@dataclass(frozen=True, slots=True)
class GpsEvent:
    """A vehicle event to keep (``kind`` set) or a device status (``status`` set)."""

    external_id: str
    occurred_at: datetime
    kind: VehicleEventType | None = None
    severity: EventSeverity = EventSeverity.INFO
    description: str | None = None
    status: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PositionRoute:
    """Where a forwarded position goes (from ``fc_traccar_position``)."""

    tenant_id: uuid.UUID
    device_id: uuid.UUID
    vehicle_id: uuid.UUID | None
    reading_due: bool
    """The fix is due as an odometer reading that the statement left to the caller
    (:func:`record_fix`): its device is not calibrated to the vehicle yet, or the reading is
    to be flagged (``fc_gps_odometer_reading`` answered ``check``; migration 0021). A due
    reading that is plainly plausible is kept by the statement itself."""


_POSITION = (
    "SELECT tenant_id, device_id, vehicle_id, reading_due FROM fc_traccar_position("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def route_position(
    engine: Engine, *, token: str, request_id: str | None, device: DeviceReport, fix: GpsFix,
) -> PositionRoute | None:
    """Route a position by its token and register its device, in one statement (None: no
    tenant has this token); the same statement keeps the minute's track point and a due
    odometer reading that is plainly plausible (migrations 0018, 0021).

    The function is its own transaction (autocommit, migration 0011), read-only for most
    positions; it runs on the pool's driver connection directly, since the ORM and SQLAlchemy's
    statement machinery would cost as much Python time as the rest of the request.
    """
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        assert driver is not None
        driver.autocommit = True
        try:
            row = driver.execute(_POSITION, _position_params(token, request_id, device,
                                                             fix)).fetchone()
        finally:
            driver.autocommit = False
    finally:
        pooled.close()
    if row is None or row[0] is None:
        return None
    return PositionRoute(row[0], row[1], row[2], bool(row[3]))


def _position_params(token: str, request_id: str | None, device: DeviceReport,
                     fix: GpsFix) -> tuple[Any, ...]:
    return (token_sha256(token), request_id or "", device.unique_id, device.traccar_id,
            device.name, fix.fix_time, maintenance_service.GPS_READING_SPACING, SEEN_EVERY,
            fix.latitude, fix.longitude, fix.speed_kmh,
            fix.odometer_km.quantize(KM) if fix.odometer_km is not None else None,
            fix.total_distance_km)


async def route_position_async(
    pool: AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]], *, token: str,
    request_id: str | None, device: DeviceReport, fix: GpsFix,
) -> PositionRoute | None:
    """:func:`route_position` on the forwarding lane's own async pool of autocommit
    connections (``integrations/traccar/webhooks.py``): no hop into a worker thread.

    A connection a database restart closed fails once and leaves the pool; the statement is
    idempotent, so it is sent again once on a fresh connection.
    """
    row = await _fetch_one(pool, _POSITION, _position_params(token, request_id, device, fix))
    if row is None or row[0] is None:
        return None
    return PositionRoute(row[0], row[1], row[2], bool(row[3]))


@dataclass(frozen=True, slots=True)
class EventRoute:
    """What ``fc_traccar_event`` did with a forwarded event (migration 0019)."""

    position: PositionRoute
    outcome: str
    """``stored``, ``duplicate``, ``status``, ``unlinked``, ``ignored`` — or ``calibrate``: the
    event's fix carries only ``totalDistance`` for a device not calibrated to its vehicle yet,
    and nothing of the event was written (:func:`record_event` does it)."""


_EVENT = (
    "SELECT tenant_id, device_id, vehicle_id, reading_due, outcome FROM fc_traccar_event("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _event_params(token: str, request_id: str | None, device: DeviceReport, event: GpsEvent,
                  fix: GpsFix | None) -> tuple[Any, ...]:
    # The position's parameters end with the fix's odometer and totalDistance, which the
    # event's own statement takes in the same places.
    position = _position_params(token, request_id, device, fix or GpsFix(fix_time=None))
    return (*position, event.status, event.kind.value if event.kind is not None else None,
            event.severity.value, event.occurred_at, event.description, event.external_id,
            Jsonb(event.extra))


def _event_route(row: Any) -> EventRoute | None:
    if row is None or row[0] is None:
        return None
    return EventRoute(PositionRoute(row[0], row[1], row[2], bool(row[3])), str(row[4]))


def route_event(
    engine: Engine, *, token: str, request_id: str | None, device: DeviceReport,
    event: GpsEvent, fix: GpsFix | None,
) -> EventRoute | None:
    """Apply a forwarded event in one autocommit statement (``fc_traccar_event``: the
    position's part like :func:`route_position`, then the device status and the vehicle event,
    idempotent); None: no tenant has this token. A due reading the statement did not keep
    (one to flag, a device to calibrate) is the caller's."""
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        assert driver is not None
        driver.autocommit = True
        try:
            row = driver.execute(_EVENT, _event_params(token, request_id, device, event,
                                                       fix)).fetchone()
        finally:
            driver.autocommit = False
    finally:
        pooled.close()
    return _event_route(row)


async def route_event_async(
    pool: AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]], *, token: str,
    request_id: str | None, device: DeviceReport, event: GpsEvent, fix: GpsFix | None,
) -> EventRoute | None:
    """:func:`route_event` on the forwarding lane's async pool (retried once on a connection
    a restart closed: the statement is idempotent)."""
    return _event_route(await _fetch_one(pool, _EVENT, _event_params(token, request_id, device,
                                                                      event, fix)))


async def _fetch_one(pool: AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]], sql: str,
                     params: tuple[Any, ...]) -> Any:
    for attempt in (1, 2):
        try:
            async with pool.connection() as conn:
                cursor = await conn.execute(sql, params)
                return await cursor.fetchone()
        except psycopg.OperationalError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def tenant_for_token(session: Session, token: str) -> uuid.UUID | None:
    """The tenant whose forwarding token this is, or None."""
    found = session.scalar(text("SELECT tenant_for_traccar_token(:h)"),
                           {"h": token_sha256(token)})
    return found if isinstance(found, uuid.UUID) or found is None else uuid.UUID(str(found))


# --- devices ---------------------------------------------------------------------------------


def vehicle_for_device(
    session: Session, tenant_id: uuid.UUID, device: DeviceReport
) -> uuid.UUID | None:
    """The live vehicle whose ``traccar_device_id`` names the device (uniqueId first)."""
    names = [device.unique_id] + ([str(device.traccar_id)] if device.traccar_id is not None
                                  else [])
    return session.scalar(
        select(Vehicle.id).where(Vehicle.tenant_id == tenant_id, Vehicle.deleted_at.is_(None),
                                 Vehicle.traccar_device_id.in_(names))
        .order_by((Vehicle.traccar_device_id == device.unique_id).desc()).limit(1))


def register_device(session: Session, tenant_id: uuid.UUID, device: DeviceReport) -> uuid.UUID:
    """The device's row: created on first sight; name, Traccar id and ``last_seen_at`` kept
    current, written only when they changed or every :data:`SEEN_EVERY` (read first: a
    redelivered event then writes nothing here)."""
    d = GpsDevice
    row = session.execute(select(
        d.id, d.traccar_id, d.name, d.last_seen_at < func.now() - SEEN_EVERY,
    ).where(d.tenant_id == tenant_id, d.unique_id == device.unique_id)).one_or_none()
    if row is None:
        found: uuid.UUID | None = session.scalar(
            insert(GpsDevice).values(
                tenant_id=tenant_id, id=uuid.uuid4(), unique_id=device.unique_id,
                traccar_id=device.traccar_id, name=device.name)
            .on_conflict_do_nothing(index_elements=["tenant_id", "unique_id"])
            .returning(GpsDevice.id))
        if found is None:  # a concurrent forward registered it first
            found = session.scalar(select(d.id).where(
                d.tenant_id == tenant_id, d.unique_id == device.unique_id))
        assert found is not None
        return found
    device_id, traccar_id, name, stale = row
    new_traccar_id = device.traccar_id if device.traccar_id is not None else traccar_id
    new_name = device.name if device.name is not None else name
    if stale or (new_traccar_id, new_name) != (traccar_id, name):
        session.execute(update(GpsDevice).where(d.tenant_id == tenant_id, d.id == device_id)
                        .values(last_seen_at=func.now(), traccar_id=new_traccar_id,
                                name=new_name))
    return device_id


def _record_status(session: Session, tenant_id: uuid.UUID, device_id: uuid.UUID,
                   status: str, at: datetime) -> bool:
    """Set the device's status unless a later status already arrived (out-of-order safe)."""
    result = session.execute(
        update(GpsDevice)
        .where(GpsDevice.tenant_id == tenant_id, GpsDevice.id == device_id,
               or_(GpsDevice.status_at.is_(None), GpsDevice.status_at < at))
        .values(status=status, status_at=at))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _vehicle_naming(d: type[GpsDevice]) -> Any:
    v = Vehicle
    return (
        select(v.id).where(
            v.tenant_id == d.tenant_id, v.deleted_at.is_(None),
            or_(v.traccar_device_id == d.unique_id,
                v.traccar_device_id == cast(d.traccar_id, Text)))
        .order_by((v.traccar_device_id == d.unique_id).desc()).limit(1)
        .correlate(d).scalar_subquery()
    )


def devices_query(actor: Actor, *, linked: bool | None = None) -> Select[Any]:
    """The tenant's GPS devices (``linked=False``: those no vehicle names yet)."""
    d = GpsDevice
    stmt: Select[Any] = select(d).where(d.tenant_id == tenant_of(actor))
    if linked is True:
        stmt = stmt.where(_vehicle_naming(d).is_not(None))
    elif linked is False:
        stmt = stmt.where(_vehicle_naming(d).is_(None))
    return stmt


def devices_export_query(actor: Actor, *, linked: bool | None = None) -> Select[Any]:
    """:func:`devices_query` with the vehicle each device reports for (``vehicle_id``), one
    statement for a streamed export."""
    return (devices_query(actor, linked=linked)
            .add_columns(_vehicle_naming(GpsDevice).label("vehicle_id"))
            .order_by(GpsDevice.id))


def list_devices(
    session: Session, actor: Actor, params: PageParams, *, linked: bool | None = None
) -> tuple[list[tuple[GpsDevice, uuid.UUID | None]], str | None]:
    """The tenant's GPS devices with the vehicle each reports for, by id."""
    devices, cursor = keyset_page(session, devices_query(actor, linked=linked), [GpsDevice.id],
                                  params)
    names = {n for dev in devices for n in (dev.unique_id, str(dev.traccar_id))}
    named: dict[str | None, uuid.UUID] = {
        row.traccar_device_id: row.id for row in session.execute(
            select(Vehicle.traccar_device_id, Vehicle.id).where(
                Vehicle.tenant_id == tenant_of(actor), Vehicle.deleted_at.is_(None),
                Vehicle.traccar_device_id.in_(names)))} if names else {}
    return [(dev, named.get(dev.unique_id) or named.get(str(dev.traccar_id)))
            for dev in devices], cursor


# --- odometer ---------------------------------------------------------------------------------


def _fix_odometer(
    session: Session, tenant_id: uuid.UUID, device_id: uuid.UUID, vehicle_id: uuid.UUID,
    fix: GpsFix,
) -> Decimal | None:
    """The vehicle's odometer at ``fix`` (km), calibrating ``totalDistance`` when needed."""
    if fix.odometer_km is not None:
        return fix.odometer_km.quantize(KM)
    if fix.total_distance_km is None:
        return None
    device = session.scalar(select(GpsDevice).where(
        GpsDevice.tenant_id == tenant_id, GpsDevice.id == device_id).with_for_update())
    if device is None:
        return None
    if device.calibrated_vehicle_id != vehicle_id:
        base = maintenance_service.current_odometer(session, vehicle_id)
        if base is None:
            return None
        device.calibrated_vehicle_id = vehicle_id
        device.calibration_km = base
        device.calibration_total_km = fix.total_distance_km.quantize(KM)
        session.flush()
    assert device.calibration_km is not None
    assert device.calibration_total_km is not None
    km = device.calibration_km + fix.total_distance_km - device.calibration_total_km
    return max(km, Decimal(0)).quantize(KM)


def record_fix(
    session: Session, *, tenant_id: uuid.UUID, device_id: uuid.UUID, vehicle_id: uuid.UUID,
    fix: GpsFix,
) -> Decimal | None:
    """Derive the fix's odometer and keep it as a GPS reading when due; the odometer (km)."""
    if fix.fix_time is None:
        return None
    km = _fix_odometer(session, tenant_id, device_id, vehicle_id, fix)
    if km is not None:
        maintenance_service.record_gps_odometer_reading(
            session, tenant_id=tenant_id, vehicle_id=vehicle_id, odometer_km=km,
            read_at=fix.fix_time)
    return km


# --- events -----------------------------------------------------------------------------------


def driver_at(session: Session, tenant_id: uuid.UUID, vehicle_id: uuid.UUID,
              at: datetime) -> uuid.UUID | None:
    """The driver who had the vehicle at ``at`` (custody is minute-level: assignments)."""
    a = VehicleAssignment
    return session.scalar(select(a.driver_id).where(
        a.tenant_id == tenant_id, a.vehicle_id == vehicle_id, a.deleted_at.is_(None),
        a.status != AssignmentStatus.CANCELLED.value, a.starts_at <= at,
        or_(a.ends_at.is_(None), a.ends_at > at)).limit(1))


def record_event(
    session: Session, *, tenant_id: uuid.UUID, device: DeviceReport, event: GpsEvent,
    fix: GpsFix | None,
) -> str:
    """Apply one forwarded event; the outcome: ``stored``, ``duplicate``, ``status``,
    ``unlinked`` (no vehicle names the device) or ``ignored``."""
    device_id = register_device(session, tenant_id, device)
    outcome = "ignored"
    if event.status is not None:
        _record_status(session, tenant_id, device_id, event.status, event.occurred_at)
        outcome = "status"
    vehicle_id = vehicle_for_device(session, tenant_id, device)
    km = None
    if vehicle_id is not None and fix is not None:
        km = record_fix(session, tenant_id=tenant_id, device_id=device_id,
                        vehicle_id=vehicle_id, fix=fix)
    if event.kind is None:
        return outcome
    if vehicle_id is None:
        return "unlinked"
    values = {
        "tenant_id": tenant_id, "id": uuid.uuid4(), "vehicle_id": vehicle_id,
        "driver_id": driver_at(session, tenant_id, vehicle_id, event.occurred_at),
        "event_type": event.kind.value, "severity": event.severity.value,
        "occurred_at": event.occurred_at, "odometer_km": km, "description": event.description,
        "source": VehicleEventSource.TRACCAR.value, "external_event_id": event.external_id,
        "extra": event.extra,
    }
    stored = session.scalar(
        insert(VehicleEvent).values(values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "source", "external_event_id"])
        .returning(VehicleEvent.id))
    return "stored" if stored is not None else "duplicate"



# --- the live map -----------------------------------------------------------------------------

RECENT_EVENTS = timedelta(hours=24)
"""How far back the map's recent events go."""
EVENTS_PER_VEHICLE = 3
MAP_VEHICLES = 2000
"""At most this many vehicles on the map (the most recently seen first)."""


@dataclass(frozen=True, slots=True)
class MapEvent:
    event_type: str
    severity: str
    occurred_at: datetime
    description: str | None


@dataclass(frozen=True, slots=True)
class VehiclePosition:
    """A vehicle on the live map: its last track point (None: none kept), who has it now,
    and its recent events."""

    vehicle_id: uuid.UUID
    licence_plate: str
    fix_time: datetime | None
    latitude: Decimal | None
    longitude: Decimal | None
    speed_kmh: Decimal | None
    driver_id: uuid.UUID | None
    driver_name: str | None
    events: list[MapEvent]


_MAP_SQL = text("""
SELECT v.id, v.licence_plate, p.fix_time, p.latitude, p.longitude, p.speed_kmh,
       a.driver_id, CASE WHEN :names THEN d.first_name || ' ' || d.last_name END AS driver_name,
       COALESCE(ev.events, '[]'::jsonb) AS events
  FROM flt_vehicles v
  LEFT JOIN LATERAL (
       SELECT p.fix_time, p.latitude, p.longitude, p.speed_kmh FROM flt_gps_track p
        WHERE p.tenant_id = v.tenant_id AND p.vehicle_id = v.id
        ORDER BY p.minute DESC LIMIT 1) p ON true
  LEFT JOIN LATERAL (
       SELECT a.driver_id FROM flt_vehicle_assignments a
        WHERE a.tenant_id = v.tenant_id AND a.vehicle_id = v.id AND a.deleted_at IS NULL
          AND a.status <> 'cancelled' AND a.starts_at <= now()
          AND (a.ends_at IS NULL OR a.ends_at > now())
        ORDER BY a.starts_at DESC LIMIT 1) a ON true
  LEFT JOIN rid_drivers d ON d.tenant_id = v.tenant_id AND d.id = a.driver_id
  LEFT JOIN LATERAL (
       SELECT jsonb_agg(jsonb_build_object(
                'event_type', e.event_type, 'severity', e.severity,
                'occurred_at', e.occurred_at, 'description', e.description)
              ORDER BY e.occurred_at DESC) AS events
         FROM (SELECT e.* FROM flt_vehicle_events e
                WHERE e.tenant_id = v.tenant_id AND e.vehicle_id = v.id
                  AND e.deleted_at IS NULL AND e.occurred_at > now() - CAST(:since AS interval)
                ORDER BY e.occurred_at DESC LIMIT :per_vehicle) e) ev ON true
 WHERE v.tenant_id = :tenant AND v.deleted_at IS NULL
   AND (v.traccar_device_id IS NOT NULL OR p.fix_time IS NOT NULL)
 ORDER BY p.fix_time DESC NULLS LAST, v.licence_plate
 LIMIT :limit
""")


def vehicle_positions(session: Session, actor: Actor) -> list[VehiclePosition]:
    """The fleet's tracked vehicles (a tracker named, or a point kept) for the live map, in one
    statement. Driver names only for members who may read drivers."""
    rows = session.execute(_MAP_SQL, {
        "tenant": tenant_of(actor), "names": actor.can("drivers:read"), "since": RECENT_EVENTS,
        "per_vehicle": EVENTS_PER_VEHICLE, "limit": MAP_VEHICLES})
    return [VehiclePosition(
        vehicle_id=r.id, licence_plate=r.licence_plate, fix_time=r.fix_time,
        latitude=r.latitude, longitude=r.longitude, speed_kmh=r.speed_kmh,
        driver_id=r.driver_id, driver_name=r.driver_name,
        events=[MapEvent(e["event_type"], e["severity"], datetime.fromisoformat(e["occurred_at"]),
                         e["description"]) for e in r.events]) for r in rows]
