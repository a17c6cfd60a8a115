"""The reconciliations API over HTTP: run, read, list, items (filter, cursor), CSV export,
permissions and tenant isolation (404 for another tenant's run)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from reconciliation_fixtures import WEEK_END, WEEK_START, RecData, committed

from api_support import TenantWorld

Auth = Callable[..., dict[str, str]]


def body(platform_id: uuid.UUID, **values: Any) -> dict[str, Any]:
    return {"platform_id": str(platform_id), "period_start": WEEK_START.isoformat(),
            "period_end": WEEK_END.isoformat(),
            "tolerance": {"amount": "0.05", "currency": "EUR"}, **values}


def plant(data: RecData) -> None:
    """2 matched trips, 3 missing from the trips, 2 missing from the report, 1 fare and 1
    commission mismatch."""
    data.both("m-1", "10.00", "2.50")
    data.both("m-2", "11.00", "2.75")
    for n in range(3):
        data.row(f"only-report-{n}", f"{20 + n}.00", "5.00")
    for n in range(2):
        data.trip(f"only-trip-{n}", f"{30 + n}.00", "7.50")
    data.trip("fare", "40.00", "10.00")
    data.row("fare", "42.50", "10.00")
    data.trip("commission", "50.00", "12.50")
    data.row("commission", "50.00", "11.00")


@pytest.fixture
def world(make_tenant: Callable[..., TenantWorld], sessions: Any) -> tuple[TenantWorld, uuid.UUID]:
    tenant = make_tenant()
    with committed(sessions, tenant.id) as data:
        plant(data)
        platform = data.platform_id
    return tenant, platform


def test_a_run_over_http_and_its_items(client: TestClient, auth: Auth,
                                       world: tuple[TenantWorld, uuid.UUID]) -> None:
    tenant, platform = world
    owner = auth(tenant, "finance")

    created = client.post("/v1/reconciliations", json=body(platform), headers=owner)

    assert created.status_code == 201, created.text
    run = created.json()
    assert created.headers["location"] == f"/v1/reconciliations/{run['id']}"
    assert run["status"] == "completed"
    assert (run["matched_count"], run["missing_internal_count"], run["missing_platform_count"],
            run["fare_mismatch_count"], run["commission_mismatch_count"]) == (2, 3, 2, 1, 1)
    # Report 10 + 11 + 20 + 21 + 22 + 42.50 + 50 = 176.50; trips 10 + 11 + 30 + 31 + 40 + 50.
    assert run["amount_discrepancy"] == {"amount": "4.50", "currency": "EUR"}
    assert run["tolerance"] == {"amount": "0.05", "currency": "EUR"}
    assert run["items"] == f"/v1/reconciliations/{run['id']}/items"
    assert client.get(created.headers["location"], headers=owner).json() == run

    # Items, two per page: every one exactly once, grouped by kind.
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(run["items"], params=params, headers=owner)
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        pages += 1
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert pages == 4
    assert len(seen) == 7
    assert len({i["id"] for i in seen}) == 7
    assert [i["kind"] for i in seen] == sorted(i["kind"] for i in seen)
    fare = next(i for i in seen if i["kind"] == "fare_mismatch")
    assert fare["external_trip_id"] == "fare"
    assert fare["report_amount"] == {"amount": "42.50", "currency": "EUR"}
    assert fare["internal_amount"] == {"amount": "40.00", "currency": "EUR"}
    assert fare["difference"] == {"amount": "2.50", "currency": "EUR"}
    assert fare["report_rows"] == 1
    assert fare["trip_id"] is not None
    assert fare["import_row_id"] is None  # the trip is the link; its rows share its trip id
    only_report = next(i for i in seen if i["kind"] == "missing_internal")
    assert only_report["import_row_id"] is not None
    assert only_report["trip_id"] is None
    assert fare["report_commission"] == {"amount": "10.00", "currency": "EUR"}
    missing = [i for i in seen if i["kind"] == "missing_platform"]
    assert {i["external_trip_id"] for i in missing} == {"only-trip-0", "only-trip-1"}
    assert all(i["report_amount"] is None for i in missing)

    by_kind = client.get(run["items"], params={"kind": "missing_internal"}, headers=owner).json()
    assert sorted(i["external_trip_id"] for i in by_kind["items"]) == [
        "only-report-0", "only-report-1", "only-report-2"]
    one = client.get(run["items"], params={"external_trip_id": "commission"},
                     headers=owner).json()["items"]
    assert [(i["kind"], i["difference"]["amount"]) for i in one] == [
        ("commission_mismatch", "-1.50")]


def test_the_csv_export_lists_the_items(client: TestClient, auth: Auth,
                                        world: tuple[TenantWorld, uuid.UUID]) -> None:
    tenant, platform = world
    headers = auth(tenant, "owner")
    run = client.post("/v1/reconciliations", json=body(platform), headers=headers).json()

    response = client.get(f"/v1/reconciliations/{run['id']}/items/export.csv", headers=headers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 7
    fare = next(r for r in rows if r["kind"] == "fare_mismatch")
    assert (fare["external_trip_id"], fare["report_amount_amount"], fare["internal_amount_amount"],
            fare["difference_amount"], fare["difference_currency"]) == (
        "fare", "42.50", "40.00", "2.50", "EUR")
    assert fare["trip_outside_period"] == "false"
    assert fare["report_rows"] == "1"
    missing = next(r for r in rows if r["external_trip_id"] == "only-trip-1")
    assert (missing["kind"], missing["report_amount_amount"], missing["internal_amount_amount"],
            missing["difference_amount"]) == ("missing_platform", "", "31.00", "-31.00")
    filtered = client.get(f"/v1/reconciliations/{run['id']}/items/export.csv",
                          params={"kind": "commission_mismatch"}, headers=headers)
    assert [r["external_trip_id"] for r in csv.DictReader(io.StringIO(filtered.text))] == [
        "commission"]


def test_runs_are_listed_newest_first_with_filters(
    client: TestClient, auth: Auth, world: tuple[TenantWorld, uuid.UUID],
) -> None:
    tenant, platform = world
    headers = auth(tenant, "owner")
    ids = [client.post("/v1/reconciliations", json=body(platform), headers=headers).json()["id"]
           for _ in range(3)]

    first = client.get("/v1/reconciliations", params={"limit": 2}, headers=headers).json()
    second = client.get("/v1/reconciliations", params={"limit": 2, "cursor": first["next_cursor"]},
                        headers=headers).json()

    assert [r["id"] for r in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
    assert client.get("/v1/reconciliations", params={"platform_id": str(uuid.uuid4())},
                      headers=headers).json()["items"] == []
    assert len(client.get("/v1/reconciliations", params={"status": "completed",
                                                         "platform_id": str(platform)},
                          headers=headers).json()["items"]) == 3
    assert client.get("/v1/reconciliations", params={"status": "failed"},
                      headers=headers).json()["items"] == []
    later = client.get("/v1/reconciliations", params={"period_since": WEEK_END.isoformat()},
                       headers=headers).json()
    assert later["items"] == []


def test_another_tenant_gets_404_and_sees_nothing(
    client: TestClient, auth: Auth, world: tuple[TenantWorld, uuid.UUID],
    make_tenant: Callable[..., TenantWorld],
) -> None:
    tenant, platform = world
    run = client.post("/v1/reconciliations", json=body(platform),
                      headers=auth(tenant)).json()
    intruder = auth(make_tenant(), "owner")

    for path in (f"/v1/reconciliations/{run['id']}", f"/v1/reconciliations/{run['id']}/items",
                 f"/v1/reconciliations/{run['id']}/items/export.csv"):
        response = client.get(path, headers=intruder)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/reconciliations", headers=intruder).json()["items"] == []
    # The other tenant's own run of the same platform finds none of the first tenant's data.
    theirs = client.post("/v1/reconciliations", json=body(platform), headers=intruder).json()
    assert (theirs["matched_count"], theirs["missing_internal_count"],
            theirs["missing_platform_count"]) == (0, 0, 0)
    # A foreign import is "no such import" for them.
    refused = client.post("/v1/reconciliations", json=body(platform, import_id=str(uuid.uuid4())),
                          headers=intruder)
    assert refused.status_code == 422


def test_permissions(client: TestClient, auth: Auth, world: tuple[TenantWorld, uuid.UUID]) -> None:
    tenant, platform = world
    run = client.post("/v1/reconciliations", json=body(platform), headers=auth(tenant)).json()

    assert client.post("/v1/reconciliations", json=body(platform)).status_code == 401
    assert client.get(f"/v1/reconciliations/{run['id']}").status_code == 401
    viewer = auth(tenant, "viewer")
    refused = client.post("/v1/reconciliations", json=body(platform), headers=viewer)
    assert refused.status_code == 403
    assert client.get(f"/v1/reconciliations/{run['id']}", headers=viewer).status_code == 200
    dispatcher = auth(tenant, "dispatcher")
    assert client.get("/v1/reconciliations", headers=dispatcher).status_code == 403
    assert client.get(f"/v1/reconciliations/{run['id']}/items/export.csv",
                      headers=dispatcher).status_code == 403
    listed = client.get("/v1/reconciliations", headers=auth(tenant)).json()["items"]
    assert [r["id"] for r in listed] == [run["id"]]  # the refused run left nothing


@pytest.mark.parametrize(("changes", "field"), [
    ({"period_end": WEEK_START.isoformat()}, "period_end"),
    ({"period_start": "2026-11-16T00:00:00"}, "period_start"),
    ({"tolerance": {"amount": "-1.00", "currency": "EUR"}}, "tolerance.amount"),
    ({"tolerance": {"amount": "1.00", "currency": "eur"}}, "tolerance.currency"),
    ({"tolerance": {"amount": 0.05, "currency": "EUR"}}, "tolerance.amount"),
    ({"platform_id": str(uuid.uuid4())}, "platform_id"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_bodies_are_422_naming_the_field(
    client: TestClient, auth: Auth, world: tuple[TenantWorld, uuid.UUID],
    changes: dict[str, Any], field: str,
) -> None:
    tenant, platform = world
    response = client.post("/v1/reconciliations", json={**body(platform), **changes},
                           headers=auth(tenant))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]


def test_mixed_currencies_are_a_422_over_http(
    client: TestClient, auth: Auth, make_tenant: Callable[..., TenantWorld], sessions: Any,
) -> None:
    tenant = make_tenant()
    with committed(sessions, tenant.id) as data:
        data.both("eur", "10.00")
        data.row("aed", "10.00", currency="AED")
        platform = data.platform_id
    response = client.post("/v1/reconciliations", json=body(platform), headers=auth(tenant))
    assert response.status_code == 422
    assert "AED (1 rows)" in response.json()["detail"]
    assert client.get("/v1/reconciliations", headers=auth(tenant)).json()["items"] == []


def test_a_bad_cursor_is_a_422(client: TestClient, auth: Auth,
                               world: tuple[TenantWorld, uuid.UUID]) -> None:
    tenant, platform = world
    run = client.post("/v1/reconciliations", json=body(platform), headers=auth(tenant)).json()
    response = client.get(run["items"], params={"cursor": "nonsense"}, headers=auth(tenant))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cursor"


def test_the_runs_export_reads_like_the_list(
    client: TestClient, auth: Auth, world: tuple[TenantWorld, uuid.UUID],
) -> None:
    tenant, platform = world
    headers = auth(tenant, "viewer")
    owner = auth(tenant)
    ids = [client.post("/v1/reconciliations", json=body(platform), headers=owner).json()["id"]
           for _ in range(2)]

    response = client.get("/v1/reconciliations/export.csv", headers=headers)

    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == ids[::-1]
    assert (rows[0]["status"], rows[0]["matched_count"], rows[0]["amount_discrepancy_amount"],
            rows[0]["amount_discrepancy_currency"], rows[0]["tolerance_amount"]) == (
        "completed", "2", "4.50", "EUR", "0.05")
    failed_only = client.get("/v1/reconciliations/export.csv", params={"status": "failed"},
                             headers=headers)
    assert list(csv.DictReader(io.StringIO(failed_only.text))) == []
    assert client.get("/v1/reconciliations/export.csv",
                      headers=auth(tenant, "dispatcher")).status_code == 403
