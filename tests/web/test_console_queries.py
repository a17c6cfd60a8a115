"""No console page runs one query per row: a fleet of 30 costs the statements of a fleet of 3.

The counter listens to ``before_cursor_execute`` on the app engine and counts what one GET
runs, authentication and the tenant context included.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from fleet_support import Fleet, fr_plate, vin
from web_support import Browser, count_statements

PAGES = ("/app", "/app/vehicles", "/app/drivers", "/app/assignments", "/app/documents",
         "/app/documents?status=pending", "/app/maintenance", "/app/tasks",
         "/app/assignments/new", "/app/documents/new")


def _fill(fleet: Fleet, n: int) -> dict[str, list[object]]:
    """``n`` vehicles, each with its driver, an assignment, a pending document, a due oil
    change and a task."""
    now = datetime.now(UTC)
    vehicles, drivers = [], []
    for i in range(n):
        vehicle = fleet.insert("flt_vehicles", make_id=fleet.make_id, model_id=fleet.model_id,
                               licence_plate=fr_plate(), vin=vin(), country="FR", year=2024,
                               fuel_type="hybrid", ownership_type="leased", status="active")
        driver = fleet.driver(first_name=f"Driver{i}", phone=f"+3363998{i:04d}")
        fleet.insert("flt_vehicle_assignments", vehicle_id=vehicle, driver_id=driver,
                     starts_at=now - timedelta(days=3), assignment_type="permanent",
                     status="active")
        fleet.document(vehicle, "registration", verified=False, expires_on=date.today()
                       + timedelta(days=10))
        fleet.insert("sch_maintenance_schedules", vehicle_id=vehicle,
                     maintenance_type="oil_change", interval_days=90,
                     next_due_on=date.today() - timedelta(days=i + 1))
        fleet.insert("sch_tasks", title=f"Task {i}", task_type="other", priority="normal",
                     status="open", source="manual")
        vehicles.append(vehicle)
        drivers.append(driver)
    return {"vehicles": vehicles, "drivers": drivers}


def _cost(browser: Browser, engine: Engine, path: str) -> int:
    browser.get(path)  # warm: first-use caches (verifier, templates) are not per row
    with count_statements(engine) as counter:
        response = browser.get(path)
    assert response.status_code == 200, (path, response.text[:500])
    return len(counter.statements)


def test_list_pages_cost_the_same_for_3_or_30_rows(
    make_console_fleet: Callable[[], Fleet], signed_in: Callable[..., Browser],
    app_engine: Engine,
) -> None:
    small, large = make_console_fleet(), make_console_fleet()
    few, many = _fill(small, 3), _fill(large, 30)
    costs: dict[str, tuple[int, int]] = {}
    for path in PAGES:
        browser = signed_in(small.world)
        few_cost = _cost(browser, app_engine, path)
        browser = signed_in(large.world)
        many_cost = _cost(browser, app_engine, path)
        costs[path] = (few_cost, many_cost)
    assert all(a == b for a, b in costs.values()), costs
    # And the pages did show every row (so the counts compare full pages).
    page = signed_in(large.world).get("/app/vehicles").text
    assert page.count('href="/app/vehicles/') >= 30
    assert signed_in(large.world).get("/app/tasks").text.count("Task ") >= 30
    # A vehicle's and a driver's page cost the same whatever their history.
    detail = {}
    for fleet, ids in ((small, few), (large, many)):
        browser = signed_in(fleet.world)
        detail[fleet.world.slug] = (
            _cost(browser, app_engine, f"/app/vehicles/{ids['vehicles'][0]}"),
            _cost(browser, app_engine, f"/app/drivers/{ids['drivers'][0]}"))
    assert detail[small.world.slug] == detail[large.world.slug], detail
