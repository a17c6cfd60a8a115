"""``/v1/traffic-fines`` over HTTP: a notice recorded with its scan is resolved to the driver
who had the car at the offence minute, its steps take If-Match, an unassignable fine becomes a
task, the designation deadline is reminded by the reminder job, and tenants are isolated."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from finance_support import Books, paris

from api_support import if_match
from fleetcore.admin.reminders import create_reminders
from fleetcore.core.db import DbContext, context_session

OFFENCE = "2026-11-16T09:59:00+01:00"


def _notice(plate: str, **values: Any) -> dict[str, Any]:
    return {"fine_reference": f"ANTAI-{uuid.uuid4().hex[:10]}", "issuing_authority": "ANTAI",
            "offence_type": "speeding", "offence_at": OFFENCE, "offence_place": "A6 Paris Sud",
            "plate": plate, "amount": {"amount": "135.00", "currency": "EUR"},
            "due_on": "2026-12-31", "designation_deadline_on": "2026-12-31", **values}


def _car(books: Books) -> tuple[str, uuid.UUID, uuid.UUID, uuid.UUID]:
    plate = f"FN-{uuid.uuid4().int % 900 + 100}-AA"
    vehicle = books.vehicle(plate)
    ana, ben = books.driver("Ana"), books.driver("Ben")
    books.assign(vehicle, ana, paris(2026, 11, 1, 8, 0), paris(2026, 11, 16, 10, 0))
    books.assign(vehicle, ben, paris(2026, 11, 16, 10, 0))
    return plate, vehicle, ana, ben


def test_a_notice_is_resolved_and_moves_along_with_if_match(books: Books) -> None:
    plate, vehicle, ana, ben = _car(books)
    scan = books.document()
    created = books.client.post("/v1/traffic-fines", headers=books.headers(),
                                json=_notice(plate, scan_document_id=str(scan)))
    assert created.status_code == 201, created.text
    fine = created.json()
    assert (fine["driver_id"], fine["vehicle_id"], fine["status"], fine["task_id"]) == (
        str(ana), str(vehicle), "received", None)
    assert (fine["scan_document_id"], fine["amount"]) == (
        str(scan), {"amount": "135.00", "currency": "EUR"})
    url = f"/v1/traffic-fines/{fine['id']}"
    assert books.client.get(url, headers=books.headers()).headers["etag"] == created.headers[
        "etag"]

    # The same notice twice is refused; a minute later is the next driver's.
    again = books.client.post("/v1/traffic-fines", headers=books.headers(),
                              json=_notice(plate, fine_reference=fine["fine_reference"]))
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "fine_reference"
    later = books.client.post("/v1/traffic-fines", headers=books.headers(),
                              json=_notice(plate, offence_at="2026-11-16T10:00:00+01:00"))
    assert later.json()["driver_id"] == str(ben)

    assert books.client.post(f"{url}/designate", headers=books.headers()).status_code == 428
    stale = books.client.post(f"{url}/designate", headers={**books.headers(), "If-Match": '"9"'})
    assert stale.status_code == 412
    designated = books.client.post(f"{url}/designate",
                                   headers=if_match(books.client, f"{url}/designate",
                                                    books.headers()))
    assert designated.status_code == 200, designated.text
    assert (designated.json()["status"], designated.json()["driver_id"]) == (
        "driver_designated", str(ana))
    assert designated.json()["designated_at"] is not None
    paid = books.client.post(f"{url}/pay", headers=if_match(books.client, f"{url}/pay",
                                                            books.headers()))
    assert paid.status_code == 409
    assert "driver designated" in paid.json()["detail"]

    # Paid by the fleet, then recharged: charged_at is when it was paid.
    other = later.json()
    other_url = f"/v1/traffic-fines/{other['id']}"
    paid = books.client.post(f"{other_url}/pay",
                             headers=if_match(books.client, f"{other_url}/pay", books.headers()))
    assert (paid.json()["status"], paid.json()["charged_at"] is not None) == ("paid", True)
    recharged = books.client.post(f"{other_url}/recharge", headers=if_match(
        books.client, f"{other_url}/recharge", books.headers()))
    assert recharged.json()["status"] == "recharged"
    assert recharged.json()["charged_at"] == paid.json()["charged_at"]

    listed = books.client.get("/v1/traffic-fines", params={"status": "driver_designated"},
                              headers=books.headers()).json()["items"]
    assert [f["id"] for f in listed] == [fine["id"]]


def test_an_unassignable_fine_becomes_a_task_closed_by_designation(books: Books) -> None:
    created = books.client.post("/v1/traffic-fines", headers=books.headers(),
                                json=_notice("ZZ-404-ZZ"))
    assert created.status_code == 201, created.text
    fine = created.json()
    assert (fine["driver_id"], fine["vehicle_id"], fine["status"]) == (None, None, "received")
    task = books.sql("SELECT related_entity_type, related_entity_id, priority, due_at, title"
                     " FROM sch_tasks WHERE id = :id", id=fine["task_id"])[0]
    assert (task.related_entity_type, str(task.related_entity_id), task.priority) == (
        "traffic_fine", fine["id"], "high")
    assert task.due_at == paris(2026, 12, 31, 0, 0)
    assert fine["fine_reference"] in task.title

    url = f"/v1/traffic-fines/{fine['id']}/designate"
    nobody = books.client.post(url, headers=if_match(books.client, url, books.headers()))
    assert nobody.status_code == 422
    assert nobody.json()["errors"][0]["field"] == "driver_id"
    driver = books.driver("Cleo")
    named = books.client.post(url, headers=if_match(books.client, url, books.headers()),
                              json={"driver_id": str(driver)})
    assert named.status_code == 200, named.text
    assert named.json()["driver_id"] == str(driver)
    assert books.sql("SELECT status FROM sch_tasks WHERE id = :id",
                     id=fine["task_id"])[0][0] == "done"


def test_the_designation_deadline_is_reminded_until_the_driver_is_designated(
    books: Books,
) -> None:
    plate, *_ = _car(books)
    fine = books.client.post("/v1/traffic-fines", headers=books.headers(),
                             json=_notice(plate, designation_deadline_on="2026-12-10")).json()

    def remind(today: date) -> Any:
        with context_session(books.sessions, DbContext.for_tenant(books.world.id)) as session:
            return create_reminders(session, books.world.id, today=today)

    assert remind(date(2026, 12, 1)).tasks["fine_designation_deadline"] == 0  # 9 days ahead
    report = remind(date(2026, 12, 7))  # 3 days before: the 3-day step
    assert report.tasks["fine_designation_deadline"] == 1
    task = books.sql("SELECT related_entity_id, priority, title FROM sch_tasks"
                     " WHERE dedup_key LIKE 'fine_designation_deadline:%'")
    assert [(str(t.related_entity_id), t.priority) for t in task] == [(fine["id"], "high")]
    assert "deadline 2026-12-10" in task[0].title
    notified = books.sql("SELECT threshold FROM adm_notifications WHERE entity_id = :id",
                         id=fine["id"])
    assert [n.threshold for n in notified] == ["3d"]
    assert remind(date(2026, 12, 7)).total_notifications == 0  # exactly once

    url = f"/v1/traffic-fines/{fine['id']}/designate"
    assert books.client.post(url, headers=if_match(books.client, url,
                                                   books.headers())).status_code == 200
    assert remind(date(2026, 12, 9)).notifications["fine_designation_deadline"] == 0


def test_fines_are_isolated_between_tenants_and_roles(books: Books, other_books: Books) -> None:
    plate, vehicle, *_ = _car(books)
    fine = books.client.post("/v1/traffic-fines", headers=books.headers(),
                             json=_notice(plate)).json()
    other = other_books.headers()
    url = f"/v1/traffic-fines/{fine['id']}"
    assert books.client.get(url, headers=other).status_code == 404
    assert books.client.get("/v1/traffic-fines", headers=other).json()["items"] == []
    assert books.client.post(f"{url}/pay", headers={**other, "If-Match": '"1"'}).status_code \
        == 404
    foreign_scan = books.client.post("/v1/traffic-fines", headers=other, json=_notice(
        plate, scan_document_id=str(books.document())))
    assert foreign_scan.status_code == 422
    assert foreign_scan.json()["errors"][0]["field"] == "scan_document_id"
    foreign_vehicle = books.client.post("/v1/traffic-fines", headers=other,
                                        json=_notice(plate, vehicle_id=str(vehicle)))
    assert foreign_vehicle.status_code == 422
    assert books.client.get("/v1/traffic-fines",
                            headers=books.headers("dispatcher")).status_code == 403
    viewer = books.client.post("/v1/traffic-fines", headers=books.headers("viewer"),
                               json=_notice(plate))
    assert viewer.status_code == 403
