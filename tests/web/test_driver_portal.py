"""The driver portal (/driver): a driver member signs in and sees only their own car, shifts,
documents, requests, statement, tolls and fines, in English, French or Portuguese; another
driver's rows stay invisible through every route, through /v1 and in the database itself
(a plain SQL select under the driver's context)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from fleet_support import Fleet
from fleetcore.core.db import DbContext, context_session
from fleetcore.web.portal_words import PORTAL_LANGUAGES, WORDS, portal_language
from web_support import PDF, Browser

WEEK = date(2026, 11, 16)


@dataclass
class Drivers:
    fleet: Fleet
    mine: uuid.UUID
    other: uuid.UUID
    my_plate: str
    other_plate: str
    other_document: uuid.UUID
    other_fine_scan: uuid.UUID


def _document(fleet: Fleet, driver: uuid.UUID, document_type: str, expires_on: date,
              file_name: str) -> uuid.UUID:
    return fleet.insert(
        "doc_documents", entity_type="driver", entity_id=driver, document_type=document_type,
        file_name=file_name, storage_backend="local", storage_key=f"k/{uuid.uuid4()}",
        mime_type="application/pdf", size_bytes=10, sha256="0" * 64, expires_on=expires_on)


def _week_of_rent(fleet: Fleet, driver: uuid.UUID, rent: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fleet.insert("rid_driver_cooperation_terms", driver_id=driver, terms_version="v1",
                 status="active", accepted_at=start - timedelta(days=1), effective_from=start,
                 currency="EUR", settlement_model="fixed_rent", rent_amount=Decimal(rent),
                 rent_period="week")


@pytest.fixture
def drivers(fleet: Fleet, signed_in: Callable[..., Browser]) -> Drivers:
    """Two drivers of one fleet, each with a car, a shift, a document, a request, a toll, a
    fine and a computed week; the first is the portal account of the 'driver' member."""
    today = datetime.now(UTC)
    ids: dict[str, Any] = {}
    for who, name, rent in (("mine", "Lina", "70.00"), ("other", "Otto", "95.00")):
        driver = fleet.driver(first_name=name, last_name="Portal", phone=None)
        vehicle = fleet.vehicle()
        fleet.insert("flt_vehicle_assignments", vehicle_id=uuid.UUID(vehicle["id"]),
                     driver_id=driver, assignment_type="permanent", status="active",
                     starts_at=today - timedelta(days=3), odometer_out_km=Decimal(12345))
        fleet.insert("sch_shifts", driver_id=driver, vehicle_id=uuid.UUID(vehicle["id"]),
                     starts_at=today.replace(hour=6, minute=0, second=0, microsecond=0),
                     ends_at=today.replace(hour=14, minute=0, second=0, microsecond=0))
        ids[f"{who}_document"] = _document(fleet, driver, "driver_licence",
                                           today.date() + timedelta(days=10),
                                           f"licence-{name}.pdf")
        fleet.insert("rid_driver_requests", driver_id=driver, request_type="other",
                     reason=f"Request of {name}")
        fleet.insert("fin_toll_transactions", driver_id=driver, plate=vehicle["licence_plate"],
                     occurred_at=today, amount=Decimal("3.10"), currency="EUR", source="manual",
                     gate=f"Gate {name}", status="assigned")
        scan = _document(fleet, driver, "other", today.date(), f"scan-{name}.pdf")
        fleet.sql("UPDATE doc_documents SET entity_type = 'fine', entity_id = :d"
                  " WHERE id = :s", d=uuid.uuid4(), s=scan)
        fleet.insert("fin_traffic_fines", driver_id=driver, fine_reference=f"F-{name}",
                     offence_at=today, amount=Decimal("135.00"), currency="EUR",
                     offence_place=f"Place {name}", scan_document_id=scan,
                     vehicle_id=uuid.UUID(vehicle["id"]))
        _week_of_rent(fleet, driver, rent)
        ids[who], ids[f"{who}_plate"], ids[f"{who}_scan"] = driver, vehicle["licence_plate"], scan
    fleet.sql("UPDATE rid_drivers SET member_id = :m WHERE id = :d",
              m=fleet.world.person("driver").member_id, d=ids["mine"])
    owner = signed_in(fleet.world)
    computed = owner.post("/app/settlements/compute", {"week": WEEK.isoformat()},
                          page="/app/settlements")
    assert computed.status_code == 303, computed.text[:1000]
    owner.client.cookies.clear()
    return Drivers(fleet, ids["mine"], ids["other"], ids["mine_plate"], ids["other_plate"],
                   ids["other_document"], ids["other_scan"])


def _as_driver(signed_in: Callable[..., Browser], drivers: Drivers) -> Browser:
    return signed_in(drivers.fleet.world, "driver")


def test_a_driver_sees_their_car_shift_alerts_and_nothing_of_another(
    drivers: Drivers, signed_in: Callable[..., Browser],
) -> None:
    browser = _as_driver(signed_in, drivers)
    landing = browser.get("/app")  # where sign-in lands by default
    assert landing.status_code == 303
    assert landing.headers["location"] == "/driver"
    home = browser.get("/driver?lang=en")
    assert home.status_code == 200, home.text[:2000]
    assert 'name="viewport" content="width=device-width' in home.text
    assert drivers.my_plate in home.text
    assert "Handed over on" in home.text
    assert "12,345 km" in home.text
    assert "Driver licence expires on" in home.text
    assert drivers.other_plate not in home.text
    assert "Otto" not in home.text
    pages = {path: browser.get(f"/driver{path}?lang=en") for path in
             ("/documents", "/requests", "/payments", "/charges", "/statements")}
    for path, page in pages.items():
        assert page.status_code == 200, (path, page.text[:1000])
        assert "Otto" not in page.text, path
        if path != "/requests":  # the vehicle-change choice lists the fleet's plates
            assert drivers.other_plate not in page.text, path
    assert "licence-Lina.pdf" in pages["/documents"].text
    assert "Waiting for review" in pages["/documents"].text
    assert "Request of Lina" in pages["/requests"].text
    assert "Gate Lina" in pages["/charges"].text
    assert "Place Lina" in pages["/charges"].text
    assert "Gate Otto" not in pages["/charges"].text
    assert "No payment yet." in pages["/payments"].text


def test_the_driver_reads_the_statement_and_its_pdf(
    drivers: Drivers, signed_in: Callable[..., Browser],
) -> None:
    browser = _as_driver(signed_in, drivers)
    page = browser.get(f"/driver/statements?week={WEEK}&lang=en")
    assert page.status_code == 200, page.text[:2000]
    assert "Lina Portal" in page.text
    assert "€70.00" in page.text
    assert "€95.00" not in page.text
    assert 'data-group="rent"' in page.text
    pdf = browser.get(f"/driver/statements.pdf?week={WEEK}")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    french = browser.get(f"/driver/statements?week={WEEK}&lang=fr").text
    assert "Relevés" in french
    assert "Loyer" in french


def test_another_drivers_ids_are_404_through_the_portal(
    drivers: Drivers, signed_in: Callable[..., Browser],
) -> None:
    browser = _as_driver(signed_in, drivers)
    for document in (drivers.other_document, drivers.other_fine_scan):
        response = browser.get(f"/driver/documents/{document}/download")
        assert response.status_code == 404, response.text[:500]
    # The portal takes no driver id: the only way to name another driver is the console,
    # whose pages a driver may not open, and the API (403 before anything is read).
    assert browser.get(f"/app/drivers/{drivers.other}/statements").status_code == 403
    token = browser.client.cookies.get("__session")
    api = browser.client.get(f"/v1/drivers/{drivers.other}",
                             headers={"Authorization": f"Bearer {token}"})
    assert api.status_code in (403, 404), api.text


def test_a_driver_files_a_request_for_themself_only(
    drivers: Drivers, signed_in: Callable[..., Browser],
) -> None:
    browser = _as_driver(signed_in, drivers)
    sent = browser.post("/driver/requests?lang=en",
                        {"request_type": "leave", "period_start": "2026-12-21",
                         "period_end": "2026-12-27", "reason": "Family"}, page="/driver/requests")
    assert sent.status_code == 303, sent.text[:2000]
    advance = browser.post("/driver/requests", {"request_type": "advance_payment",
                                                "amount": "150,00"}, page="/driver/requests")
    assert advance.status_code == 303, advance.text[:2000]
    wanted = drivers.fleet.sql("SELECT id FROM flt_vehicles WHERE licence_plate = :p",
                               p=drivers.other_plate)[0].id
    change = browser.post("/driver/requests", {"request_type": "vehicle_change",
                                               "requested_vehicle_id": str(wanted)},
                          page="/driver/requests")
    assert change.status_code == 303, change.text[:2000]
    refused = browser.post("/driver/requests", {"request_type": "leave"},
                           page="/driver/requests")
    assert refused.status_code == 200
    assert "period_start" in refused.text
    rows = drivers.fleet.sql("SELECT driver_id, request_type, amount FROM rid_driver_requests"
                             " WHERE created_by = :m ORDER BY request_type",
                             m=drivers.fleet.world.person("driver").member_id)
    assert [(r.driver_id, r.request_type) for r in rows] == [
        (drivers.mine, "advance_payment"), (drivers.mine, "leave"),
        (drivers.mine, "vehicle_change")]
    assert rows[0].amount == Decimal("150.00")
    page = browser.get("/driver/requests?lang=en").text
    assert "Family" in page
    assert "Request of Otto" not in page


def test_the_vehicle_change_offers_cars_in_service_but_mine(
    drivers: Drivers, signed_in: Callable[..., Browser],
) -> None:
    retired = drivers.fleet.vehicle()["licence_plate"]
    drivers.fleet.sql("UPDATE flt_vehicles SET status = 'retired' WHERE licence_plate = :p",
                      p=retired)
    spare = drivers.fleet.vehicle()["licence_plate"]
    page = _as_driver(signed_in, drivers).get("/driver/requests?lang=en").text
    picker = page[page.index('name="requested_vehicle_id"'):]
    picker = picker[:picker.index("</select>")]
    assert spare in picker
    assert drivers.other_plate in picker  # in service (a swap is the manager's call)
    assert retired not in picker
    assert drivers.my_plate not in picker


def test_french_and_portuguese(drivers: Drivers, signed_in: Callable[..., Browser]) -> None:
    browser = _as_driver(signed_in, drivers)
    assert "Ma voiture" in browser.get("/driver?lang=fr").text
    portuguese = browser.get("/driver?lang=pt")
    assert '<html lang="pt">' in portuguese.text
    assert "O meu carro" in portuguese.text
    drivers.fleet.sql("UPDATE rid_drivers SET preferred_language = 'pt-PT' WHERE id = :d",
                      d=drivers.mine)
    assert "Portagens e multas" in browser.get("/driver/charges").text
    assert "Tolls and fines" in browser.get("/driver/charges?lang=en").text


def test_a_driver_signs_out_from_the_portal(
    drivers: Drivers, signed_in: Callable[..., Browser],
) -> None:
    browser = _as_driver(signed_in, drivers)
    out = browser.post("/driver/sign-out", page="/driver")
    assert out.status_code == 303, out.text[:500]
    assert out.headers["location"] == "/app/sign-in?signed_out=1"
    cleared = [c for c in out.headers.get_list("set-cookie") if c.startswith("__session=")]
    assert cleared
    assert "Max-Age=0" in cleared[0]


def test_every_language_has_every_word() -> None:
    keys = set(WORDS["en"])
    assert all(set(WORDS[lang]) == keys for lang in PORTAL_LANGUAGES)
    assert portal_language(None, "pt-BR") == "pt"
    assert portal_language("de", "fr-FR") == "fr"
    assert portal_language(None, None) == "en"


def test_staff_are_told_the_portal_is_for_drivers(
    drivers: Drivers, signed_in: Callable[..., Browser],
) -> None:
    assert signed_in(drivers.fleet.world, "owner").get("/driver").status_code == 403


def test_the_database_hides_another_drivers_rows_from_a_driver_session(
    drivers: Drivers,
) -> None:
    """A plain SQL select under the driver's context: the second wall, whatever the routes do."""
    fleet = drivers.fleet
    member = fleet.world.person("driver").member_id
    context = DbContext(tenant_id=fleet.world.id, actor_id=member, driver_id=drivers.mine)
    tables = ("rid_drivers", "flt_vehicle_assignments", "sch_shifts", "doc_documents",
              "rid_driver_requests", "trp_settlements", "trp_settlement_lines",
              "fin_toll_transactions", "fin_traffic_fines", "rid_driver_cooperation_terms",
              "adm_members")
    staff: dict[str, int] = {}
    with context_session(fleet.sessions, DbContext.for_tenant(fleet.world.id)) as session:
        for table in tables:
            staff[table] = session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    with context_session(fleet.sessions, context) as session:
        seen = {table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in tables}
        other = session.execute(text(
            "SELECT count(*) FROM rid_drivers WHERE id = :o"), {"o": drivers.other}).scalar_one()
        other_lines = session.execute(text(
            "SELECT count(*) FROM trp_settlement_lines l JOIN trp_settlements s"
            " ON s.tenant_id = l.tenant_id AND s.id = l.settlement_id"
            " WHERE s.driver_id = :o"), {"o": drivers.other}).scalar_one()
        scans = session.execute(text("SELECT id FROM doc_documents WHERE entity_type = 'fine'"))
        visible_scans = {r.id for r in scans}
    assert other == 0
    assert other_lines == 0
    assert drivers.other_fine_scan not in visible_scans
    assert len(visible_scans) == 1
    assert seen["rid_drivers"] == 1
    assert seen["adm_members"] == 1
    for table in tables:
        assert 0 < seen[table] < staff[table], (table, seen[table], staff[table])


def test_a_driver_session_cannot_write_for_another_driver(drivers: Drivers) -> None:
    fleet = drivers.fleet
    context = DbContext(tenant_id=fleet.world.id,
                        actor_id=fleet.world.person("driver").member_id, driver_id=drivers.mine)
    with (pytest.raises(DBAPIError, match="row-level security"),
          context_session(fleet.sessions, context) as session):
        session.execute(text(
            "INSERT INTO rid_driver_requests (id, tenant_id, driver_id, request_type)"
            " VALUES (gen_random_uuid(), :t, :o, 'other')"),
            {"t": fleet.world.id, "o": drivers.other})
    with context_session(fleet.sessions, context) as session:
        changed = session.execute(text(
            "UPDATE rid_drivers SET notes = 'x' WHERE id = :o"), {"o": drivers.other})
        assert changed.rowcount == 0  # type: ignore[attr-defined]


def test_a_driver_member_with_no_driver_linked_sees_no_driver(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    fleet.driver(first_name="Nobody")
    browser = signed_in(fleet.world, "driver")
    assert browser.get("/driver").status_code == 403
    nil = uuid.UUID(int=0)
    context = DbContext(tenant_id=fleet.world.id,
                        actor_id=fleet.world.person("driver").member_id, driver_id=nil)
    with context_session(fleet.sessions, context) as session:
        assert session.execute(text("SELECT count(*) FROM rid_drivers")).scalar_one() == 0


def test_a_driver_uploads_a_document_about_themself(
    drivers: Drivers, signed_in: Callable[..., Browser],
) -> None:
    browser = _as_driver(signed_in, drivers)
    sent = browser.client.post(
        "/driver/documents",
        data={"csrf_token": browser.token("/driver/documents"), "document_type": "id_card",
              "expires_on": "2031-05-01"},
        files={"file": ("passport.pdf", PDF, "application/pdf")}, follow_redirects=False)
    assert sent.status_code == 303, sent.text[:2000]
    rows = drivers.fleet.sql(
        "SELECT d.entity_id, d.verified, l.driver_id FROM doc_documents d"
        " JOIN rid_driver_documents l ON l.tenant_id = d.tenant_id AND l.document_id = d.id"
        " WHERE d.file_name = 'passport.pdf'")
    assert [(r.entity_id, r.verified, r.driver_id) for r in rows] == [
        (drivers.mine, False, drivers.mine)]
    page = browser.get(sent.headers["location"]).text
    assert "passport.pdf" in page
    assert "it waits for review" in page
    missing = browser.post("/driver/documents", {"document_type": "id_card"},
                           page="/driver/documents")
    assert missing.status_code == 200
    assert "choose a file" in missing.text


def test_the_driver_scope_is_read_once_per_statement_not_per_row(fleet: Fleet) -> None:
    """Staff scans of the bulk tables pay nothing per row for the driver scope: the policy's
    sub-select is an init plan (one evaluation), the per-row test compares parameters."""
    with context_session(fleet.sessions, DbContext.for_tenant(fleet.world.id)) as session:
        plan = "\n".join(r[0] for r in session.execute(text(
            "EXPLAIN (COSTS OFF) SELECT count(*) FROM trp_trips")))
    assert "InitPlan" in plan, plan
    filters = [line for line in plan.splitlines() if "Filter:" in line]
    assert filters, plan
    assert not [f for f in filters if "app.driver_id" in f or "fc_portal_driver" in f], plan
