"""``GET /v1/drivers/{id}/balance`` and ``/ledger`` (and its CSV), and the console's balance
page: the March/April example, the driver who owes rent, pagination, permissions and tenant
isolation."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from settlement_fixtures import Books, at, committed_books, midnight

from api_support import TenantWorld
from fleetcore.core.db import DbContext, context_session
from fleetcore.trips import settlement_service as settlements

Auth = Callable[..., dict[str, str]]
MARCH_WEEK = date(2026, 3, 23)


def _confirm_week(books: Books, sessions: Any, week: date) -> None:
    with context_session(sessions, DbContext.for_tenant(books.tenant_id)) as session:
        for s in settlements.compute_settlements(session, books.actor, period=week):
            settlements.confirm_settlement(session, books.actor, s.id, s.version)
        session.commit()


@pytest.fixture
def books(tenant_a: TenantWorld, sessions: Any) -> Books:
    """Tenant A: Ana earns on Uber in the week of 23 March (confirmed now, long after March);
    Bo pays 150.00 weekly rent and earns nothing — he owes the fleet."""
    books = committed_books(sessions, tenant_a.id)
    uber = books.platform("uber")
    ana = books.driver("Ana")
    ref = books.account(ana, uber)
    books.terms(ana, midnight(date(2026, 1, 1)), pct="25")
    report = books.report(uber, week=MARCH_WEEK)
    for day in range(3):
        books.row(report, uber, ana, at(MARCH_WEEK + timedelta(days=day)), ref=ref,
                  trip=f"t{day}", fare_gross="40.00", commission="10.00")
    bo = books.driver("Bo")
    books.terms(bo, midnight(date(2026, 1, 1)), model="fixed_rent", rent="150.00",
                rent_period="week")
    _confirm_week(books, sessions, MARCH_WEEK)
    books.drivers = {"ana": ana, "bo": bo}  # type: ignore[attr-defined]
    return books


def test_balance_as_of_a_day_by_economic_date(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, books: Books,
) -> None:
    ana = books.drivers["ana"]  # type: ignore[attr-defined]
    url = f"/v1/drivers/{ana}/balance"
    march = client.get(url, params={"as_of": "2026-03-31"}, headers=auth(tenant_a, "finance"))
    assert march.status_code == 200, march.text
    body = march.json()
    assert body["as_of"] == "2026-03-31"
    (eur,) = body["balances"]
    # 3 x (40 - 10) = 90 after commission, 25 % to the fleet: 67.50 owed to Ana.
    assert eur["balance"] == {"amount": "67.50", "currency": "EUR"}
    assert eur["position"] == "owed_to_driver"
    assert eur["wording"] == "The fleet owes the driver 67.50 EUR."
    before = client.get(url, params={"as_of": "2026-03-28"}, headers=auth(tenant_a)).json()
    assert before["balances"][0]["balance"]["amount"] == "0.00"
    assert client.get(url, headers=auth(tenant_a)).json()["as_of"] is None
    bad = client.get(url, params={"as_of": "31/03/2026"}, headers=auth(tenant_a))
    assert bad.status_code == 422


def test_the_driver_who_owes_rent(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, books: Books,
) -> None:
    bo = books.drivers["bo"]  # type: ignore[attr-defined]
    body = client.get(f"/v1/drivers/{bo}/balance", params={"as_of": "2026-03-31"},
                      headers=auth(tenant_a)).json()
    (eur,) = body["balances"]
    assert eur["balance"]["amount"] == "-150.00"
    assert eur["position"] == "owed_by_driver"
    assert eur["wording"] == "The driver owes the fleet 150.00 EUR."
    ledger = client.get(f"/v1/drivers/{bo}/ledger", headers=auth(tenant_a)).json()
    assert ledger["items"][-1]["balance"]["amount"] == "-150.00"
    assert all(i["source"]["line_type"] == "rent" for i in ledger["items"])
    assert all(i["counterpart"] == {"kind": "revenue", "name": "Rent"}
               for i in ledger["items"])


def test_ledger_pages_filters_and_csv(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, books: Books,
) -> None:
    ana = books.drivers["ana"]  # type: ignore[attr-defined]
    url = f"/v1/drivers/{ana}/ledger"
    headers = auth(tenant_a)
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = client.get(url, params=params, headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if page.json()["next_cursor"] is None:
            break
        params["cursor"] = page.json()["next_cursor"]
    # 3 earnings + 3 commissions + 1 fleet share, by economic date (the week's last day).
    assert len(items) == 7
    assert {i["effective_on"] for i in items} == {"2026-03-29"}
    assert items[-1]["balance"]["amount"] == "67.50"
    earning = next(i for i in items if i["transaction_type"] == "platform_earning")
    assert earning["source"]["type"] == "settlement"
    assert earning["source"]["platform"] == "Uber"
    assert earning["source"]["settlement_week"] == "2026-03-23"
    assert earning["source"]["import_row_id"] is not None
    assert earning["source"]["import_row_number"] is not None
    assert "report row" in earning["source"]["label"]
    # Filters by economic date.
    none = client.get(url, params={"from": "2026-03-30"}, headers=headers).json()
    assert none["items"] == []
    upto = client.get(url, params={"to": "2026-03-29"}, headers=headers).json()
    assert len(upto["items"]) == 7
    bad = client.get(url, params={"cursor": "nonsense"}, headers=headers)
    assert bad.status_code == 422
    export = client.get(f"{url}/export.csv", headers=headers)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["id"] for r in rows] == [i["id"] for i in items]
    assert rows[-1]["balance_amount"] == "67.50"


def test_permissions_and_tenant_isolation(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    books: Books,
) -> None:
    ana = books.drivers["ana"]  # type: ignore[attr-defined]
    for path in (f"/v1/drivers/{ana}/balance", f"/v1/drivers/{ana}/ledger",
                 f"/v1/drivers/{ana}/ledger/export.csv"):
        # Another tenant's driver: not found, never an empty balance.
        assert client.get(path, headers=auth(tenant_b)).status_code == 404, path
        # A role without ledger:read (the dispatcher) is refused.
        assert client.get(path, headers=auth(tenant_a, "dispatcher")).status_code == 403, path
    unknown = uuid.uuid4()
    assert client.get(f"/v1/drivers/{unknown}/balance",
                      headers=auth(tenant_a)).status_code == 404
    assert client.get(f"/v1/drivers/{unknown}/ledger", headers=auth(tenant_a)).status_code == 404


def test_the_console_shows_the_balance_and_who_owes(
    signed_in: Callable[..., Any], tenant_a: TenantWorld, tenant_b: TenantWorld,
    books: Books,
) -> None:
    bo = books.drivers["bo"]  # type: ignore[attr-defined]
    ana = books.drivers["ana"]  # type: ignore[attr-defined]
    browser = signed_in(tenant_a)
    page = browser.get(f"/app/drivers/{bo}/ledger?as_of=2026-03-31")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'class="kpi kpi-alert" data-position="owed_by_driver"' in html
    assert "owed by the driver" in html
    assert "The driver owes the fleet 150.00 EUR." in html
    assert "Settlement week of 2026-03-23" in html
    earlier = browser.get(f"/app/drivers/{bo}/ledger?as_of=2026-03-28").text
    assert "kpi-alert" not in earlier  # nothing owed before the week ended
    detail = browser.get(f"/app/drivers/{bo}").text
    assert 'id="balance"' in detail
    assert "The driver owes the fleet" in detail
    assert f"/app/drivers/{bo}/ledger" in detail
    owed = browser.get(f"/app/drivers/{ana}/ledger?as_of=2026-03-31").text
    assert 'data-position="owed_to_driver"' in owed
    assert "kpi-alert" not in owed
    assert browser.get(f"/app/drivers/{bo}/ledger?as_of=soon").status_code == 422
    # Another tenant's console does not find the driver.
    assert signed_in(tenant_b).get(f"/app/drivers/{bo}/ledger").status_code == 404


def test_the_console_hides_the_balance_without_ledger_read(
    signed_in: Callable[..., Any], tenant_a: TenantWorld, books: Books,
) -> None:
    bo = books.drivers["bo"]  # type: ignore[attr-defined]
    browser = signed_in(tenant_a, "fleet_manager")
    detail = browser.get(f"/app/drivers/{bo}")
    assert detail.status_code == 200
    assert 'id="balance"' not in detail.text
    assert browser.get(f"/app/drivers/{bo}/ledger").status_code == 403
