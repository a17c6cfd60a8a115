"""Insurances, expenses and vehicle events over HTTP: their rules, refusal and success."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from api_support import if_match
from fleet_support import Fleet


def test_active_insurance_policies_of_a_vehicle_never_overlap(api_fleet: Fleet) -> None:
    vehicle = api_fleet.vehicle()
    first = api_fleet.insurance(vehicle["id"], starts_on="2026-01-01", ends_on="2026-12-31")
    overlap = api_fleet.client.post("/v1/vehicle-insurances", headers=api_fleet.headers(), json={
        "vehicle_id": vehicle["id"], "provider": "Allianz", "policy_number": "X",
        "coverage_type": "full", "currency": "EUR", "starts_on": "2026-12-31",
        "ends_on": "2027-12-30"})
    assert overlap.status_code == 409
    assert overlap.json()["type"].endswith("/insurance-overlap"), overlap.text
    assert overlap.json()["conflicting_insurance_id"] == first["id"]
    renewal = api_fleet.insurance(vehicle["id"], starts_on="2027-01-01", ends_on="2027-12-31")
    # Stretching the first policy into the renewal is refused too; an inactive one is not.
    stretched = api_fleet.client.patch(f"/v1/vehicle-insurances/{first['id']}",
                                       json={"ends_on": "2027-02-01"}, headers=if_match(
                                           api_fleet.client,
                                           f"/v1/vehicle-insurances/{first['id']}",
                                           api_fleet.headers()))
    assert stretched.status_code == 409
    inactive = api_fleet.client.patch(f"/v1/vehicle-insurances/{renewal['id']}",
                                      json={"active": False}, headers=if_match(
                                          api_fleet.client,
                                          f"/v1/vehicle-insurances/{renewal['id']}",
                                          api_fleet.headers()))
    assert inactive.status_code == 200
    assert api_fleet.client.patch(f"/v1/vehicle-insurances/{first['id']}",
                                  json={"ends_on": "2027-02-01"},
                                  headers=if_match(
                                      api_fleet.client,
                                      f"/v1/vehicle-insurances/{first['id']}",
                                      api_fleet.headers())).status_code == 200
    listed = api_fleet.client.get("/v1/vehicle-insurances", headers=api_fleet.headers(),
                                  params={"vehicle_id": vehicle["id"], "active": "true"}).json()
    assert [p["id"] for p in listed["items"]] == [first["id"]]


def test_insurance_validation(api_fleet: Fleet, other_api_fleet: Fleet) -> None:
    vehicle = api_fleet.vehicle()
    base = {"vehicle_id": vehicle["id"], "provider": "AXA", "policy_number": "P",
            "coverage_type": "full", "currency": "EUR", "starts_on": "2026-01-01",
            "ends_on": "2026-12-31"}
    cases = [
        ({"ends_on": "2025-12-31"}, 422),
        ({"premium": {"amount": "10.00", "currency": "EUR"}}, 422),  # no frequency
        ({"premium": {"amount": "10.00", "currency": "GBP"}, "premium_frequency": "monthly"},
         422),
        ({"premium": {"amount": -1, "currency": "EUR"}, "premium_frequency": "monthly"}, 422),
        ({"vehicle_id": other_api_fleet.vehicle()["id"]}, 422),
    ]
    for change, expected in cases:
        response = api_fleet.client.post("/v1/vehicle-insurances", json={**base, **change},
                                         headers=api_fleet.headers())
        assert response.status_code == expected, (change, response.text)


def test_expenses_validate_money_enums_and_references(
    api_fleet: Fleet, other_api_fleet: Fleet
) -> None:
    vehicle = api_fleet.vehicle()
    driver = api_fleet.driver()
    base = {"vehicle_id": vehicle["id"], "category": "fuel", "payment_method": "fuel_card",
            "amount": {"amount": "62.40", "currency": "EUR"}, "incurred_on": "2026-11-20"}
    h = api_fleet.headers()
    created = api_fleet.client.post("/v1/vehicle-expenses", headers=h, json={
        **base, "driver_id": str(driver), "is_rechargeable": True,
        "tax_amount": {"amount": "10.40", "currency": "EUR"}, "quantity": "34.870",
        "quantity_unit": "litre", "unit_price": {"amount": "1.789", "currency": "EUR"}})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["amount"] == {"amount": "62.40", "currency": "EUR"}
    assert body["unit_price"] == {"amount": "1.789", "currency": "EUR"}
    refused = {
        "negative": {"amount": {"amount": "-1.00", "currency": "EUR"}},
        "float": {"amount": {"amount": 1.5, "currency": "EUR"}},
        "bad currency": {"amount": {"amount": "1.00", "currency": "XXY"}},
        "category": {"category": "snacks"},
        "payment": {"payment_method": "bitcoin"},
        "toll": {"category": "toll"},
        "tax above amount": {"tax_amount": {"amount": "99.00", "currency": "EUR"}},
        "quantity without unit": {"quantity": "3.000"},
        "rechargeable without driver": {"is_rechargeable": True},
        "foreign driver": {"driver_id": str(other_api_fleet.driver())},
        "unknown receipt": {"receipt_document_id": str(uuid.uuid4())},
        "unknown trip": {"trip_id": str(uuid.uuid4())},
        "foreign vehicle": {"vehicle_id": other_api_fleet.vehicle()["id"]},
    }
    for name, change in refused.items():
        response = api_fleet.client.post("/v1/vehicle-expenses", json={**base, **change},
                                         headers=h)
        assert response.status_code == 422, (name, response.text)
        if name == "unknown trip":
            assert response.json()["errors"] == [{"field": "trip_id", "message": "no such trip"}]
    receipt = api_fleet.document(vehicle["id"], "receipt")
    with_receipt = api_fleet.client.post("/v1/vehicle-expenses", headers=h, json={
        **base, "receipt_document_id": str(receipt)})
    assert with_receipt.status_code == 201
    filtered = api_fleet.client.get("/v1/vehicle-expenses", headers=h,
                                    params={"driver_id": str(driver)}).json()["items"]
    assert [e["id"] for e in filtered] == [body["id"]]
    export = api_fleet.client.get("/v1/vehicle-expenses/export.csv", headers=h,
                                  params={"vehicle_id": vehicle["id"]})
    assert export.text.splitlines()[0].startswith("id,vehicle_id,driver_id,category")
    assert "amount_amount,amount_currency" in export.text.splitlines()[0]
    assert len(export.text.splitlines()) == 3


def test_vehicle_events_are_manual_and_handovers_belong_to_assignments(api_fleet: Fleet) -> None:
    vehicle = api_fleet.compliant_vehicle()
    h = api_fleet.headers()
    now = datetime.now(UTC)
    handover = api_fleet.client.post("/v1/vehicle-events", headers=h, json={
        "vehicle_id": vehicle["id"], "event_type": "handover", "occurred_at": now.isoformat()})
    assert handover.status_code == 422
    future = api_fleet.client.post("/v1/vehicle-events", headers=h, json={
        "vehicle_id": vehicle["id"], "event_type": "accident",
        "occurred_at": (now + timedelta(days=1)).isoformat()})
    assert future.status_code == 422
    naive = api_fleet.client.post("/v1/vehicle-events", headers=h, json={
        "vehicle_id": vehicle["id"], "event_type": "accident",
        "occurred_at": "2026-11-20T10:00:00"})
    assert naive.status_code == 422
    accident = api_fleet.client.post("/v1/vehicle-events", headers=h, json={
        "vehicle_id": vehicle["id"], "event_type": "accident", "severity": "high",
        "occurred_at": (now - timedelta(hours=2)).isoformat(),
        "cost": {"amount": "450.00", "currency": "EUR"}})
    assert accident.status_code == 201, accident.text
    assert accident.json()["source"] == "manual"
    assert accident.json()["cost"] == {"amount": "450.00", "currency": "EUR"}
    event_url = f"/v1/vehicle-events/{accident.json()['id']}"
    resolved = api_fleet.client.patch(event_url, headers=if_match(api_fleet.client, event_url, h),
                                      json={"resolved_at": now.isoformat()})
    assert resolved.status_code == 200
    unresolved = api_fleet.client.get("/v1/vehicle-events", headers=h, params={
        "vehicle_id": vehicle["id"], "unresolved": "true"}).json()["items"]
    assert unresolved == []
    assignment = api_fleet.client.post("/v1/vehicle-assignments", headers=h, json={
        "vehicle_id": vehicle["id"], "driver_id": str(api_fleet.driver()),
        "starts_at": (now - timedelta(minutes=5)).isoformat()}).json()
    events = api_fleet.client.get("/v1/vehicle-events", headers=h, params={
        "vehicle_id": vehicle["id"], "event_type": "handover"}).json()["items"]
    assert [e["assignment_id"] for e in events] == [assignment["id"]]
    assert api_fleet.client.delete(f"/v1/vehicle-events/{events[0]['id']}",
                                   headers=if_match(
                                       api_fleet.client,
                                       f"/v1/vehicle-events/{events[0]['id']}",
                                       h)).status_code == 409
    # A vehicle with a running assignment cannot be deleted.
    assert api_fleet.client.delete(f"/v1/vehicles/{vehicle['id']}", headers=if_match(
        api_fleet.client, f"/v1/vehicles/{vehicle['id']}", h)).status_code == 409
