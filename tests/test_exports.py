"""Every list has a CSV export with its filters and permission, and exports say what the list
says: the header documented in OpenAPI, one row per listed item, the filters honoured, another
tenant's rows never included, spreadsheet formulas neutralised.

The walker reads ``/openapi.json`` and the app's routes, so a list added later without its
``…/export.csv`` (or with an export that forgot a filter or asks another permission) fails
here, not in a client's spreadsheet.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import text
from starlette.routing import BaseRoute

from api_support import TenantWorld, if_match
from fleet_support import fr_plate, vin
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.export import CsvColumn, MoneyColumns, csv_rows
from fleetcore.core.money import Money
from fleetcore.core.orm import new_id

Auth = Callable[..., dict[str, str]]
PAGING = {"limit", "cursor"}
"""Query parameters of a list that an export (the whole filtered set) has no use for."""


# --- the walker ------------------------------------------------------------------------------


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _lists(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The ``/v1`` list operations: a GET answering a page (``items`` + ``next_cursor``) or a
    JSON array."""
    for path, item in spec["paths"].items():
        operation = item.get("get")
        if not path.startswith("/v1/") or operation is None:
            continue
        content = operation["responses"].get("200", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            continue
        resolved = _resolve(spec, schema)
        if {"items", "next_cursor"} <= set(resolved.get("properties", {})) \
                or resolved.get("type") == "array":
            yield path, operation


def _query(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


def _routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)


def _permissions(dependant: Any) -> set[str]:
    """The permissions a route's dependencies require (``core.deps.require``)."""
    found: set[str] = set()
    for dependency in dependant.dependencies:
        permission = getattr(dependency.call, "required_permission", None)
        if permission:
            found.add(permission)
        found |= _permissions(dependency)
    return found


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_every_list_has_a_csv_export_with_its_filters(spec: dict[str, Any]) -> None:
    lists = dict(_lists(spec))
    assert len(lists) >= 30  # the walker sees the lists (not vacuously green)
    missing, filters, undocumented = [], [], []
    for path, operation in lists.items():
        export = spec["paths"].get(f"{path}/export.csv", {}).get("get")
        if export is None:
            missing.append(path)
            continue
        lost = _query(operation) - PAGING - _query(export)
        if lost:
            filters.append(f"{path}/export.csv lacks {sorted(lost)}")
        media = export["responses"]["200"].get("content", {}).get("text/csv", {})
        if media.get("schema") is None or not str(media.get("example", "")).strip():
            undocumented.append(path)
    # missing: add GET <list>/export.csv; filters: the export takes every filter of its list;
    # undocumented: text/csv with a schema and the header as example.
    assert {"missing": missing, "filters": filters, "undocumented": undocumented} == {
        "missing": [], "filters": [], "undocumented": []}


def test_every_export_needs_the_permission_of_its_list(
    api_app: FastAPI, spec: dict[str, Any]
) -> None:
    routes = {route.path: route for route in _routes(api_app.routes) if "GET" in route.methods}
    checked, different = 0, []
    for path, _ in _lists(spec):
        export = routes.get(f"{path}/export.csv")
        if export is None:
            continue  # reported by the test above
        listed = _permissions(routes[path].dependant)
        assert listed, f"{path} requires no permission"
        if _permissions(export.dependant) != listed:
            different.append(path)
        checked += 1
    assert checked >= 30
    assert different == []


# --- content ---------------------------------------------------------------------------------


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.text)))


def _header(response: Any) -> list[str]:
    return next(csv.reader(io.StringIO(response.text)))


def _documented_header(spec: dict[str, Any], path: str) -> list[str]:
    example = spec["paths"][path]["get"]["responses"]["200"]["content"]["text/csv"]["example"]
    return next(csv.reader(io.StringIO(example)))


def test_members_export_rows_filters_roles_and_formula_safety(
    client: TestClient, spec: dict[str, Any], tenant_a: TenantWorld, tenant_b: TenantWorld,
    auth: Auth,
) -> None:
    invited = client.post("/v1/members", headers=auth(tenant_a, "admin"), json={
        "email": f"new-{uuid.uuid4().hex[:8]}@example.com", "first_name": "=HYPERLINK(1)",
        "role_ids": [str(tenant_a.roles["dispatcher"])]})
    assert invited.status_code == 201, invited.text

    everyone = client.get("/v1/members/export.csv", headers=auth(tenant_a))
    rows = _csv(everyone)
    assert _header(everyone) == _documented_header(spec, "/v1/members/export.csv")
    listed = client.get("/v1/members", headers=auth(tenant_a), params={"limit": 200}).json()
    assert [r["id"] for r in rows] == sorted(m["id"] for m in listed["items"])
    owner = next(r for r in rows if r["id"] == str(tenant_a.person("owner").member_id))
    assert owner["roles"] == "owner"

    only_invited = _csv(client.get("/v1/members/export.csv", headers=auth(tenant_a),
                                   params={"status": "invited"}))
    assert [r["email"] for r in only_invited] == [invited.json()["email"]]
    # A spreadsheet would run this as a formula: it is exported as text.
    assert only_invited[0]["first_name"] == "'=HYPERLINK(1)"
    assert only_invited[0]["roles"] == "dispatcher"

    other = _csv(client.get("/v1/members/export.csv", headers=auth(tenant_b)))
    assert {r["email"] for r in other}.isdisjoint(r["email"] for r in rows)
    # The list's permission: a driver reads neither.
    assert client.get("/v1/members", headers=auth(tenant_a, "driver")).status_code == 403
    assert client.get("/v1/members/export.csv",
                      headers=auth(tenant_a, "driver")).status_code == 403


def test_audit_log_export_is_filtered_and_newest_first(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
) -> None:
    role = client.post("/v1/roles", headers=auth(tenant_a), json={
        "name": f"Auditor {uuid.uuid4().hex[:6]}", "permissions": ["audit:read"]})
    assert role.status_code == 201, role.text
    renamed = client.patch(f"/v1/roles/{role.json()['id']}", headers=if_match(
        client, f"/v1/roles/{role.json()['id']}", auth(tenant_a)),
                           json={"description": "Reads the trail"})
    assert renamed.status_code == 200, renamed.text

    rows = _csv(client.get("/v1/audit-logs/export.csv", headers=auth(tenant_a),
                           params={"entity_id": role.json()["id"]}))
    assert [r["action"] for r in rows] == ["update", "create"]
    assert {r["entity_type"] for r in rows} == {"adm_roles"}
    assert '"description"' in rows[0]["changes"]
    updates = _csv(client.get("/v1/audit-logs/export.csv", headers=auth(tenant_a),
                              params={"entity_id": role.json()["id"], "action": "update"}))
    assert [r["id"] for r in updates] == [rows[0]["id"]]
    assert _csv(client.get("/v1/audit-logs/export.csv", headers=auth(tenant_b),
                           params={"entity_id": role.json()["id"]})) == []
    assert client.get("/v1/audit-logs/export.csv",
                      headers=auth(tenant_a, "fleet_manager")).status_code == 403


def test_car_models_export_honours_scope_and_make(
    client: TestClient, spec: dict[str, Any], tenant_a: TenantWorld, tenant_b: TenantWorld,
    auth: Auth,
) -> None:
    make = client.post("/v1/car-makes", headers=auth(tenant_a),
                       json={"name": f"Make {uuid.uuid4().hex[:8]}"})
    assert make.status_code == 201, make.text
    made = []
    for name in ("Beta", "Alpha"):
        model = client.post("/v1/car-models", headers=auth(tenant_a), json={
            "make_id": make.json()["id"], "name": name, "seats": 5,
            "energy_types": ["hybrid", "electric"]})
        assert model.status_code == 201, model.text
        made.append(model.json()["id"])

    response = client.get("/v1/car-models/export.csv", headers=auth(tenant_a),
                          params={"make_id": make.json()["id"]})
    rows = _csv(response)
    assert _header(response) == _documented_header(spec, "/v1/car-models/export.csv")
    assert [(r["name"], r["scope"], r["energy_types"]) for r in rows] == [
        ("Alpha", "private", "hybrid electric"), ("Beta", "private", "hybrid electric")]
    private = _csv(client.get("/v1/car-models/export.csv", headers=auth(tenant_a),
                              params={"scope": "private"}))
    assert {r["scope"] for r in private} == {"private"}
    assert set(made) <= {r["id"] for r in private}
    # Another tenant's private models do not exist for tenant B.
    theirs = _csv(client.get("/v1/car-models/export.csv", headers=auth(tenant_b),
                             params={"make_id": make.json()["id"]}))
    assert theirs == []


def test_platforms_export_honours_the_country(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any,
) -> None:
    code = f"p{uuid.uuid4().hex[:8]}"
    with context_session(sessions, DbContext.system()) as session:
        session.execute(text(
            "INSERT INTO dir_platforms (id, code, name, report_config, api_config, active,"
            " countries) VALUES (:id, :code, 'Export test', '{}', '{}', true, '[\"AQ\", \"BV\"]')"),
            {"id": new_id(), "code": code})
    rows = _csv(client.get("/v1/platforms/export.csv", headers=auth(tenant_a),
                           params={"country": "BV"}))
    ours = [r for r in rows if r["code"] == code]
    assert [(r["countries"], r["active"]) for r in ours] == [("AQ BV", "true")]
    assert all("BV" in r["countries"].split() for r in rows)
    inactive = _csv(client.get("/v1/platforms/export.csv", headers=auth(tenant_a),
                               params={"country": "BV", "active": "false"}))
    assert code not in {r["code"] for r in inactive}


def test_odometer_export_reads_like_the_list(
    client: TestClient, make_tenant: Callable[..., TenantWorld], auth: Auth,
) -> None:
    world = make_tenant()
    headers = auth(world)
    make = client.post("/v1/car-makes", headers=headers,
                       json={"name": f"Make {uuid.uuid4().hex[:8]}"})
    assert make.status_code == 201, make.text
    vehicle = client.post("/v1/vehicles", headers=headers, json={
        "make_id": make.json()["id"], "licence_plate": fr_plate(), "vin": vin(),
        "country": "FR", "year": 2024, "fuel_type": "diesel", "ownership_type": "owned"})
    assert vehicle.status_code == 201, vehicle.text
    base = f"/v1/vehicles/{vehicle.json()['id']}/odometer-readings"
    now = datetime.now(UTC)
    first = client.post(base, headers=headers, json={
        "odometer_km": "1000.0", "read_at": (now - timedelta(days=2)).isoformat()})
    assert first.status_code == 201, first.text
    correction = client.post(base, headers=headers, json={
        "odometer_km": "1100.0", "corrects_reading_id": first.json()["id"],
        "reason": "Typo on the dashboard photo"})
    assert correction.status_code == 201, correction.text
    latest = client.post(base, headers=headers, json={
        "odometer_km": "1250.0", "read_at": (now - timedelta(hours=1)).isoformat()})
    assert latest.status_code == 201, latest.text

    rows = _csv(client.get(f"{base}/export.csv", headers=headers))
    listed = client.get(base, headers=headers).json()["items"]
    assert len(rows) == 3
    assert [r["id"] for r in rows] == [item["id"] for item in listed]
    by_id = {r["id"]: r for r in rows}
    for item in listed:
        row = by_id[item["id"]]
        assert row["trusted"] == str(item["trusted"]).lower()
        assert row["corrected_by_id"] == (item["corrected_by_id"] or "")
        assert row["correction_reason"] == (item["correction_reason"] or "")
        assert row["odometer_km"] == item["odometer_km"]
    assert by_id[first.json()["id"]]["trusted"] == "false"
    assert by_id[first.json()["id"]]["corrected_by_id"] == correction.json()["id"]
    assert by_id[correction.json()["id"]]["correction_reason"] == "Typo on the dashboard photo"
    earlier = _csv(client.get(f"{base}/export.csv", headers=headers,
                              params={"until": (now - timedelta(days=1)).isoformat()}))
    assert {r["id"] for r in earlier} == {first.json()["id"], correction.json()["id"]}
    other = make_tenant()
    assert client.get(f"{base}/export.csv", headers=auth(other)).status_code == 404


def test_jobs_export_is_the_tenants_own_queue(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    make_failed_job: Callable[[uuid.UUID], int],
) -> None:
    job = make_failed_job(tenant_a.id)
    rows = _csv(client.get("/v1/jobs/export.csv", headers=auth(tenant_a),
                           params={"failed": "true"}))
    assert [(r["id"], r["status"], r["attempts"]) for r in rows] == [(str(job), "failed", "3")]
    theirs = _csv(client.get("/v1/jobs/export.csv", headers=auth(tenant_b),
                             params={"failed": "true"}))
    assert str(job) not in {r["id"] for r in theirs}


# --- formulas in European spreadsheets ----------------------------------------------------

_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_TRAPS = [
    "Dupont;=1+1", "Dupont; =1+1", "Dupont,=1+1", "Dupont, -2+3", "Dupont\t=1+1",
    "Dupont;@SUM(A1)", 'Dupont;"=1+1"', "Dupont\n=1+1", "Dupont\r\n+1", " =1+1", "=1+1",
    "Dupont ; ; =cmd|' /C calc'!A0", "a;b,c\td",
]


def _formula_cells(text: str, separator: str) -> list[str]:
    """Cells a spreadsheet splitting ``text`` on ``separator`` (honouring quotes only where a
    cell starts, as Excel does) would run: they start, after spaces, with a formula character
    and are not plain numbers."""
    return [cell for row in csv.reader(io.StringIO(text), delimiter=separator) for cell in row
            if cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r"))
            and not _NUMBER.match(cell.strip())]


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_no_cell_becomes_a_formula_whichever_separator_the_spreadsheet_splits_on(
    separator: str,
) -> None:
    columns = [CsvColumn("id", lambda r: r[0]), CsvColumn("name", lambda r: r[1]),
               MoneyColumns("amount", lambda r: Money(Decimal(r[2]), "EUR")),
               CsvColumn("balance", lambda r: Decimal(r[2]))]
    rows = [(n, trap, "-12.50") for n, trap in enumerate(_TRAPS)]
    text_out = "".join(csv_rows(iter(rows), columns))
    assert _formula_cells(text_out, separator) == []
    # Read back as the comma-separated file it is: one row per record, the names whole (with
    # their neutralising quote marks), the numbers still numbers.
    back = list(csv.DictReader(io.StringIO(text_out, newline="")))
    assert [r["id"] for r in back] == [str(n) for n in range(len(_TRAPS))]
    assert all(r["amount_amount"] == "-12.50" and r["balance"] == "-12.50" for r in back)
    assert back[0]["name"] == "Dupont;'=1+1"
    assert back[-1]["name"] == "a;b,c\td"  # nothing to neutralise: unchanged
    assert back[10]["name"] == "'=1+1"


def test_members_export_survives_a_semicolon_split(
    client: TestClient, tenant_a: TenantWorld, auth: Auth,
) -> None:
    invited = client.post("/v1/members", headers=auth(tenant_a, "admin"), json={
        "email": f"semi-{uuid.uuid4().hex[:8]}@example.com", "first_name": "Jean",
        "last_name": "Dupont;=1+1", "role_ids": [str(tenant_a.roles["dispatcher"])]})
    assert invited.status_code == 201, invited.text
    exported = client.get("/v1/members/export.csv", headers=auth(tenant_a),
                          params={"status": "invited"})
    assert exported.status_code == 200
    for separator in (",", ";"):
        assert _formula_cells(exported.text, separator) == [], separator
