"""``/v1/toll-transactions`` over HTTP: entered and imported charges resolved to the driver who
had the vehicle at that minute, unassignable ones as tasks, re-imports stored once, refused
statements writing nothing, and tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

from finance_support import Books, paris
from sqlalchemy import Engine

from api_support import if_match
from web_support import count_statements

HANDOVER = paris(2026, 11, 16, 10, 0)

BIPANDGO = (
    "Date;Heure;N° de badge;Immatriculation;Société;Gare d'entrée;Gare de sortie;Classe;"
    "Montant HT;TVA;Montant TTC\r\n"
    "16/11/2026;09:59;250012345;{a};APRR;Paris Sud;Fleury;1;3,42;0,68;4,10\r\n"
    "16/11/2026;10:00;250012345;{a};APRR;;Saint-Arnoult;1;5,00;1,00;6,00\r\n"
    "16/11/2026;10:30;250099999;{unknown};Sanef;;Senlis;1;2,00;0,40;2,40\r\n"
)


def _fleet(books: Books) -> tuple[str, uuid.UUID, uuid.UUID, uuid.UUID]:
    """A car handed over from Ana to Ben at 10:00 (Paris) on 16 November 2026."""
    plate = f"AB-{uuid.uuid4().int % 900 + 100}-CD"
    vehicle = books.vehicle(plate)
    ana, ben = books.driver("Ana"), books.driver("Ben")
    books.assign(vehicle, ana, paris(2026, 11, 1, 8, 0), HANDOVER)
    books.assign(vehicle, ben, HANDOVER)
    return plate, vehicle, ana, ben


def _import(books: Books, body: str, encoding: str = "cp1252", **form: str) -> Any:
    return books.client.post(
        "/v1/toll-transactions/imports", headers=books.headers(), data=form,
        files={"file": ("releve-bipandgo.csv", body.encode(encoding), "text/csv")})


def _tolls(books: Books, **params: Any) -> list[dict[str, Any]]:
    response = books.client.get("/v1/toll-transactions", headers=books.headers(),
                                params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_a_statement_resolves_each_charge_to_the_driver_of_that_minute(books: Books) -> None:
    plate, vehicle, ana, ben = _fleet(books)
    # The statement writes the plate without dashes: it is compared by letters and digits.
    statement = BIPANDGO.format(a=plate.replace("-", " "), unknown="ZZ-999-ZZ")
    first = _import(books, statement)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["format"], body["rows"], body["created"], body["already_imported"]) == (
        "bipandgo", 3, 3, 0)
    assert (body["assigned"], body["unassigned"], len(body["task_ids"])) == (2, 1, 1)

    by_minute = {t["occurred_at"]: t for t in _tolls(books)}
    before = by_minute["2026-11-16T08:59:00Z"]  # 09:59 in Paris: Ana still had the car
    after = by_minute["2026-11-16T09:00:00Z"]  # 10:00: the handover minute is Ben's
    assert (before["driver_id"], before["vehicle_id"], before["status"]) == (
        str(ana), str(vehicle), "assigned")
    assert (before["amount"], before["gate"], before["operator"], before["source"]) == (
        {"amount": "4.10", "currency": "EUR"}, "Paris Sud → Fleury", "APRR", "import")
    assert (after["driver_id"], after["status"]) == (str(ben), "assigned")
    unknown = by_minute["2026-11-16T09:30:00Z"]
    assert (unknown["status"], unknown["driver_id"], unknown["vehicle_id"]) == (
        "unassigned", None, None)
    assert unknown["task_id"] == body["task_ids"][0]
    task = books.sql("SELECT related_entity_type, related_entity_id, status, source, title"
                     " FROM sch_tasks WHERE id = :id", id=body["task_ids"][0])[0]
    assert (task.related_entity_type, str(task.related_entity_id), task.status,
            task.source) == ("toll_transaction", unknown["id"], "open", "system")
    assert "ZZ-999-ZZ" in task.title
    assert "2026-11-16 10:30" in task.title

    # The same statement again (re-sent by the operator): every charge is stored once.
    again = _import(books, statement)
    assert again.status_code == 201, again.text
    assert (again.json()["created"], again.json()["already_imported"],
            again.json()["task_ids"]) == (0, 3, [])
    assert len(_tolls(books)) == 3
    assert books.sql("SELECT count(*) FROM sch_tasks WHERE related_entity_type = "
                     "'toll_transaction'")[0][0] == 1

    # Filters: by driver, by status, by plate as written anywhere.
    assert [t["id"] for t in _tolls(books, driver_id=str(ben))] == [after["id"]]
    assert [t["id"] for t in _tolls(books, status="unassigned")] == [unknown["id"]]
    assert len(_tolls(books, plate=plate)) == 2

    # The manager adds the missing car and its custody, then resolves again: the task closes.
    stray = books.vehicle("ZZ-999-ZZ")
    books.assign(stray, books.driver("Cleo"), paris(2026, 11, 16, 6, 0),
                 paris(2026, 11, 16, 20, 0))
    resolved = books.client.post("/v1/toll-transactions/resolve", headers=books.headers())
    assert resolved.json() == {"assigned": 1, "still_unassigned": 0}
    assert _tolls(books, status="unassigned") == []
    assert books.sql("SELECT status FROM sch_tasks WHERE id = :id",
                     id=body["task_ids"][0])[0][0] == "done"


def test_a_generic_export_with_transaction_ids(books: Books) -> None:
    plate, _vehicle, ana, ben = _fleet(books)
    export = ("Transaction ID,Plate,Timestamp,Amount,Currency,Operator,Place\n"
              f"T-1,{plate},2026-11-16T09:59:30+01:00,4.10,EUR,Vinci,A10 Saint-Arnoult\n"
              f"T-2,{plate},2026-11-16 10:00,6.00,,Vinci,A10 Dourdan\n")
    response = _import(books, export, "utf-8")
    assert response.status_code == 201, response.text
    assert (response.json()["format"], response.json()["assigned"]) == ("generic", 2)
    rows = {t["external_reference"]: t for t in _tolls(books)}
    assert rows["generic:T-1"]["driver_id"] == str(ana)
    assert rows["generic:T-2"]["driver_id"] == str(ben)


def test_a_refused_line_names_row_and_field_and_nothing_is_written(books: Books) -> None:
    plate, *_ = _fleet(books)
    bad = BIPANDGO.format(a=plate, unknown="ZZ-999-ZZ") + (
        f"17/11/2026;25:10;250012345;{plate};APRR;;Fleury;1;1,00;0,20;1,20\r\n"
        "17/11/2026;11:10;250012345;;APRR;;Fleury;1;1,00;0,20;1.20\r\n")
    response = _import(books, bad)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    found = {(e["row"], e["field"]) for e in problem["errors"]}
    assert found == {("5", "occurred_at"), ("6", "plate"), ("6", "amount")}
    amount = next(e for e in problem["errors"] if e["field"] == "amount")
    assert (amount["column"], amount["value"]) == ("Montant TTC", "1.20")
    assert "decimal comma" in amount["message"]
    assert problem["detail"].startswith("row 5, occurred_at (Date + Heure)")
    assert "Nothing was imported" in problem["detail"]
    assert _tolls(books) == []
    assert books.sql("SELECT count(*) FROM sch_tasks")[0][0] == 0

    unreadable = _import(books, "Hello;World\r\n1;2\r\n", "utf-8")
    assert unreadable.status_code == 422
    assert unreadable.json()["errors"][0]["field"] == "file"
    assert "no known toll statement header" in unreadable.json()["detail"]


def test_manual_charge_dispute_and_if_match(books: Books) -> None:
    plate, vehicle, ana, _ben = _fleet(books)
    created = books.client.post("/v1/toll-transactions", headers=books.headers(), json={
        "vehicle_id": str(vehicle), "occurred_at": "2026-11-16T09:59:59+01:00",
        "amount": {"amount": "4.10", "currency": "EUR"}, "operator": "APRR",
        "external_reference": "APRR-1"})
    assert created.status_code == 201, created.text
    toll = created.json()
    assert (toll["driver_id"], toll["plate"], toll["source"]) == (str(ana), plate, "manual")
    assert created.headers["location"] == f"/v1/toll-transactions/{toll['id']}"
    duplicate = books.client.post("/v1/toll-transactions", headers=books.headers(), json={
        "plate": plate, "occurred_at": "2026-11-16T09:59:59+01:00",
        "amount": {"amount": "4.10", "currency": "EUR"}, "external_reference": "APRR-1"})
    assert duplicate.status_code == 409
    assert duplicate.json()["errors"][0]["field"] == "external_reference"
    missing = books.client.post("/v1/toll-transactions", headers=books.headers(), json={
        "occurred_at": "2026-11-16T09:59:59+01:00",
        "amount": {"amount": "4.10", "currency": "EUR"}})
    assert missing.status_code == 422

    url = f"/v1/toll-transactions/{toll['id']}/dispute"
    unversioned = books.client.post(url, headers=books.headers(), json={"reason": "garage"})
    assert unversioned.status_code == 428
    disputed = books.client.post(url, headers=if_match(books.client, url, books.headers()),
                                 json={"reason": "garage"})
    assert disputed.status_code == 200, disputed.text
    assert disputed.json()["status"] == "disputed"
    twice = books.client.post(url, headers=if_match(books.client, url, books.headers()),
                              json={"reason": "garage"})
    assert twice.status_code == 409


def test_tenants_and_roles_are_isolated(books: Books, other_books: Books) -> None:
    plate, vehicle, *_ = _fleet(books)
    created = books.client.post("/v1/toll-transactions", headers=books.headers(), json={
        "vehicle_id": str(vehicle), "occurred_at": "2026-11-16T09:00:00+01:00",
        "amount": {"amount": "1.00", "currency": "EUR"}})
    toll_id = created.json()["id"]
    other = other_books.headers()
    assert books.client.get(f"/v1/toll-transactions/{toll_id}", headers=other).status_code == 404
    assert books.client.get("/v1/toll-transactions", headers=other).json()["items"] == []
    url = f"/v1/toll-transactions/{toll_id}/dispute"
    foreign = books.client.post(url, headers={**other, "If-Match": '"1"'}, json={"reason": "x"})
    assert foreign.status_code == 404
    # Another tenant's vehicle is not a vehicle here; its plate resolves to nobody here.
    cross = books.client.post("/v1/toll-transactions", headers=other, json={
        "vehicle_id": str(vehicle), "occurred_at": "2026-11-16T09:00:00+01:00",
        "amount": {"amount": "1.00", "currency": "EUR"}})
    assert cross.status_code == 422
    by_plate = books.client.post("/v1/toll-transactions", headers=other, json={
        "plate": plate, "occurred_at": "2026-11-16T09:00:00+01:00",
        "amount": {"amount": "1.00", "currency": "EUR"}})
    assert by_plate.status_code == 201
    assert (by_plate.json()["vehicle_id"], by_plate.json()["status"]) == (None, "unassigned")
    # Roles: a dispatcher neither reads nor writes tolls; a viewer reads only.
    assert books.client.get("/v1/toll-transactions",
                            headers=books.headers("dispatcher")).status_code == 403
    assert books.client.get("/v1/toll-transactions",
                            headers=books.headers("viewer")).status_code == 200
    assert _import_as(books, "viewer").status_code == 403


def _import_as(books: Books, role: str) -> Any:
    return books.client.post(
        "/v1/toll-transactions/imports", headers=books.headers(role),
        files={"file": ("s.csv", b"Plate,Timestamp,Amount\nAB1,2026-11-16 10:00,1.00\n",
                        "text/csv")})


def test_expenses_point_to_the_toll_and_fine_endpoints(books: Books) -> None:
    _plate, vehicle, *_ = _fleet(books)
    refused = books.client.post("/v1/vehicle-expenses", headers=books.headers(), json={
        "vehicle_id": str(vehicle), "category": "toll", "payment_method": "company_card",
        "amount": {"amount": "4.10", "currency": "EUR"}, "incurred_on": "2026-11-16"})
    assert refused.status_code == 422
    assert "/v1/toll-transactions" in refused.json()["errors"][0]["message"]


def test_an_import_costs_the_same_statements_for_3_or_600_lines(
    books: Books, app_engine: Engine,
) -> None:
    """Resolution is set-based: plates, custody and tasks of a whole statement in a fixed
    number of statements, whatever its length (no query per line)."""
    plate, *_ = _fleet(books)

    def statement(lines: int, day: int) -> str:
        rows = [f"{day:02d}/11/2026;{8 + i // 60 % 12:02d}:{i % 60:02d};"
                f"{plate if i % 3 else 'ZZ-' + str(100 + i) + '-ZZ'};APRR;;Fleury;1,{i % 90 + 10}"
                for i in range(lines)]
        return "Date;Heure;Immatriculation;Société;Gare d'entrée;Gare de sortie;Montant TTC\n" \
            + "\n".join(rows) + "\n"

    counts = []
    for lines, day in ((3, 20), (600, 21)):
        with count_statements(app_engine) as counter:
            response = _import(books, statement(lines, day), "utf-8")
        assert response.status_code == 201, response.text
        assert response.json()["created"] == lines
        assert response.json()["unassigned"] == len(response.json()["task_ids"]) == lines // 3
        counts.append(len(counter.statements))
    assert counts[0] == counts[1]

    export = books.client.get("/v1/toll-transactions/export.csv", headers=books.headers(),
                              params={"status": "unassigned"})
    assert export.status_code == 200
    assert len(export.text.strip().splitlines()) == 1 + 1 + 200
