"""Assignments over HTTP: every custody rule with its refusal and its success path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from api_support import if_match
from fleet_support import Fleet

NOW = datetime.now(UTC).replace(microsecond=0)


def _assign(fleet: Fleet, vehicle: dict[str, Any], driver: uuid.UUID, *, role: str = "owner",
            **body: Any) -> Any:
    payload = {"vehicle_id": vehicle["id"], "driver_id": str(driver),
               "starts_at": (NOW - timedelta(hours=1)).isoformat(), **body}
    return fleet.client.post("/v1/vehicle-assignments", json=payload, headers=fleet.headers(role))


def test_assign_records_handover_odometer_and_event(api_fleet: Fleet) -> None:
    vehicle, driver = api_fleet.compliant_vehicle(), api_fleet.driver()
    created = _assign(api_fleet, vehicle, driver, odometer_out_km="41250.0")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "active"
    assert body["odometer_out_km"] == "41250.0"
    assert body["override_reason"] is None
    assert created.headers["location"] == f"/v1/vehicle-assignments/{body['id']}"
    readings = api_fleet.sql("SELECT odometer_km, source FROM flt_odometer_readings"
                             " WHERE vehicle_id = :v", v=vehicle["id"])
    assert [(str(km), src) for km, src in readings] == [("41250.0", "handover")]
    events = api_fleet.sql("SELECT event_type, assignment_id FROM flt_vehicle_events"
                           " WHERE vehicle_id = :v", v=vehicle["id"])
    assert [(t, str(a)) for t, a in events] == [("handover", body["id"])]
    current = api_fleet.client.get(f"/v1/vehicles/{vehicle['id']}",
                                   headers=api_fleet.headers()).json()
    assert current["current_odometer_km"] == "41250.0"


def test_overlaps_are_409_naming_the_vehicle_or_the_driver(api_fleet: Fleet) -> None:
    vehicle, other_vehicle = api_fleet.compliant_vehicle(), api_fleet.compliant_vehicle()
    driver, other_driver = api_fleet.driver(), api_fleet.driver()
    first = _assign(api_fleet, vehicle, driver).json()
    same_vehicle = _assign(api_fleet, vehicle, other_driver,
                           starts_at=(NOW - timedelta(minutes=30)).isoformat())
    assert same_vehicle.status_code == 409
    problem = same_vehicle.json()
    assert problem["type"].endswith("/assignment-overlap")
    assert problem["conflict"] == "vehicle"
    assert problem["conflicting_assignment_id"] == first["id"]
    same_driver = _assign(api_fleet, other_vehicle, driver)
    assert same_driver.status_code == 409
    assert same_driver.json()["conflict"] == "driver"
    assert same_driver.json()["conflicting_assignment_id"] == first["id"]
    # Before the first one starts, the car is free.
    earlier = _assign(api_fleet, vehicle, other_driver,
                      starts_at=(NOW - timedelta(days=2)).isoformat(),
                      ends_at=(NOW - timedelta(days=1)).isoformat())
    assert earlier.status_code == 201, earlier.text
    assert earlier.json()["status"] == "ended"


def test_the_database_constraint_backs_the_overlap_rule(api_fleet: Fleet) -> None:
    vehicle, driver, other = api_fleet.compliant_vehicle(), api_fleet.driver(), api_fleet.driver()
    _assign(api_fleet, vehicle, driver)
    # A writer that skipped the service still cannot create custody overlap.
    with pytest.raises(IntegrityError, match="ex_flt_vehicle_assignments_vehicle"):
        api_fleet.insert("flt_vehicle_assignments", vehicle_id=uuid.UUID(vehicle["id"]),
                         driver_id=other, starts_at=NOW, assignment_type="temporary",
                         status="active")


def test_blacklisted_or_on_leave_drivers_are_refused(api_fleet: Fleet) -> None:
    vehicle = api_fleet.compliant_vehicle()
    banned, away, free = api_fleet.driver(), api_fleet.driver(), api_fleet.driver()
    api_fleet.insert("rid_driver_blacklists", driver_id=banned, reason="Fraud",
                     category="fraud", starts_at=NOW - timedelta(days=3))
    api_fleet.insert("rid_driver_requests", driver_id=away, request_type="leave",
                     status="approved", period_start=NOW - timedelta(days=1),
                     period_end=NOW + timedelta(days=5), details="{}", reviewed_at=NOW)
    for driver, word in ((banned, "blacklisted"), (away, "leave")):
        refused = _assign(api_fleet, vehicle, driver)
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith("/driver-unavailable")
        assert word in refused.json()["detail"]
    # A pending leave does not block; after the leave the driver may take the car.
    api_fleet.insert("rid_driver_requests", driver_id=free, request_type="leave",
                     status="pending", period_start=NOW - timedelta(days=1),
                     period_end=NOW + timedelta(days=5), details="{}")
    assert _assign(api_fleet, vehicle, free).status_code == 201
    later = _assign(api_fleet, api_fleet.compliant_vehicle(), away,
                    starts_at=(NOW + timedelta(days=6)).isoformat())
    assert later.status_code == 201, later.text
    assert later.json()["status"] == "scheduled"


def test_non_compliance_is_refused_unless_an_admin_overrides_with_a_reason(
    api_fleet: Fleet,
) -> None:
    bare = api_fleet.vehicle()  # no insurance, no documents
    expired = api_fleet.driver(licence_expires_on=NOW.date() - timedelta(days=1))
    refused = _assign(api_fleet, bare, expired)
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"].endswith("/not-compliant")
    failed = {(f["subject"], f["rule"]) for f in problem["failures"]}
    assert {("vehicle", "insurance_active"), ("vehicle", "registration_document"),
            ("vehicle", "inspection_document"), ("driver", "licence_valid")} <= failed
    # fleet_manager may assign but not override.
    denied = _assign(api_fleet, bare, expired, role="fleet_manager",
                     override_reason="Urgent airport run")
    assert denied.status_code == 403
    overridden = _assign(api_fleet, bare, expired, role="admin",
                         override_reason="Urgent airport run")
    assert overridden.status_code == 201, overridden.text
    body = overridden.json()
    assert body["override_reason"] == "Urgent airport run"
    assert body["overridden_by"] == str(api_fleet.world.person("admin").member_id)


def test_inactive_vehicles_and_drivers_and_foreign_ids_are_refused(
    api_fleet: Fleet, other_api_fleet: Fleet
) -> None:
    retired = api_fleet.compliant_vehicle(status="retired")
    driver = api_fleet.driver()
    assert _assign(api_fleet, retired, driver).status_code == 409
    onboarding = api_fleet.driver(status="onboarding")
    assert _assign(api_fleet, api_fleet.compliant_vehicle(), onboarding).status_code == 409
    foreign_vehicle = other_api_fleet.vehicle()
    response = _assign(api_fleet, foreign_vehicle, driver)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "vehicle_id"
    foreign_driver = other_api_fleet.driver()
    response = _assign(api_fleet, api_fleet.compliant_vehicle(), foreign_driver)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "driver_id"
    future_odometer = _assign(api_fleet, api_fleet.compliant_vehicle(), driver,
                              starts_at=(NOW + timedelta(days=1)).isoformat(),
                              odometer_out_km="10.0")
    assert future_odometer.status_code == 422


def test_end_records_odometer_in_and_refuses_going_backwards(api_fleet: Fleet) -> None:
    vehicle, driver = api_fleet.compliant_vehicle(), api_fleet.driver()
    assignment = _assign(api_fleet, vehicle, driver, odometer_out_km="1000.0").json()
    url = f"/v1/vehicle-assignments/{assignment['id']}"
    backwards = api_fleet.client.post(f"{url}/end", json={"odometer_in_km": "999.0"},
                                      headers=if_match(
                                          api_fleet.client, f"{url}/end", api_fleet.headers()))
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "odometer_in_km"
    future = api_fleet.client.post(
        f"{url}/end", json={"ends_at": (NOW + timedelta(days=1)).isoformat()},
        headers=if_match(api_fleet.client, f"{url}/end", api_fleet.headers()))
    assert future.status_code == 422
    ended = api_fleet.client.post(f"{url}/end", json={"odometer_in_km": "1180.5"},
                                  headers=if_match(
                                      api_fleet.client, f"{url}/end", api_fleet.headers()))
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "ended"
    assert ended.json()["ends_at"] is not None
    kinds = api_fleet.sql("SELECT source, odometer_km FROM flt_odometer_readings"
                          " WHERE vehicle_id = :v ORDER BY read_at", v=vehicle["id"])
    assert [(s, str(k)) for s, k in kinds] == [("handover", "1000.0"), ("handover", "1180.5")]
    events = api_fleet.sql("SELECT count(*) FROM flt_vehicle_events WHERE assignment_id = :a"
                           " AND event_type = 'handover'", a=assignment["id"])
    assert events[0][0] == 2
    again = api_fleet.client.post(f"{url}/end", headers=if_match(
        api_fleet.client, f"{url}/end", api_fleet.headers()))
    assert again.status_code == 409


def test_cancel_only_before_the_start(api_fleet: Fleet) -> None:
    vehicle, driver = api_fleet.compliant_vehicle(), api_fleet.driver()
    running = _assign(api_fleet, vehicle, driver).json()
    assert api_fleet.client.post(f"/v1/vehicle-assignments/{running['id']}/cancel",
                                 headers=if_match(
                                     api_fleet.client,
                                     f"/v1/vehicle-assignments/{running['id']}/cancel",
                                     api_fleet.headers())).status_code == 409
    other_vehicle = api_fleet.compliant_vehicle()
    planned = _assign(api_fleet, other_vehicle, api_fleet.driver(),
                      starts_at=(NOW + timedelta(days=3)).isoformat()).json()
    stale = api_fleet.client.post(f"/v1/vehicle-assignments/{planned['id']}/cancel",
                                  json={"reason": "Driver ill"},
                                  headers=api_fleet.headers(**{"If-Match": '"99"'}))
    assert stale.status_code == 412
    cancelled = api_fleet.client.post(f"/v1/vehicle-assignments/{planned['id']}/cancel",
                                      json={"reason": "Driver ill"}, headers=if_match(
                                          api_fleet.client,
                                          f"/v1/vehicle-assignments/{planned['id']}/cancel",
                                          api_fleet.headers()))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert "Driver ill" in cancelled.json()["notes"]
    # The slot is free again.
    assert _assign(api_fleet, other_vehicle, api_fleet.driver(),
                   starts_at=(NOW + timedelta(days=3)).isoformat()).status_code == 201


def test_custodian_at_t_has_exactly_one_answer_or_404(api_fleet: Fleet) -> None:
    vehicle = api_fleet.compliant_vehicle()
    first, second = api_fleet.driver(), api_fleet.driver()
    t0 = NOW - timedelta(days=10)
    _assign(api_fleet, vehicle, first, starts_at=t0.isoformat(),
            ends_at=(t0 + timedelta(days=2)).isoformat())
    _assign(api_fleet, vehicle, second, starts_at=(t0 + timedelta(days=2)).isoformat())
    url = f"/v1/vehicles/{vehicle['id']}/custodian"
    h = api_fleet.headers()

    def who(at: datetime) -> Any:
        return api_fleet.client.get(url, params={"at": at.isoformat()}, headers=h)

    assert who(t0 + timedelta(days=1)).json()["driver_id"] == str(first)
    # [start, end): at the handover instant the new driver has the car.
    assert who(t0 + timedelta(days=2)).json()["driver_id"] == str(second)
    assert api_fleet.client.get(url, headers=h).json()["driver_id"] == str(second)
    nobody = who(t0 - timedelta(seconds=1))
    assert nobody.status_code == 404
    assert nobody.json()["type"].endswith("/no-custodian")
    assert api_fleet.client.get(f"/v1/vehicles/{uuid.uuid4()}/custodian",
                                headers=h).json()["type"].endswith("/not-found")


def test_history_lists_by_vehicle_and_by_driver(api_fleet: Fleet) -> None:
    v1, v2 = api_fleet.compliant_vehicle(), api_fleet.compliant_vehicle()
    driver = api_fleet.driver()
    old = _assign(api_fleet, v1, driver, starts_at=(NOW - timedelta(days=5)).isoformat(),
                  ends_at=(NOW - timedelta(days=4)).isoformat()).json()
    new = _assign(api_fleet, v2, driver).json()
    h = api_fleet.headers()
    by_driver = api_fleet.client.get("/v1/vehicle-assignments", params={"driver_id": str(driver)},
                                     headers=h).json()["items"]
    assert [a["id"] for a in by_driver] == [new["id"], old["id"]]
    by_vehicle = api_fleet.client.get(f"/v1/vehicles/{v1['id']}/assignments",
                                      headers=h).json()["items"]
    assert [a["id"] for a in by_vehicle] == [old["id"]]
    ended = api_fleet.client.get("/v1/vehicle-assignments",
                                 params={"driver_id": str(driver), "status": "ended"},
                                 headers=h).json()["items"]
    assert [a["id"] for a in ended] == [old["id"]]
    export = api_fleet.client.get("/v1/vehicle-assignments/export.csv",
                                  params={"driver_id": str(driver)}, headers=h)
    assert export.status_code == 200
    assert export.text.count("\n") == 3  # header + 2 rows


def test_dispatchers_assign_viewers_do_not(api_fleet: Fleet) -> None:
    vehicle, driver = api_fleet.compliant_vehicle(), api_fleet.driver()
    assert _assign(api_fleet, vehicle, driver, role="viewer").status_code == 403
    assert _assign(api_fleet, vehicle, driver, role="dispatcher").status_code == 201
