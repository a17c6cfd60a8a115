"""Console forms: refused values come back next to their fields, rules are explained in words,
and nothing a refused form tried is kept."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fleet_support import Fleet
from fleetcore.core.db import DbContext, context_session
from fleetcore.reference.service import load_reference_data
from web_support import PDF, PNG, Browser

PARIS = ZoneInfo("Europe/Paris")


def _local(at: datetime) -> str:
    return at.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")


def _summary(html: str) -> list[str]:
    return re.findall(r'(?s)<div class="form-errors".*?</div>', html)


def _error(html: str, field: str) -> str:
    found = re.search(rf'<small id="{field}-error" class="field-error">([^<]*)</small>', html)
    assert found, f"no error next to {field}"
    return found.group(1)


def test_vehicle_form_errors_appear_next_to_their_fields(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    body = fleet.vehicle_body(year="1900", fuel_type="",
                              licence_plate="GA-123-BC")
    response = browser.post("/app/vehicles", body, page="/app/vehicles/new")
    assert response.status_code == 422
    assert "greater than or equal to 1950" in _error(response.text, "year")
    assert _error(response.text, "fuel_type")
    assert _error(response.text, "fuel_type") == "Choose a fuel type"
    assert 'id="year" name="year" value="1900"' in response.text  # what was typed stays
    # Pydantic's words ("Input should be a valid UUID, invalid length: found 0") become
    # people's: a blank select asks for a choice, a garbled number asks for a number.
    blank = browser.post("/app/vehicles", fleet.vehicle_body(make_id="", year="twenty",
                                                             first_registration_on="1/3/24"),
                         page="/app/vehicles/new")
    assert blank.status_code == 422
    assert _error(blank.text, "make_id") == "Choose a make"
    assert _error(blank.text, "year") == "Enter a number"
    assert _error(blank.text, "first_registration_on") == "Enter a date (YYYY-MM-DD)"
    assert "Input should" not in blank.text
    assert 'aria-invalid="true" aria-describedby="year-error"' in response.text
    # The service's own rules (VIN alphabet, per-country plate) land next to their field.
    response = browser.post("/app/vehicles", fleet.vehicle_body(vin="VF1AB0CD0EF12340Q"),
                            page="/app/vehicles/new")
    assert response.status_code == 422
    assert "Q" in _error(response.text, "vin")
    assert fleet.sql("SELECT count(*) FROM flt_vehicles")[0][0] == 0
    # A duplicate plate is a conflict on the plate field.
    first = fleet.vehicle()
    again = browser.post("/app/vehicles", fleet.vehicle_body(
        licence_plate=first["licence_plate"]), page="/app/vehicles/new")
    assert again.status_code == 409
    assert "already" in _error(again.text, "licence_plate")


def test_add_and_edit_a_vehicle_with_a_stale_version_refused(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    created = browser.post("/app/vehicles", fleet.vehicle_body(acquisition_cost="24500,50"),
                           page="/app/vehicles/new")
    assert created.status_code == 303, _summary(created.text)
    vehicle_id = created.headers["location"].rsplit("/", 1)[1]
    row = fleet.sql("SELECT acquisition_cost, currency, version FROM flt_vehicles WHERE id = :v",
                    v=vehicle_id)[0]
    assert (str(row[0]), row[1]) == ("24500.5000", "EUR")
    page = browser.get(created.headers["location"])
    assert "Vehicle " in page.text
    assert "added." in page.text
    assert "added." not in browser.get(created.headers["location"]).text
    form = browser.get(f"/app/vehicles/{vehicle_id}/edit").text
    values = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form))
    values.update(colour="Night blue", status="in_maintenance", version=str(row[2]))
    saved = browser.post(f"/app/vehicles/{vehicle_id}/edit", values)
    assert saved.status_code == 303, saved.text[:1000]
    assert fleet.sql("SELECT colour, status FROM flt_vehicles WHERE id = :v",
                     v=vehicle_id)[0] == ("Night blue", "in_maintenance")
    stale = browser.post(f"/app/vehicles/{vehicle_id}/edit", values | {"colour": "Red"})
    assert stale.status_code == 412
    assert "Someone else changed this vehicle" in stale.text
    assert fleet.sql("SELECT colour FROM flt_vehicles WHERE id = :v",
                     v=vehicle_id)[0][0] == "Night blue"


def test_an_overlapping_assignment_is_refused_with_a_clear_message(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    vehicle = fleet.compliant_vehicle()
    first_driver = fleet.driver(first_name="Nadia", last_name="Petit")
    second_driver = fleet.driver(first_name="Karim", last_name="Benali", phone="+33639980002")
    browser = signed_in(fleet.world, "dispatcher")
    start = datetime.now(UTC) - timedelta(hours=2)
    assigned = browser.post("/app/assignments", {
        "vehicle_id": vehicle["id"], "driver_id": str(first_driver),
        "starts_at": _local(start), "assignment_type": "permanent",
        "odometer_out_km": "12000"}, page="/app/assignments/new")
    assert assigned.status_code == 303, assigned.text[:1500]
    assert assigned.headers["location"] == f"/app/vehicles/{vehicle['id']}"
    refused = browser.post("/app/assignments", {
        "vehicle_id": vehicle["id"], "driver_id": str(second_driver),
        "starts_at": _local(start + timedelta(hours=1)), "assignment_type": "temporary"},
        page="/app/assignments/new")
    assert refused.status_code == 409
    assert f"Refused: {vehicle['licence_plate']} · " in refused.text
    since = start.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")
    assert f"is already assigned to Nadia Petit from {since} with no end date" in refused.text
    assert _error(refused.text, "vehicle_id") == "already assigned in this period"
    assert fleet.sql("SELECT count(*) FROM flt_vehicle_assignments")[0][0] == 1
    # Ending it frees the car; the odometer in must not be below the odometer out.
    assignment_id = fleet.sql("SELECT id FROM flt_vehicle_assignments")[0][0]
    end_page = browser.get(f"/app/assignments/{assignment_id}/end").text
    version = re.search(r'name="version" value="(\d+)"', end_page).group(1)  # type: ignore[union-attr]
    below = browser.post(f"/app/assignments/{assignment_id}/end", {
        "ends_at": _local(datetime.now(UTC)), "odometer_in_km": "11000", "version": version})
    assert below.status_code == 422
    assert "below the odometer out" in _error(below.text, "odometer_in_km")
    ended = browser.post(f"/app/assignments/{assignment_id}/end", {
        "ends_at": _local(datetime.now(UTC)), "odometer_in_km": "12150", "version": version})
    assert ended.status_code == 303, ended.text[:1000]
    assert fleet.sql("SELECT status FROM flt_vehicle_assignments")[0][0] == "ended"


def test_a_new_car_gets_its_insurance_from_the_console(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    """The insurance form: refused dates come back on their fields, an overlapping policy is
    refused on its start, and a recorded policy makes the car's insurance rule pass."""
    vehicle = fleet.vehicle()
    browser = signed_in(fleet.world)
    page = f"/app/vehicles/{vehicle['id']}/insurances/new"
    detail = browser.get(f"/app/vehicles/{vehicle['id']}")
    assert page in detail.text
    form = browser.get(page)
    assert form.status_code == 200
    assert 'name="ends_on"' in form.text
    body = {"provider": "AXA", "policy_number": "VTC-1", "coverage_type": "comprehensive",
            "starts_on": "2026-01-01", "ends_on": "2025-12-31", "premium": "210,50",
            "premium_frequency": "monthly"}
    backwards = browser.post(f"/app/vehicles/{vehicle['id']}/insurances", body, page=page)
    assert backwards.status_code == 422
    assert "ends_on" in backwards.text
    assert fleet.sql("SELECT count(*) FROM flt_vehicle_insurances")[0][0] == 0
    body["ends_on"] = "2030-12-31"
    made = browser.post(f"/app/vehicles/{vehicle['id']}/insurances", body, page=page)
    assert made.status_code == 303, made.text[:1000]
    assert fleet.sql("SELECT policy_number, premium, currency FROM flt_vehicle_insurances"
                     ) == [("VTC-1", Decimal("210.5000"), "EUR")]
    overlap = browser.post(f"/app/vehicles/{vehicle['id']}/insurances",
                           {**body, "policy_number": "VTC-2"}, page=page)
    assert overlap.status_code == 409
    assert "overlaps another active policy" in _error(overlap.text, "starts_on")
    after = browser.get(f"/app/vehicles/{vehicle['id']}")
    assert "Policy VTC-1 (AXA)" in after.text
    # A dispatcher without insurances:write sees no form.
    dispatcher = signed_in(fleet.world, "dispatcher")
    assert dispatcher.get(page).status_code == 403


def test_failed_compliance_is_explained_rule_by_rule(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    vehicle = fleet.vehicle()  # no insurance, no documents
    driver = fleet.driver()
    browser = signed_in(fleet.world, "dispatcher")
    refused = browser.post("/app/assignments", {
        "vehicle_id": vehicle["id"], "driver_id": str(driver),
        "starts_at": _local(datetime.now(UTC)), "assignment_type": "permanent"},
        page="/app/assignments/new")
    assert refused.status_code == 409
    assert "Vehicle — insurance active: No active insurance policy covers today" in refused.text
    assert "Vehicle — registration document: No registration certificate on file." \
        in refused.text
    assert "override" not in refused.text.lower()  # a dispatcher cannot override
    owner = signed_in(fleet.world, "owner")
    page = owner.post("/app/assignments", {
        "vehicle_id": vehicle["id"], "driver_id": str(driver),
        "starts_at": _local(datetime.now(UTC)), "assignment_type": "permanent"},
        page="/app/assignments/new")
    assert "give an override reason" in page.text
    overridden = owner.post("/app/assignments", {
        "vehicle_id": vehicle["id"], "driver_id": str(driver),
        "starts_at": _local(datetime.now(UTC)), "assignment_type": "permanent",
        "override_reason": "Insurance renewed by phone"}, page="/app/assignments/new")
    assert overridden.status_code == 303, overridden.text[:1000]
    assert fleet.sql("SELECT override_reason FROM flt_vehicle_assignments")[0][0] \
        == "Insurance renewed by phone"


def test_upload_then_verify_and_reject_documents(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    vehicle = fleet.vehicle()
    browser = signed_in(fleet.world, "fleet_manager")
    missing = browser.post("/app/documents", {"subject": f"vehicle:{vehicle['id']}",
                                              "document_type": "registration"},
                           page="/app/documents/new")
    assert missing.status_code == 422
    assert _error(missing.text, "file").startswith("choose a file")
    wrong = browser.post("/app/documents", {"subject": f"vehicle:{vehicle['id']}",
                                            "document_type": "registration"},
                         files={"file": ("notes.txt", b"plain text", "text/plain")},
                         page="/app/documents/new")
    assert wrong.status_code == 422
    assert "content is" in _error(wrong.text, "file")
    uploaded = browser.post("/app/documents", {
        "subject": f"vehicle:{vehicle['id']}", "document_type": "registration",
        "expires_on": "2031-01-31", "document_number": "2026AB123"},
        files={"file": ("carte-grise.png", PNG, "image/png")}, page="/app/documents/new")
    assert uploaded.status_code == 303, uploaded.text[:1500]
    assert uploaded.headers["location"] == f"/app/vehicles/{vehicle['id']}#documents"
    document_id, verified = fleet.sql("SELECT id, verified FROM doc_documents")[0]
    assert verified is False
    assert fleet.sql("SELECT status FROM sch_tasks WHERE related_entity_id = :d",
                     d=document_id)[0][0] == "open"
    # Every action posts the version the page showed (If-Match at the service).
    row = browser.post(f"/app/documents/{document_id}/verify",
                       {"version": _version(fleet, "doc_documents", document_id)},
                       headers={"HX-Request": "true"})
    assert row.status_code == 200
    assert row.text.lstrip().startswith(f'<tr id="doc-row-{document_id}">')
    assert "badge-verified" in row.text
    assert fleet.sql("SELECT verified FROM doc_documents")[0][0] is True
    assert fleet.sql("SELECT status FROM sch_tasks WHERE related_entity_id = :d",
                     d=document_id)[0][0] == "done"
    seen = _version(fleet, "doc_documents", document_id)
    no_reason = browser.post(f"/app/documents/{document_id}/reject",
                             {"reason": " ", "version": seen}, headers={"HX-Request": "true"})
    assert "Say why the document is rejected" in no_reason.text
    unversioned = browser.post(f"/app/documents/{document_id}/reject",
                               {"reason": "Blurred scan"}, headers={"HX-Request": "true"})
    assert "does not say which version of the document" in unversioned.text
    stale = browser.post(f"/app/documents/{document_id}/reject",
                         {"reason": "Blurred scan", "version": str(int(seen) - 1)},
                         headers={"HX-Request": "true"})
    assert "re-read it" in stale.text
    assert fleet.sql("SELECT verified FROM doc_documents")[0][0] is True
    rejected = browser.post(f"/app/documents/{document_id}/reject",
                            {"reason": "Blurred scan", "version": seen})
    assert rejected.status_code == 303
    assert fleet.sql("SELECT verified, rejection_reason FROM doc_documents")[0] \
        == (False, "Blurred scan")


def _version(fleet: Fleet, table: str, row_id: object) -> str:
    """The version of a row as its page shows it (the hidden ``version`` of its forms)."""
    return str(fleet.sql(f"SELECT version FROM {table} WHERE id = :i", i=row_id)[0][0])


def test_a_drivers_document_counts_for_the_drivers_compliance(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    driver = fleet.driver(first_name="Ana", last_name="Martin")
    browser = signed_in(fleet.world)
    uploaded = browser.post("/app/documents", {
        "subject": f"driver:{driver}", "document_type": "driver_licence",
        "expires_on": "2031-01-31", "requirement": "required"},
        files={"file": ("permis.pdf", PDF, "application/pdf")}, page="/app/documents/new")
    assert uploaded.status_code == 303, uploaded.text[:1500]
    document_id = fleet.sql("SELECT id FROM doc_documents")[0][0]
    page = browser.get(f"/app/drivers/{driver}").text
    assert "The driver licence is pending, not verified." in page
    assert browser.post(f"/app/documents/{document_id}/verify", {
        "version": _version(fleet, "doc_documents", document_id)}).status_code == 303
    assert fleet.sql("SELECT verification_status FROM rid_driver_documents")[0][0] == "verified"
    page = browser.get(f"/app/drivers/{driver}").text
    assert "The driver licence is pending" not in page


def test_driver_form_and_task_workflow(fleet: Fleet, signed_in: Callable[..., Browser]) -> None:
    browser = signed_in(fleet.world, "fleet_manager")
    bad = browser.post("/app/drivers", {"first_name": "Léa", "last_name": "", "phone": "12",
                                        "status": "active", "preferred_language": "fr",
                                        "email": "not-an-email"}, page="/app/drivers/new")
    assert bad.status_code == 422
    assert _error(bad.text, "last_name")
    assert _error(bad.text, "email")
    created = browser.post("/app/drivers", {"first_name": "Léa", "last_name": "Roux",
                                            "phone": "06 12 34 56 78", "status": "active",
                                            "preferred_language": "fr"}, page="/app/drivers/new")
    assert created.status_code == 303, _summary(created.text)
    assert fleet.sql("SELECT phone FROM rid_drivers")[0][0] == "+33612345678"
    task = browser.post("/app/tasks", {"title": "Collect the keys", "priority": "urgent",
                                       "task_type": "other",
                                       "due_at": _local(datetime.now(UTC) + timedelta(days=1))},
                        page="/app/tasks")
    assert task.status_code == 303, task.text[:1000]
    task_id = fleet.sql("SELECT id FROM sch_tasks WHERE title = 'Collect the keys'")[0][0]
    started = browser.post(f"/app/tasks/{task_id}/status", {
        "status": "in_progress", "version": _version(fleet, "sch_tasks", task_id)},
        headers={"HX-Request": "true"})
    assert started.status_code == 200
    assert "badge-in_progress" in started.text
    done = browser.post(f"/app/tasks/{task_id}/status", {
        "status": "done", "version": _version(fleet, "sch_tasks", task_id)},
        headers={"HX-Request": "true"})
    assert "badge-done" in done.text
    again = browser.post(f"/app/tasks/{task_id}/status", {
        "status": "in_progress", "version": _version(fleet, "sch_tasks", task_id)},
        headers={"HX-Request": "true"})
    assert "cannot become in_progress" in again.text
    assert fleet.sql("SELECT status FROM sch_tasks WHERE id = :t", t=task_id)[0][0] == "done"


def test_cooperation_terms_are_offered_and_accepted_from_the_console(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    driver = fleet.driver(first_name="Nadia", last_name="Petit")
    browser = signed_in(fleet.world)
    page = f"/app/drivers/{driver}/terms/new"
    assert page in browser.get(f"/app/drivers/{driver}").text
    body = {"terms_version": "2026-12", "settlement_model": "revenue_share",
            "effective_from": "2026-12-07T00:00", "fleet_share_pct": "", "rent_period": "week",
            "recharge_tolls": "on", "recharge_fines": "on"}
    missing = browser.post(f"/app/drivers/{driver}/terms", body, page=page)
    assert missing.status_code == 422
    assert _error(missing.text, "fleet_share_pct") == "required for revenue_share"
    assert 'id="recharge_tolls" name="recharge_tolls" checked' in missing.text  # kept
    offered = browser.post(f"/app/drivers/{driver}/terms", {**body, "fleet_share_pct": "25"},
                           page=page)
    assert offered.status_code == 303, offered.text[:1000]
    rows = fleet.sql("SELECT id, status, fleet_share_pct, rent_period, recharge_tolls,"
                     " recharge_fines, recharge_fuel, effective_from FROM"
                     " rid_driver_cooperation_terms")
    assert len(rows) == 1
    terms_id, status, share, period, tolls, fines, fuel, start = rows[0]
    assert (status, share, period, tolls, fines, fuel) == (
        "pending", Decimal("25.0000"), None, True, True, False)
    assert start == datetime(2026, 12, 7, tzinfo=PARIS)
    detail = browser.get(f"/app/drivers/{driver}")
    assert f"/terms/{terms_id}/accept" in detail.text
    stale = browser.post(f"/app/drivers/{driver}/terms/{terms_id}/accept", {"version": "99"},
                         page=f"/app/drivers/{driver}")
    assert stale.status_code == 303
    assert fleet.sql("SELECT status FROM rid_driver_cooperation_terms")[0][0] == "pending"
    accepted = browser.post(f"/app/drivers/{driver}/terms/{terms_id}/accept", {"version": "1"},
                            page=f"/app/drivers/{driver}")
    assert accepted.status_code == 303
    status, accepted_at = fleet.sql(
        "SELECT status, accepted_at FROM rid_driver_cooperation_terms")[0]
    assert status == "active"
    assert accepted_at is not None
    # Fixed rent needs its rent.
    rent = browser.post(f"/app/drivers/{driver}/terms", {
        **body, "settlement_model": "fixed_rent", "effective_from": "2027-01-04T00:00"},
        page=page)
    assert rent.status_code == 422
    assert _error(rent.text, "rent") == "required for fixed_rent"


def test_expenses_odometer_and_maintenance_are_recorded_from_the_vehicle_page(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    vehicle = fleet.vehicle()
    vid = vehicle["id"]
    browser = signed_in(fleet.world)
    detail = browser.get(f"/app/vehicles/{vid}").text
    for kind in ("expenses", "odometer", "maintenance-schedules", "maintenance"):
        assert f"/app/vehicles/{vid}/{kind}/new" in detail
        assert browser.get(f"/app/vehicles/{vid}/{kind}/new").status_code == 200
    assert browser.get(f"/app/vehicles/{vid}/nonsense/new").status_code == 404

    page = f"/app/vehicles/{vid}/expenses/new"
    bad = browser.post(f"/app/vehicles/{vid}/expenses", {
        "category": "", "payment_method": "cash", "amount": "abc", "incurred_on": "2026-12-01"},
        page=page)
    assert bad.status_code == 422
    assert _error(bad.text, "category") == "Choose a category"
    assert _error(bad.text, "amount")
    assert fleet.sql("SELECT count(*) FROM flt_vehicle_expenses")[0][0] == 0
    ok = browser.post(f"/app/vehicles/{vid}/expenses", {
        "category": "fuel", "payment_method": "fuel_card", "amount": "62,40",
        "incurred_on": "2026-12-01", "quantity": "34.87", "quantity_unit": "litre",
        "vendor": "Total"}, page=page)
    assert ok.status_code == 303, ok.text[:1000]
    assert fleet.sql("SELECT category, amount, currency, vendor FROM flt_vehicle_expenses") == [
        ("fuel", Decimal("62.4000"), "EUR", "Total")]

    page = f"/app/vehicles/{vid}/odometer/new"
    first = browser.post(f"/app/vehicles/{vid}/odometer", {"odometer_km": "45210"}, page=page)
    assert first.status_code == 303, first.text[:1000]
    backwards = browser.post(f"/app/vehicles/{vid}/odometer", {"odometer_km": "45000"},
                             page=page)
    assert backwards.status_code == 409
    assert _error(backwards.text, "odometer_km")

    page = f"/app/vehicles/{vid}/maintenance-schedules/new"
    plan = browser.post(f"/app/vehicles/{vid}/maintenance-schedules", {
        "maintenance_type": "oil_change", "interval_km": "15000", "interval_days": "365"},
        page=page)
    assert plan.status_code == 303, plan.text[:1000]
    page = f"/app/vehicles/{vid}/maintenance/new"
    job = browser.post(f"/app/vehicles/{vid}/maintenance", {
        "maintenance_type": "tyres", "scheduled_on": "2026-12-15", "provider": "Garage du Centre",
        "cost": "320"}, page=page)
    assert job.status_code == 303, job.text[:1000]
    assert fleet.sql("SELECT maintenance_type, provider FROM flt_vehicle_maintenance") == [
        ("tyres", "Garage du Centre")]
    # Permissions are the API's: a driver-facing role without expenses:write gets no form.
    viewer = signed_in(fleet.world, "viewer")
    assert viewer.get(f"/app/vehicles/{vid}/expenses/new").status_code == 403


@pytest.fixture
def reference_platforms(sessions: Any) -> None:
    """The reference platforms (uber, bolt) that platform accounts name."""
    with context_session(sessions, DbContext.system()) as session:
        load_reference_data(session)


@pytest.mark.usefixtures("reference_platforms")
def test_a_platform_account_is_linked_from_the_drivers_page(
    fleet: Fleet, signed_in: Callable[..., Browser], other_fleet: Fleet,
) -> None:
    driver = fleet.driver(first_name="Nadia", last_name="Petit")
    browser = signed_in(fleet.world)
    page = f"/app/drivers/{driver}/platform-accounts/new"
    assert page in browser.get(f"/app/drivers/{driver}").text
    blank = browser.post(f"/app/drivers/{driver}/platform-accounts", {
        "platform": "", "external_account_id": "", "payout_receiver": "fleet"}, page=page)
    assert blank.status_code == 422
    assert _error(blank.text, "external_account_id")
    uuid_upper = "9F8E2C1A-4B3D-4E5F-8A7B-6C5D4E3F2A1B"
    made = browser.post(f"/app/drivers/{driver}/platform-accounts", {
        "platform": "uber", "external_account_id": uuid_upper, "payout_receiver": "fleet"},
        page=page)
    assert made.status_code == 303, made.text[:1000]
    assert fleet.sql("SELECT external_account_id, driver_id FROM trp_platform_accounts") == [
        (uuid_upper.lower(), driver)]
    detail = browser.get(f"/app/drivers/{driver}").text
    assert uuid_upper.lower() in detail
    again = browser.post(f"/app/drivers/{driver}/platform-accounts", {
        "platform": "uber", "external_account_id": uuid_upper, "payout_receiver": "fleet"},
        page=page)
    assert again.status_code == 409
    # Another fleet's driver is not found from this fleet.
    stranger = other_fleet.driver()
    assert browser.get(f"/app/drivers/{stranger}/platform-accounts/new").status_code == 404
