"""The pipeline over HTTP (staff): leads, opportunities and their stages, the weighted forecast
(exact), contracts numbered gaplessly per year, the contract file in the document store."""

from __future__ import annotations

import csv
import io
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from crm_support import Headers, etag_of, made
from fastapi.testclient import TestClient

Read = Callable[..., list[Any]]
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _lead(client: TestClient, staff: Headers, **fields: Any) -> dict[str, Any]:
    return made(client.post("/v1/crm/leads", headers=staff, json={
        "company_name": f"Cabs {uuid.uuid4().hex[:6]}", "country": "PT", **fields}))


def test_lead_lifecycle_with_if_match_filters_and_export(
    client: TestClient, staff: Headers,
) -> None:
    source = f"event-{uuid.uuid4().hex[:6]}"
    lead = _lead(client, staff, source=source, email="ana@cabs.pt", phone="+351912345678",
                 priority="high")
    assert (lead["status"], lead["priority"], lead["phone"]) == ("new", "high", "+351912345678")
    url = f"/v1/crm/leads/{lead['id']}"
    assert client.patch(url, headers=staff, json={"status": "contacted"}).status_code == 428
    # Disqualifying needs a reason; "converted" only comes from signing.
    no_reason = client.patch(url, headers={**staff, "If-Match": '"1"'},
                             json={"status": "disqualified"})
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "disqualification_reason"
    converted = client.patch(url, headers={**staff, "If-Match": '"1"'},
                             json={"status": "converted"})
    assert converted.status_code == 422
    changed = client.patch(url, headers={**staff, "If-Match": '"1"'}, json={
        "status": "disqualified", "disqualification_reason": "Two cars only"})
    assert changed.status_code == 200, changed.text
    stale = client.patch(url, headers={**staff, "If-Match": '"1"'}, json={"notes": "x"})
    assert stale.status_code == 412
    _lead(client, staff, source=source)

    listed = made(client.get("/v1/crm/leads", headers=staff,
                             params={"source": source, "status": "disqualified"}), 200)
    assert [i["id"] for i in listed["items"]] == [lead["id"]]
    exported = client.get("/v1/crm/leads/export.csv", headers=staff, params={"source": source})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 2
    assert {r["status"] for r in rows} == {"new", "disqualified"}

    gone = client.delete(url, headers={**staff, **etag_of(changed)})
    assert gone.status_code == 204
    assert client.get(url, headers=staff).status_code == 404


def test_opportunity_stages_probability_and_forecast_are_exact(
    client: TestClient, staff: Headers,
) -> None:
    owner = made(client.get("/v1/me", headers=staff), 200)["id"]
    lead = _lead(client, staff, owner_id=owner)

    def opportunity(value: str, stage: str, close: str, **extra: Any) -> dict[str, Any]:
        return made(client.post("/v1/crm/opportunities", headers=staff, json={
            "lead_id": lead["id"], "name": f"Deal {value}", "stage": stage,
            "expected_value": {"amount": value, "currency": "EUR"},
            "expected_close_on": close, "owner_id": owner, **extra}))

    # Three thirds of 100.00 each: rounding each deal would give 3 x 33.33 = 99.99.
    thirds = [opportunity("100.00", "proposal", "2031-03-0" + d,
                          probability_pct="33.3333") for d in "123"]
    assert thirds[0]["weighted_value"] == {"amount": "33.33", "currency": "EUR"}
    assert thirds[0]["probability_pct"] == "33.3333"  # numeric(7, 4)
    negotiation = opportunity("1000.00", "negotiation", "2031-04-15")
    assert negotiation["probability_pct"] == "70.0000"  # the stage's default
    lost = opportunity("5000.00", "proposal", "2031-04-20")
    assert client.patch(f"/v1/crm/opportunities/{lost['id']}", headers={
        **staff, "If-Match": '"1"'}, json={"stage": "closed_lost"}).status_code == 422
    closed = made(client.patch(f"/v1/crm/opportunities/{lost['id']}", headers={
        **staff, "If-Match": '"1"'}, json={"stage": "closed_lost", "lost_reason": "Price"}), 200)
    assert (closed["probability_pct"], closed["closed_at"] is not None) == ("0", True)
    won = client.patch(f"/v1/crm/opportunities/{negotiation['id']}", headers={
        **staff, "If-Match": '"1"'}, json={"stage": "closed_won"})
    assert won.status_code == 422  # won by signing the contract
    # Creating an opportunity qualified the lead.
    assert made(client.get(f"/v1/crm/leads/{lead['id']}", headers=staff),
                200)["status"] == "qualified"

    forecast = made(client.get("/v1/crm/forecast", headers=staff, params={
        "since": "2031-03", "until": "2031-04", "owner_id": owner}), 200)
    assert forecast["months"] == [
        {"month": "2031-03", "currency": "EUR", "open_deals": 3,
         "pipeline": {"amount": "300.00", "currency": "EUR"},
         "weighted": {"amount": "100.00", "currency": "EUR"}},
        {"month": "2031-04", "currency": "EUR", "open_deals": 1,
         "pipeline": {"amount": "1000.00", "currency": "EUR"},
         "weighted": {"amount": "700.00", "currency": "EUR"}}]
    only_march = made(client.get("/v1/crm/forecast", headers=staff, params={
        "since": "2031-03", "until": "2031-03", "owner_id": owner}), 200)
    assert [m["month"] for m in only_march["months"]] == ["2031-03"]
    assert client.get("/v1/crm/forecast", headers=staff,
                      params={"since": "0000-01"}).status_code == 422
    open_ended = made(client.get("/v1/crm/forecast", headers=staff, params={
        "since": "2031-04", "until": "9999-12", "owner_id": owner}), 200)
    assert [m["month"] for m in open_ended["months"]] == ["2031-04"]
    exported = client.get("/v1/crm/opportunities/export.csv", headers=staff,
                          params={"lead_id": lead["id"], "stage": "proposal"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["expected_value_amount"] for r in rows) == ["100.00"] * 3
    assert {r["expected_value_currency"] for r in rows} == {"EUR"}


def test_contract_numbers_are_gapless_under_concurrency(
    client: TestClient, staff: Headers, deal: Callable[..., dict[str, Any]], read_system: Read,
) -> None:
    first = deal()
    year = datetime.now(UTC).year
    assert first["contract_number"].startswith(f"CT-{year}-")
    made_now: list[Any] = []
    opportunity = first["opportunity_id"]
    barrier = threading.Barrier(4)

    def create() -> None:
        barrier.wait()
        made_now.append(client.post("/v1/crm/contracts", headers=staff, json={
            "opportunity_id": opportunity, "starts_on": "2026-06-01"}))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [a.status_code for a in made_now] == [201] * 4, [a.text for a in made_now]
    numbers = sorted(read_system(
        "SELECT substring(contract_number FROM '[0-9]+$')::int FROM crm_contracts"
        " WHERE contract_number LIKE :p", p=f"CT-{year}-%"))
    values = [n[0] for n in numbers]
    assert values == list(range(1, len(values) + 1))
    # A deleted draft keeps its number: the next one follows it.
    last = made_now[-1].json()
    assert client.delete(f"/v1/crm/contracts/{last['id']}", headers={
        **staff, "If-Match": f'"{last["version"]}"'}).status_code == 204
    after = deal()
    assert after["contract_number"] == f"CT-{year}-{len(values) + 1:04d}"


def test_contract_terms_status_and_file(
    client: TestClient, staff: Headers, deal: Callable[..., dict[str, Any]],
) -> None:
    contract = deal(signatory_name="Inès Martin")
    assert (contract["status"], contract["value"]) == (
        "draft", {"amount": "2388.00", "currency": "EUR"})
    url = f"/v1/crm/contracts/{contract['id']}"
    sent = made(client.patch(url, headers={**staff, "If-Match": '"1"'},
                             json={"status": "sent", "ends_on": "2027-04-30"}), 200)
    assert sent["sent_at"] is not None
    backwards = client.patch(url, headers={**staff, **{"If-Match": f'"{sent["version"]}"'}},
                             json={"ends_on": "2020-01-01"})
    assert backwards.status_code == 422

    put = client.put(f"{url}/document", content=PDF, params={"file_name": "contrat.pdf"},
                     headers={**staff, "If-Match": f'"{sent["version"]}"',
                              "content-type": "application/pdf"})
    assert put.status_code == 200, put.text
    assert put.json()["document"]["file_name"] == "contrat.pdf"
    assert put.json()["document"]["size_bytes"] == len(PDF)
    download = client.get(f"{url}/document", headers=staff)
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    not_a_pdf = client.put(f"{url}/document", content=b"hello",
                           headers={**staff, **etag_of(put)})
    assert not_a_pdf.status_code == 422

    signed = client.post(f"{url}/sign", headers={**staff, **etag_of(put)})
    assert signed.status_code == 201, signed.text
    current = client.get(url, headers=staff)
    frozen = client.patch(url, headers={**staff, **etag_of(current)},
                          json={"customer_legal_name": "Other SAS"})
    assert frozen.status_code == 409
    undeletable = client.delete(url, headers={**staff, **etag_of(current)})
    assert undeletable.status_code == 409
    terminated = client.patch(url, headers={**staff, **etag_of(current)}, json={
        "status": "terminated", "termination_reason": "Customer closed the business"})
    assert terminated.status_code == 200, terminated.text
    assert terminated.json()["terminated_at"] is not None
    listed = made(client.get("/v1/crm/contracts", headers=staff,
                             params={"tenant_id": signed.json()["tenant_id"]}), 200)
    assert [c["status"] for c in listed["items"]] == ["terminated"]
