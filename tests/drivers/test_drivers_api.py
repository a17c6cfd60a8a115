"""Drivers over HTTP: validation, E.164, ETags, soft delete, filters, export, compliance."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from drivers_support import driver_body
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from api_support import TenantWorld, if_match

Auth = Callable[..., dict[str, str]]


def _create(client: TestClient, world: TenantWorld, auth: Auth, n: int = 0,
            **values: Any) -> dict[str, Any]:
    response = client.post("/v1/drivers", headers=auth(world), json=driver_body(n, **values))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _fields(response: Any) -> list[str]:
    return sorted(e["field"] for e in response.json()["errors"])


def test_create_normalises_a_national_phone_to_e164(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    response = client.post("/v1/drivers", headers=auth(tenant_a), json=driver_body(1))
    assert response.status_code == 201, response.text
    driver = response.json()
    assert driver["phone"] == "+33612340001"
    assert driver["status"] == "active"
    assert response.headers["location"] == f"/v1/drivers/{driver['id']}"
    assert response.headers["etag"] == '"1"'
    international = _create(client, tenant_a, auth, 2, phone="+44 7911 123456")
    assert international["phone"] == "+447911123456"


@pytest.mark.parametrize(("values", "field"), [
    ({"phone": "12"}, "phone"),
    ({"phone": "06 12"}, "phone"),
    ({"phone": "not a phone"}, "phone"),
    ({"email": "nope"}, "email"),
    ({"licence_expires_on": "2009-01-01"}, "licence_expires_on"),
    ({"date_of_birth": "2020-01-01"}, "date_of_birth"),
    ({"date_of_birth": "1890-01-01"}, "date_of_birth"),
    ({"date_of_birth": "2030-01-01"}, "date_of_birth"),
    ({"licence_issued_on": "2030-01-01", "licence_expires_on": "2040-01-01"},
     "licence_issued_on"),
    ({"hired_on": "1980-01-01"}, "hired_on"),
    ({"licence_country": "XX"}, "licence_country"),
    ({"professional_card_type": "pilot"}, "professional_card_type"),
    ({"colour": "red"}, "colour"),
    ({"member_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e"}, "member_id"),
])
def test_create_refuses_invalid_fields_naming_them(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, values: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/drivers", headers=auth(tenant_a), json=driver_body(3, **values))
    assert response.status_code == 422, response.text
    assert field in _fields(response)


def test_phone_and_email_are_unique_among_live_drivers(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    first = _create(client, tenant_a, auth, 4)
    same_phone = client.post("/v1/drivers", headers=auth(tenant_a),
                             json=driver_body(5, phone="+33612340004"))
    assert same_phone.status_code == 409
    assert _fields(same_phone) == ["phone"]
    same_email = client.post("/v1/drivers", headers=auth(tenant_a),
                             json=driver_body(5, email="DRIVER4@example.com"))
    assert same_email.status_code == 409
    assert _fields(same_email) == ["email"]
    deleted = client.request("DELETE", f"/v1/drivers/{first['id']}", headers=if_match(
        client, f"/v1/drivers/{first['id']}", auth(tenant_a)),
                             json={"reason": "duplicate"})
    assert deleted.status_code == 204
    _create(client, tenant_a, auth, 4)  # a deleted driver frees its phone and e-mail
    restored = client.post(f"/v1/drivers/{first['id']}/restore", headers=auth(tenant_a))
    assert restored.status_code == 409


def test_get_patch_with_etags_and_stale_if_match(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    driver = _create(client, tenant_a, auth, 6)
    read = client.get(f"/v1/drivers/{driver['id']}", headers=auth(tenant_a))
    assert read.status_code == 200
    tag = read.headers["etag"]
    updated = client.patch(f"/v1/drivers/{driver['id']}",
                           headers={**auth(tenant_a), "If-Match": tag},
                           json={"last_name": "Haddad", "phone": "07 81 23 45 06"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["last_name"] == "Haddad"
    assert updated.json()["phone"] == "+33781234506"
    assert updated.headers["etag"] == '"2"'
    stale = client.patch(f"/v1/drivers/{driver['id']}",
                         headers={**auth(tenant_a), "If-Match": tag}, json={"notes": "x"})
    assert stale.status_code == 412
    bad_order = client.patch(f"/v1/drivers/{driver['id']}", headers=if_match(
        client, f"/v1/drivers/{driver['id']}", auth(tenant_a)),
                             json={"licence_expires_on": "2001-01-01"})
    assert bad_order.status_code == 422
    assert _fields(bad_order) == ["licence_expires_on"]
    null_name = client.patch(f"/v1/drivers/{driver['id']}", headers=if_match(
        client, f"/v1/drivers/{driver['id']}", auth(tenant_a)),
                             json={"first_name": None})
    assert null_name.status_code == 422


def test_soft_delete_needs_a_reason_and_restore_brings_it_back(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    driver = _create(client, tenant_a, auth, 7)
    url = f"/v1/drivers/{driver['id']}"
    assert client.request("DELETE", url, headers=if_match(
        client, url, auth(tenant_a)), json={}).status_code == 422
    assert client.request("DELETE", url, headers=if_match(client, url, auth(tenant_a)),
                          json={"reason": "left"}).status_code == 204
    assert client.get(url, headers=auth(tenant_a)).status_code == 404
    listed = client.get("/v1/drivers", headers=auth(tenant_a)).json()["items"]
    assert driver["id"] not in [d["id"] for d in listed]
    with_deleted = client.get("/v1/drivers", params={"include_deleted": "true"},
                              headers=auth(tenant_a)).json()["items"]
    [row] = [d for d in with_deleted if d["id"] == driver["id"]]
    assert row["deletion_reason"] == "left"
    assert client.request("DELETE", url, headers=if_match(client, url, auth(tenant_a)),
                          json={"reason": "again"}).status_code == 404
    restored = client.post(f"{url}/restore", headers=auth(tenant_a))
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert client.post(f"{url}/restore", headers=auth(tenant_a)).status_code == 409


def test_list_paginates_filters_and_sorts(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    ids = [_create(client, tenant_a, auth, 10 + i, last_name=name, first_name="Zoe",
                   hired_on=hired, status=status)["id"]
           for i, (name, hired, status) in enumerate([
               ("Martin", "2025-01-01", "active"), ("Bernard", "2026-03-01", "onboarding"),
               ("Dubois", "2026-06-01", "active"), ("Almeida", "2026-09-01", "suspended")])]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/drivers", params=params, headers=auth(tenant_a)).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    def names(**params: Any) -> list[str]:
        response = client.get("/v1/drivers", params=params, headers=auth(tenant_a))
        assert response.status_code == 200, response.text
        return [d["last_name"] for d in response.json()["items"]]
    assert names(sort="name") == ["Almeida", "Bernard", "Dubois", "Martin"]
    assert names(sort="-name", limit=2) == ["Martin", "Dubois"]
    page = client.get("/v1/drivers", params={"sort": "name", "limit": 2},
                      headers=auth(tenant_a)).json()
    assert names(sort="name", cursor=page["next_cursor"]) == ["Dubois", "Martin"]
    assert names(status="active") == ["Martin", "Dubois"]
    assert names(hired_since="2026-03-01") == ["Bernard", "Dubois", "Almeida"]
    assert names(q="dubo") == ["Dubois"]
    assert names(q="zoe mart") == ["Martin"]
    assert names(q="driver13@") == ["Almeida"]
    assert names(q="06 12 34 00 11") == ["Bernard"]
    assert names(q="%") == []
    bad = client.get("/v1/drivers", params={"status": "flying"}, headers=auth(tenant_a))
    assert bad.status_code == 422
    assert client.get("/v1/drivers", params={"cursor": "junk"},
                      headers=auth(tenant_a)).status_code == 422


def test_export_csv_follows_the_filter(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    _create(client, tenant_a, auth, 20, last_name="=HYPERLINK(1)", status="active")
    _create(client, tenant_a, auth, 21, last_name="Onboard", status="onboarding")
    response = client.get("/v1/drivers/export.csv", params={"status": "active"},
                          headers=auth(tenant_a))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["last_name"] for r in rows] == ["'=HYPERLINK(1)"]
    # core/export.py quotes every text cell a spreadsheet would run as a formula, "+" included.
    assert rows[0]["phone"] == "'+33612340020"


def test_compliance_endpoint_lists_every_rule(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    driver = _create(client, tenant_a, auth, 22, licence_expires_on="2026-12-01")
    response = client.get(f"/v1/drivers/{driver['id']}/compliance",
                          params={"at": "2026-11-25T12:00:00+00:00"}, headers=auth(tenant_a))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["compliant"] is True
    rules = {r["rule"]: r["status"] for r in report["rules"]}
    assert rules["licence_valid"] == "warning"
    later = client.get(f"/v1/drivers/{driver['id']}/compliance",
                       params={"at": "2026-12-02T12:00:00+00:00"}, headers=auth(tenant_a))
    assert later.json()["compliant"] is False
    naive = client.get(f"/v1/drivers/{driver['id']}/compliance",
                       params={"at": "2026-12-02T12:00:00"}, headers=auth(tenant_a))
    assert naive.status_code == 422


def test_permissions_and_tenant_isolation(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth
) -> None:
    driver = _create(client, tenant_a, auth, 23)
    assert client.get("/v1/drivers", headers=auth(tenant_a, "viewer")).status_code == 200
    denied = client.post("/v1/drivers", headers=auth(tenant_a, "viewer"), json=driver_body(24))
    assert denied.status_code == 403
    assert client.post("/v1/drivers", headers=auth(tenant_a, "dispatcher"),
                       json=driver_body(24)).status_code == 403
    assert client.get("/v1/drivers", headers=auth(tenant_a, "driver")).status_code == 403
    url = f"/v1/drivers/{driver['id']}"
    assert client.get(url, headers=auth(tenant_b)).status_code == 404
    assert client.patch(url, headers=if_match(
        client, url, auth(tenant_b)), json={"notes": "x"}).status_code == 404
    assert client.get(f"{url}/compliance", headers=auth(tenant_b)).status_code == 404
    listed = client.get("/v1/drivers", headers=auth(tenant_b)).json()["items"]
    assert driver["id"] not in [d["id"] for d in listed]


def test_list_runs_the_same_number_of_queries_for_1_and_20_drivers(
    client: TestClient, make_tenant: Callable[..., TenantWorld], auth: Auth, app_engine: Engine
) -> None:
    def queries_for(count: int) -> int:
        world = make_tenant()
        for n in range(count):
            _create(client, world, auth, 100 + n)
        headers = auth(world)
        statements: list[str] = []

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(app_engine, "before_cursor_execute", record)
        try:
            response = client.get("/v1/drivers", params={"limit": 50}, headers=headers)
        finally:
            event.remove(app_engine, "before_cursor_execute", record)
        assert len(response.json()["items"]) == count
        return len(statements)

    assert queries_for(1) == queries_for(20)


def test_a_form_sending_the_stored_phone_back_does_not_have_it_judged_again(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any
) -> None:
    """The demo's drivers have numbers from the regulators' fiction ranges, which phonenumbers
    does not count as valid: saving such a driver's form unchanged must not be refused, while
    entering a new number in such a range still is."""
    from sqlalchemy import text

    from fleetcore.core.db import DbContext, context_session

    driver = _create(client, tenant_a, auth, 7)
    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        session.execute(text("UPDATE rid_drivers SET phone = '+33639981001' WHERE id = :id"),
                        {"id": driver["id"]})
    url = f"/v1/drivers/{driver['id']}"
    same = client.patch(url, headers=if_match(client, url, auth(tenant_a)),
                        json={"phone": "06 39 98 10 01", "notes": "re-saved"})
    assert same.status_code == 200, same.text
    assert (same.json()["phone"], same.json()["notes"]) == ("+33639981001", "re-saved")
    other = client.patch(url, headers=if_match(
        client, url, auth(tenant_a)), json={"phone": "06 39 98 10 02"})
    assert other.status_code == 422
    assert _fields(other) == ["phone"]
