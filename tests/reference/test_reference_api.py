"""The reference API: global lists with filters, and the fleet's private car makes and models
beside the global catalogue (global rows read-only, private rows invisible to other tenants)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api_support import TenantWorld, if_match
from fleetcore.core.db import DbContext, context_session

Auth = Callable[..., dict[str, str]]


@pytest.fixture(scope="module")
def catalogue(sessions: Any) -> dict[str, Any]:
    """Committed global rows with unique names (the shipped data is not loaded in tests)."""
    tag = uuid.uuid4().hex[:8]
    ids = {"tag": tag, "make": uuid.uuid4(), "model": uuid.uuid4()}
    with context_session(sessions, DbContext.system()) as session:
        session.execute(text(
            "INSERT INTO dir_platforms (id, code, name, report_config, api_config, active,"
            " countries) VALUES (:id, :code, 'Test Ride', '{}', '{}', true, '[\"AQ\"]')"),
            {"id": uuid.uuid4(), "code": f"p{tag}"})
        session.execute(text(
            "INSERT INTO dir_vehicle_classes (id, country, code, name, max_age_years, min_seats)"
            " VALUES (:id, 'AQ', :code, 'Ice class', 6, 4)"), {"id": uuid.uuid4(),
                                                               "code": f"c{tag}"})
        session.execute(text(
            "INSERT INTO dir_country_regulations (id, country, effective_from, effective_to,"
            " currency, vat_rate_pct, min_fare, source) VALUES"
            " (:a, 'AQ', '2020-01-01', '2025-01-01', 'EUR', 10, 7.5, 'test'),"
            " (:b, 'AQ', '2025-01-01', NULL, 'EUR', 20, 8, 'test')"),
            {"a": uuid.uuid4(), "b": uuid.uuid4()})
        session.execute(text("INSERT INTO dir_car_makes (id, name) VALUES (:id, :name)"),
                        {"id": ids["make"], "name": f"Global {tag}"})
        session.execute(text(
            "INSERT INTO dir_car_models (id, make_id, name, energy_types) VALUES"
            " (:id, :make, 'Sedan', '[\"petrol\"]')"), {"id": ids["model"], "make": ids["make"]})
    return ids


def test_reference_lists_and_filters(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, catalogue: dict[str, Any],
) -> None:
    headers = auth(tenant_a, "viewer")
    platforms = client.get("/v1/platforms", headers=headers, params={"country": "aq"}).json()
    assert [p["code"] for p in platforms["items"]] == [f"p{catalogue['tag']}"]
    classes = client.get("/v1/vehicle-classes", headers=headers,
                         params={"country": "AQ"}).json()["items"]
    assert [c["code"] for c in classes] == [f"c{catalogue['tag']}"]
    assert client.get("/v1/vehicle-classes", headers=headers,
                      params={"country": "XX"}).status_code == 422
    rules = client.get("/v1/country-regulations", headers=headers,
                       params={"country": "AQ", "at": "2024-06-01"}).json()["items"]
    assert len(rules) == 1
    assert rules[0]["min_fare"] == {"amount": "7.50", "currency": "EUR"}
    assert rules[0]["vat_rate_pct"] == "10.0000"
    both = client.get("/v1/country-regulations", headers=headers,
                      params={"country": "AQ", "limit": 1}).json()
    assert both["next_cursor"]
    assert both["items"][0]["effective_from"] == "2020-01-01"
    driver = client.get("/v1/platforms", headers=auth(tenant_a, "driver"))
    assert driver.status_code == 403


def test_private_makes_and_models_stay_in_their_tenant(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    catalogue: dict[str, Any],
) -> None:
    a, b = auth(tenant_a, "fleet_manager"), auth(tenant_b)
    name = f"Private {uuid.uuid4().hex[:6]}"
    created = client.post("/v1/car-makes", headers=a, json={"name": name})
    assert created.status_code == 201, created.text
    make = created.json()
    assert make["scope"] == "private"
    assert created.headers["Location"] == f"/v1/car-makes/{make['id']}"

    def names(headers: dict[str, str], **params: Any) -> list[str]:
        response = client.get("/v1/car-makes", headers=headers, params={"limit": 200, **params})
        assert response.status_code == 200
        return [m["name"] for m in response.json()["items"]]

    assert name in names(a, q=name.split()[1].upper())
    assert f"Global {catalogue['tag']}" in names(a, q=catalogue["tag"])
    assert names(a, scope="private") == [name]
    assert name not in names(b)
    assert client.get(f"/v1/car-makes/{make['id']}", headers=b).status_code == 404
    assert client.patch(f"/v1/car-makes/{make['id']}", headers=if_match(
        client, f"/v1/car-makes/{make['id']}", b),
                        json={"name": "Stolen"}).status_code == 404
    # Tenant B may add a make of the same name: names are unique per scope.
    assert client.post("/v1/car-makes", headers=b, json={"name": name}).status_code == 201

    duplicate = client.post("/v1/car-makes", headers=a, json={"name": name.lower()})
    assert duplicate.status_code == 409
    assert duplicate.json()["errors"][0]["field"] == "name"
    shadow = client.post("/v1/car-makes", headers=a, json={"name": f"Global {catalogue['tag']}"})
    assert shadow.status_code == 409

    model = client.post("/v1/car-models", headers=a, json={
        "make_id": make["id"], "name": "Van", "seats": 7, "energy_types": ["electric"],
        "year_from": 2020})
    assert model.status_code == 201, model.text
    on_global = client.post("/v1/car-models", headers=a, json={
        "make_id": str(catalogue["make"]), "name": "Estate"})
    assert on_global.status_code == 201
    assert on_global.json()["scope"] == "private"
    clash = client.post("/v1/car-models", headers=a, json={
        "make_id": str(catalogue["make"]), "name": "sedan"})
    assert clash.status_code == 409
    foreign_make = client.post("/v1/car-models", headers=b, json={
        "make_id": make["id"], "name": "X"})
    assert foreign_make.status_code == 422
    assert foreign_make.json()["errors"][0]["field"] == "make_id"
    years = client.post("/v1/car-models", headers=a, json={
        "make_id": make["id"], "name": "Old", "year_from": 2020, "year_to": 2010})
    assert years.status_code == 422
    listed = client.get("/v1/car-models", headers=a,
                        params={"make_id": str(catalogue["make"])}).json()["items"]
    assert {m["name"] for m in listed} == {"Sedan", "Estate"}
    other = client.get("/v1/car-models", headers=b,
                       params={"make_id": str(catalogue["make"])}).json()["items"]
    assert [m["name"] for m in other] == ["Sedan"]

    in_use = client.delete(f"/v1/car-makes/{make['id']}", headers=if_match(
        client, f"/v1/car-makes/{make['id']}", a))
    assert in_use.status_code == 409
    model_url = f"/v1/car-models/{model.json()['id']}"
    stale = client.patch(model_url, headers={**a, "If-Match": '"99"'}, json={"seats": 5})
    assert stale.status_code == 412
    changed = client.patch(model_url, headers={**a, "If-Match": model.headers["ETag"]},
                           json={"seats": 5, "year_to": 2019})
    assert changed.status_code == 422  # year_to before the stored year_from
    changed = client.patch(model_url, headers=if_match(client, model_url, a), json={"seats": 5})
    assert changed.status_code == 200
    assert changed.json()["version"] == 2
    assert client.delete(model_url, headers=if_match(client, model_url, a)).status_code == 204
    assert client.delete(f"/v1/car-makes/{make['id']}", headers=if_match(
        client, f"/v1/car-makes/{make['id']}", a)).status_code == 204
    assert client.get(f"/v1/car-makes/{make['id']}", headers=a).status_code == 404


def test_the_global_catalogue_is_read_only_to_tenants(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, catalogue: dict[str, Any],
) -> None:
    headers = auth(tenant_a)
    make_url = f"/v1/car-makes/{catalogue['make']}"
    got = client.get(make_url, headers=headers)
    assert got.status_code == 200
    assert got.json()["scope"] == "global"
    for response in (
        client.patch(make_url, headers=if_match(client, make_url, headers), json={"name": "Mine"}),
        client.delete(make_url, headers=if_match(client, make_url, headers)),
        client.patch(f"/v1/car-models/{catalogue['model']}", headers=if_match(
            client, f"/v1/car-models/{catalogue['model']}", headers),
                     json={"seats": 2}),
        client.delete(f"/v1/car-models/{catalogue['model']}", headers=if_match(
            client, f"/v1/car-models/{catalogue['model']}", headers)),
    ):
        assert response.status_code == 403, response.text
    assert client.post("/v1/car-makes", headers=auth(tenant_a, "viewer"),
                       json={"name": "Nope"}).status_code == 403
