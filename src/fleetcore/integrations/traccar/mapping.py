"""Traccar's forwarded JSON (``forward.type=json``, ``event.forward.url``) → fleet GPS facts.

Shapes (reference: Traccar ``model/{Position,Event,Device}.java``): a position delivery is
``{"position": {…}, "device": {…}}``; an event delivery ``{"event": {…}, "position"?: {…},
"device": {…}, "geofence"?: {…}, "maintenance"?: {…}}`` with empty parts left out. Any part,
and any field inside one, may be missing or null; unknown event types exist (Traccar adds
them). Units: distances in metres, speeds in knots, times ISO 8601 with an offset.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from fleetcore.fleet.gps_service import DeviceReport, GpsEvent, GpsFix
from fleetcore.fleet.models import EventSeverity, VehicleEventType

KMH_PER_KNOT = Decimal("1.852")
METRES_PER_KM = Decimal(1000)

STATUS_TYPES = {"deviceOnline": "online", "deviceOffline": "offline",
                "deviceUnknown": "unknown", "deviceInactive": "inactive"}
"""Events that only say whether the device is connected."""

ALARM_SEVERITY: dict[str, EventSeverity] = {
    "sos": EventSeverity.CRITICAL, "accident": EventSeverity.CRITICAL,
    "fallDown": EventSeverity.CRITICAL, "tampering": EventSeverity.HIGH,
    "removing": EventSeverity.HIGH, "powerCut": EventSeverity.HIGH,
    "powerOff": EventSeverity.HIGH, "jamming": EventSeverity.HIGH,
    "hardBraking": EventSeverity.MEDIUM, "hardAcceleration": EventSeverity.MEDIUM,
    "hardCornering": EventSeverity.MEDIUM, "fatigueDriving": EventSeverity.HIGH,
    "lowBattery": EventSeverity.LOW, "lowPower": EventSeverity.LOW,
    "powerRestored": EventSeverity.INFO, "powerOn": EventSeverity.INFO,
}
"""Severity by Traccar's ``alarm`` reason; other reasons are ``medium``."""


class PayloadError(ValueError):
    """The delivery is not a Traccar forward of the expected kind."""


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _integer(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time (naive read as UTC) or epoch milliseconds; None when unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def device(document: dict[str, Any]) -> DeviceReport:
    """The device a delivery is about (its ``uniqueId``; the numeric id when that is all)."""
    dev = _object(document.get("device"))
    traccar_id = _integer(dev.get("id"))
    for part in ("position", "event"):
        if traccar_id is None:
            traccar_id = _integer(_object(document.get(part)).get("deviceId"))
    unique_id = _text(dev.get("uniqueId"))
    if unique_id is None:
        if traccar_id is None:
            raise PayloadError("The delivery names no device (device.uniqueId or deviceId).")
        unique_id = str(traccar_id)
    return DeviceReport(unique_id=unique_id[:200], traccar_id=traccar_id,
                        name=(_text(dev.get("name")) or "")[:200] or None)


def fix(position: dict[str, Any]) -> GpsFix:
    """A position's time and distances (metres → km)."""
    attributes = _object(position.get("attributes"))
    at = None
    for key in ("fixTime", "deviceTime", "serverTime"):
        at = at or parse_time(position.get(key))
    odometer = _number(attributes.get("odometer"))
    total = _number(attributes.get("totalDistance"))
    lat, lon = _coordinate(position.get("latitude"), 90), _coordinate(position.get("longitude"),
                                                                         180)
    # ``valid: false``: no satellite fix; the coordinates are the last known ones, not kept.
    located = position.get("valid") is not False and lat is not None and lon is not None
    speed = _number(position.get("speed"))
    return GpsFix(
        fix_time=at,
        odometer_km=odometer / METRES_PER_KM if odometer is not None and odometer > 0 else None,
        total_distance_km=total / METRES_PER_KM if total is not None and total >= 0 else None,
        latitude=lat if located else None,
        longitude=lon if located else None,
        speed_kmh=(speed * KMH_PER_KNOT).quantize(Decimal("0.1"), ROUND_HALF_UP)
        if located and speed is not None and Decimal(0) <= speed < Decimal(10000) else None,
    )


def _coordinate(value: Any, bound: int) -> Decimal | None:
    """A latitude or longitude to 6 decimals (about 10 cm), None when absent or out of range."""
    number = _number(value)
    if number is None or not -bound <= number <= bound:
        return None
    return number.quantize(Decimal("0.000001"), ROUND_HALF_UP)


def position_delivery(document: Any) -> tuple[DeviceReport, GpsFix]:
    """A ``forward.type=json`` delivery: ``{"position": {…}, "device": {…}}``."""
    if not isinstance(document, dict) or not isinstance(document.get("position"), dict):
        raise PayloadError("Not a Traccar position forward ({position, device}).")
    return device(document), fix(document["position"])


def _kmh(knots: Decimal | None) -> Decimal | None:
    return (knots * KMH_PER_KNOT).quantize(Decimal(1), ROUND_HALF_UP) if knots else None


def _overspeed(attributes: dict[str, Any]) -> tuple[EventSeverity, str, dict[str, Any]]:
    speed, limit = _kmh(_number(attributes.get("speed"))), _kmh(
        _number(attributes.get("speedLimit")))
    if speed is None:
        return EventSeverity.MEDIUM, "Overspeed", {}
    if limit is None:
        return EventSeverity.MEDIUM, f"Overspeed: {speed} km/h", {"speed_kmh": str(speed)}
    severity = EventSeverity.HIGH if speed >= limit * Decimal("1.5") else EventSeverity.MEDIUM
    return (severity, f"Overspeed: {speed} km/h where the limit is {limit} km/h",
            {"speed_kmh": str(speed), "speed_limit_kmh": str(limit)})


def _named(part: dict[str, Any], key_id: Any) -> str:
    return _text(part.get("name")) or (f"#{key_id}" if key_id else "unnamed")


def event_delivery(document: Any) -> tuple[DeviceReport, GpsEvent, GpsFix | None]:
    """An ``event.forward.url`` delivery; the event's ``kind``/``status`` is None when it is
    neither a vehicle event nor a device status (unknown types included)."""
    if not isinstance(document, dict) or not isinstance(document.get("event"), dict):
        raise PayloadError("Not a Traccar event forward ({event, device, ...}).")
    event = document["event"]
    kind_name = _text(event.get("type")) or "unknown"
    attributes = _object(event.get("attributes"))
    raw_position = document.get("position")
    position = fix(raw_position) if isinstance(raw_position, dict) else None
    reporter = device(document)
    occurred = (parse_time(event.get("eventTime"))
                or (position.fix_time if position else None) or datetime.now(UTC))
    event_id = _integer(event.get("id"))
    external_id = (str(event_id) if event_id else
                   f"{kind_name}:{reporter.unique_id}:{occurred.isoformat()}")
    extra: dict[str, Any] = {"traccar": {
        "type": kind_name, "event_id": event_id,
        "position_id": _integer(event.get("positionId")) or None}}
    kind: VehicleEventType | None = None
    severity = EventSeverity.INFO
    description: str | None = None
    if kind_name == "deviceOverspeed":
        kind = VehicleEventType.OVERSPEED
        severity, description, speeds = _overspeed(attributes)
        extra["traccar"].update(speeds)
    elif kind_name in ("geofenceEnter", "geofenceExit"):
        kind = VehicleEventType.GEOFENCE
        geofence_id = _integer(event.get("geofenceId"))
        name = _named(_object(document.get("geofence")), geofence_id)
        verb = "Entered" if kind_name == "geofenceEnter" else "Left"
        description = f"{verb} geofence {name}"
        extra["traccar"]["geofence_id"] = geofence_id or None
    elif kind_name in ("ignitionOn", "ignitionOff"):
        kind = VehicleEventType.OTHER
        description = "Ignition on" if kind_name == "ignitionOn" else "Ignition off"
    elif kind_name == "maintenance":
        kind, severity = VehicleEventType.MAINTENANCE, EventSeverity.MEDIUM
        maintenance_id = _integer(event.get("maintenanceId"))
        description = ("Maintenance due: "
                       f"{_named(_object(document.get('maintenance')), maintenance_id)}")
    elif kind_name == "alarm":
        reason = _text(attributes.get("alarm")) or "unspecified"
        kind = VehicleEventType.ACCIDENT if reason == "accident" else VehicleEventType.OTHER
        severity = ALARM_SEVERITY.get(reason, EventSeverity.MEDIUM)
        description = f"Alarm: {reason}"
        extra["traccar"]["alarm"] = reason
    return reporter, GpsEvent(
        external_id=external_id[:200], occurred_at=occurred, kind=kind, severity=severity,
        description=description, status=STATUS_TYPES.get(kind_name), extra=extra,
    ), position
