"""The console's trips, audit log, assignment calendar and global search, and the CSV download
of every list: filters, pagination, permissions, and another fleet's rows never shown."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fleet_support import Fleet, fr_plate, vin
from fleetcore.core.db import DbContext, context_session
from fleetcore.reference.service import load_reference_data
from web_support import Browser, count_statements

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime.now(UTC)


@pytest.fixture(scope="module", autouse=True)
def platforms(sessions: Any) -> None:
    """The reference platforms (uber, bolt) the trips and accounts belong to."""
    with context_session(sessions, DbContext.system()) as session:
        load_reference_data(session)


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text[:800]
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


def _api_header(client: TestClient, fleet: Fleet, path: str) -> list[str]:
    response = client.get(path, headers=fleet.headers())
    assert response.status_code == 200, response.text[:500]
    return response.text.splitlines()[0].split(",")


def _platform(fleet: Fleet, code: str) -> uuid.UUID:
    found: uuid.UUID = fleet.sql("SELECT id FROM dir_platforms WHERE code = :c", c=code)[0][0]
    return found


def _trip(fleet: Fleet, platform: uuid.UUID, ref: str, *, driver: uuid.UUID | None,
          vehicle: str | None, ended_at: datetime, fare: str = "12.50",
          status: str = "completed") -> None:
    fleet.insert("trp_trips", platform_id=platform, external_trip_id=ref, driver_id=driver,
                 vehicle_id=uuid.UUID(vehicle) if vehicle else None, status=status,
                 ended_at=ended_at, fare_gross=fare, platform_commission="3.10",
                 net_earnings="9.40", currency="EUR")


# --- trips -------------------------------------------------------------------------------------


def test_trips_page_filters_pages_and_downloads_the_apis_csv(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser], client: TestClient,
) -> None:
    uber, bolt = _platform(fleet, "uber"), _platform(fleet, "bolt")
    vehicle = fleet.vehicle()
    nadia = fleet.driver(first_name="Nadia", last_name="Petit")
    karim = fleet.driver(first_name="Karim", last_name="Benali", phone="+33639980001")
    monday = date(2026, 11, 2)
    # 23:30 in Paris on Monday is Monday's trip, though it is 22:30 UTC.
    late = datetime(2026, 11, 2, 23, 30, tzinfo=PARIS)
    _trip(fleet, uber, "U-MONDAY-LATE", driver=nadia, vehicle=vehicle["id"], ended_at=late)
    _trip(fleet, uber, "U-TUESDAY", driver=nadia, vehicle=vehicle["id"],
          ended_at=late + timedelta(hours=1))
    _trip(fleet, bolt, "B-KARIM", driver=karim, vehicle=None, ended_at=late, fare="7.00",
          status="cancelled_by_rider")
    their_driver = other_fleet.driver(first_name="Nadia", last_name="Petit")
    _trip(other_fleet, uber, "THEIRS-1", driver=their_driver, vehicle=None, ended_at=late)

    browser = signed_in(fleet.world)
    page = browser.get("/app/trips")
    assert page.status_code == 200, page.text[:800]
    for text in ("U-MONDAY-LATE", "U-TUESDAY", "B-KARIM", "Nadia Petit", "Karim Benali",
                 vehicle["licence_plate"], "€12.50", "€3.10", "€9.40", "Cancelled by rider",
                 "Uber", "Bolt", 'href="/app/trips/export.csv"'):
        assert text in page.text, text
    assert "THEIRS-1" not in page.text

    by_driver = browser.get(f"/app/trips?driver_id={nadia}")
    assert "U-MONDAY-LATE" in by_driver.text
    assert "B-KARIM" not in by_driver.text
    by_platform = browser.get(f"/app/trips?platform={bolt}", headers={"HX-Request": "true"})
    assert "<html" not in by_platform.text
    assert "B-KARIM" in by_platform.text
    assert "U-TUESDAY" not in by_platform.text
    by_status = browser.get("/app/trips?status=completed")
    assert "B-KARIM" not in by_status.text
    assert "U-TUESDAY" in by_status.text
    # The period is in the fleet's days: Monday alone keeps the 23:30 trip, not Tuesday's.
    monday_only = browser.get(f"/app/trips?since={monday}&until={monday}")
    assert "U-MONDAY-LATE" in monday_only.text
    assert "U-TUESDAY" not in monday_only.text
    assert f"/app/trips/export.csv?since={monday}&amp;until={monday}" in monday_only.text
    # Another fleet's driver id lists nothing (row-level security), bad links are 400 pages.
    assert "No trip matches" in browser.get(f"/app/trips?driver_id={their_driver}").text
    assert browser.get("/app/trips?status=lost").status_code == 400
    assert browser.get(f"/app/trips?since={monday}&until=2026-11-01").status_code == 400

    # The download is the API's file, with the page's filters.
    rows = _csv(browser.get(f"/app/trips/export.csv?driver_id={nadia}&since={monday}"
                            f"&until={monday}"))
    assert [r["external_trip_id"] for r in rows] == ["U-MONDAY-LATE"]
    assert rows[0]["fare_gross_amount"] == "12.50"
    assert rows[0]["fare_gross_currency"] == "EUR"
    header = browser.get("/app/trips/export.csv").text.splitlines()[0].split(",")
    assert header == _api_header(client, fleet, "/v1/trips/export.csv")
    every = _csv(browser.get("/app/trips/export.csv"))
    assert {r["external_trip_id"] for r in every} == {"U-MONDAY-LATE", "U-TUESDAY", "B-KARIM"}

    # The driver's and the vehicle's pages link to their trips.
    assert f'href="/app/trips?driver_id={nadia}"' in browser.get(f"/app/drivers/{nadia}").text
    assert f'href="/app/trips?vehicle_id={vehicle["id"]}"' in browser.get(
        f"/app/vehicles/{vehicle['id']}").text
    # The driver portal role may not read trips.
    portal = signed_in(fleet.world, "driver")
    assert portal.get("/app/trips").status_code == 403
    assert portal.get("/app/trips/export.csv").status_code == 403


def test_trips_page_pages_with_a_cursor(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    uber = _platform(fleet, "uber")
    fleet.sql("INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, status,"
              " ended_at, fare_gross, currency)"
              " SELECT :t, gen_random_uuid(), :p, 'PAGED-' || lpad(n::text, 3, '0'),"
              " 'completed', :at, 10, 'EUR' FROM generate_series(1, 53) n",
              t=fleet.world.id, p=uber, at=NOW)
    browser = signed_in(fleet.world)
    first = browser.get(f"/app/trips?platform={uber}")
    found = re.search(r'href="(/app/trips\?[^"]*cursor=[^"]+)"', first.text)
    assert found, "no next page link"
    second = browser.get(found.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    refs = set(re.findall(r"PAGED-\d{3}", first.text)) | set(re.findall(r"PAGED-\d{3}",
                                                                        second.text))
    assert len(set(re.findall(r"PAGED-\d{3}", first.text))) == 50
    assert len(refs) == 53
    assert "cursor=" not in second.text.split("<tbody>")[1]


# --- audit log ---------------------------------------------------------------------------------


def test_audit_log_shows_who_changed_what_with_filters_and_csv(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser], client: TestClient,
) -> None:
    vehicle = fleet.vehicle(colour="Blue")
    spare = fleet.vehicle()
    fleet.sql("UPDATE flt_vehicles SET colour = 'Red' WHERE id = :v", v=vehicle["id"])
    theirs = other_fleet.vehicle(colour="Green")

    browser = signed_in(fleet.world)
    page = browser.get("/app/audit")
    assert page.status_code == 200, page.text[:800]
    assert "Audit log" in page.text
    assert vehicle["licence_plate"] in page.text
    assert spare["licence_plate"] in page.text
    assert "<td>Create</td>" in page.text
    assert "<td>Update</td>" in page.text
    assert "<del>Blue</del> → <ins>Red</ins>" in page.text
    assert "Fleetcore (automatic)" in page.text  # the SQL update had no member
    assert theirs["licence_plate"] not in page.text
    assert theirs["id"] not in page.text

    one = browser.get(f"/app/audit?entity_type=flt_vehicles&entity_id={vehicle['id']}")
    assert vehicle["licence_plate"] in one.text
    assert spare["licence_plate"] not in one.text
    assert "One record's history only" in one.text
    updates = browser.get("/app/audit?action=update&entity_type=flt_vehicles",
                          headers={"HX-Request": "true"})
    assert "<html" not in updates.text
    assert "<del>Blue</del>" in updates.text
    assert spare["licence_plate"] not in updates.text
    # Another fleet's record: nothing, whatever its id.
    assert "No entry matches" in browser.get(
        f"/app/audit?entity_type=flt_vehicles&entity_id={theirs['id']}").text
    assert browser.get("/app/audit?entity_type=Robert'); DROP").status_code == 400
    assert browser.get("/app/audit?since=yesterday").status_code == 400
    today = datetime.now(PARIS).date()
    assert "No entry matches" in browser.get(
        f"/app/audit?until={today - timedelta(days=1)}").text
    assert vehicle["licence_plate"] in browser.get(f"/app/audit?since={today}").text

    rows = _csv(browser.get(f"/app/audit/export.csv?entity_type=flt_vehicles"
                            f"&entity_id={vehicle['id']}"))
    assert {r["action"] for r in rows} == {"create", "update"}
    assert {r["entity_id"] for r in rows} == {vehicle["id"]}
    assert browser.get("/app/audit/export.csv").text.splitlines()[0].split(",") == \
        _api_header(client, fleet, "/v1/audit-logs/export.csv")
    assert theirs["id"] not in browser.get("/app/audit/export.csv").text
    # The vehicle's page links to its history.
    assert (f'href="/app/audit?entity_type=flt_vehicles&entity_id={vehicle["id"]}"'
            in browser.get(f"/app/vehicles/{vehicle['id']}").text)

    # A fleet manager does not hold audit:read: no page, no file, no menu entry.
    manager = signed_in(fleet.world, "fleet_manager")
    assert manager.get("/app/audit").status_code == 403
    assert manager.get("/app/audit/export.csv").status_code == 403
    assert 'href="/app/audit"' not in manager.get("/app/vehicles").text


def test_audit_log_pages_with_a_cursor(fleet: Fleet, signed_in: Callable[..., Browser]) -> None:
    task = fleet.insert("sch_tasks", title="Renamed often", task_type="other",
                        priority="normal", status="open", source="manual")
    for i in range(55):
        fleet.sql("UPDATE sch_tasks SET title = :t WHERE id = :id", t=f"Title {i:02d}", id=task)
    browser = signed_in(fleet.world)
    first = browser.get(f"/app/audit?entity_type=sch_tasks&entity_id={task}")
    assert first.text.count("<del>") == 50
    found = re.search(r'href="(/app/audit\?[^"]*cursor=[^"]+)"', first.text)
    assert found
    second = browser.get(found.group(1).replace("&amp;", "&"))
    assert second.text.count("<del>") == 5
    assert "<ins>Title 54</ins>" in first.text
    assert "<ins>Renamed often</ins>" in second.text


# --- assignment calendar -----------------------------------------------------------------------


def _fill_calendar(fleet: Fleet, n: int, monday: date) -> list[tuple[uuid.UUID, uuid.UUID]]:
    pairs = []
    for i in range(n):
        vehicle = fleet.insert("flt_vehicles", make_id=fleet.make_id, model_id=fleet.model_id,
                               licence_plate=fr_plate(), vin=vin(), country="FR", year=2024,
                               fuel_type="hybrid", ownership_type="leased", status="active")
        driver = fleet.driver(first_name=f"Cal{i}", last_name="Driver",
                              phone=f"+3363997{i:04d}")
        start = datetime.combine(monday + timedelta(days=i % 5), datetime.min.time(),
                                 tzinfo=PARIS) + timedelta(hours=8)
        fleet.insert("flt_vehicle_assignments", vehicle_id=vehicle, driver_id=driver,
                     starts_at=start, ends_at=start + timedelta(days=2),
                     assignment_type="temporary", status="ended")
        pairs.append((vehicle, driver))
    return pairs


def test_calendar_shows_who_has_each_car_each_day(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser], app_engine: Engine,
) -> None:
    monday = date(2026, 11, 2)
    vehicle = fleet.vehicle()
    spare = fleet.vehicle()
    nadia = fleet.driver(first_name="Nadia", last_name="Petit")
    # Wednesday 09:00 → Friday 18:00, Paris time.
    fleet.insert("flt_vehicle_assignments", vehicle_id=uuid.UUID(vehicle["id"]),
                 driver_id=nadia, assignment_type="temporary", status="ended",
                 starts_at=datetime(2026, 11, 4, 9, tzinfo=PARIS),
                 ends_at=datetime(2026, 11, 6, 18, tzinfo=PARIS))
    fleet.insert("flt_vehicle_assignments", vehicle_id=uuid.UUID(spare["id"]),
                 driver_id=nadia, assignment_type="temporary", status="cancelled",
                 starts_at=datetime(2026, 11, 2, 9, tzinfo=PARIS),
                 ends_at=datetime(2026, 11, 3, 18, tzinfo=PARIS))
    theirs = other_fleet.vehicle()

    browser = signed_in(fleet.world)
    page = browser.get(f"/app/assignments/calendar?start={monday}&days=7")
    assert page.status_code == 200, page.text[:800]
    assert vehicle["licence_plate"] in page.text
    assert spare["licence_plate"] in page.text
    assert theirs["licence_plate"] not in page.text
    row = page.text.split(vehicle["licence_plate"])[1].split("</tr>")[0]
    cells = re.findall(r"<td class=\"([^\"]*)\">", row)
    assert len(cells) == 7
    assert [c.startswith("busy") for c in cells] == [False, False, True, True, True, False,
                                                    False]
    assert "to-after" in cells[2]
    assert "from-before" in cells[4]
    assert row.count("Nadia Petit") >= 3
    assert f'/app/assignments?vehicle_id={vehicle["id"]}&amp;driver_id={nadia}' in row
    spare_row = page.text.split(spare["licence_plate"])[1].split("</tr>")[0]
    assert "Nadia Petit" not in spare_row  # a cancelled assignment leaves the car free
    assert spare_row.count("Free") == 7
    # Navigation: the weeks before and after, two weeks at once.
    assert "start=2026-10-26" in page.text
    assert "start=2026-11-09" in page.text
    two = browser.get(f"/app/assignments/calendar?start={monday}")
    assert len(re.findall(r'<th scope="col" class="day', two.text)) == 14
    assert browser.get("/app/assignments/calendar?days=3").status_code == 400
    narrowed = browser.get(f"/app/assignments/calendar?q={spare['licence_plate']}")
    assert vehicle["licence_plate"] not in narrowed.text
    # The menu marks the calendar, not the assignments' history.
    assert '<a href="/app/assignments/calendar" aria-current="page">' in page.text
    assert '<a href="/app/assignments" aria-current="page">' not in page.text

    # One query for every vehicle's assignments: 8 more vehicles cost no statement more.
    path = f"/app/assignments/calendar?start={monday}&days=14"
    browser.get(path)
    with count_statements(app_engine) as few:
        assert browser.get(path).status_code == 200
    _fill_calendar(fleet, 8, monday)
    with count_statements(app_engine) as many:
        more = browser.get(path)
    assert more.text.count("Cal7 Driver") >= 2
    assert len(few.statements) == len(many.statements)
    assert signed_in(fleet.world, "driver").get("/app/assignments/calendar").status_code == 403


# --- search ------------------------------------------------------------------------------------


def test_search_finds_vehicles_drivers_and_accounts_of_this_fleet_only(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    vehicle = fleet.vehicle()
    karim = fleet.driver(first_name="Karim", last_name="Benali", phone="+33639980001",
                         email="karim@example.com")
    uber = _platform(fleet, "uber")
    fleet.insert("trp_platform_accounts", platform_id=uber, driver_id=karim,
                 external_account_id="karim.uber@example.com", external_account_kind="email",
                 status="active")
    their_vehicle = other_fleet.vehicle()
    their_karim = other_fleet.driver(first_name="Karim", last_name="Benali",
                                     phone="+33639980001", email="karim@example.com")
    other_fleet.insert("trp_platform_accounts", platform_id=uber, driver_id=their_karim,
                       external_account_id="karim.uber@example.com",
                       external_account_kind="email", status="active")

    browser = signed_in(fleet.world)
    assert 'action="/app/search"' in browser.get("/app/vehicles").text  # the top bar's box
    plate = browser.get("/app/search", params={"q": vehicle["licence_plate"].replace("-", "")})
    assert plate.status_code == 200
    assert f'href="/app/vehicles/{vehicle["id"]}"' in plate.text
    by_vin = browser.get("/app/search", params={"q": vehicle["vin"][-8:].lower()})
    assert f'href="/app/vehicles/{vehicle["id"]}"' in by_vin.text
    assert their_vehicle["id"] not in browser.get(
        "/app/search", params={"q": their_vehicle["licence_plate"]}).text

    for q in ("benali", "Karim Benali", "06 39 98 00 01", "+33 6 39 98 00 01"):
        found = browser.get("/app/search", params={"q": q})
        assert f'href="/app/drivers/{karim}"' in found.text, q
        assert str(their_karim) not in found.text, q
    account = browser.get("/app/search", params={"q": "  Karim.Uber@EXAMPLE.com "})
    assert "karim.uber@example.com" in account.text
    assert "<strong>Uber</strong>" in account.text
    assert f'href="/app/drivers/{karim}">Karim Benali</a>' in account.text
    assert account.text.count(f'href="/app/drivers/{karim}"') == 1
    assert str(their_karim) not in account.text
    assert "No vehicle has" in account.text
    assert "Type at least two characters" in browser.get("/app/search?q=K").text
    # Each kind only for those who may read it: the driver portal role reads none of them.
    portal = signed_in(fleet.world, "driver").get("/app/search?q=benali")
    assert portal.status_code == 200
    assert 'id="found-drivers"' not in portal.text
    assert str(karim) not in portal.text


# --- CSV of every list -------------------------------------------------------------------------


def test_every_list_downloads_its_rows_with_the_pages_filters(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser], client: TestClient,
) -> None:
    active = fleet.vehicle()
    sold = fleet.vehicle(status="sold")
    nadia = fleet.driver(first_name="Nadia", last_name="Petit")
    fleet.driver(first_name="Karim", last_name="Benali", phone="+33639980001")
    fleet.insert("flt_vehicle_assignments", vehicle_id=uuid.UUID(active["id"]),
                 driver_id=nadia, starts_at=NOW - timedelta(days=3),
                 assignment_type="permanent", status="active")
    fleet.document(sold["id"], "registration", verified=False, file_name="pending.pdf")
    fleet.document(active["id"], "registration", file_name="done.pdf")
    fleet.insert("sch_tasks", title="Open one", task_type="other", priority="high",
                 status="open", source="manual")
    fleet.insert("sch_tasks", title="Done one", task_type="other", priority="normal",
                 status="done", source="manual", completed_at=NOW)
    theirs = other_fleet.vehicle()

    browser = signed_in(fleet.world)
    pages = {
        "/app/vehicles?status=sold": "/app/vehicles/export.csv?status=sold",
        "/app/drivers?q=petit": "/app/drivers/export.csv?q=petit",
        f"/app/assignments?vehicle_id={active['id']}":
            f"/app/assignments/export.csv?vehicle_id={active['id']}",
        "/app/documents?status=pending": "/app/documents/export.csv?status=pending",
        "/app/tasks?priority=high": "/app/tasks/export.csv?status=open&amp;priority=high",
    }
    for path, link in pages.items():
        html = browser.get(path).text
        assert f'href="{link}' in html, (path, link)  # (then the page's order, if any)
        assert "Download CSV" in html

    vehicles = _csv(browser.get("/app/vehicles/export.csv?status=sold&sort=licence_plate"))
    assert [r["id"] for r in vehicles] == [sold["id"]]
    assert theirs["id"] not in browser.get("/app/vehicles/export.csv").text
    drivers = _csv(browser.get("/app/drivers/export.csv?q=petit"))
    assert [r["last_name"] for r in drivers] == ["Petit"]
    assignments = _csv(browser.get(f"/app/assignments/export.csv?vehicle_id={active['id']}"))
    assert [r["driver_id"] for r in assignments] == [str(nadia)]
    assert _csv(browser.get(f"/app/assignments/export.csv?vehicle_id={sold['id']}")) == []
    documents = _csv(browser.get("/app/documents/export.csv?status=pending"))
    assert [r["file_name"] for r in documents] == ["pending.pdf"]
    open_tasks = _csv(browser.get("/app/tasks/export.csv"))
    assert [r["title"] for r in open_tasks] == ["Open one"]
    every_task = _csv(browser.get("/app/tasks/export.csv?status="))
    assert {r["title"] for r in every_task} == {"Open one", "Done one"}
    # The same columns as the API's files.
    for console, api in (("/app/vehicles/export.csv", "/v1/vehicles/export.csv"),
                         ("/app/drivers/export.csv", "/v1/drivers/export.csv"),
                         ("/app/assignments/export.csv", "/v1/vehicle-assignments/export.csv"),
                         ("/app/documents/export.csv", "/v1/documents/export.csv"),
                         ("/app/tasks/export.csv", "/v1/tasks/export.csv")):
        assert browser.get(console).text.splitlines()[0].split(",") == \
            _api_header(client, fleet, api), console
    # The list's permission guards its file.
    portal = signed_in(fleet.world, "driver")
    for path in ("/app/vehicles/export.csv", "/app/drivers/export.csv",
                 "/app/assignments/export.csv", "/app/documents/export.csv",
                 "/app/tasks/export.csv"):
        assert portal.get(path).status_code == 403, path


# --- no query per row --------------------------------------------------------------------------


def _fleet_of(fleet: Fleet, n: int) -> None:
    """``n`` vehicles, each with its driver, a trip and a platform account (e-mail kind)."""
    uber = _platform(fleet, "uber")
    for i in range(n):
        vehicle = fleet.insert("flt_vehicles", make_id=fleet.make_id, model_id=fleet.model_id,
                               licence_plate=fr_plate(), vin=vin(), country="FR", year=2024,
                               fuel_type="hybrid", ownership_type="leased", status="active")
        driver = fleet.driver(first_name=f"Same{i}", last_name="Costa",
                              phone=f"+3363996{i:04d}")
        _trip(fleet, uber, f"COST-{i}", driver=driver, vehicle=str(vehicle), ended_at=NOW)
        fleet.insert("trp_platform_accounts", platform_id=uber, driver_id=driver,
                     external_account_id="shared@example.com" if i == 0
                     else f"costa{i}@example.com", external_account_kind="email",
                     status="active")


def test_new_pages_cost_the_same_for_3_or_30_rows(
    make_console_fleet: Callable[[], Fleet], signed_in: Callable[..., Browser],
    app_engine: Engine,
) -> None:
    small, large = make_console_fleet(), make_console_fleet()
    _fleet_of(small, 3)
    _fleet_of(large, 30)
    paths = ("/app/trips", "/app/audit", "/app/search?q=costa",
             "/app/search?q=shared@example.com", "/app/assignments/calendar")
    costs = {}
    for path in paths:
        counts = []
        for fleet in (small, large):
            browser = signed_in(fleet.world)
            browser.get(path)  # warm first-use caches
            with count_statements(app_engine) as counter:
                response = browser.get(path)
            assert response.status_code == 200, (path, response.text[:500])
            counts.append(len(counter.statements))
        costs[path] = tuple(counts)
    assert all(a == b for a, b in costs.values()), costs
    # Search: one statement per kind (vehicles, drivers, platform accounts), names included.
    browser = signed_in(large.world)
    with count_statements(app_engine) as empty:
        browser.get("/app/search?q=")
    assert costs["/app/search?q=costa"][1] - len(empty.statements) == 3
    page = signed_in(large.world).get("/app/trips").text
    assert page.count("COST-") == 30
    assert page.count("Costa</a>") == 30


def test_the_tasks_next_page_and_csv_keep_any_status(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    fleet.sql("INSERT INTO sch_tasks (tenant_id, id, title, task_type, priority, status, source,"
              " completed_at) SELECT :t, gen_random_uuid(), 'Finished ' || n, 'other', 'normal',"
              " 'done', 'manual', now() FROM generate_series(1, 52) n", t=fleet.world.id)
    browser = signed_in(fleet.world)
    first = browser.get("/app/tasks?status=")
    assert first.text.count("Finished ") == 50
    found = re.search(r'href="(/app/tasks\?status=&amp;cursor=[^"]+)"', first.text)
    assert found, "the next page forgets that any status was asked for"
    second = browser.get(found.group(1).replace("&amp;", "&"))
    assert second.text.count("Finished ") == 2
    assert 'href="/app/tasks/export.csv?status="' in first.text
    assert "No tasks here" in browser.get("/app/tasks").text  # the default: open ones
