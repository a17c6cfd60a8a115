"""Vehicles over HTTP: identifiers, uniqueness, catalogue visibility, lists, odometer, export,
soft delete and restore, query count and index use."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, event, text

from api_support import if_match
from fleet_support import Fleet, vin
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.orm import new_id


def _errors(response: Any) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


# --- validation ------------------------------------------------------------------------------


def test_plates_are_normalised_and_checked_per_country(api_fleet: Fleet) -> None:
    created = api_fleet.client.post("/v1/vehicles", headers=api_fleet.headers(),
                                    json=api_fleet.vehicle_body(licence_plate="ga 321 bc"))
    assert created.status_code == 201, created.text
    assert created.json()["licence_plate"] == "GA-321-BC"
    for plate in ("GA-000-BC", "GO-123-BC", "SS-123-AB", "123 ABC 75"):
        bad = api_fleet.client.post("/v1/vehicles", headers=api_fleet.headers(),
                                    json=api_fleet.vehicle_body(licence_plate=plate))
        assert bad.status_code == 422, plate
        assert _errors(bad) == ["licence_plate"]


def test_vin_check_digit_is_enforced_where_the_country_uses_it(api_fleet: Fleet) -> None:
    good = vin("VF1")
    wrong = good[:8] + ("0" if good[8] != "0" else "1") + good[9:]
    # France does not use the check digit: a European VIN with any 9th character is fine.
    fr = api_fleet.client.post("/v1/vehicles", headers=api_fleet.headers(),
                               json=api_fleet.vehicle_body(vin=wrong.lower()))
    assert fr.status_code == 201, fr.text
    assert fr.json()["vin"] == wrong
    # A North American VIN always carries one.
    na = vin("1FA")
    na_wrong = na[:8] + ("0" if na[8] != "0" else "1") + na[9:]
    refused = api_fleet.client.post("/v1/vehicles", headers=api_fleet.headers(),
                                    json=api_fleet.vehicle_body(vin=na_wrong))
    assert refused.status_code == 422
    assert _errors(refused) == ["vin"]
    assert "check digit" in refused.json()["errors"][0]["message"]
    for bad in ("SHORT", "WVWZZZ1KZ6W00000I"):  # too short; I is not a VIN letter
        response = api_fleet.client.post("/v1/vehicles", headers=api_fleet.headers(),
                                         json=api_fleet.vehicle_body(vin=bad))
        assert response.status_code == 422
        assert _errors(response) == ["vin"]


def test_a_live_vin_or_plate_is_unique_and_the_409_names_the_field(api_fleet: Fleet) -> None:
    first = api_fleet.vehicle()
    same_plate = api_fleet.client.post(
        "/v1/vehicles", headers=api_fleet.headers(),
        json=api_fleet.vehicle_body(licence_plate=first["licence_plate"].replace("-", "")))
    assert same_plate.status_code == 409
    assert _errors(same_plate) == ["licence_plate"]
    same_vin = api_fleet.client.post("/v1/vehicles", headers=api_fleet.headers(),
                                     json=api_fleet.vehicle_body(vin=first["vin"]))
    assert same_vin.status_code == 409
    assert _errors(same_vin) == ["vin"]
    # Once deleted, the plate is free again; restoring the old one then conflicts.
    assert api_fleet.client.delete(f"/v1/vehicles/{first['id']}", headers=if_match(
        api_fleet.client, f"/v1/vehicles/{first['id']}", api_fleet.headers()),
                                   params={"reason": "Sold"}).status_code == 204
    again = api_fleet.client.post("/v1/vehicles", headers=api_fleet.headers(),
                                  json=api_fleet.vehicle_body(licence_plate=first["licence_plate"]))
    assert again.status_code == 201
    restore = api_fleet.client.post(f"/v1/vehicles/{first['id']}/restore",
                                    headers=api_fleet.headers())
    assert restore.status_code == 409
    assert _errors(restore) == ["licence_plate"]


def test_make_and_model_must_be_visible_to_the_tenant(
    api_fleet: Fleet, other_api_fleet: Fleet
) -> None:
    foreign = api_fleet.client.post(
        "/v1/vehicles", headers=api_fleet.headers(),
        json=api_fleet.vehicle_body(make_id=str(other_api_fleet.make_id), model_id=None))
    assert foreign.status_code == 422
    assert _errors(foreign) == ["make_id"]
    foreign_model = api_fleet.client.post(
        "/v1/vehicles", headers=api_fleet.headers(),
        json=api_fleet.vehicle_body(model_id=str(other_api_fleet.model_id)))
    assert foreign_model.status_code == 422
    assert _errors(foreign_model) == ["model_id"]
    unknown = api_fleet.client.post("/v1/vehicles", headers=api_fleet.headers(),
                                    json=api_fleet.vehicle_body(make_id=str(uuid.uuid4())))
    assert _errors(unknown) == ["make_id"]
    future = api_fleet.client.post("/v1/vehicles", headers=api_fleet.headers(),
                                   json=api_fleet.vehicle_body(year=datetime.now(UTC).year + 3))
    assert _errors(future) == ["year"]


def test_patch_revalidates_and_refuses_nulls(api_fleet: Fleet) -> None:
    vehicle = api_fleet.vehicle()
    url = f"/v1/vehicles/{vehicle['id']}"
    bad = api_fleet.client.patch(url, json={"licence_plate": "nope!"}, headers=if_match(
        api_fleet.client, url, api_fleet.headers()))
    assert bad.status_code == 422
    assert _errors(bad) == ["licence_plate"]
    null = api_fleet.client.patch(url, json={"country": None}, headers=if_match(
        api_fleet.client, url, api_fleet.headers()))
    assert _errors(null) == ["country"]
    # Moving the car to Britain re-checks the plate with British rules.
    moved = api_fleet.client.patch(url, json={"country": "GB", "licence_plate": "la19abc"},
                                   headers=if_match(api_fleet.client, url, api_fleet.headers()))
    assert moved.status_code == 200, moved.text
    assert moved.json()["licence_plate"] == "LA19 ABC"
    money = api_fleet.client.patch(
        url, json={"acquisition_cost": {"amount": "23500.00", "currency": "EUR"}},
        headers=if_match(api_fleet.client, url, api_fleet.headers()))
    assert money.json()["acquisition_cost"] == {"amount": "23500.00", "currency": "EUR"}


# --- odometer, lists -------------------------------------------------------------------------


def test_current_odometer_is_the_latest_trusted_reading(api_fleet: Fleet) -> None:
    vehicle = api_fleet.vehicle()
    assert vehicle["current_odometer_km"] is None
    now = datetime.now(UTC)
    vid = uuid.UUID(vehicle["id"])
    api_fleet.insert("flt_odometer_readings", vehicle_id=vid, read_at=now - timedelta(days=3),
                     odometer_km=1000, source="manual")
    api_fleet.insert("flt_odometer_readings", vehicle_id=vid, read_at=now - timedelta(days=2),
                     odometer_km=1200, source="gps")
    # A later anomaly does not count until confirmed.
    api_fleet.insert("flt_odometer_readings", vehicle_id=vid, read_at=now - timedelta(days=1),
                     odometer_km=99000, source="gps", is_anomaly=True, anomaly_reason="jump")
    read = api_fleet.client.get(f"/v1/vehicles/{vid}", headers=api_fleet.headers()).json()
    assert read["current_odometer_km"] == "1200.0"
    listed = api_fleet.client.get("/v1/vehicles", headers=api_fleet.headers()).json()["items"]
    assert [v["current_odometer_km"] for v in listed if v["id"] == str(vid)] == ["1200.0"]


def test_list_filters_searches_sorts_and_paginates(api_fleet: Fleet) -> None:
    diesel = api_fleet.vehicle(fuel_type="diesel", licence_plate="GB-101-AA")
    electric = api_fleet.vehicle(fuel_type="electric", licence_plate="GB-102-AA")
    retired = api_fleet.vehicle(status="retired", licence_plate="GB-103-AA")
    h = api_fleet.headers()

    def ids(**params: Any) -> list[str]:
        body = api_fleet.client.get("/v1/vehicles", params=params, headers=h)
        assert body.status_code == 200, body.text
        return [v["id"] for v in body.json()["items"]]

    assert ids(fuel_type="electric") == [electric["id"]]
    assert ids(status="retired") == [retired["id"]]
    assert ids(q="gb102") == [electric["id"]]
    assert ids(q=diesel["vin"][-6:].lower()) == [diesel["id"]]
    assert ids(sort="-licence_plate") == [retired["id"], electric["id"], diesel["id"]]
    assert ids(make_id=str(api_fleet.make_id), sort="licence_plate") == [
        diesel["id"], electric["id"], retired["id"]]
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "sort": "licence_plate"}
        if cursor:
            params["cursor"] = cursor
        page = api_fleet.client.get("/v1/vehicles", params=params, headers=h).json()
        pages.append([v["id"] for v in page["items"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == [[diesel["id"], electric["id"]], [retired["id"]]]
    api_fleet.client.delete(f"/v1/vehicles/{retired['id']}", headers=if_match(
        api_fleet.client, f"/v1/vehicles/{retired['id']}", h))
    assert retired["id"] not in ids()
    assert retired["id"] in ids(include_deleted="true")
    assert api_fleet.client.get("/v1/vehicles", params={"cursor": "garbage"},
                                headers=h).status_code == 422


def test_delete_is_soft_with_a_reason_and_restore_brings_it_back(api_fleet: Fleet) -> None:
    vehicle = api_fleet.vehicle()
    url = f"/v1/vehicles/{vehicle['id']}"
    assert api_fleet.client.delete(url, params={"reason": "Written off"},
                                   headers=if_match(
                                       api_fleet.client,
                                       url,
                                       api_fleet.headers())).status_code == 204
    assert api_fleet.client.get(url, headers=api_fleet.headers()).status_code == 404
    gone = api_fleet.client.get(url, params={"include_deleted": "true"},
                                headers=api_fleet.headers()).json()
    assert gone["deletion_reason"] == "Written off"
    restored = api_fleet.client.post(f"{url}/restore", headers=api_fleet.headers())
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert api_fleet.client.post(f"{url}/restore", headers=api_fleet.headers()).status_code == 409


def test_export_is_a_streamed_csv_of_the_filter_and_formula_safe(api_fleet: Fleet) -> None:
    api_fleet.vehicle(notes="=HYPERLINK(\"http://evil\")",
                      acquisition_cost={"amount": "18990.5", "currency": "EUR"})
    api_fleet.vehicle(fuel_type="electric")
    response = api_fleet.client.get("/v1/vehicles/export.csv", params={"fuel_type": "diesel"},
                                    headers=api_fleet.headers())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1
    assert rows[0]["notes"].startswith("'=")
    assert rows[0]["acquisition_cost_amount"] == "18990.50"
    assert rows[0]["acquisition_cost_currency"] == "EUR"
    assert rows[0]["fuel_type"] == "diesel"


def test_export_does_not_leak_another_tenant(api_fleet: Fleet, other_api_fleet: Fleet) -> None:
    mine = api_fleet.vehicle()
    theirs = other_api_fleet.vehicle()
    text_ = api_fleet.client.get("/v1/vehicles/export.csv", headers=api_fleet.headers()).text
    assert mine["id"] in text_
    assert theirs["id"] not in text_


# --- performance: query count and index use ---------------------------------------------------


@contextmanager
def _count_queries(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_the_list_page_runs_a_constant_number_of_queries(
    api_fleet: Fleet, other_api_fleet: Fleet, api_app: FastAPI
) -> None:
    engine: Engine = api_app.state.engine
    api_fleet.vehicle()
    for _ in range(20):
        vid = other_api_fleet.vehicle()["id"]
        other_api_fleet.insert("flt_odometer_readings", vehicle_id=uuid.UUID(vid),
                               read_at=datetime.now(UTC), odometer_km=10, source="manual")
    counts = []
    for f in (api_fleet, other_api_fleet):
        with _count_queries(engine) as statements:
            page = f.client.get("/v1/vehicles", params={"limit": 50}, headers=f.headers())
        assert page.status_code == 200
        counts.append((len(page.json()["items"]), len(statements)))
    assert counts[0][0] == 1
    assert counts[1][0] == 20
    assert counts[0][1] == counts[1][1], counts


def test_the_vehicle_list_is_index_backed_at_demo_scale(
    api_fleet: Fleet, sessions: Any, owner_engine: Engine
) -> None:
    """2,000 vehicles (with readings) in one tenant: the list query uses indexes only."""
    with context_session(sessions, DbContext.for_tenant(api_fleet.world.id)) as session:
        rows = [{"id": new_id(), "t": api_fleet.world.id, "m": api_fleet.make_id,
                 "p": f"PERF-{i:05d}"} for i in range(2000)]
        session.execute(text(
            "INSERT INTO flt_vehicles (id, tenant_id, make_id, licence_plate, country, year,"
            " fuel_type, ownership_type) VALUES (:id, :t, :m, :p, 'FR', 2023, 'diesel', 'owned')"
        ), rows)
        session.execute(text(
            "INSERT INTO flt_odometer_readings (id, tenant_id, vehicle_id, read_at, odometer_km,"
            " source) SELECT gen_random_uuid(), tenant_id, id, now(), 1000, 'manual'"
            " FROM flt_vehicles WHERE tenant_id = :t"), {"t": api_fleet.world.id})
    # Fresh statistics (only the owner may ANALYZE), so the planner sees the real sizes.
    with owner_engine.begin() as conn:
        conn.execute(text("ANALYZE flt_vehicles"))
        conn.execute(text("ANALYZE flt_odometer_readings"))
    from fleetcore.core.auth import Actor
    from fleetcore.core.db import ActorType
    from fleetcore.fleet import service
    from fleetcore.fleet.filters import VehicleFilter, VehicleSort

    actor = Actor(type=ActorType.MEMBER, id=new_id(), clerk_user_id="u",
                  tenant_id=api_fleet.world.id, tenant_status="active",
                  permissions=frozenset({"vehicles:read"}))
    with context_session(sessions, DbContext.for_tenant(api_fleet.world.id)) as session:
        for sort in (VehicleSort.CREATED, VehicleSort.PLATE_DESC):
            stmt = service.vehicles_query(actor, VehicleFilter(sort=sort))
            keys = service._sort_keys(sort)
            order = [k.desc() for k in keys] if sort.descending else keys
            compiled = stmt.order_by(*order).limit(51).compile(
                session.get_bind(), compile_kwargs={"literal_binds": True})
            plan = "\n".join(r[0] for r in session.execute(text(f"EXPLAIN {compiled}")))
            assert "Seq Scan on flt_vehicles" not in plan, plan
            assert "Index" in plan, plan
            assert "Seq Scan on flt_odometer_readings" not in plan, plan
