"""``/v1/settlements`` over HTTP: the flow compute → read → adjust → confirm, its refusals,
CSV export, and tenant isolation of every operation."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from settlement_fixtures import WEEK, Books, at, committed_books, midnight

from api_support import TenantWorld, if_match

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def books(tenant_a: TenantWorld, sessions: Any) -> Books:
    """Tenant A with one driver on Uber: two trips in WEEK, 25 % revenue share."""
    books = committed_books(sessions, tenant_a.id)
    uber = books.platform("uber")
    ana = books.driver()
    ref = books.account(ana, uber)
    books.terms(ana, midnight(date(2026, 1, 1)), pct="25", recharge_fuel=True)
    report = books.report(uber)
    books.row(report, uber, ana, at(WEEK), ref=ref, trip="t1", fare_gross="100.00",
              commission="25.00", tip="4.00")
    books.row(report, uber, ana, at(WEEK + timedelta(days=1)), ref=ref, trip="t2",
              fare_gross="40.00", commission="10.00")
    books.expense(ana, WEEK + timedelta(days=2), "30.00")
    books.drivers = [ana]  # type: ignore[attr-defined]
    return books


def _compute(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/v1/settlements/compute",
                           json={"week": WEEK.isoformat(), **body}, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_compute_read_adjust_confirm(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, books: Books,
) -> None:
    owner = auth(tenant_a)
    result = _compute(client, owner, week=(WEEK + timedelta(days=4)).isoformat())
    assert (result["period_first_day"], result["unlinked_rows"]) == (WEEK.isoformat(), 0)
    assert result["period_start"].startswith("2026-11-15T23:00:00")
    by_level = {s["platform_id"] is None: s for s in result["settlements"]}
    platform, driver_level = by_level[False], by_level[True]
    assert {k: platform[k]["amount"] for k in ("gross", "commission", "tips", "fleet_share",
                                               "net")} == {
        "gross": "140.00", "commission": "35.00", "tips": "4.00", "fleet_share": "26.25",
        "net": "82.75"}
    assert (platform["trip_count"], platform["payout_receiver"]) == (2, "fleet")
    assert (driver_level["charges"], driver_level["net"]) == (
        {"amount": "30.00", "currency": "EUR"}, {"amount": "-30.00", "currency": "EUR"})

    item = client.get(f"/v1/settlements/{platform['id']}", headers=owner)
    assert item.status_code == 200
    assert item.headers["etag"] == '"1"'
    assert item.json()["net"]["amount"] == "82.75"

    lines, cursor = [], None
    while True:
        page = client.get(f"/v1/settlements/{platform['id']}/lines",
                          params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=owner)
        assert page.status_code == 200, page.text
        lines += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert len(lines) == 6  # 2 fares, 2 commissions, 1 tip, 1 fleet share
    assert sum(int(line["amount"]["amount"].replace(".", "")) for line in lines) == 8275
    assert {line["source_type"] for line in lines} == {"import_row", "term"}
    assert all(line["consumed_key"].startswith(line["source_type"] + ":") for line in lines)

    adjusted = client.post(f"/v1/settlements/{platform['id']}/adjustments", headers={
        **owner, "If-Match": '"1"'}, json={"amount": {"amount": "-2.75", "currency": "EUR"},
                                            "description": "Lost phone charger"})
    assert adjusted.status_code == 201, adjusted.text
    assert adjusted.json()["source_type"] == "manual"
    assert adjusted.headers["etag"] == '"2"'
    stale = client.post(f"/v1/settlements/{platform['id']}/adjustments", headers={
        **owner, "If-Match": '"1"'}, json={"amount": {"amount": "1.00", "currency": "EUR"},
                                            "description": "x"})
    assert stale.status_code == 412

    unversioned = client.post(f"/v1/settlements/{platform['id']}/confirm", headers=owner)
    assert unversioned.status_code == 428
    assert unversioned.headers["content-type"] == "application/problem+json"
    stale = client.post(f"/v1/settlements/{platform['id']}/confirm",
                        headers={**owner, "If-Match": '"1"'})
    assert stale.status_code == 412
    confirmed = client.post(f"/v1/settlements/{platform['id']}/confirm",
                            headers={**owner, "If-Match": '"2"'})
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["status"], confirmed.json()["net"]["amount"]) == (
        "confirmed", "80.00")
    again = client.post(f"/v1/settlements/{platform['id']}/confirm",
                        headers={**owner, "If-Match": confirmed.headers["etag"]})
    assert again.status_code == 409
    immutable = client.post(f"/v1/settlements/{platform['id']}/adjustments", headers=if_match(
        client, f"/v1/settlements/{platform['id']}/adjustments", owner),
                            json={"amount": {"amount": "1.00", "currency": "EUR"},
                                  "description": "Too late"})
    assert immutable.status_code == 409

    # Recomputing the week keeps the confirmed settlement and rebuilds the driver-level draft.
    again_result = _compute(client, owner)
    assert [s["platform_id"] for s in again_result["settlements"]] == [None]
    listed = client.get("/v1/settlements", params={"status": "confirmed"}, headers=owner)
    assert [s["id"] for s in listed.json()["items"]] == [platform["id"]]


def test_list_filters_sorts_and_exports(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, books: Books,
) -> None:
    owner = auth(tenant_a)
    _compute(client, owner)
    ana = books.drivers[0]  # type: ignore[attr-defined]

    def ids(**params: Any) -> list[str]:
        response = client.get("/v1/settlements", params=params, headers=owner)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["items"]]

    everything = ids()
    assert len(everything) == 2
    assert len(ids(driver_level=True)) == len(ids(driver_level=False)) == 1
    assert ids(driver_id=str(ana), sort="net")[0] == ids(driver_level=True)[0]
    assert ids(sort="-net")[0] == ids(driver_level=False)[0]
    assert ids(platform_id=str(books.platforms["uber"])) == ids(driver_level=False)
    assert ids(period_from=(WEEK + timedelta(days=3)).isoformat(),
               period_to=(WEEK + timedelta(days=3)).isoformat()) != []
    assert ids(period_from=(WEEK + timedelta(days=7)).isoformat()) == []
    assert ids(period_to=(WEEK - timedelta(days=1)).isoformat()) == []
    first = client.get("/v1/settlements", params={"limit": 1}, headers=owner).json()
    second = client.get("/v1/settlements", params={"limit": 1, "cursor": first["next_cursor"]},
                        headers=owner).json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == everything

    export = client.get("/v1/settlements/export.csv", params={"driver_level": False},
                        headers=owner)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["gross_amount"], r["gross_currency"], r["net_amount"]) for r in rows] == [
        ("140.00", "EUR", "82.75")]


def test_permissions(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, books: Books,
) -> None:
    settlement = _compute(client, auth(tenant_a))["settlements"][0]["id"]
    paths = [
        ("POST", "/v1/settlements/compute", {"week": WEEK.isoformat()}),
        ("GET", "/v1/settlements", None),
        ("GET", "/v1/settlements/export.csv", None),
        ("GET", f"/v1/settlements/{settlement}", None),
        ("GET", f"/v1/settlements/{settlement}/lines", None),
        ("POST", f"/v1/settlements/{settlement}/adjustments",
         {"amount": {"amount": "1.00", "currency": "EUR"}, "description": "x"}),
        ("POST", f"/v1/settlements/{settlement}/confirm", None),
    ]
    for method, path, body in paths:
        assert client.request(method, path, json=body).status_code == 401, path
    viewer = auth(tenant_a, "viewer")
    statuses = [client.request(m, p, json=b, headers={**viewer, "If-Match": '"1"'}).status_code
                for m, p, b in paths]
    assert statuses == [403, 200, 200, 200, 200, 403, 403]
    dispatcher = auth(tenant_a, "dispatcher")
    assert client.get("/v1/settlements", headers=dispatcher).status_code == 403
    finance = auth(tenant_a, "finance")
    confirmed = client.post(f"/v1/settlements/{settlement}/confirm",
                            headers={**finance, "If-Match": '"1"'})
    assert confirmed.status_code == 200, confirmed.text


def test_another_tenant_sees_and_touches_nothing(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    books: Books, read_system: Callable[..., list[Any]],
) -> None:
    settlement = _compute(client, auth(tenant_a))["settlements"][0]["id"]
    stranger = auth(tenant_b)
    for method, path, body in [
        ("GET", f"/v1/settlements/{settlement}", None),
        ("GET", f"/v1/settlements/{settlement}/lines", None),
        ("POST", f"/v1/settlements/{settlement}/adjustments",
         {"amount": {"amount": "1.00", "currency": "EUR"}, "description": "x"}),
        ("POST", f"/v1/settlements/{settlement}/confirm", None),
    ]:
        response = client.request(method, path, json=body,
                                  headers={**stranger, "If-Match": '"1"'})
        assert response.status_code == 404, (path, response.text)
    assert client.get("/v1/settlements", headers=stranger).json()["items"] == []
    assert settlement not in client.get("/v1/settlements/export.csv", headers=stranger).text
    # B's computation neither sees A's rows nor accepts A's drivers.
    assert _compute(client, stranger)["settlements"] == []
    foreign = client.post("/v1/settlements/compute", headers=stranger, json={
        "week": WEEK.isoformat(), "driver_ids": [str(books.drivers[0])]})  # type: ignore[attr-defined]
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["field"] == "driver_ids"
    row = read_system("SELECT status, version FROM trp_settlements WHERE id = :s",
                      s=uuid.UUID(settlement))
    assert [tuple(r) for r in row] == [("draft", 1)]


def test_bad_requests_are_problems(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, books: Books,
) -> None:
    owner = auth(tenant_a)
    for body in ({"week": "2026-13-01"}, {"week": WEEK.isoformat(), "driver_ids": []},
                 {"week": WEEK.isoformat(), "extra": 1}):
        response = client.post("/v1/settlements/compute", json=body, headers=owner)
        assert response.status_code == 422, body
    settlement = _compute(client, owner)["settlements"][0]["id"]
    weird = client.post(f"/v1/settlements/{settlement}/confirm",
                        headers={**owner, "If-Match": "not-an-etag"})
    assert weird.status_code == 412
    missing = client.get(f"/v1/settlements/{uuid.uuid4()}", headers=owner)
    assert missing.status_code == 404


def test_no_silent_100_percent_over_http(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any,
) -> None:
    books = committed_books(sessions, tenant_a.id)
    uber = books.platform("uber")
    bob = books.driver("Bob")  # no accepted terms at all
    ref = books.account(bob, uber)
    books.row(books.report(uber), uber, bob, at(WEEK + timedelta(days=1)), ref=ref, trip="t9",
              fare_gross="60.00", commission="15.00")
    owner = auth(tenant_a)
    result = _compute(client, owner)
    (platform,) = [s for s in result["settlements"] if s["driver_id"] == str(bob)]
    assert (platform["needs_terms"], platform["days_without_terms"]) == (True, ["2026-11-17"])
    assert (platform["fleet_share"]["amount"], platform["net"]["amount"]) == ("0.00", "45.00")
    assert result["settlements_needing_terms"] == 1
    url = f"/v1/settlements/{platform['id']}/confirm"

    refused = client.post(url, headers={**owner, "If-Match": '"1"'})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["days_without_terms"] == ["2026-11-17"]
    assert refused.json()["platform_id"] == str(uber)
    no_reason = client.post(url, headers={**owner, "If-Match": '"1"'},
                            json={"without_terms": True})
    assert no_reason.status_code == 422
    unversioned = client.post(url, headers=owner,
                              json={"without_terms": True, "reason": "Trial week"})
    assert unversioned.status_code == 428

    confirmed = client.post(url, headers={**owner, "If-Match": '"1"'},
                            json={"without_terms": True, "reason": "Trial week"})
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["status"], confirmed.json()["needs_terms"]) == ("confirmed", True)
    changes = books.sql("SELECT changes FROM adm_audit_logs WHERE action = 'confirm_without_terms'"
                        " AND entity_id = :s", s=uuid.UUID(platform["id"]))
    assert [c[0]["reason"] for c in changes] == ["Trial week"]
    exported = client.get("/v1/settlements/export.csv", headers=owner).text
    (row,) = [r for r in csv.DictReader(io.StringIO(exported)) if r["id"] == platform["id"]]
    assert (row["needs_terms"], row["days_without_terms"]) == ("true", "2026-11-17")
