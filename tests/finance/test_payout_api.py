"""The payout API end to end: permissions (403), If-Match (428/412), tenant isolation (404),
IBAN validation (422 naming the field), four-eyes approval, the SEPA download and marking it
sent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from lxml import etree
from payout_fixtures import WEEK, committed_fleet

from api_support import TenantWorld, if_match
from fleetcore.finance.sepa_service import sepa_schema

BATCHES = "/v1/driver-payment-batches"
DRAFT = {"period_first_day": WEEK.isoformat(), "period_last_day": "2026-11-22",
         "method": "sepa_transfer"}


def _world_with_balances(sessions: Any, world: TenantWorld) -> tuple[Any, list[Any]]:
    fleet = committed_fleet(sessions, world.id)
    drivers = [fleet.driver("Ana"), fleet.driver("Bob")]
    fleet.owe(drivers[0], "120.50")
    fleet.owe(drivers[1], "-20.00")
    return fleet, drivers


def test_permissions_if_match_and_isolation(
    client: TestClient, sessions: Any, tenant_a: TenantWorld, tenant_b: TenantWorld,
    auth: Any,
) -> None:
    _world_with_balances(sessions, tenant_a)
    assert client.post(BATCHES, json=DRAFT).status_code == 401
    assert client.post(BATCHES, json=DRAFT, headers=auth(tenant_a, "dispatcher")
                       ).status_code == 403
    created = client.post(BATCHES, json=DRAFT, headers=auth(tenant_a, "finance"))
    assert created.status_code == 201, created.text
    batch = created.json()
    assert batch["net_total"] == {"amount": "120.50", "currency": "EUR"}
    assert batch["carried_negative"]["drivers"] == 1
    url = f"{BATCHES}/{batch['id']}"
    assert client.get(url, headers=auth(tenant_b, "owner")).status_code == 404
    refused = client.post(f"{url}/approve", headers=if_match(client, url, auth(tenant_b)))
    assert refused.status_code == 404
    assert client.post(f"{url}/approve", headers=auth(tenant_a)).status_code == 428
    stale = client.post(f"{url}/approve", headers={**auth(tenant_a), "If-Match": '"999"'})
    assert stale.status_code == 412
    viewer = client.post(f"{url}/approve", headers=if_match(client, url, auth(tenant_a, "viewer")))
    assert viewer.status_code == 403
    payments = client.get(f"{url}/payments", headers=auth(tenant_a, "finance")).json()
    assert len(payments["items"]) == 1
    assert client.get(url, headers=auth(tenant_a)).json()["status"] == "draft"
    # Another tenant cannot give this tenant's driver a bank account, nor list theirs.
    driver = payments["items"][0]["driver_id"]
    foreign = client.post(f"/v1/drivers/{driver}/bank-accounts",
                          json={"iban": "DE89370400440532013000"}, headers=auth(tenant_b))
    assert foreign.status_code == 404
    assert client.get(f"/v1/drivers/{driver}/payout-accounts", headers=auth(tenant_b)
                      ).status_code == 404
    assert client.get(f"/v1/driver-payments/{payments['items'][0]['id']}",
                      headers=auth(tenant_b)).status_code == 404


def test_sepa_payout_through_the_api(
    client: TestClient, sessions: Any, tenant_a: TenantWorld, auth: Any,
) -> None:
    _, drivers = _world_with_balances(sessions, tenant_a)
    owner = auth(tenant_a, "owner")
    bad = client.post(f"/v1/drivers/{drivers[0]}/bank-accounts",
                      json={"iban": "DE89 3704 0044 0532 0130 01"}, headers=owner)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "iban"
    saved = client.post(f"/v1/drivers/{drivers[0]}/bank-accounts",
                        json={"iban": "DE89 3704 0044 0532 0130 00"}, headers=owner)
    assert saved.status_code == 201, saved.text
    assert saved.json()["iban_masked"] == "DE89…3000"
    assert "0532013000" not in saved.text
    settings = client.put("/v1/payout-settings", json={
        "four_eyes": True, "debtor": {"name": "Fleet SAS", "iban": "FR1420041010050500013M02606"}},
        headers={**owner, "If-Match": client.get("/v1/payout-settings", headers=owner
                                                  ).headers["etag"]})
    assert settings.status_code == 200, settings.text
    assert settings.json()["debtor_bic"] == "PSSTFRPP"
    batch = client.post(BATCHES, json=DRAFT, headers=owner).json()
    url = f"{BATCHES}/{batch['id']}"
    four_eyes = client.post(f"{url}/approve", headers=if_match(client, url, owner))
    assert four_eyes.status_code == 403
    assert four_eyes.json()["type"].endswith("/four-eyes")
    finance = auth(tenant_a, "finance")
    approved = client.post(f"{url}/approve", headers=if_match(client, url, finance))
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_by"] == str(tenant_a.person("finance").member_id)
    download = client.get(f"{url}/sepa", headers=finance)
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("application/xml")
    tree = etree.fromstring(download.content)
    assert sepa_schema().validate(tree)
    ctrl = tree.findtext(".//{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}CtrlSum")
    assert Decimal(ctrl) == Decimal("120.50")
    assert client.get(f"{url}/sepa", headers=finance).content == download.content
    sent = client.post(f"{url}/sent", headers=if_match(client, url, finance))
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "paid"
    payment = client.get(f"{url}/payments", headers=finance).json()["items"][0]
    purl = f"/v1/driver-payments/{payment['id']}"
    returned = client.post(f"{purl}/fail", json={"reason": "AC04 account closed"},
                           headers=if_match(client, purl, finance))
    assert returned.status_code == 200, returned.text
    assert returned.json()["status"] == "failed"
    assert client.get(url, headers=finance).json()["status"] == "partially_failed"


def test_stripe_batch_refused_without_keys(
    client: TestClient, sessions: Any, tenant_a: TenantWorld, auth: Any,
) -> None:
    _world_with_balances(sessions, tenant_a)
    owner = auth(tenant_a, "owner")
    batch = client.post(BATCHES, json={**DRAFT, "method": "manual"}, headers=owner).json()
    url = f"{BATCHES}/{batch['id']}"
    refused = client.post(f"{url}/transfers", headers=if_match(client, url, owner))
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/stripe-not-configured")
    assert "STRIPE_API_KEY" in refused.json()["detail"]


def test_batches_payments_and_accounts_export_as_csv(
    client: TestClient, sessions: Any, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Any,
) -> None:
    import csv
    import io

    _, drivers = _world_with_balances(sessions, tenant_a)
    owner = auth(tenant_a, "owner")
    assert client.post(f"/v1/drivers/{drivers[0]}/bank-accounts",
                       json={"iban": "DE89 3704 0044 0532 0130 00"}, headers=owner
                       ).status_code == 201
    batch = client.post(BATCHES, json=DRAFT, headers=owner).json()

    def rows(url: str, headers: dict[str, str]) -> list[dict[str, str]]:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        return list(csv.DictReader(io.StringIO(response.text)))

    batches = rows(f"{BATCHES}/export.csv", owner)
    assert [(b["id"], b["net_total_amount"], b["status"]) for b in batches] == [
        (batch["id"], "120.50", "draft")]
    assert rows(f"{BATCHES}/export.csv?batch_status=approved", owner) == []
    payments = rows(f"{BATCHES}/{batch['id']}/payments/export.csv", owner)
    assert [(p["driver_id"], p["net_amount"]) for p in payments] == [(str(drivers[0]), "120.50")]
    accounts = rows(f"/v1/drivers/{drivers[0]}/payout-accounts/export.csv", owner)
    assert [a["iban_masked"] for a in accounts] == ["DE89…3000"]
    assert "0532013000" not in str(accounts)
    # Another fleet sees none of it.
    other = auth(tenant_b, "owner")
    assert rows(f"{BATCHES}/export.csv", other) == []
    assert client.get(f"{BATCHES}/{batch['id']}/payments/export.csv",
                      headers=other).status_code == 404
