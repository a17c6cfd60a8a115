"""Recharged tolls and fines in the driver-level settlement: a toll in the week of its passage,
a fine in the week it is charged (paid), each line linking to its evidence."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from finance_support import PARIS, Books, paris

from api_support import if_match

WEEK = date(2026, 11, 16)


def _driver_level(books: Books, week: date) -> list[dict[str, Any]]:
    computed = books.client.post("/v1/settlements/compute", headers=books.headers(),
                                 json={"week": week.isoformat()})
    assert computed.status_code == 200, computed.text
    level = [s for s in computed.json()["settlements"] if s["platform_id"] is None]
    if not level:
        return []
    lines = books.client.get(f"/v1/settlements/{level[0]['id']}/lines",
                             headers=books.headers(), params={"limit": 100})
    assert lines.status_code == 200, lines.text
    return lines.json()["items"]  # type: ignore[no-any-return]


def test_recharged_toll_and_fine_become_lines_linked_to_their_evidence(books: Books) -> None:
    plate = f"RC-{uuid.uuid4().int % 900 + 100}-AA"
    vehicle = books.vehicle(plate)
    ana = books.driver("Ana")
    books.assign(vehicle, ana, paris(2026, 11, 1, 8, 0))
    books.terms(ana, paris(2026, 11, 1, 0, 0), recharge_tolls=True, recharge_fines=True)

    statement = ("Date;Heure;Immatriculation;Société;Gare d'entrée;Gare de sortie;Montant TTC\n"
                 f"16/11/2026;09:59;{plate};APRR;Paris Sud;Fleury;4,10\n")
    imported = books.client.post(
        "/v1/toll-transactions/imports", headers=books.headers(),
        files={"file": ("s.csv", statement.encode("utf-8"), "text/csv")})
    assert imported.status_code == 201, imported.text
    toll_id = imported.json()["toll_ids"][0]

    scan = books.document()
    fine = books.client.post("/v1/traffic-fines", headers=books.headers(), json={
        "fine_reference": f"ANTAI-{uuid.uuid4().hex[:8]}", "offence_at": "2026-11-17T08:00:00Z",
        "plate": plate, "amount": {"amount": "135.00", "currency": "EUR"},
        "scan_document_id": str(scan)}).json()
    assert fine["driver_id"] == str(ana)

    # The week of the passage and the offence: the toll; the fine is not charged yet.
    lines = _driver_level(books, WEEK)
    tolls = [ln for ln in lines if ln["line_type"] == "toll"]
    assert [(ln["source_type"], ln["source_id"], ln["amount"]["amount"]) for ln in tolls] == [
        ("toll", toll_id, "-4.10")]
    assert tolls[0]["consumed_key"] == f"toll:{toll_id}"
    assert "APRR" in tolls[0]["description"]
    assert "Paris Sud → Fleury" in tolls[0]["description"]
    assert not [ln for ln in lines if ln["line_type"] == "fine"]
    evidence = books.client.get(f"/v1/toll-transactions/{tolls[0]['source_id']}",
                                headers=books.headers())
    assert (evidence.status_code, evidence.json()["plate"]) == (200, plate)

    # Paid (and recharged) now: a line of this week's settlement, not of the offence week.
    url = f"/v1/traffic-fines/{fine['id']}/pay"
    assert books.client.post(url, headers=if_match(books.client, url,
                                                   books.headers())).status_code == 200
    assert not [ln for ln in _driver_level(books, WEEK) if ln["line_type"] == "fine"]
    today = datetime.now(UTC).astimezone(PARIS).date()
    this_week = today - timedelta(days=today.weekday())
    fines = [ln for ln in _driver_level(books, this_week) if ln["line_type"] == "fine"]
    assert [(ln["source_type"], ln["source_id"], ln["amount"]["amount"]) for ln in fines] == [
        ("fine", fine["id"], "-135.00")]
    assert fine["fine_reference"] in fines[0]["description"]
    notice = books.client.get(f"/v1/traffic-fines/{fines[0]['source_id']}",
                              headers=books.headers()).json()
    assert notice["scan_document_id"] == str(scan)


def test_disputed_and_unassigned_tolls_are_not_recharged(books: Books) -> None:
    plate = f"RD-{uuid.uuid4().int % 900 + 100}-AA"
    vehicle = books.vehicle(plate)
    ana = books.driver("Ana")
    books.assign(vehicle, ana, paris(2026, 11, 1, 8, 0))
    books.terms(ana, paris(2026, 11, 1, 0, 0), recharge_tolls=True, recharge_fines=True)
    toll = books.client.post("/v1/toll-transactions", headers=books.headers(), json={
        "vehicle_id": str(vehicle), "occurred_at": "2026-11-16T09:00:00Z",
        "amount": {"amount": "2.00", "currency": "EUR"}}).json()
    url = f"/v1/toll-transactions/{toll['id']}/dispute"
    assert books.client.post(url, headers=if_match(books.client, url, books.headers()),
                             json={"reason": "not us"}).status_code == 200
    books.client.post("/v1/toll-transactions", headers=books.headers(), json={
        "plate": "ZZ-000-ZZ", "occurred_at": "2026-11-16T09:00:00Z",
        "amount": {"amount": "3.00", "currency": "EUR"}})
    assert not [ln for ln in _driver_level(books, WEEK) if ln["line_type"] == "toll"]
