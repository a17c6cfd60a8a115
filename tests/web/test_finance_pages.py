"""The console's toll and fine pages: a statement imported (and refused line by line), a charge
entered by hand, a fine recorded with its scan and moved along with the version the page
showed, and the pages kept to the roles that may see them."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fleet_support import Fleet
from web_support import PDF, Browser

PARIS = ZoneInfo("Europe/Paris")


def _custody(fleet: Fleet) -> tuple[str, uuid.UUID]:
    """A car (plate) Ana has had since 1 November 2026."""
    plate = f"CN-{uuid.uuid4().int % 900 + 100}-AA"
    vehicle = fleet.vehicle(licence_plate=plate)
    ana = fleet.driver(first_name="Ana", last_name="Borg")
    fleet.insert("flt_vehicle_assignments", vehicle_id=uuid.UUID(vehicle["id"]), driver_id=ana,
                 starts_at=datetime(2026, 11, 1, 8, tzinfo=PARIS).astimezone(UTC),
                 assignment_type="permanent", status="active")
    return plate, ana


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", page))


def test_import_a_statement_and_record_a_charge(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    plate, _ana = _custody(fleet)
    browser = signed_in(fleet.world)
    page = browser.get("/app/tolls")
    assert page.status_code == 200
    assert 'href="/app/tolls"' in page.text  # the menu
    assert 'href="/app/fines"' in page.text
    statement = ("Date;Heure;Immatriculation;Société;Gare de sortie;Montant TTC\n"
                 f"16/11/2026;09:59;{plate};APRR;Fleury;4,10\n"
                 "16/11/2026;10:30;ZZ-999-ZZ;Sanef;Senlis;2,40\n")
    files = {"file": ("releve.csv", statement.encode("cp1252"), "text/csv")}
    imported = browser.post("/app/tolls/import", {"format": "", "currency": "EUR"},
                            page="/app/tolls", files=files)
    assert imported.status_code == 303, _text(imported.text)[:2000]
    listed = _text(browser.get(imported.headers["location"]).text)
    assert "2 charge(s) stored, 0 already imported, 1 resolved to their driver, 1 unassigned" \
        in listed
    assert "Ana Borg" in listed
    assert "a task asks who" in listed
    assert "€4.10" in listed

    bad = statement + "17/11/2026;10:00;ZZ-999-ZZ;Sanef;Senlis;abc\n"
    refused = browser.post("/app/tolls/import", {"format": "bipandgo"}, page="/app/tolls",
                           files={"file": ("bad.csv", bad.encode(), "text/csv")})
    assert refused.status_code == 422
    shown = _text(refused.text)
    assert "Row 4, Montant TTC ('abc'): not a number" in shown
    assert "Nothing was imported" in shown
    assert fleet.sql("SELECT count(*) FROM fin_toll_transactions")[0][0] == 2

    entered = browser.post("/app/tolls", {"plate": plate, "occurred_at": "2026-11-18T08:15",
                                          "amount": "3,20", "operator": "Vinci"},
                           page="/app/tolls")
    assert entered.status_code == 303, _text(entered.text)[:2000]
    row = fleet.sql("SELECT amount, occurred_at, status FROM fin_toll_transactions"
                    " WHERE source = 'manual'")[0]
    assert (str(row[0]), row[1], row[2]) == (
        "3.2000", datetime(2026, 11, 18, 8, 15, tzinfo=PARIS), "assigned")
    missing = browser.post("/app/tolls", {"plate": plate, "amount": "1"}, page="/app/tolls")
    assert missing.status_code == 422
    assert 'aria-describedby="occurred_at-error"' in missing.text


def test_record_a_fine_with_its_scan_and_move_it_along(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    plate, ana = _custody(fleet)
    browser = signed_in(fleet.world)
    recorded = browser.post("/app/fines", {
        "fine_reference": "ANTAI-123", "offence_at": "2026-11-16T09:59", "plate": plate,
        "amount": "135", "designation_deadline_on": "2026-12-31", "offence_type": "speeding",
    }, page="/app/fines", files={"scan": ("avis.pdf", PDF, "application/pdf")})
    assert recorded.status_code == 303, _text(recorded.text)[:2000]
    fine_id = recorded.headers["location"].rsplit("/", 1)[1]
    detail = browser.get(recorded.headers["location"]).text
    scan = fleet.sql("SELECT scan_document_id, driver_id FROM fin_traffic_fines WHERE id = :f",
                     f=fine_id)[0]
    assert scan[1] == ana
    assert f'href="/app/documents/{scan[0]}/download"' in detail
    assert "resolved to the driver who had the vehicle" in _text(detail)

    stale = browser.post(f"/app/fines/{fine_id}/pay", {"version": "9"},
                         page=f"/app/fines/{fine_id}")
    assert stale.status_code == 412
    version = re.search(r'name="version" value="(\d+)"', detail)
    assert version
    designated = browser.post(f"/app/fines/{fine_id}/designate", {"version": version.group(1)},
                              page=f"/app/fines/{fine_id}")
    assert designated.status_code == 303
    assert "is now driver designated" in _text(browser.get(designated.headers["location"]).text)
    listed = _text(browser.get("/app/fines?status=driver_designated").text)
    assert "ANTAI-123" in listed
    assert "Ana Borg" in listed

    refused = browser.post("/app/fines", {"fine_reference": "X", "plate": plate,
                                          "amount": "1"}, page="/app/fines")
    assert refused.status_code == 422
    assert 'aria-describedby="offence_at-error"' in refused.text


def test_the_pages_follow_the_permissions(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    _custody(fleet)
    fine = fleet.insert("fin_traffic_fines", fine_reference="F-1", plate="AB-123-CD",
                        offence_at=datetime.now(UTC), amount=1, currency="EUR")
    browser = signed_in(fleet.world, "dispatcher")
    assert browser.get("/app/tolls").status_code == 403
    assert 'href="/app/tolls"' not in browser.get("/app").text
    viewer = signed_in(fleet.world, "viewer")
    page = viewer.get("/app/fines")
    assert page.status_code == 200
    assert "Record a notice" not in page.text
    assert "Next step" not in viewer.get(f"/app/fines/{fine}").text
    stranger = signed_in(other_fleet.world)
    assert stranger.get(f"/app/fines/{fine}").status_code == 404
