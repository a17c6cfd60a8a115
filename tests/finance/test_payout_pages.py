"""The payouts console: draft a week's batch, review its payments, approve, download the SEPA
file (valid against its XSD), record it sent, record a returned payment."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from lxml import etree
from payout_fixtures import WEEK, committed_fleet

from api_support import TenantWorld
from fleetcore.finance.sepa_service import sepa_schema
from web_support import Browser

NS = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}"


def _version(html: str, action: str) -> str:
    found = re.search(rf'action="[^"]*/{action}"[^>]*>\s*<input type="hidden" name="csrf_token"'
                      rf' value="[^"]*"><input type="hidden" name="version" value="(\d+)"', html)
    assert found, f"no {action} form"
    return found.group(1)


def test_a_week_is_paid_from_the_console(
    client: TestClient, sessions: Any, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Any,
    signed_in: Callable[..., Browser],
) -> None:
    fleet = committed_fleet(sessions, tenant_a.id)
    ana, bob = fleet.driver("Ana"), fleet.driver("Bob")
    fleet.owe(ana, "120.50")
    fleet.owe(bob, "-20.00")
    owner = auth(tenant_a, "owner")
    assert client.post(f"/v1/drivers/{ana}/bank-accounts",
                       json={"iban": "DE89 3704 0044 0532 0130 00"}, headers=owner
                       ).status_code == 201
    current = client.get("/v1/payout-settings", headers=owner)
    assert client.put("/v1/payout-settings", json={
        "four_eyes": False, "debtor": {"name": "Fleet SAS", "iban": "FR1420041010050500013M02606"}},
        headers={**owner, "If-Match": current.headers["etag"]}).status_code == 200

    browser = signed_in(tenant_a)
    listing = browser.get("/app/payouts")
    assert listing.status_code == 200
    assert 'name="period_first_day"' in listing.text
    drafted = browser.post("/app/payouts", {
        "period_first_day": WEEK.isoformat(), "period_last_day": "2026-11-22",
        "method": "sepa_transfer"}, page="/app/payouts")
    assert drafted.status_code == 303, drafted.text[:800]
    batch_url = drafted.headers["location"].split("?")[0].split("#")[0]
    detail = browser.get(batch_url)
    assert detail.status_code == 200
    assert "Ana" in detail.text
    assert "Bob" not in detail.text  # a negative balance is carried, never paid
    approved = browser.post(f"{batch_url}/approve", {"version": _version(detail.text, "approve")},
                            page=batch_url)
    assert approved.status_code == 303
    detail = browser.get(batch_url)
    sepa = browser.post(f"{batch_url}/sepa", page=batch_url)
    assert sepa.status_code == 200, sepa.text[:500]
    tree = etree.fromstring(sepa.content)
    assert sepa_schema().validate(tree)
    assert Decimal(tree.findtext(f".//{NS}CtrlSum") or "0") == Decimal("120.50")
    assert tree.findtext(f".//{NS}NbOfTxs") == "1"
    detail = browser.get(batch_url)
    sent = browser.post(f"{batch_url}/sent", {"version": _version(detail.text, "sent")},
                        page=batch_url)
    assert sent.status_code == 303
    batch_id = batch_url.rsplit("/", 1)[1]
    status = client.get(f"/v1/driver-payment-batches/{batch_id}", headers=owner).json()["status"]
    assert status == "paid"
    detail = browser.get(batch_url)
    payment = re.search(r'/payments/([0-9a-f-]{36})/fail"', detail.text)
    assert payment
    version = re.search(rf'/payments/{payment.group(1)}/fail"[^>]*>\s*<input type="hidden"'
                        r' name="csrf_token" value="[^"]*"><input type="hidden" name="version"'
                        r' value="(\d+)"', detail.text)
    assert version
    returned = browser.post(f"{batch_url}/payments/{payment.group(1)}/fail",
                            {"version": version.group(1), "reason": "AC04 account closed"},
                            page=batch_url)
    assert returned.status_code == 303
    assert "AC04 account closed" in browser.get(batch_url).text

    # Another fleet's member finds nothing of it.
    stranger = signed_in(tenant_b)
    assert stranger.get(batch_url).status_code == 404
