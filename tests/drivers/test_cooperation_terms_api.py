"""Cooperation terms: settlement model rules, acceptance evidence, one active term per driver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from drivers_support import driver_body
from fastapi.testclient import TestClient

from api_support import TenantWorld, if_match

Auth = Callable[..., dict[str, str]]
TERMS = "/v1/driver-cooperation-terms"


def _driver(client: TestClient, world: TenantWorld, auth: Auth, n: int = 1) -> str:
    response = client.post("/v1/drivers", headers=auth(world), json=driver_body(n))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _terms(driver: str, **values: Any) -> dict[str, Any]:
    return {"driver_id": driver, "terms_version": "v1", "settlement_model": "revenue_share",
            "fleet_share_pct": "25", "currency": "EUR",
            "effective_from": "2026-01-01T00:00:00+00:00", **values}


def _offer(client: TestClient, world: TenantWorld, auth: Auth, body: dict[str, Any]
           ) -> dict[str, Any]:
    response = client.post(TERMS, headers=auth(world), json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("values", "field"), [
    ({"fleet_share_pct": None}, "fleet_share_pct"),
    ({"fleet_share_pct": "120"}, "fleet_share_pct"),
    ({"fleet_share_pct": "-1"}, "fleet_share_pct"),
    ({"rent": {"amount": "300.00", "currency": "EUR"}, "rent_period": "week"}, "rent"),
    ({"settlement_model": "fixed_rent", "fleet_share_pct": None, "rent_period": "week"}, "rent"),
    ({"settlement_model": "fixed_rent", "fleet_share_pct": None,
      "rent": {"amount": "300.00", "currency": "EUR"}}, "rent_period"),
    ({"settlement_model": "fixed_rent", "fleet_share_pct": None, "rent_period": "week",
      "rent": {"amount": "300.00", "currency": "GBP"}}, "rent.currency"),
    ({"settlement_model": "fixed_rent", "fleet_share_pct": None, "rent_period": "week",
      "rent": {"amount": "-3", "currency": "EUR"}}, "rent.amount"),
    ({"settlement_model": "salaried", "fleet_share_pct": "10"}, "fleet_share_pct"),
    ({"currency": "EURO"}, "currency"),
    ({"effective_to": "2025-01-01T00:00:00+00:00"}, "effective_to"),
    ({"effective_from": "2026-01-01T00:00:00"}, "effective_from"),
    ({"weekly_deposit_instalment": {"amount": "50.00", "currency": "EUR"}},
     "weekly_deposit_instalment"),
])
def test_settlement_model_rules_are_refused_with_the_field(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, values: dict[str, Any], field: str
) -> None:
    driver = _driver(client, tenant_a, auth)
    response = client.post(TERMS, headers=auth(tenant_a), json=_terms(driver, **values))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_valid_models_are_created_pending(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    driver = _driver(client, tenant_a, auth)
    share = _offer(client, tenant_a, auth, _terms(driver))
    assert (share["status"], share["fleet_share_pct"], share["rent"]) == ("pending", "25.0000",
                                                                          None)
    rent = _offer(client, tenant_a, auth, _terms(
        driver, settlement_model="fixed_rent", fleet_share_pct=None, rent_period="week",
        rent={"amount": "300", "currency": "EUR"},
        deposit={"amount": "1000.00", "currency": "EUR"},
        weekly_deposit_instalment={"amount": "100.00", "currency": "EUR"}))
    assert rent["rent"] == {"amount": "300.00", "currency": "EUR"}
    assert rent["deposit"] == {"amount": "1000.00", "currency": "EUR"}
    salaried = _offer(client, tenant_a, auth, _terms(driver, settlement_model="salaried",
                                                     fleet_share_pct=None))
    assert salaried["settlement_model"] == "salaried"
    unknown = client.post(TERMS, headers=auth(tenant_a),
                          json=_terms("0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e"))
    assert unknown.status_code == 422
    listed = client.get(f"/v1/drivers/{driver}/cooperation-terms", headers=auth(tenant_a))
    assert [t["id"] for t in listed.json()["items"]] == [share["id"], rent["id"], salaried["id"]]


def test_accepting_records_evidence_and_closes_the_terms_in_force(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    driver = _driver(client, tenant_a, auth)
    first = _offer(client, tenant_a, auth, _terms(driver))
    accepted = client.post(f"{TERMS}/{first['id']}/accept",
                           headers=if_match(
                               client,
                               f"{TERMS}/{first['id']}/accept",
                               {**auth(tenant_a), "User-Agent": "DriverApp/2.1"}))
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "active"
    assert body["accepted_at"] is not None
    assert body["accepted_user_agent"] == "DriverApp/2.1"
    assert client.post(f"{TERMS}/{first['id']}/accept",
                       headers=if_match(
                           client,
                           f"{TERMS}/{first['id']}/accept",
                           auth(tenant_a))).status_code == 409

    second = _offer(client, tenant_a, auth, _terms(
        driver, terms_version="v2", fleet_share_pct="20",
        effective_from="2026-06-01T00:00:00+00:00"))
    assert client.post(f"{TERMS}/{second['id']}/accept", headers=if_match(
        client, f"{TERMS}/{second['id']}/accept", auth(tenant_a))).status_code == 200
    old = client.get(f"{TERMS}/{first['id']}", headers=auth(tenant_a)).json()
    assert old["effective_to"] == "2026-06-01T00:00:00Z"
    assert old["status"] == "expired"
    active = client.get(TERMS, params={"driver_id": driver, "status": "active"},
                        headers=auth(tenant_a)).json()["items"]
    assert [t["id"] for t in active] == [second["id"]]

    earlier = _offer(client, tenant_a, auth, _terms(
        driver, terms_version="v0", effective_from="2026-03-01T00:00:00+00:00"))
    refused = client.post(f"{TERMS}/{earlier['id']}/accept", headers=if_match(
        client, f"{TERMS}/{earlier['id']}/accept", auth(tenant_a)))
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["field"] == "effective_from"


def test_overlapping_accepted_terms_are_a_clear_409(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    driver = _driver(client, tenant_a, auth)
    first = _offer(client, tenant_a, auth, _terms(driver))
    assert client.post(f"{TERMS}/{first['id']}/accept", headers=if_match(
        client, f"{TERMS}/{first['id']}/accept", auth(tenant_a))).status_code == 200
    ended = client.post(f"{TERMS}/{first['id']}/terminate", headers=if_match(
        client, f"{TERMS}/{first['id']}/terminate", auth(tenant_a)),
                        json={"reason": "Renegotiated",
                              "effective_to": "2026-09-01T00:00:00+00:00"})
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "terminated"
    # Terminated terms keep their real end, so new terms inside it overlap them.
    overlapping = _offer(client, tenant_a, auth, _terms(
        driver, effective_from="2026-08-01T00:00:00+00:00"))
    refused = client.post(f"{TERMS}/{overlapping['id']}/accept", headers=if_match(
        client, f"{TERMS}/{overlapping['id']}/accept", auth(tenant_a)))
    assert refused.status_code == 409, refused.text
    assert refused.json()["errors"][0]["field"] == "effective_from"
    after = _offer(client, tenant_a, auth, _terms(
        driver, effective_from="2026-09-01T00:00:00+00:00"))
    assert client.post(f"{TERMS}/{after['id']}/accept", headers=if_match(
        client, f"{TERMS}/{after['id']}/accept", auth(tenant_a))).status_code == 200


def test_terminate_rules(client: TestClient, tenant_a: TenantWorld, auth: Auth) -> None:
    driver = _driver(client, tenant_a, auth)
    offer = _offer(client, tenant_a, auth, _terms(driver))
    assert client.post(f"{TERMS}/{offer['id']}/terminate", headers=if_match(
        client, f"{TERMS}/{offer['id']}/terminate", auth(tenant_a)),
                       json={}).status_code == 422
    withdrawn = client.post(f"{TERMS}/{offer['id']}/terminate", headers=if_match(
        client, f"{TERMS}/{offer['id']}/terminate", auth(tenant_a)),
                            json={"reason": "Offer withdrawn"})
    assert withdrawn.status_code == 200
    assert withdrawn.json()["effective_to"] is None
    assert client.post(f"{TERMS}/{offer['id']}/terminate", headers=if_match(
        client, f"{TERMS}/{offer['id']}/terminate", auth(tenant_a)),
                       json={"reason": "again"}).status_code == 409
    assert client.post(f"{TERMS}/{offer['id']}/accept", headers=if_match(
        client, f"{TERMS}/{offer['id']}/accept", auth(tenant_a))).status_code == 409
    live = _offer(client, tenant_a, auth, _terms(driver))
    client.post(f"{TERMS}/{live['id']}/accept", headers=if_match(
        client, f"{TERMS}/{live['id']}/accept", auth(tenant_a)))
    before_start = client.post(f"{TERMS}/{live['id']}/terminate", headers=if_match(
        client, f"{TERMS}/{live['id']}/terminate", auth(tenant_a)),
                               json={"reason": "x", "effective_to": "2025-12-01T00:00:00+00:00"})
    assert before_start.status_code == 422
    assert before_start.json()["errors"][0]["field"] == "effective_to"


def test_terms_offered_by_mistake_are_deleted_and_restored(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth
) -> None:
    driver = _driver(client, tenant_a, auth)
    offer = _offer(client, tenant_a, auth, _terms(driver))
    item = f"{TERMS}/{offer['id']}"
    etag = client.get(item, headers=auth(tenant_a)).headers["ETag"]

    stale = client.request("DELETE", item, headers={**auth(tenant_a), "If-Match": '"999"'})
    assert stale.status_code == 412, stale.text
    assert client.request("DELETE", item, headers=if_match(
        client, item, auth(tenant_b))).status_code == 404
    assert client.request("DELETE", item, headers=if_match(
        client, item, auth(tenant_a, "viewer"))).status_code == 403
    deleted = client.request("DELETE", item, json={"reason": "Offered to the wrong driver"},
                             headers={**auth(tenant_a), "If-Match": etag})
    assert deleted.status_code == 204, deleted.text
    assert client.get(item, headers=auth(tenant_a)).status_code == 404
    listed = client.get(TERMS, headers=auth(tenant_a), params={"driver_id": driver}).json()
    assert listed["items"] == []
    with_deleted = client.get(f"/v1/drivers/{driver}/cooperation-terms", headers=auth(tenant_a),
                              params={"include_deleted": "true"}).json()["items"]
    assert [t["id"] for t in with_deleted] == [offer["id"]]
    # Deleted terms are not offered any more: they cannot be accepted.
    assert client.post(f"{item}/accept", headers=if_match(
        client, f"{item}/accept", auth(tenant_a))).status_code == 404

    restored = client.post(f"{item}/restore", headers=auth(tenant_a))
    assert restored.status_code == 200, restored.text
    assert (restored.json()["status"], restored.json()["id"]) == ("pending", offer["id"])
    assert restored.headers["ETag"] != etag
    assert client.post(f"{item}/restore", headers=auth(tenant_a)).status_code == 409
    assert client.get(item, headers=auth(tenant_a)).status_code == 200


def test_accepted_terms_are_terminated_never_deleted(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, read_system: Any
) -> None:
    driver = _driver(client, tenant_a, auth)
    terms = _offer(client, tenant_a, auth, _terms(driver))
    assert client.post(f"{TERMS}/{terms['id']}/accept", headers=if_match(
        client, f"{TERMS}/{terms['id']}/accept", auth(tenant_a))).status_code == 200
    refused = client.request("DELETE", f"{TERMS}/{terms['id']}", headers=if_match(
        client, f"{TERMS}/{terms['id']}", auth(tenant_a)))
    assert refused.status_code == 409, refused.text
    assert "Terminate them instead" in refused.json()["detail"]
    assert read_system("SELECT deleted_at FROM rid_driver_cooperation_terms WHERE id = :id",
                       id=terms["id"]) == [(None,)]
    ended = client.post(f"{TERMS}/{terms['id']}/terminate", headers=if_match(
        client, f"{TERMS}/{terms['id']}/terminate", auth(tenant_a)),
                        json={"reason": "The driver left the fleet."})
    assert ended.status_code == 200, ended.text
    # Still the record of a contract once terminated.
    again = client.request("DELETE", f"{TERMS}/{terms['id']}", headers=if_match(
        client, f"{TERMS}/{terms['id']}", auth(tenant_a)))
    assert again.status_code == 409
    # A withdrawn offer (never accepted) may go.
    offer = _offer(client, tenant_a, auth, _terms(driver, terms_version="v2",
                                                  effective_from="2027-01-01T00:00:00+00:00"))
    assert client.post(f"{TERMS}/{offer['id']}/terminate", headers=if_match(
        client, f"{TERMS}/{offer['id']}/terminate", auth(tenant_a)),
                       json={"reason": "Withdrawn"}).status_code == 200
    assert client.request("DELETE", f"{TERMS}/{offer['id']}",
                          headers=if_match(
                              client, f"{TERMS}/{offer['id']}", auth(tenant_a))).status_code == 204
