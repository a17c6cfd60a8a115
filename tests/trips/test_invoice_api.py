"""``/v1/client-invoices`` and ``/v1/self-billed-invoices`` over HTTP: draft → finalise (a
number, If-Match required) → credit note; refusals as problems; another tenant sees nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from settlement_fixtures import Books, at, committed_books

from api_support import TenantWorld, if_match

Auth = Callable[..., dict[str, str]]
YEAR = datetime.now(UTC).year
BODY = {"client_ref": "acme", "client_name": "ACME SAS", "client_tax_id": "FR40303265045",
        "period_start": "2026-11-01", "period_end": "2026-11-30", "currency": "EUR"}


@pytest.fixture
def books(tenant_a: TenantWorld, sessions: Any) -> Books:
    books = committed_books(sessions, tenant_a.id)
    books.sql("UPDATE adm_tenants SET vat_rate_pct = 20 WHERE id = :t", t=tenant_a.id)
    platform = books.platform()
    for day, fare in ((3, "50.00"), (4, "70.00")):
        books.insert("trp_trips", platform_id=platform,
                     external_trip_id=f"t-{uuid.uuid4().hex[:10]}", status="completed",
                     started_at=at(date(2026, 11, day), 9), ended_at=at(date(2026, 11, day), 10),
                     fare_gross=Decimal(fare), currency="EUR", metadata='{"client_ref": "acme"}')
    return books


def test_draft_finalise_and_credit(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, books: Books,
) -> None:
    owner = auth(tenant_a)
    created = client.post("/v1/client-invoices", json=BODY, headers=owner)
    assert created.status_code == 201, created.text
    draft = created.json()
    assert (draft["status"], draft["invoice_number"]) == ("draft", None)
    assert (draft["subtotal"]["amount"], draft["tax"]["amount"], draft["total"]["amount"]) == (
        "100.00", "20.00", "120.00")
    assert created.headers["location"] == f"/v1/client-invoices/{draft['id']}"
    again = client.post("/v1/client-invoices", json=BODY, headers=owner)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"

    url = f"/v1/client-invoices/{draft['id']}/finalise"
    assert client.post(url, headers=owner).status_code == 428
    assert client.post(url, headers={**owner, "If-Match": '"99"'}).status_code == 412
    issued = client.post(url, headers=if_match(client, url, owner))
    assert issued.status_code == 200, issued.text
    assert issued.json()["invoice_number"] == f"F-{YEAR}-000001"
    assert issued.json()["status"] == "issued"
    assert client.post(url, headers=if_match(client, url, owner)).status_code == 409

    notes = f"/v1/client-invoices/{draft['id']}/credit-notes"
    wrong = client.post(notes, json={"amount": {"amount": "10.00", "currency": "USD"},
                                     "reason": "x"}, headers=if_match(client, notes, owner))
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "amount.currency"
    note = client.post(notes, json={"amount": {"amount": "12.00", "currency": "EUR"},
                                    "reason": "trip cancelled"},
                       headers=if_match(client, notes, owner))
    assert note.status_code == 201, note.text
    assert (note.json()["kind"], note.json()["corrects_invoice_id"]) == ("credit_note",
                                                                         draft["id"])
    final = f"/v1/client-invoices/{note.json()['id']}/finalise"
    numbered = client.post(final, headers=if_match(client, final, owner))
    assert numbered.json()["invoice_number"] == f"F-{YEAR}-000002"


def test_self_billing_off_and_another_tenant(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    books: Books,
) -> None:
    owner = auth(tenant_a)
    off = client.post("/v1/self-billed-invoices/issue", json={"week": "2026-11-16"},
                      headers=owner)
    assert off.status_code == 409
    draft = client.post("/v1/client-invoices", json=BODY, headers=owner).json()
    stranger = auth(tenant_b)
    for method, path in [("GET", f"/v1/client-invoices/{draft['id']}"),
                         ("POST", f"/v1/client-invoices/{draft['id']}/finalise"),
                         ("POST", f"/v1/client-invoices/{draft['id']}/credit-notes")]:
        response = client.request(method, path, json={"reason": "x"} if "credit" in path
                                  else None, headers={**stranger, "If-Match": '"1"'})
        assert response.status_code == 404, (path, response.text)
    assert client.post("/v1/client-invoices", json=BODY, headers=stranger).status_code == 409


def test_invoice_pdf(client: TestClient, tenant_a: TenantWorld, auth: Auth,
                     books: Books) -> None:
    owner = auth(tenant_a)
    draft = client.post("/v1/client-invoices", json=BODY, headers=owner).json()
    pdf = client.get(f"/v1/client-invoices/{draft['id']}.pdf", headers=owner)
    assert pdf.status_code == 200, pdf.text
    assert pdf.content.startswith(b"%PDF")
    assert f"draft-{draft['id']}.pdf" in pdf.headers["content-disposition"]
    missing = client.get(f"/v1/client-invoices/{uuid.uuid4()}.pdf", headers=owner)
    assert missing.status_code == 404
