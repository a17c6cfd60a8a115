"""Fleetcore staff in the console: their own pages with no fleet open, a fleet opened from the
header or the fleets list (audited like the API's X-Fleetcore-Tenant header), and nobody else
reaching staff pages or borrowing the switcher's cookie."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from api_support import PROVIDER_ORG, Staff
from fleet_support import Fleet
from web_support import Browser


def _staff_browser(browser: Browser, token: Callable[..., str], staff: Staff) -> Browser:
    browser.sign_in(token(staff.user_id, PROVIDER_ORG))
    return browser


def test_staff_open_a_fleet_work_in_it_and_leave(
    fleet: Fleet, other_fleet: Fleet, browser: Browser, token: Callable[..., str],
    make_staff: Callable[..., Staff],
) -> None:
    staff = make_staff()
    b = _staff_browser(browser, token, staff)
    landing = b.get("/app")
    assert landing.status_code == 303
    assert landing.headers["location"] == "/app/provider"

    fleets = b.get("/app/provider")
    assert fleets.status_code == 200, fleets.text[:500]
    assert 'id="fleet-' in fleets.text
    found = b.get(f"/app/provider?slug={other_fleet.world.slug}")
    assert f'id="fleet-{other_fleet.world.slug}"' in found.text
    assert f'id="fleet-{fleet.world.slug}"' not in found.text
    assert "No fleet open" in fleets.text
    assert ">Vehicles<" not in fleets.text  # no fleet menu without a fleet

    plate = fleet.vehicle()["licence_plate"]
    other_plate = other_fleet.vehicle()["licence_plate"]
    opened = b.post("/app/provider/open", {"tenant": fleet.world.slug}, page="/app/provider")
    assert opened.status_code == 303
    assert opened.headers["location"] == "/app"
    vehicles = b.get("/app/vehicles")
    assert vehicles.status_code == 200, vehicles.text[:500]
    assert plate in vehicles.text
    assert other_plate not in vehicles.text
    assert "Leave fleet" in vehicles.text
    audited = fleet.sql("SELECT count(*) FROM adm_audit_logs WHERE action = 'impersonate'"
                        " AND actor_id = :s AND changes->'request'->>'path' = '/app/vehicles'",
                        s=staff.id)
    assert audited == [(1,)]

    switched = b.post("/app/provider/open", {"tenant": other_fleet.world.slug})
    assert switched.status_code == 303
    vehicles = b.get("/app/vehicles")
    assert other_plate in vehicles.text
    assert plate not in vehicles.text

    unknown = b.post("/app/provider/open", {"tenant": "no-such-fleet"})
    assert unknown.status_code == 404
    assert other_plate in b.get("/app/vehicles").text  # the opened fleet did not change

    left = b.post("/app/provider/leave", {}, page="/app/provider")
    assert left.status_code == 303
    assert left.headers["location"] == "/app/provider"
    assert b.get("/app/vehicles").status_code == 303


def test_members_reach_no_staff_page_and_cannot_borrow_the_switcher_cookie(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    b = signed_in(fleet.world)
    other_plate = other_fleet.vehicle()["licence_plate"]
    assert b.get("/app/provider").status_code == 403
    assert b.post("/app/provider/open", {"tenant": other_fleet.world.slug}).status_code == 403
    b.client.cookies.set("fc_tenant", other_fleet.world.slug, path="/app")
    page = b.get("/app/vehicles")
    assert page.status_code == 200
    assert other_plate not in page.text
    assert "Fleets" not in page.text.split("<main", 1)[0]  # no staff menu entry


def test_the_api_ignores_the_console_cookie(
    fleet: Fleet, client: TestClient, token: Callable[..., str],
    make_staff: Callable[..., Staff],
) -> None:
    staff = make_staff()
    client.cookies.set("fc_tenant", fleet.world.slug)
    response = client.get("/v1/vehicles",
                          headers={"Authorization": f"Bearer {token(staff.user_id, PROVIDER_ORG)}"})
    client.cookies.clear()
    assert response.status_code == 403
    assert response.json()["type"].endswith("tenant-required")
