"""``/v1/drivers/{id}/statements`` over HTTP: JSON whose groups sum to the total (the week's
settlements and the ledger), PDF, languages, e-mailing queued, and isolation: another tenant's
driver or an unknown driver is a 404."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from settlement_fixtures import WEEK, Books, at, committed_books, midnight

from api_support import TenantWorld, if_match

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def books(tenant_a: TenantWorld, sessions: Any) -> Books:
    """Tenant A: Ana on Uber (25 % share) with a recharged fuel expense."""
    books = committed_books(sessions, tenant_a.id)
    uber = books.platform("uber")
    ana = books.driver()
    books.sql("UPDATE rid_drivers SET email = 'ana@fleet.test' WHERE id = :d", d=ana)
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


def _confirm_week(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    computed = client.post("/v1/settlements/compute", json={"week": WEEK.isoformat()},
                           headers=headers)
    assert computed.status_code == 200, computed.text
    confirmed = []
    for s in computed.json()["settlements"]:
        url = f"/v1/settlements/{s['id']}/confirm"
        response = client.post(url, headers=if_match(client, url, headers))
        assert response.status_code == 200, response.text
        confirmed.append(response.json())
    return confirmed


def test_statement_json_pdf_and_send(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, books: Books,
) -> None:
    owner = auth(tenant_a)
    ana = books.drivers[0]  # type: ignore[attr-defined]
    settlements = _confirm_week(client, owner)
    response = client.get(f"/v1/drivers/{ana}/statements",
                          params={"week": (WEEK + timedelta(days=5)).isoformat()},
                          headers=owner)
    assert response.status_code == 200, response.text
    body = response.json()
    nets = sum(Decimal(s["net"]["amount"]) for s in settlements)
    assert body["total"] == {"amount": f"{nets:.2f}", "currency": "EUR"}
    assert body["total"]["amount"] == "52.75"  # 140 - 35 + 4 - 26.25 fleet share - 30 fuel
    assert sum(Decimal(g["amount"]["amount"]) for g in body["groups"]) == nets
    assert body["ledger"] == body["total"]
    assert (body["week"], body["status"], body["language"]) == (WEEK.isoformat(), "confirmed",
                                                                "en")
    assert body["payment"]["state"] == "to_be_paid"
    assert body["payment"]["amount"] == body["total"]
    groups = {g["key"]: g for g in body["groups"]}
    assert groups["earnings"]["label"] == "Earnings — Uber"
    assert {s["reference"] for s in groups["earnings"]["sources"]} == {"t1", "t2"}
    assert {s["source_type"] for s in groups["expenses"]["sources"]} == {"expense"}
    assert body["fleet"]["country"] == "FR"

    french = client.get(f"/v1/drivers/{ana}/statements",
                        params={"week": WEEK.isoformat(), "lang": "fr"}, headers=owner).json()
    assert french["language"] == "fr"
    assert {g["label"] for g in french["groups"]} >= {"Revenus — Uber", "Part de la flotte"}

    pdf = client.get(f"/v1/drivers/{ana}/statements.pdf", params={"week": WEEK.isoformat()},
                     headers=owner)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Ana Borg" in text
    assert "52.75" in text

    sent = client.post(f"/v1/drivers/{ana}/statements/send", params={"week": WEEK.isoformat()},
                       headers=owner)
    assert sent.status_code == 202, sent.text
    assert sent.json()["email"] == "ana@fleet.test"
    job = books.run("SELECT task_name, args FROM procrastinate_jobs WHERE id = :j",
                    {"j": int(sent.json()["job"])}, True)
    assert job[0].task_name == "fleetcore.send_statement"
    assert job[0].args["driver_id"] == str(ana)
    assert job[0].args["tenant_id"] == str(tenant_a.id)


def test_another_tenant_or_driver_is_not_found(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    books: Books,
) -> None:
    _confirm_week(client, auth(tenant_a))
    ana = books.drivers[0]  # type: ignore[attr-defined]
    stranger = auth(tenant_b)
    week = {"week": WEEK.isoformat()}
    for method, path in [("GET", f"/v1/drivers/{ana}/statements"),
                         ("GET", f"/v1/drivers/{ana}/statements.pdf"),
                         ("POST", f"/v1/drivers/{ana}/statements/send")]:
        response = client.request(method, path, params=week, headers=stranger)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    unknown = client.get(f"/v1/drivers/{uuid.uuid4()}/statements", params=week,
                         headers=auth(tenant_a))
    assert unknown.status_code == 404
    bad = client.get(f"/v1/drivers/{ana}/statements", params={"week": "2026-02-30"},
                     headers=auth(tenant_a))
    assert bad.status_code == 422
    # Without a week: last week's statement (the week before the current one).
    no_week = client.get(f"/v1/drivers/{ana}/statements", headers=auth(tenant_a))
    assert no_week.status_code == 200
    last_monday = date.today() - timedelta(days=date.today().weekday() + 7)
    assert no_week.json()["week"] == last_monday.isoformat()
