"""The fleet's own settings over /v1/tenant-settings: the owner edits identity and tax
settings with If-Match; the currency and time zone freeze once there are trips; other roles
read or are refused; another fleet's settings are never reached."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from api_support import TenantWorld
from fleetcore.core.db import DbContext, context_session
from fleetcore.reference.service import load_reference_data

URL = "/v1/tenant-settings"


def test_the_owner_edits_the_fleets_settings(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld,
    auth: Callable[..., dict[str, str]], sessions: Any,
) -> None:
    owner = auth(tenant_a, "owner")
    read = client.get(URL, headers=owner)
    assert read.status_code == 200
    assert read.json()["self_billing"] is False
    assert read.json()["prices_include_vat"] is True
    etag = read.headers["etag"]
    assert client.patch(URL, json={"legal_name": "X"}, headers=owner).status_code == 428
    bad = client.patch(URL, json={"siret": "123", "timezone": "Mars/Olympus"},
                       headers={**owner, "If-Match": etag})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} >= {"siret", "timezone"}
    saved = client.patch(URL, json={
        "legal_name": "Lumière VTC SAS", "vat_number": "FR40123456789", "vat_rate_pct": "20",
        "self_billing": True, "siret": "12345678900012", "address": "12 rue de la Paix, Paris",
        "timezone": "Europe/Brussels"}, headers={**owner, "If-Match": etag})
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert (body["legal_name"], body["self_billing"], body["siret"], body["timezone"]) == (
        "Lumière VTC SAS", True, "12345678900012", "Europe/Brussels")
    assert saved.headers["etag"] != etag
    stale = client.patch(URL, json={"legal_name": "Y"}, headers={**owner, "If-Match": etag})
    assert stale.status_code == 412
    # The other fleet is untouched, and its owner sees its own settings only.
    other = client.get(URL, headers=auth(tenant_b, "owner")).json()
    assert other["legal_name"] != "Lumière VTC SAS"
    assert other["self_billing"] is False
    # A dispatcher cannot change them.
    dispatcher = auth(tenant_a, "dispatcher")
    refused = client.patch(URL, json={"legal_name": "Z"},
                           headers={**dispatcher, "If-Match": saved.headers["etag"]})
    assert refused.status_code == 403


def test_currency_and_time_zone_freeze_once_the_fleet_has_trips(
    client: TestClient, tenant_a: TenantWorld, auth: Callable[..., dict[str, str]],
    sessions: Any,
) -> None:
    owner = auth(tenant_a, "owner")
    etag = client.get(URL, headers=owner).headers["etag"]
    with context_session(sessions, DbContext.system()) as session:
        load_reference_data(session)
        platform = session.scalar(text("SELECT id FROM dir_platforms WHERE code = 'uber'"))
        session.execute(text(
            "INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, status,"
            " started_at, ended_at, currency)"
            " VALUES (:t, gen_random_uuid(), :p, 'T-1', 'completed', now(), now(), 'EUR')"),
            {"t": tenant_a.id, "p": platform})
    frozen = client.patch(URL, json={"default_currency": "GBP", "legal_name": "Kept?"},
                          headers={**owner, "If-Match": etag})
    assert frozen.status_code == 409
    assert frozen.json()["errors"][0]["field"] == "default_currency"
    after = client.get(URL, headers=owner).json()
    assert (after["default_currency"], after["legal_name"]) == ("EUR", None)  # nothing written
    same = client.patch(URL, json={"default_currency": "EUR", "legal_name": "Kept"},
                        headers={**owner, "If-Match": etag})
    assert same.status_code == 200, same.text
