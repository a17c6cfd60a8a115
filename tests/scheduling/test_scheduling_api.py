"""Scheduling, odometer and maintenance over HTTP: status codes, problems, ETags, permissions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api_support import TenantWorld, if_match
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.orm import new_id

Auth = Callable[..., dict[str, str]]


def _insert(session: Any, table: str, **values: Any) -> uuid.UUID:
    values.setdefault("id", new_id())
    columns = ", ".join(values)
    session.execute(text(f"INSERT INTO {table} ({columns}) VALUES "
                         f"({', '.join(':' + c for c in values)})"), values)
    return values["id"]  # type: ignore[no-any-return]


@pytest.fixture
def fleet(sessions: Any, tenant_a: TenantWorld) -> dict[str, uuid.UUID]:
    """Committed: a vehicle and two drivers of tenant A."""
    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        make = _insert(session, "dir_car_makes", tenant_id=tenant_a.id,
                       name=f"Make {uuid.uuid4().hex[:6]}")
        vehicle = _insert(session, "flt_vehicles", tenant_id=tenant_a.id, make_id=make,
                          licence_plate="GH-789-JK", country="FR", year=2023,
                          fuel_type="hybrid", ownership_type="owned")
        drivers = [_insert(session, "rid_drivers", tenant_id=tenant_a.id, first_name=n,
                           last_name="Test", status="active") for n in ("Ana", "Ben")]
    return {"vehicle": vehicle, "driver": drivers[0], "driver2": drivers[1]}


def test_odometer_readings_over_http(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, fleet: dict[str, uuid.UUID]
) -> None:
    url = f"/v1/vehicles/{fleet['vehicle']}/odometer-readings"
    now = datetime.now(UTC)
    first = client.post(url, headers=auth(tenant_a, "fleet_manager"), json={
        "odometer_km": "12000.0", "read_at": (now - timedelta(days=1)).isoformat()})
    assert first.status_code == 201, first.text
    assert first.headers["location"].endswith(first.json()["id"])
    back = client.post(url, headers=auth(tenant_a), json={"odometer_km": "11000"})
    assert back.status_code == 409
    assert back.headers["content-type"].startswith("application/problem+json")
    assert back.json()["latest_odometer_km"] == "12000.0"
    assert back.json()["errors"][0]["field"] == "odometer_km"
    correction = client.post(url, headers=auth(tenant_a), json={
        "odometer_km": "11000", "corrects_reading_id": first.json()["id"],
        "reason": "Typo on entry."})
    assert correction.status_code == 201, correction.text
    assert correction.json()["correction_reason"] == "Typo on entry."
    jump = client.post(url, headers=auth(tenant_a), json={"odometer_km": "15000"})
    assert jump.json()["is_anomaly"]
    assert not jump.json()["trusted"]
    confirmed = client.post(f"{url}/{jump.json()['id']}/confirm", headers=if_match(
        client, f"{url}/{jump.json()['id']}/confirm", auth(tenant_a)))
    assert confirmed.status_code == 200
    assert confirmed.json()["trusted"]
    listed = client.get(url, headers=auth(tenant_a, "viewer")).json()["items"]
    assert [r["odometer_km"] for r in listed] == ["15000.0", "11000.0", "12000.0"]
    superseded = next(r for r in listed if r["id"] == first.json()["id"])
    assert superseded["corrected_by_id"] == correction.json()["id"]
    assert not superseded["trusted"]
    denied = client.post(url, headers=auth(tenant_a, "driver"), json={"odometer_km": "16000"})
    assert denied.status_code == 403


def test_maintenance_schedule_and_record_over_http(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, fleet: dict[str, uuid.UUID]
) -> None:
    client.post(f"/v1/vehicles/{fleet['vehicle']}/odometer-readings", headers=auth(tenant_a),
                json={"odometer_km": "44500.0",
                      "read_at": (datetime.now(UTC) - timedelta(days=2)).isoformat()})
    created = client.post("/v1/maintenance-schedules", headers=auth(tenant_a, "fleet_manager"),
                          json={"vehicle_id": str(fleet["vehicle"]),
                                "maintenance_type": "oil_change", "interval_km": 15000,
                                "last_done_km": "30000.0"})
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["next_due_km"] == "45000.0"
    assert schedule["due_status"] == "due_soon"
    assert schedule["current_odometer_km"] == "44500.0"
    etag = created.headers["etag"]
    patched = client.patch(f"/v1/maintenance-schedules/{schedule['id']}",
                           headers={**auth(tenant_a), "If-Match": etag},
                           json={"interval_km": 20000})
    assert patched.status_code == 200
    assert patched.json()["due_status"] == "ok"
    stale = client.patch(f"/v1/maintenance-schedules/{schedule['id']}",
                         headers={**auth(tenant_a), "If-Match": etag}, json={"interval_km": 1})
    assert stale.status_code == 412
    unknown = client.post("/v1/maintenance-schedules", headers=auth(tenant_a), json={
        "vehicle_id": str(uuid.uuid4()), "maintenance_type": "tyres", "interval_days": 30})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "vehicle_id"

    job = client.post("/v1/vehicle-maintenance", headers=auth(tenant_a), json={
        "vehicle_id": str(fleet["vehicle"]), "schedule_id": schedule["id"],
        "scheduled_on": datetime.now(UTC).date().isoformat(),
        "cost": {"amount": "150.00", "currency": "EUR"}})
    assert job.status_code == 201, job.text
    assert job.json()["cost"] == {"amount": "150.00", "currency": "EUR"}
    done = client.post(f"/v1/vehicle-maintenance/{job.json()['id']}/complete",
                       headers=if_match(
                           client,
                           f"/v1/vehicle-maintenance/{job.json()['id']}/complete",
                           auth(tenant_a)), json={
                           "completed_on": (datetime.now(UTC) - timedelta(days=1)).date()
                           .isoformat(), "odometer_km": "44600.0",
                           "cost": {"amount": "189.90", "currency": "EUR"}})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["next_due_km"] == "64600.0"
    again = client.get(f"/v1/maintenance-schedules/{schedule['id']}", headers=auth(tenant_a))
    assert again.json()["last_done_km"] == "44600.0"
    due = client.get("/v1/maintenance/due", headers=auth(tenant_a, "viewer"))
    assert due.status_code == 200
    assert due.json()["items"] == []
    everything = client.get("/v1/maintenance/due", headers=auth(tenant_a),
                            params={"due_status": ["ok", "overdue"]}).json()["items"]
    assert [s["id"] for s in everything] == [schedule["id"]]
    csv = client.get("/v1/vehicle-maintenance/export.csv", headers=auth(tenant_a))
    assert csv.status_code == 200
    assert "189.90,EUR" in csv.text

    deleted = client.delete(f"/v1/vehicle-maintenance/{job.json()['id']}",
                            headers=if_match(
                                client,
                                f"/v1/vehicle-maintenance/{job.json()['id']}",
                                auth(tenant_a)), params={"reason": "Duplicate"})
    assert deleted.status_code == 204
    assert client.get(f"/v1/vehicle-maintenance/{job.json()['id']}",
                      headers=auth(tenant_a)).status_code == 404
    restored = client.post(f"/v1/vehicle-maintenance/{job.json()['id']}/restore",
                           headers=auth(tenant_a))
    assert restored.status_code == 200


def test_shifts_and_series_over_http(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, fleet: dict[str, uuid.UUID]
) -> None:
    driver = str(fleet["driver"])
    shift = client.post("/v1/shifts", headers=auth(tenant_a, "dispatcher"), json={
        "driver_id": driver, "vehicle_id": str(fleet["vehicle"]),
        "starts_at": "2027-03-26T12:00:00+01:00", "ends_at": "2027-03-26T14:00:00+01:00"})
    assert shift.status_code == 201, shift.text
    overlap = client.post("/v1/shifts", headers=auth(tenant_a), json={
        "driver_id": driver, "starts_at": "2027-03-26T13:00:00+01:00",
        "ends_at": "2027-03-26T18:00:00+01:00"})
    assert overlap.status_code == 409
    assert overlap.json()["conflicting_shift_ids"] == [shift.json()["id"]]
    series = client.post("/v1/shift-series", headers=auth(tenant_a), json={
        "driver_id": driver, "rrule": "FREQ=DAILY;COUNT=5", "dtstart": "2027-03-25T08:00:00",
        "duration_minutes": 300, "timezone": "Europe/Paris"})
    assert series.status_code == 409  # 26 March 08:00-13:00 overlaps 12:00-14:00
    assert [c["occurrence_starts_at"][:10] for c in series.json()["conflicts"]] == [
        "2027-03-26"]
    series = client.post("/v1/shift-series", headers=auth(tenant_a), json={
        "driver_id": driver, "rrule": "FREQ=DAILY;COUNT=5", "dtstart": "2027-03-25T08:00:00",
        "duration_minutes": 180, "timezone": "Europe/Paris"})
    assert series.status_code == 201, series.text
    starts = [s["starts_at"] for s in series.json()["shifts"]]
    assert [s[11:] for s in starts] == ["07:00:00Z"] * 3 + ["06:00:00Z"] * 2
    listed = client.get("/v1/shifts", headers=auth(tenant_a, "viewer"), params={
        "driver_id": driver, "from": "2027-03-26T00:00:00+01:00",
        "to": "2027-03-27T00:00:00+01:00"}).json()["items"]
    assert len(listed) == 2
    cancelled = client.post(f"/v1/shift-series/{series.json()['series']['id']}/cancel",
                            headers=if_match(
                                client,
                                f"/v1/shift-series/{series.json()['series']['id']}/cancel",
                                auth(tenant_a)))
    assert cancelled.status_code == 200
    assert len(cancelled.json()["cancelled_shift_ids"]) == 5
    denied = client.post("/v1/shifts", headers=auth(tenant_a, "viewer"), json={
        "driver_id": driver, "starts_at": "2027-04-01T08:00:00+02:00",
        "ends_at": "2027-04-01T09:00:00+02:00"})
    assert denied.status_code == 403


def test_tasks_and_goals_over_http(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    fleet: dict[str, uuid.UUID],
) -> None:
    foreign = client.post("/v1/tasks", headers=auth(tenant_a), json={
        "title": "Verify", "assignee_id": str(tenant_b.person("admin").member_id)})
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["field"] == "assignee_id"
    task = client.post("/v1/tasks", headers=auth(tenant_a, "dispatcher"), json={
        "title": "Verify the licence", "task_type": "document_verification",
        "assignee_id": str(tenant_a.person("admin").member_id), "priority": "high"})
    assert task.status_code == 201, task.text
    url = f"/v1/tasks/{task.json()['id']}"
    skip = client.patch(url, headers=if_match(client, url, auth(tenant_a)), json={"status": "done"})
    assert skip.status_code == 409
    started = client.patch(url, headers={**auth(tenant_a), "If-Match": task.headers["etag"]},
                           json={"status": "in_progress"})
    assert started.status_code == 200
    stale = client.patch(url, headers={**auth(tenant_a), "If-Match": task.headers["etag"]},
                         json={"status": "done"})
    assert stale.status_code == 412
    done = client.patch(url, headers=if_match(client, url, auth(tenant_a)), json={"status": "done"})
    assert done.json()["completed_at"] is not None
    mine = client.get("/v1/tasks", headers=auth(tenant_a), params={
        "assignee_id": str(tenant_a.person("admin").member_id), "status": "done"})
    assert [t["id"] for t in mine.json()["items"]] == [task.json()["id"]]

    goal = client.post("/v1/goals", headers=auth(tenant_a, "fleet_manager"), json={
        "scope": "driver", "scope_id": str(fleet["driver"]), "metric": "revenue",
        "target": "1000", "currency": "EUR", "period_start": "2026-11-01T00:00:00+01:00",
        "period_end": "2026-12-01T00:00:00+01:00"})
    assert goal.status_code == 201, goal.text
    assert float(goal.json()["current_value"]) == 0
    assert goal.json()["target_money"] == {"amount": "1000.00", "currency": "EUR"}
    assert goal.json()["progress_pct"] == "0.00"
    listed = client.get("/v1/goals", headers=auth(tenant_a, "viewer")).json()["items"]
    assert [g["id"] for g in listed] == [goal.json()["id"]]
    gone = client.delete(f"/v1/goals/{goal.json()['id']}", headers=if_match(
        client, f"/v1/goals/{goal.json()['id']}", auth(tenant_a)))
    assert gone.status_code == 204


def _tasks_about(sessions: Any, tenant: TenantWorld, entity_id: uuid.UUID) -> int:
    with context_session(sessions, DbContext.for_tenant(tenant.id)) as session:
        return int(session.execute(text(
            "SELECT count(*) FROM sch_tasks WHERE related_entity_id = :id"),
            {"id": entity_id}).scalar_one())


def test_a_task_relates_only_to_an_entity_of_the_callers_fleet(
    client: TestClient, sessions: Any, tenant_a: TenantWorld, tenant_b: TenantWorld,
    auth: Auth, fleet: dict[str, uuid.UUID],
) -> None:
    with context_session(sessions, DbContext.for_tenant(tenant_b.id)) as session:
        theirs = _insert(session, "rid_drivers", tenant_id=tenant_b.id, first_name="Zoe",
                         last_name="Other", status="active")
    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        gone = _insert(session, "rid_drivers", tenant_id=tenant_a.id, first_name="Old",
                       last_name="Gone", status="inactive", deleted_at=datetime.now(UTC))
    made_up = new_id()
    for entity_type, entity_id in (("driver", theirs), ("driver", made_up), ("driver", gone),
                                   ("vehicle", fleet["driver"]), ("document", made_up)):
        refused = client.post("/v1/tasks", headers=auth(tenant_a), json={
            "title": "Call", "related_entity_type": entity_type,
            "related_entity_id": str(entity_id)})
        assert refused.status_code == 404, (entity_type, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "related_entity_id"
        assert _tasks_about(sessions, tenant_a, entity_id) == 0
    assert _tasks_about(sessions, tenant_b, theirs) == 0

    unknown = client.post("/v1/tasks", headers=auth(tenant_a), json={
        "title": "Call", "related_entity_type": "spaceship", "related_entity_id": str(made_up)})
    assert unknown.status_code == 422
    assert "related_entity_type" in unknown.text

    for entity_type, entity_id in (("driver", fleet["driver"]), ("vehicle", fleet["vehicle"])):
        ok = client.post("/v1/tasks", headers=auth(tenant_a), json={
            "title": "Call", "related_entity_type": entity_type,
            "related_entity_id": str(entity_id)})
        assert ok.status_code == 201, ok.text
        assert ok.json()["related_entity_id"] == str(entity_id)
        # The reference cannot be moved by an update either.
        moved = client.patch(f"/v1/tasks/{ok.json()['id']}", headers=if_match(
            client, f"/v1/tasks/{ok.json()['id']}", auth(tenant_a)), json={
            "related_entity_type": "driver", "related_entity_id": str(theirs)})
        assert moved.status_code == 422
