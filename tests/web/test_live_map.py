"""The live map: the page (list without tiles, Leaflet vendored, the tile origin allowed for
images only), its JSON and ``GET /v1/vehicle-positions``: last point, driver now, recent events;
permission-gated and tenant-isolated."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from api_support import TenantWorld
from fleet_support import Fleet
from web_support import Browser

NOW = datetime.now(UTC).replace(microsecond=0)


def _point(fleet: Fleet, vehicle_id: str, at: datetime, lat: str, lon: str, speed: str) -> None:
    fleet.insert("flt_gps_track", vehicle_id=uuid.UUID(vehicle_id),
                 minute=at.replace(second=0), fix_time=at, latitude=Decimal(lat),
                 longitude=Decimal(lon), speed_kmh=Decimal(speed))


def _tracked(fleet: Fleet) -> tuple[dict[str, Any], dict[str, Any], uuid.UUID]:
    """A car with two points, its driver and an overspeed an hour ago; a tracker-equipped car
    that has sent nothing yet; a car without a tracker (not on the map)."""
    car = fleet.vehicle(traccar_device_id=f"imei-{uuid.uuid4().hex[:8]}")
    waiting = fleet.vehicle(traccar_device_id=f"imei-{uuid.uuid4().hex[:8]}")
    fleet.vehicle()
    driver = fleet.driver(first_name="Nadia", last_name="Petit")
    fleet.insert("flt_vehicle_assignments", vehicle_id=uuid.UUID(car["id"]), driver_id=driver,
                 starts_at=NOW - timedelta(days=1), assignment_type="permanent", status="active")
    _point(fleet, car["id"], NOW - timedelta(minutes=5, seconds=3), "48.850000", "2.340000", "0")
    _point(fleet, car["id"], NOW - timedelta(minutes=1, seconds=3), "48.856600", "2.352200",
           "31.5")
    fleet.insert("flt_vehicle_events", vehicle_id=uuid.UUID(car["id"]), driver_id=driver,
                 event_type="overspeed", severity="medium", occurred_at=NOW - timedelta(hours=1),
                 description="Overspeed: 104 km/h (limit 90 km/h)", source="traccar",
                 external_event_id=f"ev-{uuid.uuid4().hex[:8]}")
    fleet.insert("flt_vehicle_events", vehicle_id=uuid.UUID(car["id"]), event_type="geofence",
                 severity="info", occurred_at=NOW - timedelta(days=3), source="traccar",
                 external_event_id=f"ev-{uuid.uuid4().hex[:8]}")  # older than 24 h
    return car, waiting, driver


def test_positions_are_the_last_point_the_driver_now_and_recent_events(
    fleet: Fleet, other_fleet: Fleet,
) -> None:
    car, waiting, driver = _tracked(fleet)
    _tracked(other_fleet)  # another fleet's cars never show

    response = fleet.client.get("/v1/vehicle-positions", headers=fleet.headers())

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["vehicle_id"], i["latitude"], i["longitude"], i["speed_kmh"], i["driver_id"],
             i["driver_name"]) for i in items] == [
        (car["id"], "48.856600", "2.352200", "31.5", str(driver), "Nadia Petit"),
        (waiting["id"], None, None, None, None, None)]
    assert [(e["event_type"], e["description"]) for e in items[0]["events"]] == [
        ("overspeed", "Overspeed: 104 km/h (limit 90 km/h)")]
    assert items[1]["events"] == []
    assert fleet.client.get("/v1/vehicle-positions",
                            headers=fleet.headers("driver")).status_code == 403


def test_the_map_page_lists_the_vehicles_and_allows_only_the_tile_origin(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[[TenantWorld, str], Browser],
) -> None:
    car, _waiting, _driver = _tracked(fleet)
    theirs, _, _ = _tracked(other_fleet)
    browser = signed_in(fleet.world, "owner")

    page = browser.get("/app/map")

    assert page.status_code == 200, page.text
    assert car["licence_plate"] in page.text
    assert "Nadia Petit" in page.text
    assert theirs["licence_plate"] not in page.text
    assert "/app/static/vendor/leaflet/leaflet.js" in page.text
    assert 'data-tiles="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in page.text
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data: https://tile.openstreetmap.org;" in policy
    assert "script-src 'self';" in policy
    assert 'href="/app/map"' in page.text  # the menu entry
    data = browser.get("/app/map/positions")
    assert data.status_code == 200
    assert [i["licence_plate"] for i in data.json()["items"]][:1] == [car["licence_plate"]]
    assert theirs["id"] not in data.text
    assert browser.get("/app/static/vendor/leaflet/LICENSE").text.startswith("BSD 2-Clause")
    assert "L.map" in browser.get("/app/static/map.js").text
    driver = signed_in(fleet.world, "driver")
    assert driver.get("/app/map").status_code == 403
    assert driver.get("/app/map/positions").status_code == 403
