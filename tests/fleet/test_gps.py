"""Traccar forwarding: the token, device mapping, odometer from GPS and vehicle events.

Payloads are replayed in the shapes Traccar forwards (reference: integrations.md §4):
``{"position", "device"}`` for ``forward.type=json`` and ``{"event", "position"?, "device",
"geofence"?, "maintenance"?}`` for ``event.forward.url`` — with duplicates, reordering, unknown
types, status events without a position and nulls inside the models.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from fleet_support import Fleet
from fleetcore.integrations.traccar.webhooks import LANE_APPLICATION, POSITIONS_PATH

T0 = (datetime.now(UTC) - timedelta(days=2)).replace(hour=8, minute=0, second=0, microsecond=0)
"""The morning of the replayed day (in the past: readings may not be in the future)."""


def _iso(at: datetime) -> str:
    # Traccar's Jackson format: milliseconds and a +00:00 offset.
    return at.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def _device(unique_id: str = "123456", traccar_id: int = 3, **extra: Any) -> dict[str, Any]:
    return {"id": traccar_id, "name": "B-FC 101", "uniqueId": unique_id, "status": "online",
            "lastUpdate": None, "positionId": 0, "groupId": 0, "phone": None, "model": None,
            "contact": None, "category": None, "disabled": False, "calendarId": 0,
            "expirationTime": None, "attributes": {}, **extra}


def _position(at: datetime, *, position_id: int = 901, traccar_id: int = 3,
              attributes: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": position_id, "deviceId": traccar_id, "protocol": "osmand",
            "serverTime": _iso(at + timedelta(seconds=1)), "deviceTime": _iso(at),
            "fixTime": _iso(at), "outdated": False, "valid": True, "latitude": 52.52,
            "longitude": 13.40, "altitude": 34.0, "speed": 0.0, "course": 0.0, "address": None,
            "accuracy": 0.0, "network": None, "geofenceIds": None,
            "attributes": attributes if attributes is not None else {}, **extra}


def _event(event_id: int | None, kind: str, at: datetime, *, position: dict[str, Any] | None = None,
           device: dict[str, Any] | None = None, attributes: dict[str, Any] | None = None,
           **parts: Any) -> dict[str, Any]:
    event = {"id": event_id, "attributes": attributes, "deviceId": 3, "type": kind,
             "eventTime": _iso(at), "positionId": position["id"] if position else 0,
             "geofenceId": parts.pop("geofence_id", 0), "maintenanceId": 0}
    body: dict[str, Any] = {"event": event, "device": device or _device()}
    if position is not None:
        body["position"] = position
    body.update(parts)
    return body


class Traccar:
    """A tenant's Traccar server as seen from Fleetcore: it posts with the tenant's token."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        response = fleet.client.post("/v1/integrations/traccar/token", headers=fleet.headers())
        assert response.status_code == 201, response.text
        self.token = response.json()["token"]

    def post(self, kind: str, body: Any, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if isinstance(body, bytes):
            return self.fleet.client.post(f"/webhooks/traccar/{kind}", content=body,
                                          headers=headers)
        return self.fleet.client.post(f"/webhooks/traccar/{kind}", json=body, headers=headers)

    def event(self, body: dict[str, Any]) -> str:
        response = self.post("events", body)
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    def position(self, body: dict[str, Any]) -> str:
        response = self.post("positions", body)
        assert response.status_code == 200, response.text
        return str(response.json()["status"])


def _events(fleet: Fleet, vehicle_id: str) -> list[Any]:
    return fleet.sql(
        "SELECT event_type, severity, occurred_at, driver_id, odometer_km, description,"
        " external_event_id, metadata FROM flt_vehicle_events"
        " WHERE vehicle_id = :v AND source = 'traccar' ORDER BY occurred_at, external_event_id",
        v=vehicle_id)


def _readings(fleet: Fleet, vehicle_id: str) -> list[tuple[Any, ...]]:
    rows = fleet.sql(
        "SELECT read_at, odometer_km, source, is_anomaly, anomaly_reason"
        " FROM flt_odometer_readings WHERE vehicle_id = :v ORDER BY read_at, source",
        v=vehicle_id)
    return [tuple(r) for r in rows]


def _assign(fleet: Fleet, vehicle_id: str, driver_id: uuid.UUID, starts: datetime,
            ends: datetime | None) -> None:
    fleet.insert("flt_vehicle_assignments", vehicle_id=uuid.UUID(vehicle_id), driver_id=driver_id,
                 starts_at=starts, ends_at=ends, assignment_type="temporary",
                 status="ended" if ends else "active")


def _reading(fleet: Fleet, vehicle_id: str, km: str, at: datetime, source: str = "manual") -> None:
    fleet.insert("flt_odometer_readings", vehicle_id=uuid.UUID(vehicle_id), read_at=at,
                 odometer_km=Decimal(km), source=source)


# --- the token ---------------------------------------------------------------------------------


def test_token_is_shown_once_stored_hashed_and_rotation_revokes_the_old_one(
    api_fleet: Fleet, read_system: Any,
) -> None:
    fleet = api_fleet
    assert fleet.client.get("/v1/integrations/traccar",
                            headers=fleet.headers()).json() == {"token_created_at": None}
    first = Traccar(fleet)
    stored = read_system("SELECT t::text AS everything, traccar_token_sha256 FROM adm_tenants t"
                         " WHERE id = :t", t=fleet.world.id)
    assert first.token not in stored[0].everything
    assert stored[0].traccar_token_sha256 == hashlib.sha256(first.token.encode()).hexdigest()
    status = fleet.client.get("/v1/integrations/traccar", headers=fleet.headers()).json()
    assert status["token_created_at"] is not None
    assert "token" not in status
    audit = read_system("SELECT changes::text FROM adm_audit_logs WHERE tenant_id = :t"
                        " AND entity_type = 'adm_tenants'", t=fleet.world.id)
    assert audit
    assert all(first.token not in row[0] for row in audit)
    assert all(stored[0].traccar_token_sha256 not in row[0] for row in audit)

    assert first.position({"position": _position(T0), "device": _device()}) == "unlinked"
    second = Traccar(fleet)
    assert second.token != first.token
    refused = first.post("positions", {"position": _position(T0), "device": _device()})
    assert refused.status_code == 401
    assert second.position({"position": _position(T0), "device": _device()}) == "unlinked"


def test_the_token_endpoint_needs_integrations_write(api_fleet: Fleet) -> None:
    client = api_fleet.client
    assert client.post("/v1/integrations/traccar/token").status_code == 401
    for role in ("fleet_manager", "dispatcher", "viewer", "finance", "driver"):
        response = client.post("/v1/integrations/traccar/token",
                               headers=api_fleet.headers(role))
        assert response.status_code == 403, role
    assert client.post("/v1/integrations/traccar/token",
                       headers=api_fleet.headers("admin")).status_code == 201


def test_missing_or_wrong_token_is_a_401_problem_and_writes_nothing(
    api_fleet: Fleet, other_api_fleet: Fleet,
) -> None:
    traccar = Traccar(api_fleet)
    body = {"position": _position(T0), "device": _device("777")}
    event = _event(5, "ignitionOn", T0, device=_device("777"))
    client = api_fleet.client
    for kind, payload in (("positions", body), ("events", event)):
        missing = client.post(f"/webhooks/traccar/{kind}", json=payload)
        assert missing.status_code == 401
        assert missing.headers["content-type"].startswith("application/problem+json")
        basic = client.post(f"/webhooks/traccar/{kind}", json=payload,
                            headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert basic.status_code == 401
        wrong = traccar.post(kind, payload, token="fct_" + "x" * 43)
        assert wrong.status_code == 401
        assert wrong.json()["type"].endswith("unauthorized")
        assert wrong.json()["instance"] == f"/webhooks/traccar/{kind}"
        assert wrong.headers["www-authenticate"] == "Bearer"
        assert len(wrong.headers["x-request-id"]) == 32
        echoed = client.post(f"/webhooks/traccar/{kind}", json=payload,
                             headers={"X-Request-Id": "trace-1"})
        assert echoed.headers["x-request-id"] == "trace-1"
        # A malformed body from a stranger says no more than 401.
        assert traccar.post(kind, b"{not json", token="fct_nope").status_code == 401
        assert traccar.post(kind, b"{not json").status_code == 400
        assert traccar.post(kind, {"hello": "world"}).status_code == 400
    for fleet in (api_fleet, other_api_fleet):
        assert fleet.sql("SELECT count(*) FROM flt_gps_devices")[0][0] == 0


def test_another_tenants_token_never_writes_into_this_tenant(
    api_fleet: Fleet, other_api_fleet: Fleet,
) -> None:
    mine = api_fleet.vehicle(traccar_device_id="123456")
    _reading(api_fleet, mine["id"], "1000.0", T0 - timedelta(days=1))
    theirs = Traccar(other_api_fleet)
    assert theirs.event(_event(77, "ignitionOn", T0, position=_position(
        T0, attributes={"odometer": 2_000_000.0}))) == "unlinked"
    assert theirs.position({"position": _position(T0 + timedelta(hours=1), attributes={
        "odometer": 2_100_000.0}), "device": _device()}) == "unlinked"
    assert _events(api_fleet, mine["id"]) == []
    assert [r[2] for r in _readings(api_fleet, mine["id"])] == ["manual"]
    assert api_fleet.sql("SELECT count(*) FROM flt_gps_devices")[0][0] == 0
    listed = other_api_fleet.client.get("/v1/gps-devices?linked=false",
                                        headers=other_api_fleet.headers()).json()["items"]
    assert [(d["unique_id"], d["vehicle_id"]) for d in listed] == [("123456", None)]
    assert api_fleet.client.get("/v1/gps-devices",
                                headers=api_fleet.headers()).json()["items"] == []


# --- device mapping ----------------------------------------------------------------------------


def test_devices_map_by_unique_id_or_numeric_id_and_unknown_ones_are_listed(
    api_fleet: Fleet,
) -> None:
    fleet = api_fleet
    traccar = Traccar(fleet)
    by_imei = fleet.vehicle(traccar_device_id="359881234567890")
    by_number = fleet.vehicle(traccar_device_id="42")
    imei = _device("359881234567890", 7)
    numbered = _device("SIM-42", 42)
    stranger = _device("999", 9)
    assert traccar.event(_event(1, "ignitionOn", T0, device=imei)) == "stored"
    assert traccar.event(_event(2, "ignitionOn", T0, device=numbered)) == "stored"
    assert traccar.event(_event(3, "ignitionOn", T0, device=stranger)) == "unlinked"
    assert [e.external_event_id for e in _events(fleet, by_imei["id"])] == ["1"]
    assert [e.external_event_id for e in _events(fleet, by_number["id"])] == ["2"]

    headers = fleet.headers("viewer")
    to_link = fleet.client.get("/v1/gps-devices?linked=false", headers=headers).json()["items"]
    assert [(d["unique_id"], d["traccar_id"]) for d in to_link] == [("999", 9)]
    linked = fleet.client.get("/v1/gps-devices?linked=true", headers=headers).json()["items"]
    assert sorted((d["unique_id"], d["vehicle_id"]) for d in linked) == sorted(
        [("359881234567890", by_imei["id"]), ("SIM-42", by_number["id"])])
    # The export has the same devices and vehicles, with the same filter.
    exported = fleet.client.get("/v1/gps-devices/export.csv?linked=true", headers=headers)
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted((r["unique_id"], r["vehicle_id"]) for r in rows) == sorted(
        [("359881234567890", by_imei["id"]), ("SIM-42", by_number["id"])])

    # Linking is setting the vehicle's traccar_device_id: the next delivery lands.
    third = fleet.vehicle(traccar_device_id="999")
    assert traccar.event(_event(4, "ignitionOff", T0 + timedelta(hours=1),
                                device=stranger)) == "stored"
    assert [e.description for e in _events(fleet, third["id"])] == ["Ignition off"]
    assert fleet.client.get("/v1/gps-devices?linked=false",
                            headers=headers).json()["items"] == []


# --- vehicle events ----------------------------------------------------------------------------


def test_events_are_stored_once_on_the_right_vehicle_with_the_driver_of_that_minute(
    api_fleet: Fleet,
) -> None:
    fleet = api_fleet
    traccar = Traccar(fleet)
    car = fleet.vehicle(traccar_device_id="123456")
    _reading(fleet, car["id"], "125000.0", T0 - timedelta(days=1))
    ana, ben = fleet.driver(first_name="Ana"), fleet.driver(first_name="Ben")
    handover = T0 + timedelta(hours=2)
    _assign(fleet, car["id"], ana, T0 - timedelta(days=1), handover)
    _assign(fleet, car["id"], ben, handover, None)

    ignition = _event(77, "ignitionOn", T0 + timedelta(seconds=5), position=_position(
        T0 + timedelta(seconds=4), attributes={"ignition": True, "odometer": 125_010_000.0,
                                               "totalDistance": 98765.4}))
    overspeed = _event(78, "deviceOverspeed", T0 + timedelta(hours=1),
                       attributes={"speed": 49.68, "speedLimit": 27.0},
                       position=_position(T0 + timedelta(hours=1), position_id=950,
                                          attributes={"odometer": 125_060_000.0}))
    # One minute before the handover is Ana's; the minute of the handover is Ben's.
    geofence = _event(79, "geofenceEnter", handover - timedelta(minutes=1), geofence_id=4,
                      geofence={"id": 4, "name": "Depot", "area": None, "attributes": None})
    geofence_exit = _event(80, "geofenceExit", handover, geofence_id=4, geofence=None)
    alarm = _event(81, "alarm", handover + timedelta(hours=1), attributes={"alarm": "sos"},
                   position=_position(handover + timedelta(hours=1), position_id=990,
                                      attributes=None))
    maintenance = _event(82, "maintenance", handover + timedelta(hours=2),
                         maintenance={"id": 2, "name": "Oil change", "type": "totalDistance",
                                      "start": 0.0, "period": 15000000.0, "attributes": {}})
    crossed = _event(83, "geofenceCrossed", handover + timedelta(hours=3))
    offline = _event(84, "deviceOffline", handover + timedelta(hours=4))
    online_late = _event(85, "deviceOnline", handover + timedelta(hours=3, minutes=30))

    # Reordered, with every delivery but the unknown type sent twice.
    outcomes = [traccar.event(body) for body in (
        maintenance, overspeed, offline, alarm, ignition, geofence_exit, overspeed, crossed,
        geofence, online_late, ignition, alarm, maintenance, geofence, geofence_exit, offline,
        online_late)]
    assert outcomes == ["stored", "stored", "status", "stored", "stored", "stored", "duplicate",
                        "ignored", "stored", "status", "duplicate", "duplicate", "duplicate",
                        "duplicate", "duplicate", "status", "status"]

    rows = _events(fleet, car["id"])
    facts = [(r.event_type, r.severity, r.occurred_at, r.driver_id, r.odometer_km,
              r.description, r.external_event_id) for r in rows]
    assert facts == [
        ("other", "info", T0 + timedelta(seconds=5), ana, Decimal("125010.0"), "Ignition on",
         "77"),
        ("overspeed", "high", T0 + timedelta(hours=1), ana, Decimal("125060.0"),
         "Overspeed: 92 km/h where the limit is 50 km/h", "78"),
        ("geofence", "info", handover - timedelta(minutes=1), ana, None,
         "Entered geofence Depot", "79"),
        ("geofence", "info", handover, ben, None, "Left geofence #4", "80"),
        ("other", "critical", handover + timedelta(hours=1), ben, None, "Alarm: sos", "81"),
        ("maintenance", "medium", handover + timedelta(hours=2), ben, None,
         "Maintenance due: Oil change", "82"),
    ]
    assert rows[1].metadata["traccar"] == {"type": "deviceOverspeed", "event_id": 78,
                                           "position_id": 950, "speed_kmh": "92",
                                           "speed_limit_kmh": "50"}
    device = fleet.sql("SELECT status, status_at FROM flt_gps_devices WHERE unique_id = '123456'")
    assert tuple(device[0]) == ("offline", handover + timedelta(hours=4))
    # The events' positions fed the odometer like forwarded positions do.
    assert [r[:4] for r in _readings(fleet, car["id"])] == [
        (T0 - timedelta(days=1), Decimal("125000.0"), "manual", False),
        (T0 + timedelta(seconds=4), Decimal("125010.0"), "gps", False),
        (T0 + timedelta(hours=1), Decimal("125060.0"), "gps", False),
    ]


def test_events_without_an_id_or_with_nulls_everywhere_are_kept_once(api_fleet: Fleet) -> None:
    fleet = api_fleet
    traccar = Traccar(fleet)
    car = fleet.vehicle(traccar_device_id="123456")
    bare = {"event": {"id": None, "attributes": None, "deviceId": 3, "type": "alarm",
                      "eventTime": _iso(T0), "positionId": None, "geofenceId": None,
                      "maintenanceId": None},
            "device": _device(attributes=None, name=None),
            "position": None, "geofence": None, "maintenance": None}
    assert traccar.event(bare) == "stored"
    assert traccar.event(bare) == "duplicate"
    no_type = {"event": {"id": 12, "type": None}, "device": {"uniqueId": "123456"}}
    assert traccar.event(no_type) == "ignored"
    rows = _events(fleet, car["id"])
    assert [(r.event_type, r.severity, r.description, r.driver_id) for r in rows] == [
        ("other", "medium", "Alarm: unspecified", None)]
    assert rows[0].external_event_id == f"alarm:123456:{T0.isoformat()}"


# --- odometer ----------------------------------------------------------------------------------


def test_positions_feed_the_odometer_once_spaced_and_flag_what_disagrees(
    api_fleet: Fleet,
) -> None:
    fleet = api_fleet
    traccar = Traccar(fleet)
    car = fleet.vehicle(traccar_device_id="123456")
    _reading(fleet, car["id"], "120000.0", T0 - timedelta(days=1))
    schedule = fleet.client.post("/v1/maintenance-schedules", headers=fleet.headers(), json={
        "vehicle_id": car["id"], "maintenance_type": "oil_change", "interval_km": 15000,
        "last_done_km": "105060.0", "reminder_lead_km": 500})
    assert schedule.status_code == 201, schedule.text
    assert (schedule.json()["current_odometer_km"], schedule.json()["due_status"]) == (
        "120000.0", "due_soon")

    def due() -> tuple[str, str]:
        got = fleet.client.get(f"/v1/maintenance-schedules/{schedule.json()['id']}",
                               headers=fleet.headers()).json()
        return got["current_odometer_km"], got["due_status"]

    def fix(minutes: int, metres: float | None, position_id: int) -> dict[str, Any]:
        attributes = {"odometer": metres} if metres is not None else {"odometer": None}
        return {"position": _position(T0 + timedelta(minutes=minutes), position_id=position_id,
                                      attributes=attributes), "device": _device()}

    first = [
        fix(0, 120_050_000.0, 1),     # kept
        fix(0, 120_050_000.0, 1),     # duplicate
        fix(40, 120_090_000.0, 3),    # kept (arrives before the 20-minute fix)
        fix(20, 120_070_000.0, 2),    # kept late, between its neighbours
        fix(5, 120_055_000.0, 4),     # within 15 minutes of a GPS reading: not kept
        fix(60, None, 5),             # null odometer: nothing to keep
        fix(80, 120_090_000.0, 6),    # the car has not moved: not kept
    ]
    assert {traccar.position(body) for body in first} == {"accepted"}
    # GPS readings move maintenance due.
    assert due() == ("120090.0", "overdue")

    _reading(fleet, car["id"], "120300.0", T0 + timedelta(hours=6))
    later = [
        fix(120, 120_400_000.0, 7),   # above the later manual reading: flagged
        fix(7 * 60, 120_250_000.0, 8),  # below the manual reading before it: flagged
        fix(8 * 60, 125_000_000.0, 9),  # 4,700 km in 2 h: flagged
    ]
    assert {traccar.position(body) for body in later} == {"accepted"}
    readings = _readings(fleet, car["id"])
    assert [r[:4] for r in readings] == [
        (T0 - timedelta(days=1), Decimal("120000.0"), "manual", False),
        (T0, Decimal("120050.0"), "gps", False),
        (T0 + timedelta(minutes=20), Decimal("120070.0"), "gps", False),
        (T0 + timedelta(minutes=40), Decimal("120090.0"), "gps", False),
        (T0 + timedelta(minutes=120), Decimal("120400.0"), "gps", True),
        (T0 + timedelta(hours=6), Decimal("120300.0"), "manual", False),
        (T0 + timedelta(hours=7), Decimal("120250.0"), "gps", True),
        (T0 + timedelta(hours=8), Decimal("125000.0"), "gps", True),
    ]
    manual = (T0 + timedelta(hours=6)).isoformat()
    assert readings[4][4] == (f"GPS reads 120400.0 km, above the later manual reading of "
                              f"120300.0 km at {manual}.")
    assert readings[6][4] == (f"GPS reads 120250.0 km, below the manual reading of 120300.0 km "
                              f"at {manual}.")
    assert readings[7][4].startswith("4700.0 km in 2.0 h since the reading of ")
    # Flagged readings stay out of the current odometer (the manual one is not overwritten).
    assert due() == ("120300.0", "overdue")


def test_total_distance_is_calibrated_to_the_vehicles_odometer(api_fleet: Fleet) -> None:
    fleet = api_fleet
    traccar = Traccar(fleet)
    car = fleet.vehicle(traccar_device_id="123456")
    bare = fleet.vehicle(traccar_device_id="654321")

    def fix(minutes: int, metres: float, unique_id: str = "123456") -> dict[str, Any]:
        return {"position": _position(T0 + timedelta(minutes=minutes),
                                      attributes={"totalDistance": metres, "distance": 12.5}),
                "device": _device(unique_id)}

    # Without any reading there is nothing to calibrate against: nothing kept.
    traccar.position(fix(0, 5000.0, "654321"))
    assert _readings(fleet, bare["id"]) == []

    _reading(fleet, car["id"], "50000.0", T0 - timedelta(hours=1))
    for body in (fix(0, 98765.4), fix(30, 148765.4), fix(60, 160265.4), fix(30, 148765.4)):
        traccar.position(body)
    assert [r[:4] for r in _readings(fleet, car["id"])] == [
        (T0 - timedelta(hours=1), Decimal("50000.0"), "manual", False),
        (T0 + timedelta(minutes=30), Decimal("50050.0"), "gps", False),
        (T0 + timedelta(minutes=60), Decimal("50061.5"), "gps", False),
    ]
    calibration = fleet.sql("SELECT calibrated_vehicle_id, calibration_km, calibration_total_km"
                            " FROM flt_gps_devices WHERE unique_id = '123456'")
    assert tuple(calibration[0]) == (uuid.UUID(car["id"]), Decimal("50000.0"), Decimal("98.8"))


def test_positions_of_an_unknown_device_register_it_and_keep_nothing_else(
    api_fleet: Fleet, client: TestClient,
) -> None:
    traccar = Traccar(api_fleet)
    body = {"position": _position(T0, attributes={"odometer": 1000.0}),
            "device": _device("unknown-1", 11)}
    assert traccar.position(body) == "unlinked"
    assert traccar.position(body) == "unlinked"
    rows = api_fleet.sql("SELECT unique_id, traccar_id, name FROM flt_gps_devices")
    assert [tuple(r) for r in rows] == [("unknown-1", 11, "B-FC 101")]
    assert api_fleet.sql("SELECT count(*) FROM flt_odometer_readings")[0][0] == 0


def _track(fleet: Fleet, vehicle_id: str) -> list[tuple[Any, ...]]:
    rows = fleet.sql("SELECT minute, fix_time, latitude, longitude, speed_kmh FROM flt_gps_track"
                     " WHERE vehicle_id = :v ORDER BY minute", v=vehicle_id)
    return [tuple(r) for r in rows]


def test_positions_keep_one_track_point_per_vehicle_and_minute(api_fleet: Fleet) -> None:
    fleet = api_fleet
    traccar = Traccar(fleet)
    car = fleet.vehicle(traccar_device_id="track-1")
    minute = T0.replace(hour=9)

    def send(at: datetime, lat: float, speed: float = 10.0, **extra: Any) -> str:
        return traccar.position({"position": _position(at, latitude=lat, longitude=2.35,
                                                       speed=speed, **extra),
                                 "device": _device("track-1")})

    # Out of order and twice: 09:00:40 arrives before 09:00:10 and 09:01:05; the first fix
    # Fleetcore sees of a minute is the one kept, later fixes of that minute change nothing.
    assert send(minute + timedelta(seconds=40), 48.5) == "accepted"
    assert send(minute + timedelta(seconds=10), 48.1) == "accepted"
    assert send(minute + timedelta(seconds=40), 48.5) == "accepted"
    assert send(minute + timedelta(minutes=1, seconds=5), 48.6, speed=0.0) == "accepted"
    # No satellite fix (valid: false), and coordinates out of range: nothing kept.
    assert send(minute + timedelta(minutes=2), 48.7, valid=False) == "accepted"
    assert send(minute + timedelta(minutes=3), 91.0) == "accepted"
    # An unknown device's positions are not kept (no vehicle to keep them for).
    assert traccar.position({"position": _position(minute, latitude=1.0, longitude=1.0),
                             "device": _device("nobody-1", 12)}) == "unlinked"

    assert _track(fleet, car["id"]) == [
        (minute, minute + timedelta(seconds=40), Decimal("48.500000"), Decimal("2.350000"),
         Decimal("18.5")),  # 10 knots
        (minute + timedelta(minutes=1), minute + timedelta(minutes=1, seconds=5),
         Decimal("48.600000"), Decimal("2.350000"), Decimal("0.0")),
    ]
    assert fleet.sql("SELECT count(*) FROM flt_gps_track")[0][0] == 2


def test_positions_take_the_lanes_pool_with_a_lifespan_and_threads_without(
    api_fleet: Fleet, api_app: FastAPI,
) -> None:
    fleet = api_fleet
    traccar = Traccar(fleet)
    car = fleet.vehicle(traccar_device_id="lane-1")
    at = T0.replace(hour=11)

    def body(minute: int) -> dict[str, Any]:
        return {"position": _position(at + timedelta(minutes=minute), latitude=48.0 + minute,
                                      longitude=2.0), "device": _device("lane-1")}

    # The session's client runs the app's lifespan: the lane's own async pool serves it.
    assert traccar.position(body(0)) == "accepted"
    lane = fleet.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a",
                     a=LANE_APPLICATION)[0][0]
    assert lane >= 1
    # A client without a lifespan (each request on its own event loop): the worker threads.
    bare = TestClient(api_app)
    response = bare.post(POSITIONS_PATH, json=body(1),
                         headers={"Authorization": f"Bearer {traccar.token}"})
    assert (response.status_code, response.json()) == (200, {"status": "accepted"})
    unknown = bare.post(POSITIONS_PATH, json=body(2), headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401
    assert unknown.headers["content-type"] == "application/problem+json"
    assert [r[2] for r in _track(fleet, car["id"])] == [Decimal("48.000000"),
                                                          Decimal("49.000000")]


def test_positions_inside_events_keep_track_points_on_both_paths(
    api_fleet: Fleet, api_app: FastAPI,
) -> None:
    fleet = api_fleet
    traccar = Traccar(fleet)
    car = fleet.vehicle(traccar_device_id="123456")
    at = T0.replace(hour=13)
    overspeed = _event(501, "deviceOverspeed", at + timedelta(seconds=20),
                       attributes={"speed": 60.0},
                       position=_position(at + timedelta(seconds=20), latitude=50.1,
                                          longitude=8.6, speed=60.0))
    # On the lane's pool (the session client runs the lifespan), then redelivered: one point.
    assert traccar.event(overspeed) == "stored"
    assert traccar.event(overspeed) == "duplicate"
    # A status event's position keeps its point too; one without a valid fix keeps none.
    offline = _event(502, "deviceOffline", at + timedelta(minutes=1, seconds=3),
                     position=_position(at + timedelta(minutes=1), latitude=50.2, longitude=8.7))
    assert traccar.event(offline) == "status"
    blind = _event(503, "ignitionOff", at + timedelta(minutes=2),
                   position=_position(at + timedelta(minutes=2), latitude=50.3, longitude=8.8,
                                      valid=False))
    assert traccar.event(blind) == "stored"
    # Through the worker threads (no lifespan): the same statement, the same point.
    bare = TestClient(api_app)
    alarm = _event(504, "alarm", at + timedelta(minutes=3), attributes={"alarm": "sos"},
                   position=_position(at + timedelta(minutes=3), latitude=50.4, longitude=8.9))
    response = bare.post("/webhooks/traccar/events", json=alarm,
                         headers={"Authorization": f"Bearer {traccar.token}"})
    assert (response.status_code, response.json()) == (200, {"status": "stored"})
    assert [(r[0], r[2], r[4]) for r in _track(fleet, car["id"])] == [
        (at, Decimal("50.100000"), Decimal("111.1")),  # 60 knots
        (at + timedelta(minutes=1), Decimal("50.200000"), Decimal("0.0")),
        (at + timedelta(minutes=3), Decimal("50.400000"), Decimal("0.0")),
    ]
    assert [r.external_event_id for r in _events(fleet, car["id"])] == ["501", "503", "504"]


def test_an_events_total_distance_calibrates_the_device_then_is_read_in_one_statement(
    api_fleet: Fleet,
) -> None:
    fleet = api_fleet
    traccar = Traccar(fleet)
    car = fleet.vehicle(traccar_device_id="123456")
    _reading(fleet, car["id"], "50000.0", T0 - timedelta(hours=1))

    def ignition(event_id: int, minutes: int, metres: float) -> dict[str, Any]:
        return _event(event_id, "ignitionOn", T0 + timedelta(minutes=minutes),
                      position=_position(T0 + timedelta(minutes=minutes), position_id=event_id,
                                         attributes={"totalDistance": metres}))

    # The first fix pairs 98.8 km of totalDistance with the vehicle's 50,000.0 km (the ORM's
    # part); the later ones are read by fc_traccar_event from that calibration — 50,050.05 km
    # rounds to even (50,050.0), 50,061.55 to 50,061.6 — and become spaced readings.
    for body, outcome in ((ignition(601, 0, 98_800.0), "stored"),
                          (ignition(602, 30, 148_850.0), "stored"),
                          (ignition(603, 60, 160_350.0), "stored"),
                          (ignition(602, 30, 148_850.0), "duplicate")):
        assert traccar.event(body) == outcome
    assert [(r.external_event_id, r.odometer_km) for r in _events(fleet, car["id"])] == [
        ("601", Decimal("50000.0")), ("602", Decimal("50050.0")), ("603", Decimal("50061.6"))]
    assert [r[:4] for r in _readings(fleet, car["id"])] == [
        (T0 - timedelta(hours=1), Decimal("50000.0"), "manual", False),
        (T0 + timedelta(minutes=30), Decimal("50050.0"), "gps", False),
        (T0 + timedelta(minutes=60), Decimal("50061.6"), "gps", False),
    ]


def test_a_plausible_due_reading_is_kept_by_the_statement_and_a_doubtful_one_by_the_orm(
    api_fleet: Fleet, monkeypatch: Any,
) -> None:
    """fc_gps_odometer_reading (migration 0021) keeps what is certainly plausible itself and
    leaves everything the ORM could flag to it: at each limit of maintenance_service, a fix
    just inside is kept without the ORM, one just outside ends flagged with its reason."""
    from fleetcore.fleet import maintenance_service

    fleet = api_fleet
    traccar = Traccar(fleet)
    orm_calls: list[Decimal] = []
    orm = maintenance_service.record_gps_odometer_reading

    def counted(*args: Any, **kwargs: Any) -> Any:
        orm_calls.append(kwargs["odometer_km"])
        return orm(*args, **kwargs)

    monkeypatch.setattr(maintenance_service, "record_gps_odometer_reading", counted)
    start = T0 - timedelta(days=5)

    def case(name: str, km: str, *, after: timedelta, usual_use: bool = False,
             metres: float) -> tuple[Any, ...]:
        car = fleet.vehicle(traccar_device_id=name)
        if usual_use:  # 100 km/day over the 30 days before the previous reading
            _reading(fleet, car["id"], str(Decimal(km) - 3000), start - timedelta(days=30))
        _reading(fleet, car["id"], km, start)
        body = {"position": _position(start + after, attributes={"odometer": metres}),
                "device": _device(name, 40)}
        assert traccar.position(body) == "accepted"
        readings = [r for r in _readings(fleet, car["id"]) if r[2] == "gps"]
        assert len(readings) == 1, readings
        return readings[0][1:]

    # Beyond what a car can drive: 1,500 km/day over at least 2 h (125 km).
    assert case("limit-in", "100000.0", after=timedelta(hours=2),
                metres=100_124_900.0) == (Decimal("100124.9"), "gps", False, None)
    assert orm_calls == []
    flagged = case("limit-out", "100000.0", after=timedelta(hours=2), metres=100_125_100.0)
    assert flagged[:3] == (Decimal("100125.1"), "gps", True)
    assert flagged[3].startswith("125.1 km in 2.0 h since the reading of ")
    assert orm_calls == [Decimal("100125.1")]
    # Far above the usual 100 km/day: over 2 days, more than 800 km (4 times usual and 500 over).
    assert case("usual-in", "93000.0", after=timedelta(days=2), usual_use=True,
                metres=93_799_900.0) == (Decimal("93799.9"), "gps", False, None)
    assert orm_calls == [Decimal("100125.1")]
    flagged = case("usual-out", "93000.0", after=timedelta(days=2), usual_use=True,
                   metres=93_800_100.0)
    assert flagged[:3] == (Decimal("93800.1"), "gps", True)
    assert "far above this vehicle's usual 100 km/day" in flagged[3]
    assert orm_calls == [Decimal("100125.1"), Decimal("93800.1")]
    # The statement's reading is audited like the ORM's (row trigger, integration actor).
    audited = fleet.sql(
        "SELECT actor_type FROM adm_audit_logs WHERE entity_type = 'flt_odometer_readings'"
        " AND action = 'create' AND entity_id IN (SELECT id FROM flt_odometer_readings"
        " WHERE source = 'gps' AND odometer_km = 100124.9)")
    assert [r[0] for r in audited] == ["integration"]
