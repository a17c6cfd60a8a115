"""Every console page renders for a fleet with data; sign-in, permissions, other tenants' ids
and CSRF are handled as pages a person understands."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from fleet_support import Fleet
from web_support import Browser, csrf_of

NOW = datetime.now(UTC)


def populate(fleet: Fleet) -> dict[str, Any]:
    """A small fleet: two vehicles (one with a driver), a pending document, a task and a
    maintenance schedule that is overdue."""
    vehicle = fleet.compliant_vehicle()
    spare = fleet.vehicle(colour="Blue")
    driver = fleet.driver(first_name="Nadia", last_name="Petit")
    other = fleet.driver(first_name="Karim", last_name="Benali", phone="+33639980001")
    assigned = fleet.client.post("/v1/vehicle-assignments", json={
        "vehicle_id": vehicle["id"], "driver_id": str(driver),
        "starts_at": (NOW - timedelta(days=2)).isoformat()}, headers=fleet.headers())
    assert assigned.status_code == 201, assigned.text
    pending = fleet.document(spare["id"], "registration", verified=False,
                             file_name="carte-grise.pdf")
    fleet.insert("sch_tasks", title="Call the insurer", task_type="other", priority="high",
                 status="open", source="manual")
    schedule = fleet.client.post("/v1/maintenance-schedules", json={
        "vehicle_id": spare["id"], "maintenance_type": "oil_change", "interval_days": 30,
        "last_done_on": (date.today() - timedelta(days=60)).isoformat()},
        headers=fleet.headers())
    assert schedule.status_code == 201, schedule.text
    return {"vehicle": vehicle, "spare": spare, "driver": driver, "other": other,
            "document": pending}


def test_every_page_renders_for_a_fleet_with_data(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    data = populate(fleet)
    browser = signed_in(fleet.world)
    vehicle, spare = data["vehicle"], data["spare"]
    expectations = {
        "/app": ["This week at", "Week of ", "Compliance by rule", "Fleet utilisation",
                 "Call the insurer", "Overdue", spare["licence_plate"]],
        "/app/vehicles": [vehicle["licence_plate"], spare["licence_plate"], "Nadia Petit"],
        f"/app/vehicles?q={spare['licence_plate'][:5]}": [spare["licence_plate"]],
        f"/app/vehicles/{vehicle['id']}": [vehicle["licence_plate"], "Insurance active",
                                           "Nadia Petit", "Handover"],
        f"/app/vehicles/{spare['id']}": ["carte-grise.pdf", "Oil change", "Overdue"],
        "/app/vehicles/new": ["Licence plate", "VIN"],
        f"/app/vehicles/{vehicle['id']}/edit": [vehicle["licence_plate"], 'name="version"'],
        "/app/drivers": ["Petit", "Benali"],
        f"/app/drivers/{data['driver']}": ["Nadia Petit", "Licence valid",
                                           vehicle["licence_plate"]],
        f"/app/drivers/{data['driver']}/edit": ["Nadia", 'name="version"'],
        "/app/drivers/new": ["First name", "Phone"],
        "/app/assignments": [vehicle["licence_plate"], "Nadia Petit", "Active"],
        "/app/assignments/new": ["Assign a vehicle", "Petit, Nadia"],
        "/app/documents": ["carte-grise.pdf", "Pending"],
        "/app/documents?status=pending": ["carte-grise.pdf"],
        "/app/documents/new": ["Upload a document", spare["licence_plate"]],
        "/app/maintenance": [spare["licence_plate"], "Oil change", "Overdue"],
        "/app/tasks": ["Call the insurer", "Start"],
    }
    for path, texts in expectations.items():
        response = browser.get(path)
        assert response.status_code == 200, (path, response.text[:800])
        assert response.headers["content-type"].startswith("text/html")
        for text in texts:
            assert text in response.text, (path, text)
    # The vehicles search narrows the table (HTMX asks for the table only).
    fragment = browser.get(f"/app/vehicles?q={spare['licence_plate']}",
                           headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert spare["licence_plate"] in fragment.text
    assert vehicle["licence_plate"] not in fragment.text


def test_signed_out_pages_send_to_sign_in_and_back(browser: Browser) -> None:
    response = browser.get("/app/vehicles?status=active")
    assert response.status_code == 303
    assert response.headers["location"] == "/app/sign-in?next=%2Fapp%2Fvehicles%3Fstatus%3Dactive"
    htmx = browser.get("/app/vehicles", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/app/sign-in?next=%2Fapp%2Fvehicles"
    # Production: the sign-in page is Clerk's hosted one, asked to come back here.
    sign_in = browser.get("/app/sign-in?next=/app/vehicles")
    assert sign_in.status_code == 303
    assert sign_in.headers["location"] == (
        "https://accounts.fleet.test/sign-in?redirect_url="
        "http%3A%2F%2Ftestserver%2Fapp%2Fvehicles")


def test_a_bad_or_expired_session_cookie_is_dropped(
    fleet: Fleet, browser: Browser, token: Callable[..., str], other_key: str,
) -> None:
    person = fleet.world.person("owner")
    expired = token(person.user_id, fleet.world.org_id, ttl=timedelta(seconds=-60))
    for bad in (expired, token(person.user_id, fleet.world.org_id, key=other_key), "junk"):
        browser.sign_in(bad)
        response = browser.get("/app/drivers")
        assert response.status_code == 303
        assert response.headers["location"] == "/app/sign-in?next=%2Fapp%2Fdrivers&expired=1"
        assert '__session=""' in response.headers["set-cookie"]


def test_the_sign_in_page_never_redirects_elsewhere(browser: Browser) -> None:
    for target in ("https://evil.test/app", "//evil.test/app", "/v1/me", "/app\\@evil"):
        response = browser.get("/app/sign-in", params={"next": target})
        assert "redirect_url=http%3A%2F%2Ftestserver%2Fapp&" in response.headers["location"] \
            or response.headers["location"].endswith("redirect_url=http%3A%2F%2Ftestserver%2Fapp")


def test_a_member_without_the_permission_gets_a_403_page(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world, "driver")  # the portal role: no fleet permission
    for path in ("/app/vehicles", "/app/drivers/new", "/app/documents", "/app/tasks"):
        response = browser.get(path)
        assert response.status_code == 403, path
        assert "Missing permission" in response.text
        assert "This needs the permission" in response.text
    dashboard = browser.get("/app")
    assert dashboard.status_code == 200
    assert "Your role gives you no fleet pages" in dashboard.text
    assert 'href="/app/vehicles"' not in dashboard.text  # nor a menu entry
    # A dispatcher sees vehicles but may not add one.
    dispatcher = signed_in(fleet.world, "dispatcher")
    assert dispatcher.get("/app/vehicles").status_code == 200
    assert "Add a vehicle" not in dispatcher.get("/app/vehicles").text
    refused = dispatcher.post("/app/vehicles", fleet.vehicle_body())
    assert refused.status_code == 403
    assert fleet.sql("SELECT count(*) FROM flt_vehicles")[0][0] == 0


def test_another_tenants_ids_are_404_pages(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    theirs = other_fleet.vehicle()
    their_driver = other_fleet.driver()
    browser = signed_in(fleet.world)
    for path in (f"/app/vehicles/{theirs['id']}", f"/app/vehicles/{theirs['id']}/edit",
                 f"/app/drivers/{their_driver}", f"/app/vehicles/{uuid.uuid4()}",
                 "/app/vehicles/not-an-id", "/app/no-such-page"):
        response = browser.get(path)
        assert response.status_code == 404, path
        assert "<html" in response.text
        assert "Not found" in response.text
    edit = browser.post(f"/app/vehicles/{theirs['id']}/edit", {"colour": "Red"})
    assert edit.status_code == 404
    assert other_fleet.sql("SELECT colour FROM flt_vehicles WHERE id = :v",
                           v=theirs["id"])[0][0] is None


def test_forms_without_the_csrf_token_are_refused(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    browser.token()  # the nonce cookie is set, as after any page
    body = fleet.vehicle_body()
    for token in (None, "0" * 64, "not-a-token"):
        data = dict(body) | ({"csrf_token": token} if token else {})
        response = browser.client.post("/app/vehicles", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "This form has expired" in response.text
    # A token of another browser (another nonce) is refused too.
    with TestClient(browser.client.app) as other:
        stolen = csrf_of(other.get("/app/sign-in?signed_out=1").text)
    response = browser.client.post("/app/vehicles", data=body | {"csrf_token": stolen},
                                   follow_redirects=False)
    assert response.status_code == 403
    assert fleet.sql("SELECT count(*) FROM flt_vehicles")[0][0] == 0
    # HTMX sends the token as a header.
    ok = browser.client.post("/app/vehicles", data=body, follow_redirects=False,
                             headers={"X-CSRF-Token": browser.token()})
    assert ok.status_code == 303, ok.text[:500]
    assert fleet.sql("SELECT count(*) FROM flt_vehicles")[0][0] == 1


def test_static_assets_are_vendored_with_their_licences(browser: Browser) -> None:
    for path, marker in (("/app/static/vendor/htmx/htmx.min.js", "htmx"),
                         ("/app/static/vendor/htmx/LICENSE", "Zero-Clause BSD"),
                         ("/app/static/vendor/pico/pico.min.css", "Pico CSS"),
                         ("/app/static/vendor/pico/LICENSE.md", "MIT License"),
                         ("/app/static/console.css", "sidebar")):
        response = browser.get(path)
        assert response.status_code == 200, path
        assert marker in response.text
    page = browser.get("/app/sign-in?signed_out=1").text
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert assets
    assert all(a.startswith("/app/static/") for a in assets)


def test_console_routes_stay_out_of_the_api_document(browser: Browser) -> None:
    spec = browser.get("/openapi.json").json()
    assert not [p for p in spec["paths"] if p.startswith("/app")]


def test_tasks_link_to_what_they_are_about_and_sort_by_due_date(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    driver = fleet.driver(first_name="Nadia", last_name="Petit")
    about = uuid.uuid4()
    fleet.insert("sch_tasks", title="Later", task_type="other", priority="normal",
                 status="open", source="manual", due_at=NOW + timedelta(days=9))
    fleet.insert("sch_tasks", title="Undated", task_type="other", priority="normal",
                 status="open", source="manual")
    fleet.insert("sch_tasks", title="Sooner", task_type="other", priority="normal",
                 status="open", source="manual", due_at=NOW + timedelta(days=1),
                 related_entity_type="driver", related_entity_id=driver)
    fleet.insert("sch_tasks", title="Check the import", task_type="other", priority="normal",
                 status="open", source="system", dedup_key="import-check",
                 due_at=NOW + timedelta(days=3),
                 related_entity_type="revenue_import", related_entity_id=about)
    page = signed_in(fleet.world).get("/app/tasks")
    assert page.status_code == 200
    order = [page.text.index(t) for t in ("Sooner", "Check the import", "Later", "Undated")]
    assert order == sorted(order)
    assert f'href="/app/drivers/{driver}"' in page.text
    assert f'href="/app/imports/{about}"' in page.text
