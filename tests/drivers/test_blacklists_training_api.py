"""Blacklist entries (lift with a reason; active ones block work), training rules and the
read-only performance figures."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from drivers_support import committed_insert, driver_body
from fastapi.testclient import TestClient
from sqlalchemy import text

from api_support import TenantWorld, if_match
from fleetcore.core.db import DbContext, context_session
from fleetcore.drivers import service

Auth = Callable[..., dict[str, str]]
BLACKLISTS = "/v1/driver-blacklists"
TRAINING = "/v1/driver-training"


def _driver(client: TestClient, world: TenantWorld, auth: Auth, n: int = 1) -> str:
    response = client.post("/v1/drivers", headers=auth(world), json=driver_body(n))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_blacklist_blocks_until_lifted_with_a_reason(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any
) -> None:
    driver = _driver(client, tenant_a, auth)
    bad_end = client.post(BLACKLISTS, headers=auth(tenant_a), json={
        "driver_id": driver, "category": "fraud", "reason": "x",
        "starts_at": "2026-11-01T00:00:00+00:00", "ends_at": "2026-10-01T00:00:00+00:00"})
    assert bad_end.status_code == 422
    assert bad_end.json()["errors"][0]["field"] == "ends_at"
    assert client.post(BLACKLISTS, headers=auth(tenant_a), json={
        "driver_id": driver, "category": "gossip", "reason": "x"}).status_code == 422
    created = client.post(BLACKLISTS, headers=auth(tenant_a), json={
        "driver_id": driver, "category": "fraud", "reason": "Fake trips"})
    assert created.status_code == 201, created.text
    entry = created.json()
    assert (entry["status"], entry["decided_by"]) == ("active", str(tenant_a.person().member_id))

    now = datetime.now(UTC)
    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        reasons = service.availability_conflicts(session, uuid.UUID(driver), now, None)
    assert len(reasons) == 1
    assert "Fake trips" in reasons[0]
    active = client.get(BLACKLISTS, params={"active_at": now.isoformat(), "driver_id": driver},
                        headers=auth(tenant_a)).json()["items"]
    assert [e["id"] for e in active] == [entry["id"]]
    report = client.get(f"/v1/drivers/{driver}/compliance", headers=auth(tenant_a)).json()
    assert report["compliant"] is False

    url = f"{BLACKLISTS}/{entry['id']}"
    assert client.post(f"{url}/lift", headers=if_match(
        client, f"{url}/lift", auth(tenant_a)), json={}).status_code == 422
    lifted = client.post(f"{url}/lift", headers=if_match(
        client, f"{url}/lift", auth(tenant_a)), json={"reason": "Appeal won"})
    assert lifted.status_code == 200
    assert (lifted.json()["status"], lifted.json()["lift_reason"]) == ("lifted", "Appeal won")
    assert client.post(f"{url}/lift", headers=if_match(client, f"{url}/lift", auth(tenant_a)),
                       json={"reason": "again"}).status_code == 409
    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        assert service.availability_conflicts(session, uuid.UUID(driver), now, None) == []
    assert client.get(f"/v1/drivers/{driver}/compliance",
                      headers=auth(tenant_a)).json()["compliant"] is True
    exported = client.get(f"{BLACKLISTS}/export.csv", params={"status": "lifted"},
                          headers=auth(tenant_a))
    assert [r["id"] for r in csv.DictReader(io.StringIO(exported.text))] == [entry["id"]]


def test_deleted_blacklist_entries_restore(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    driver = _driver(client, tenant_a, auth)
    entry = client.post(BLACKLISTS, headers=auth(tenant_a), json={
        "driver_id": driver, "category": "other", "reason": "Wrong driver"}).json()
    url = f"{BLACKLISTS}/{entry['id']}"
    assert client.request("DELETE", url, headers=if_match(client, url, auth(tenant_a)),
                          json={"reason": "Recorded by mistake"}).status_code == 204
    assert client.get(url, headers=auth(tenant_a)).status_code == 404
    listed = client.get(BLACKLISTS, params={"include_deleted": "true"},
                        headers=auth(tenant_a)).json()["items"]
    assert [e["deletion_reason"] for e in listed] == ["Recorded by mistake"]
    restored = client.post(f"{url}/restore", headers=auth(tenant_a))
    assert restored.status_code == 200
    assert client.post(f"{url}/restore", headers=auth(tenant_a)).status_code == 409


@pytest.mark.parametrize(("values", "field"), [
    ({"status": "completed"}, "completed_on"),
    ({"status": "completed", "completed_on": "2026-10-01", "expires_on": "2026-09-01"},
     "expires_on"),
    ({"completed_on": "2099-01-01", "status": "completed"}, "completed_on"),
    ({"certificate_document_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e"},
     "certificate_document_id"),
    ({"training_type": "nice_to_have"}, "training_type"),
    ({"score": "-1"}, "score"),
    ({"driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e"}, "driver_id"),
])
def test_training_rules_are_refused_with_the_field(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, values: dict[str, Any], field: str
) -> None:
    driver = _driver(client, tenant_a, auth)
    body = {"driver_id": driver, "training_name": "Safety", "training_type": "mandatory",
            **values}
    response = client.post(TRAINING, headers=auth(tenant_a), json=body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_mandatory_training_drives_compliance(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    driver = _driver(client, tenant_a, auth)
    planned = client.post(TRAINING, headers=auth(tenant_a), json={
        "driver_id": driver, "training_name": "Safety", "training_type": "mandatory"})
    assert planned.status_code == 201
    compliance = f"/v1/drivers/{driver}/compliance"
    assert client.get(compliance, headers=auth(tenant_a)).json()["compliant"] is False
    url = f"{TRAINING}/{planned.json()['id']}"
    missing_date = client.patch(url, headers=if_match(
        client, url, auth(tenant_a)), json={"status": "completed"})
    assert missing_date.status_code == 422
    done = client.patch(url, headers=if_match(client, url, auth(tenant_a)),
                        json={"status": "completed", "completed_on": "2026-11-01",
                              "expires_on": "2028-11-01", "score": "87.5"})
    assert done.status_code == 200, done.text
    assert client.get(compliance, headers=auth(tenant_a)).json()["compliant"] is True
    listed = client.get(TRAINING, params={"driver_id": driver, "status": "completed",
                                          "expiring_before": "2029-01-01"},
                        headers=auth(tenant_a)).json()["items"]
    assert [t["id"] for t in listed] == [planned.json()["id"]]
    assert client.get(TRAINING, params={"expiring_before": "2027-01-01", "driver_id": driver},
                      headers=auth(tenant_a)).json()["items"] == []
    assert client.request("DELETE", url, headers=if_match(
        client, url, auth(tenant_a))).status_code == 204
    assert client.post(f"{url}/restore", headers=auth(tenant_a)).status_code == 200


def test_performances_are_listed_by_driver_platform_and_period(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    sessions: Any,
) -> None:
    driver = uuid.UUID(_driver(client, tenant_a, auth, 1))
    other = uuid.UUID(_driver(client, tenant_a, auth, 2))
    with context_session(sessions, DbContext.system()) as session:
        platform = session.execute(text(
            "INSERT INTO dir_platforms (id, code, name) VALUES (gen_random_uuid(), :c, 'P')"
            " RETURNING id"), {"c": f"p_{uuid.uuid4().hex[:8]}"}).scalar_one()
    week = datetime(2026, 11, 2, tzinfo=UTC)
    rows = []
    for d, p, start in ((driver, platform, week), (driver, None, week),
                        (driver, platform, week + timedelta(days=7)), (other, None, week)):
        rows.append(committed_insert(
            sessions, tenant_a.id, "rid_driver_performances", driver_id=d, platform_id=p,
            period_start=start, period_end=start + timedelta(days=7), trips_completed=40,
            gross_revenue="812.40", net_revenue="650", currency="EUR"))

    def ids(**params: Any) -> list[str]:
        response = client.get("/v1/driver-performances", params=params, headers=auth(tenant_a))
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert ids(driver_id=str(driver)) == [str(r) for r in rows[:3]]
    assert ids(platform_id=str(platform)) == [str(rows[0]), str(rows[2])]
    assert ids(driver_id=str(driver), period_since=(week + timedelta(days=1)).isoformat()) == [
        str(rows[2])]
    assert ids(period_until=(week + timedelta(days=1)).isoformat()) == [
        str(rows[0]), str(rows[1]), str(rows[3])]
    first = client.get("/v1/driver-performances", params={"driver_id": str(other)},
                       headers=auth(tenant_a)).json()["items"][0]
    assert first["gross_revenue"] == {"amount": "812.40", "currency": "EUR"}
    assert client.get("/v1/driver-performances", headers=auth(tenant_b)).json()["items"] == []
    exported = client.get("/v1/driver-performances/export.csv",
                          params={"driver_id": str(other)}, headers=auth(tenant_a))
    [line] = list(csv.DictReader(io.StringIO(exported.text)))
    assert (line["net_revenue_amount"], line["net_revenue_currency"]) == ("650.00", "EUR")
