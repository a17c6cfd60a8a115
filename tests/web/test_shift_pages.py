"""Shift pages: plan one shift, plan a weekly series in people's words (days, first day, start
time, length in hours), see the week's shifts and their CSV, cancel one; refused values come
back next to their fields and nothing is kept."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fleet_support import Fleet
from web_support import Browser

PARIS = ZoneInfo("Europe/Paris")


def _error(html: str, field: str) -> str:
    found = re.search(rf'<small id="{field}-error" class="field-error">([^<]*)</small>', html)
    assert found, f"no error next to {field}"
    return found.group(1)


def _next_monday() -> datetime:
    today = datetime.now(PARIS).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=PARIS)


def _shifts(fleet: Fleet) -> list[tuple[datetime, datetime, str]]:
    rows = fleet.sql("SELECT starts_at, ends_at, status FROM sch_shifts ORDER BY starts_at")
    return [(a.astimezone(PARIS), b.astimezone(PARIS), s) for a, b, s in rows]


def test_a_shift_is_planned_listed_exported_and_cancelled(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world, "dispatcher")
    driver = fleet.driver(first_name="Nadia", last_name="Petit")
    vehicle = fleet.vehicle()
    monday = _next_monday()
    form = browser.get(f"/app/shifts/new?driver_id={driver}")
    assert form.status_code == 200
    assert f'<option value="{driver}" selected>Petit, Nadia</option>' in form.text
    saved = browser.post("/app/shifts", {
        "driver_id": str(driver), "vehicle_id": vehicle["id"],
        "starts_at": f"{monday.date()}T07:30", "ends_at": f"{monday.date()}T15:00",
        "notes": "Airport run"}, page="/app/shifts/new")
    assert saved.status_code == 303, saved.text[:2000]
    assert saved.headers["location"] == f"/app/shifts?week={monday.date()}"
    # Read in the fleet's zone: 07:30 in Paris, whatever the server's zone.
    assert _shifts(fleet) == [(monday.replace(hour=7, minute=30), monday.replace(hour=15),
                               "scheduled")]

    week = browser.get(f"/app/shifts?week={monday.date() + timedelta(days=3)}")
    assert week.status_code == 200
    assert f"{monday.date()} 07:30" in week.text
    assert "Nadia Petit" in week.text
    assert vehicle["licence_plate"] in week.text
    assert "Airport run" in week.text
    assert browser.get(f"/app/shifts?week={monday.date() + timedelta(days=7)}").text.count(
        "Nadia Petit") == 0  # the week after holds none
    exported = browser.get(f"/app/shifts/export.csv?week={monday.date()}&driver_id={driver}")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["driver_id"], r["vehicle_id"], r["status"]) for r in rows] == [
        (str(driver), vehicle["id"], "scheduled")]
    other = browser.get(f"/app/shifts/export.csv?week={monday.date()}"
                        f"&driver_id={uuid.uuid4()}")
    assert list(csv.DictReader(io.StringIO(other.text))) == []

    # An overlapping shift of the same driver is refused; nothing is kept.
    refused = browser.post("/app/shifts", {
        "driver_id": str(driver), "starts_at": f"{monday.date()}T14:00",
        "ends_at": f"{monday.date()}T18:00"}, page="/app/shifts/new")
    assert refused.status_code in (409, 422), refused.status_code
    assert 'class="form-errors"' in refused.text
    assert f'value="{monday.date()}T14:00"' in refused.text  # what was typed stays
    assert len(_shifts(fleet)) == 1

    # Cancel it with the version the page showed; a stale version changes nothing.
    (shift_id, version), = fleet.sql("SELECT id, version FROM sch_shifts")
    stale = browser.post(f"/app/shifts/{shift_id}/cancel",
                         {"version": str(version + 1), "week": str(monday.date())},
                         page=f"/app/shifts?week={monday.date()}")
    assert stale.status_code == 303
    assert _shifts(fleet)[0][2] == "scheduled"
    cancelled = browser.post(f"/app/shifts/{shift_id}/cancel",
                             {"version": str(version), "week": str(monday.date())},
                             page=f"/app/shifts?week={monday.date()}")
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == f"/app/shifts?week={monday.date()}"
    assert _shifts(fleet)[0][2] == "cancelled"


def test_shift_form_errors_appear_next_to_their_fields(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world, "dispatcher")
    driver = fleet.driver()
    blank = browser.post("/app/shifts", {"driver_id": "", "starts_at": "2026-13-01T08:00",
                                         "ends_at": ""}, page="/app/shifts/new")
    assert blank.status_code == 422
    assert _error(blank.text, "driver_id") == "Choose a driver"
    assert _error(blank.text, "starts_at") == "not a date and time (YYYY-MM-DD HH:MM)"
    assert _error(blank.text, "ends_at")
    backwards = browser.post("/app/shifts", {
        "driver_id": str(driver), "starts_at": "2026-12-20T10:00",
        "ends_at": "2026-12-20T09:00"}, page="/app/shifts/new")
    assert backwards.status_code == 422
    assert "ends_at" in backwards.text
    assert 'aria-invalid="true"' in backwards.text
    assert _shifts(fleet) == []


def test_a_weekly_series_is_planned_from_days_a_time_and_hours(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world, "dispatcher")
    driver = fleet.driver(first_name="Karim", last_name="Benali")
    monday = _next_monday()
    form = browser.get("/app/shift-series/new")
    assert form.status_code == 200
    assert 'id="day_MO" name="day_MO" checked' in form.text  # weekdays ticked by default
    assert 'id="day_SA" name="day_SA">' in form.text
    saved = browser.post("/app/shift-series", {
        "driver_id": str(driver), "day_MO": "on", "day_WE": "on", "day_FR": "on",
        "first_day": str(monday.date()), "until": str(monday.date() + timedelta(days=13)),
        "start_time": "08:00", "hours": "7:30"}, page="/app/shift-series/new")
    assert saved.status_code == 303, saved.text[:2000]
    (series_id, rule, minutes), = fleet.sql(
        "SELECT id, rrule, duration_s / 60 FROM sch_shift_series")
    assert saved.headers["location"] == f"/app/shifts?series_id={series_id}&week={monday.date()}"
    assert rule.removeprefix("RRULE:") == "FREQ=WEEKLY;BYDAY=MO,WE,FR"
    assert minutes == 450
    # Two weeks of Monday, Wednesday and Friday, 08:00 to 15:30 in Paris.
    expected = [monday + timedelta(days=d, hours=8) for d in (0, 2, 4, 7, 9, 11)]
    assert _shifts(fleet) == [(s, s + timedelta(minutes=450), "scheduled") for s in expected]
    listed = browser.get(f"/app/shifts?series_id={series_id}&week={monday.date()}")
    assert listed.text.count('<tr id="shift-') == 3  # the first week of the series
    assert "One series only." in listed.text


def test_series_form_errors_appear_next_to_their_fields(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world, "dispatcher")
    driver = fleet.driver()
    monday = _next_monday()
    refused = browser.post("/app/shift-series", {
        "driver_id": str(driver), "first_day": str(monday.date()), "start_time": "25:00",
        "hours": "eight"}, page="/app/shift-series/new")
    assert refused.status_code == 422
    assert _error(refused.text, "days") == "Tick at least one day"
    assert _error(refused.text, "start_time") == "Enter a time (HH:MM)"
    assert _error(refused.text, "hours") == "Enter hours, e.g. 8, 7.5 or 7:30"
    assert 'value="eight"' in refused.text
    too_long = browser.post("/app/shift-series", {
        "driver_id": str(driver), "day_TU": "on", "first_day": str(monday.date()),
        "start_time": "08:00", "hours": "30"}, page="/app/shift-series/new")
    assert too_long.status_code == 422
    assert _error(too_long.text, "hours")  # the API's duration_minutes, shown on the form
    assert 'id="day_TU" name="day_TU" checked' in too_long.text  # the ticks stay
    ends_first = browser.post("/app/shift-series", {
        "driver_id": str(driver), "day_TU": "on", "first_day": str(monday.date()),
        "until": str(monday.date() - timedelta(days=3)), "start_time": "08:00", "hours": "8"},
        page="/app/shift-series/new")
    assert ends_first.status_code == 422
    assert _error(ends_first.text, "until")
    assert fleet.sql("SELECT count(*) FROM sch_shift_series")[0][0] == 0
    assert _shifts(fleet) == []


def test_shift_pages_follow_permissions_and_tenants(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    theirs = other_fleet.driver()
    other_fleet.insert("sch_shifts", driver_id=theirs,
                       starts_at=_next_monday() + timedelta(hours=8),
                       ends_at=_next_monday() + timedelta(hours=16), status="scheduled")
    (their_shift,), = other_fleet.sql("SELECT id FROM sch_shifts")
    viewer = signed_in(fleet.world, "viewer")
    assert viewer.get("/app/shifts").status_code == 200
    assert 'href="/app/shifts/new' not in viewer.get("/app/shifts").text
    for path in ("/app/shifts/new", "/app/shift-series/new"):
        assert viewer.get(path).status_code == 403, path
    owner = signed_in(fleet.world, "owner")
    week = owner.get(f"/app/shifts?week={_next_monday().date()}")
    assert str(their_shift) not in week.text
    gone = owner.post(f"/app/shifts/{their_shift}/cancel", {"version": "1"}, page="/app/shifts")
    assert gone.status_code == 404
    refused = owner.post("/app/shifts", {
        "driver_id": str(theirs), "starts_at": f"{_next_monday().date()}T08:00",
        "ends_at": f"{_next_monday().date()}T09:00"}, page="/app/shifts/new")
    assert refused.status_code in (404, 422)
    assert other_fleet.sql("SELECT status FROM sch_shifts") == [("scheduled",)]
    assert owner.get("/app/shifts?week=soon").status_code == 400


def test_series_are_listed_exported_and_stopped_with_their_future_shifts(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world, "dispatcher")
    driver = fleet.driver(first_name="Inès", last_name="Moreau")
    monday = _next_monday()
    saved = browser.post("/app/shift-series", {
        "driver_id": str(driver), "day_TU": "on", "day_TH": "on",
        "first_day": str(monday.date()), "until": str(monday.date() + timedelta(days=13)),
        "start_time": "09:00", "hours": "8"}, page="/app/shift-series/new")
    assert saved.status_code == 303, saved.text[:2000]
    (series_id, version), = fleet.sql("SELECT id, version FROM sch_shift_series")
    theirs = other_fleet.driver()
    other_fleet.insert("sch_shift_series", driver_id=theirs, rrule="FREQ=WEEKLY;BYDAY=MO",
                       dtstart=monday, duration_s=3600, timezone="Europe/Paris")
    (their_series,), = other_fleet.sql("SELECT id FROM sch_shift_series")

    listed = browser.get("/app/shift-series")
    assert listed.status_code == 200
    row = listed.text.split(f'<tr id="series-{series_id}">', 1)[1].split("</tr>", 1)[0]
    assert "Inès Moreau" in row
    assert "Tuesday, Thursday" in row
    assert "8 h" in row
    assert str(their_series) not in listed.text
    stopped_only = browser.get("/app/shift-series?state=stopped")
    assert f'id="series-{series_id}"' not in stopped_only.text
    assert browser.get("/app/shift-series?state=paused").status_code == 400

    exported = browser.get("/app/shift-series/export.csv?state=active")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["id"] for r in rows] == [str(series_id)]

    stale = browser.post(f"/app/shift-series/{series_id}/stop", {"version": str(version - 1)},
                         page="/app/shift-series")
    assert stale.status_code == 303
    assert fleet.sql("SELECT active FROM sch_shift_series") == [(True,)]
    stopped = browser.post(f"/app/shift-series/{series_id}/stop", {"version": str(version)},
                           page="/app/shift-series")
    assert stopped.status_code == 303
    assert fleet.sql("SELECT active FROM sch_shift_series") == [(False,)]
    # All four shifts were still ahead: all cancelled, none left planned.
    assert {s for _, _, s in _shifts(fleet)} == {"cancelled"}
    assert len(_shifts(fleet)) == 4
    after = browser.get("/app/shift-series?state=stopped")
    assert f'id="series-{series_id}"' in after.text
    assert f'action="/app/shift-series/{series_id}/stop"' not in after.text

    gone = browser.post(f"/app/shift-series/{their_series}/stop", {"version": "1"},
                        page="/app/shift-series")
    assert gone.status_code == 404
    assert other_fleet.sql("SELECT active FROM sch_shift_series") == [(True,)]
    viewer = signed_in(fleet.world, "viewer")
    assert viewer.get("/app/shift-series").status_code == 200
    assert viewer.post(f"/app/shift-series/{series_id}/stop", {"version": "1"},
                       page="/app/shift-series").status_code == 403
