"""Driver requests: the enforced state machine, leave rules, vehicle change → assignment."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from drivers_support import committed_insert, driver_body
from fastapi.testclient import TestClient

from api_support import TenantWorld, if_match
from fleet_support import Fleet
from fleetcore.core.orm import new_id
from fleetcore.scheduling.driver_decisions_service import REQUEST_TRANSITIONS

Auth = Callable[..., dict[str, str]]
REQUESTS = "/v1/driver-requests"
ACTIONS = {"review": "under_review", "approve": "approved", "reject": "rejected",
           "cancel": "cancelled", "complete": "completed"}
STATUSES = ["pending", "under_review", "approved", "rejected", "cancelled", "completed"]
ALLOWED = {("pending", "under_review"), ("pending", "cancelled"), ("under_review", "approved"),
           ("under_review", "rejected"), ("under_review", "cancelled"),
           ("approved", "completed")}


def _driver(client: TestClient, world: TenantWorld, auth: Auth, n: int = 1) -> str:
    response = client.post("/v1/drivers", headers=auth(world), json=driver_body(n))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_the_transition_table_is_the_documented_one() -> None:
    table = {(a, b) for a, targets in REQUEST_TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.fixture(scope="module")
def machine(make_tenant: Callable[..., TenantWorld], client: TestClient, auth: Auth
            ) -> tuple[TenantWorld, str]:
    world = make_tenant()
    return world, _driver(client, world, auth)


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("current", STATUSES)
def test_every_transition_is_allowed_or_refused_as_a_409(
    client: TestClient, auth: Auth, sessions: Any, machine: tuple[TenantWorld, str],
    current: str, action: str,
) -> None:
    world, driver = machine
    decided = datetime.now(UTC) if current in ("approved", "rejected", "completed") else None
    request_id = committed_insert(sessions, world.id, "rid_driver_requests",
                                  driver_id=uuid.UUID(driver), request_type="other",
                                  status=current, details="{}", reviewed_at=decided)
    response = client.post(f"{REQUESTS}/{request_id}/{action}", json={"notes": "ok"},
                           headers=if_match(client, f"{REQUESTS}/{request_id}", auth(world)))
    target = ACTIONS[action]
    if (current, target) in ALLOWED:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == target
        assert response.json()["resolution_notes"] == "ok"
    else:
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["type"].endswith("/invalid-transition")
        assert (problem["from"], problem["to"]) == (current, target)
        after = client.get(f"{REQUESTS}/{request_id}", headers=auth(world)).json()
        assert after["status"] == current


@pytest.mark.parametrize(("values", "field"), [
    ({"request_type": "leave"}, "period_start"),
    ({"request_type": "leave", "period_start": "2026-12-20T00:00:00+00:00"}, "period_end"),
    ({"request_type": "leave", "period_start": "2026-12-20T00:00:00+00:00",
      "period_end": "2026-12-10T00:00:00+00:00"}, "period_end"),
    ({"request_type": "advance_payment"}, "amount"),
    ({"request_type": "advance_payment", "amount": {"amount": "0", "currency": "EUR"}},
     "amount.amount"),
    ({"request_type": "vehicle_change"}, "requested_vehicle_id"),
    ({"request_type": "vehicle_change",
      "requested_vehicle_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e"}, "requested_vehicle_id"),
    ({"request_type": "other", "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e"},
     "driver_id"),
    ({"request_type": "holiday"}, "request_type"),
])
def test_create_refuses_incomplete_requests(
    client: TestClient, auth: Auth, machine: tuple[TenantWorld, str], values: dict[str, Any],
    field: str,
) -> None:
    world, driver = machine
    response = client.post(REQUESTS, headers=auth(world), json={"driver_id": driver, **values})
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_create_list_and_permissions(
    client: TestClient, auth: Auth, machine: tuple[TenantWorld, str], tenant_b: TenantWorld,
) -> None:
    world, driver = machine
    created = client.post(REQUESTS, headers=auth(world, "dispatcher"), json={
        "driver_id": driver, "request_type": "advance_payment",
        "amount": {"amount": "150.00", "currency": "EUR"}, "reason": "Car repair"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["amount"] == {"amount": "150.00", "currency": "EUR"}
    assert created.headers["location"] == f"{REQUESTS}/{body['id']}"
    listed = client.get(REQUESTS, params={"driver_id": driver, "request_type": "advance_payment"},
                        headers=auth(world, "viewer")).json()["items"]
    assert body["id"] in [r["id"] for r in listed]
    assert client.post(REQUESTS, headers=auth(world, "viewer"), json={
        "driver_id": driver, "request_type": "other"}).status_code == 403
    assert client.get(f"{REQUESTS}/{body['id']}", headers=auth(tenant_b)).status_code == 404
    assert client.post(f"{REQUESTS}/{body['id']}/review",
                       headers=if_match(
                           client,
                           f"{REQUESTS}/{body['id']}/review",
                           auth(tenant_b))).status_code == 404
    exported = client.get(f"{REQUESTS}/export.csv", params={"driver_id": driver},
                          headers=auth(world))
    assert exported.status_code == 200
    assert body["id"] in exported.text


def _fleet(client: TestClient, world: TenantWorld, auth: Auth, sessions: Any) -> Fleet:
    fleet = Fleet(world, client, auth, sessions, new_id(), new_id())
    fleet.insert("dir_car_makes", id=fleet.make_id, name=f"Make {fleet.make_id.hex[:6]}")
    fleet.insert("dir_car_models", id=fleet.model_id, make_id=fleet.make_id, name="Model")
    return fleet


def _leave(client: TestClient, world: TenantWorld, auth: Auth, driver: str, start: datetime,
           days: int = 7) -> str:
    created = client.post(REQUESTS, headers=auth(world), json={
        "driver_id": driver, "request_type": "leave", "period_start": start.isoformat(),
        "period_end": (start + timedelta(days=days)).isoformat()})
    assert created.status_code == 201, created.text
    request_id = str(created.json()["id"])
    assert client.post(f"{REQUESTS}/{request_id}/review", headers=if_match(
        client, f"{REQUESTS}/{request_id}/review", auth(world))).status_code == 200
    return request_id


def test_leave_is_refused_over_planned_work_and_then_blocks_it(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any
) -> None:
    fleet = _fleet(client, tenant_a, auth, sessions)
    driver = _driver(client, tenant_a, auth, 5)
    start = datetime(2027, 3, 1, tzinfo=UTC)
    shift = fleet.insert("sch_shifts", driver_id=uuid.UUID(driver),
                         starts_at=start + timedelta(days=1),
                         ends_at=start + timedelta(days=1, hours=8))
    vehicle = fleet.vehicle()
    assignment = fleet.insert("flt_vehicle_assignments", vehicle_id=uuid.UUID(vehicle["id"]),
                              driver_id=uuid.UUID(driver), starts_at=start - timedelta(days=3),
                              assignment_type="permanent", status="scheduled")
    request_id = _leave(client, tenant_a, auth, driver, start)
    refused = client.post(f"{REQUESTS}/{request_id}/approve", headers=if_match(
        client, f"{REQUESTS}/{request_id}/approve", auth(tenant_a)))
    assert refused.status_code == 409, refused.text
    conflicts = refused.json()["conflicts"]
    assert {(c["type"], c["id"]) for c in conflicts} == {("shift", str(shift)),
                                                         ("assignment", str(assignment))}
    fleet.sql("UPDATE sch_shifts SET status = 'cancelled' WHERE id = :id", id=shift)
    fleet.sql("UPDATE flt_vehicle_assignments SET status = 'cancelled' WHERE id = :id",
              id=assignment)
    approved = client.post(f"{REQUESTS}/{request_id}/approve", headers=if_match(
        client, f"{REQUESTS}/{request_id}/approve", auth(tenant_a)))
    assert approved.status_code == 200, approved.text
    assert approved.json()["reviewed_at"] is not None
    # The approved leave now blocks an assignment in its period (fleet service → drivers).
    compliant = fleet.compliant_vehicle()
    blocked = client.post("/v1/vehicle-assignments", headers=auth(tenant_a), json={
        "vehicle_id": compliant["id"], "driver_id": driver,
        "starts_at": (start + timedelta(days=2)).isoformat(),
        "ends_at": (start + timedelta(days=3)).isoformat()})
    assert blocked.status_code == 409, blocked.text
    assert "leave" in blocked.text


def test_approving_a_vehicle_change_creates_the_assignment(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any
) -> None:
    fleet = _fleet(client, tenant_a, auth, sessions)
    driver = _driver(client, tenant_a, auth, 6)
    wanted = fleet.compliant_vehicle()
    start = datetime.now(UTC) + timedelta(days=2)
    created = client.post(REQUESTS, headers=auth(tenant_a), json={
        "driver_id": driver, "request_type": "vehicle_change",
        "requested_vehicle_id": wanted["id"], "period_start": start.isoformat(),
        "period_end": (start + timedelta(days=5)).isoformat()})
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    client.post(f"{REQUESTS}/{request_id}/review", headers=if_match(
        client, f"{REQUESTS}/{request_id}/review", auth(tenant_a)))
    approved = client.post(f"{REQUESTS}/{request_id}/approve", headers=if_match(
        client, f"{REQUESTS}/{request_id}/approve", auth(tenant_a)))
    assert approved.status_code == 200, approved.text
    assignment_id = approved.json()["resulting_assignment_id"]
    assert assignment_id is not None
    [row] = fleet.sql("SELECT vehicle_id, driver_id FROM flt_vehicle_assignments WHERE id = :id",
                      id=assignment_id)
    assert (str(row[0]), str(row[1])) == (wanted["id"], driver)


def test_a_vehicle_change_the_fleet_refuses_leaves_the_request_under_review(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any
) -> None:
    fleet = _fleet(client, tenant_a, auth, sessions)
    driver = _driver(client, tenant_a, auth, 7)
    uninsured = fleet.vehicle()  # not compliant: no insurance, no registration
    created = client.post(REQUESTS, headers=auth(tenant_a), json={
        "driver_id": driver, "request_type": "vehicle_change",
        "requested_vehicle_id": uninsured["id"]})
    request_id = created.json()["id"]
    client.post(f"{REQUESTS}/{request_id}/review", headers=if_match(
        client, f"{REQUESTS}/{request_id}/review", auth(tenant_a)))
    refused = client.post(f"{REQUESTS}/{request_id}/approve", headers=if_match(
        client, f"{REQUESTS}/{request_id}/approve", auth(tenant_a)))
    assert refused.status_code == 409, refused.text
    after = client.get(f"{REQUESTS}/{request_id}", headers=auth(tenant_a)).json()
    assert (after["status"], after["resulting_assignment_id"]) == ("under_review", None)


@pytest.mark.parametrize("current", ["pending", "under_review"])
def test_an_open_request_is_changed_with_if_match(
    client: TestClient, auth: Auth, sessions: Any, machine: tuple[TenantWorld, str],
    tenant_b: TenantWorld, current: str,
) -> None:
    world, driver = machine
    start = datetime(2027, 3, 1, tzinfo=UTC)
    request_id = committed_insert(sessions, world.id, "rid_driver_requests",
                                  driver_id=uuid.UUID(driver), request_type="leave",
                                  status=current, details="{}", period_start=start,
                                  period_end=start + timedelta(days=5))
    item = f"{REQUESTS}/{request_id}"
    etag = client.get(item, headers=auth(world)).headers["ETag"]
    change = {"period_end": (start + timedelta(days=7)).isoformat(), "reason": "One more week",
              "details": {"destination": "Lisbon"}}

    stale = client.patch(item, json=change, headers={**auth(world), "If-Match": '"999"'})
    assert stale.status_code == 412, stale.text
    assert client.patch(item, json=change, headers=if_match(
        client, item, auth(tenant_b))).status_code == 404
    assert client.patch(item, json=change, headers=if_match(
        client, item, auth(world, "viewer"))).status_code == 403
    changed = client.patch(item, json=change,
                           headers={**auth(world, "dispatcher"), "If-Match": etag})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert datetime.fromisoformat(body["period_end"]) == start + timedelta(days=7)
    assert datetime.fromisoformat(body["period_start"]) == start  # not sent: unchanged
    assert (body["reason"], body["details"], body["status"]) == (
        "One more week", {"destination": "Lisbon"}, current)
    assert changed.headers["ETag"] != etag
    assert client.get(item, headers=auth(world)).json() == body


@pytest.mark.parametrize(("change", "field"), [
    ({"period_end": "2027-02-01T00:00:00+00:00"}, "period_end"),
    ({"period_start": None}, "period_start"),
    ({"requested_vehicle_id": str(uuid.uuid4())}, "requested_vehicle_id"),
    ({"amount": {"amount": "0", "currency": "EUR"}}, "amount.amount"),
    ({"request_type": "other"}, "request_type"),
])
def test_a_change_keeps_the_rules_of_the_request(
    client: TestClient, auth: Auth, sessions: Any, machine: tuple[TenantWorld, str],
    change: dict[str, Any], field: str,
) -> None:
    world, driver = machine
    start = datetime(2027, 3, 1, tzinfo=UTC)
    request_id = committed_insert(sessions, world.id, "rid_driver_requests",
                                  driver_id=uuid.UUID(driver), request_type="leave",
                                  status="pending", details="{}", period_start=start,
                                  period_end=start + timedelta(days=5))
    before = client.get(f"{REQUESTS}/{request_id}", headers=auth(world)).json()
    refused = client.patch(f"{REQUESTS}/{request_id}", json=change, headers=if_match(
        client, f"{REQUESTS}/{request_id}", auth(world)))
    assert refused.status_code == 422, refused.text
    assert field in [e["field"] for e in refused.json()["errors"]]
    assert client.get(f"{REQUESTS}/{request_id}", headers=auth(world)).json() == before


def test_an_advance_needs_its_amount_after_a_change(
    client: TestClient, auth: Auth, machine: tuple[TenantWorld, str],
) -> None:
    world, driver = machine
    created = client.post(REQUESTS, headers=auth(world), json={
        "driver_id": driver, "request_type": "advance_payment",
        "amount": {"amount": "150.00", "currency": "EUR"}})
    assert created.status_code == 201, created.text
    item = f"{REQUESTS}/{created.json()['id']}"
    raised = client.patch(item, headers=if_match(client, item, auth(world)),
                          json={"amount": {"amount": "175.50", "currency": "EUR"}})
    assert raised.status_code == 200, raised.text
    assert raised.json()["amount"] == {"amount": "175.50", "currency": "EUR"}
    cleared = client.patch(item, headers=if_match(client, item, auth(world)), json={"amount": None})
    assert cleared.status_code == 422, cleared.text
    assert "amount" in [e["field"] for e in cleared.json()["errors"]]


@pytest.mark.parametrize("current", ["approved", "rejected", "cancelled", "completed"])
def test_a_decided_request_cannot_be_changed(
    client: TestClient, auth: Auth, sessions: Any, machine: tuple[TenantWorld, str],
    current: str,
) -> None:
    world, driver = machine
    decided = datetime.now(UTC) if current in ("approved", "rejected", "completed") else None
    request_id = committed_insert(sessions, world.id, "rid_driver_requests",
                                  driver_id=uuid.UUID(driver), request_type="other",
                                  status=current, details="{}", reviewed_at=decided,
                                  reason="As filed")
    item = f"{REQUESTS}/{request_id}"
    etag = client.get(item, headers=auth(world)).headers["ETag"]
    refused = client.patch(item, json={"reason": "Changed afterwards"},
                           headers={**auth(world), "If-Match": etag})
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/request-decided")
    assert (problem["status"], problem["request_status"]) == (409, current)
    after = client.get(item, headers=auth(world))
    assert (after.json()["reason"], after.headers["ETag"]) == ("As filed", etag)
