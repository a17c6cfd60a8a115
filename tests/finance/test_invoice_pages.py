"""The invoices console: the list (client or self-billed, by kind and status), one invoice
with its lines, finalise with the version shown, a credit note, the PDF; another fleet's
invoice is not found, and a member without ``invoices:write`` sees no button."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from settlement_fixtures import at, committed_books

from api_support import TenantWorld
from web_support import Browser

YEAR = datetime.now(UTC).year
BODY = {"client_ref": "acme", "client_name": "ACME SAS", "client_tax_id": "FR40303265045",
        "period_start": "2026-11-01", "period_end": "2026-11-30", "currency": "EUR"}


def _version(html: str, action: str) -> str:
    found = re.search(rf'action="[^"]*/{action}"[^>]*>\s*<input type="hidden" name="csrf_token"'
                      rf' value="[^"]*"><input type="hidden" name="version" value="(\d+)"', html)
    assert found, f"no {action} form"
    return found.group(1)


def test_an_invoice_is_listed_finalised_credited_and_downloaded(
    client: TestClient, sessions: Any, tenant_a: TenantWorld, tenant_b: TenantWorld,
    auth: Callable[..., dict[str, str]], signed_in: Callable[..., Browser],
) -> None:
    books = committed_books(sessions, tenant_a.id)
    books.sql("UPDATE adm_tenants SET vat_rate_pct = 20 WHERE id = :t", t=tenant_a.id)
    platform = books.platform()
    trips = []
    for day, fare in ((3, "50.00"), (4, "70.00")):
        trips.append(f"t-{uuid.uuid4().hex[:10]}")
        books.insert("trp_trips", platform_id=platform, external_trip_id=trips[-1],
                     status="completed", started_at=at(date(2026, 11, day), 9),
                     ended_at=at(date(2026, 11, day), 10), fare_gross=Decimal(fare),
                     currency="EUR", metadata='{"client_ref": "acme"}')
    created = client.post("/v1/client-invoices", json=BODY, headers=auth(tenant_a))
    assert created.status_code == 201, created.text
    invoice_id = created.json()["id"]

    browser = signed_in(tenant_a)
    listing = browser.get("/app/invoices")
    assert listing.status_code == 200
    assert 'href="/app/invoices"' in listing.text  # the Finance menu entry
    assert f'href="/app/invoices/{invoice_id}">Draft</a>' in listing.text
    assert "ACME SAS" in listing.text
    assert "ACME SAS" not in browser.get("/app/invoices?billing=self_billed").text
    assert "ACME SAS" not in browser.get("/app/invoices?status=issued").text
    assert browser.get("/app/invoices?status=nonsense").status_code == 400

    page = f"/app/invoices/{invoice_id}"
    detail = browser.get(page).text
    assert all(t in detail for t in trips)  # a line per trip
    assert "€120.00" in detail
    assert 'data-confirm="Issue this invoice of €120.00 to ACME SAS?' in detail
    version = _version(detail, "finalise")
    stale = browser.post(f"{page}/finalise", {"version": str(int(version) + 1)}, page=page)
    assert stale.status_code == 303
    assert "changed since you opened the page" in browser.get(page).text
    issued = browser.post(f"{page}/finalise", {"version": version}, page=page)
    assert issued.status_code == 303, issued.text[:1000]
    detail = browser.get(page).text
    assert f"Issued as F-{YEAR}-000001" in detail
    assert 'name="reason"' in detail
    assert f"/invoices/{invoice_id}/finalise" not in detail

    version = _version(detail, "credit-notes")
    missing = browser.post(f"{page}/credit-notes", {"version": version, "amount": "12"},
                           page=page)
    assert missing.status_code == 422
    assert "say why" in missing.text
    too_much = browser.post(f"{page}/credit-notes", {"version": version, "amount": "500",
                                                     "reason": "wrong"}, page=page)
    assert too_much.status_code == 409
    assert "left to credit" in too_much.text
    credited = browser.post(f"{page}/credit-notes", {"version": version, "amount": "12,00",
                                                     "reason": "trip cancelled"}, page=page)
    assert credited.status_code == 303, credited.text[:1000]
    note_page = credited.headers["location"].split("?")[0]
    note = browser.get(note_page).text
    assert "Credit note (draft)" in note
    assert f"F-{YEAR}-000001</a>" in note  # links to what it corrects
    assert "€12.00" in note

    pdf = browser.get(f"{page}.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert f'filename="F-{YEAR}-000001.pdf"' in pdf.headers["content-disposition"]

    # Another fleet's member finds nothing.
    other = signed_in(tenant_b)
    assert other.get(page).status_code == 404
    assert other.get(f"{page}.pdf").status_code == 404
    assert invoice_id not in other.get("/app/invoices").text
