"""The console's main path in a real browser: sign in, add a vehicle, upload and verify its
registration, assign it to a driver, and see an overlapping assignment refused."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from fleet_support import Fleet, fr_plate, vin
from web_support import PDF


def test_a_fleet_manager_runs_the_main_path(console_url: str, page: Page,
                                            e2e_fleet: Fleet) -> None:
    url, fleet = console_url, e2e_fleet
    first = fleet.driver(first_name="Nadia", last_name="Petit", phone="+33639980101")
    second = fleet.driver(first_name="Karim", last_name="Benali", phone="+33639980102")
    owner = fleet.world.person("owner")

    # Sign in through the demo sign-in (a locally minted session token as __session).
    page.goto(f"{url}/app/vehicles")
    expect(page).to_have_url(re.compile(r"/app/sign-in\?next=%2Fapp%2Fvehicles$"))
    page.goto(f"{url}/app/sign-in?tenant={fleet.world.slug}&next=/app/vehicles")
    page.locator(f'button.member[data-email="{owner.email}"]').click()
    expect(page).to_have_url(f"{url}/app/vehicles")
    expect(page.locator(".flash")).to_contain_text(f"Signed in as {owner.email}")

    # Add a vehicle; the model list follows the chosen make (HTMX).
    page.get_by_role("button", name="Add a vehicle").click()
    plate = fr_plate()
    page.get_by_label("Licence plate").fill(plate)
    page.get_by_label("VIN").fill(vin())
    page.get_by_label("Make").select_option(str(fleet.make_id))
    expect(page.locator("#model_id option")).to_have_count(2)
    page.locator("#model_id").select_option(str(fleet.model_id))
    page.get_by_label("Model year").fill("2024")
    page.get_by_label("Fuel").select_option("hybrid")
    page.get_by_label("Ownership").select_option("leased")
    page.get_by_role("button", name="Add the vehicle").click()
    expect(page).to_have_url(re.compile(r"/app/vehicles/[0-9a-f-]{36}$"))
    expect(page.locator(".flash")).to_contain_text(f"Vehicle {plate} added.")
    vehicle_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#compliance")).to_contain_text("No registration certificate on file")

    # Insurance and the inspection report come from elsewhere (the API, in this test).
    fleet.insurance(vehicle_id)
    fleet.document(vehicle_id, "inspection_report")

    # Upload the registration certificate, then verify it in place.
    page.get_by_role("button", name="Upload a document").click()
    page.get_by_label("Type").select_option("registration")
    page.get_by_label("Number").fill("2026AB00123")
    page.locator("#file").set_input_files(files=[{
        "name": "carte-grise.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page).to_have_url(f"{url}/app/vehicles/{vehicle_id}#documents")
    row = page.locator("tr[id^='doc-row-']", has_text="carte-grise.pdf")
    expect(row).to_contain_text("Pending")
    row.locator("button[data-action='verify']").click()
    expect(row).to_contain_text("Verified")
    page.reload()
    expect(page.locator("#compliance")).to_contain_text("Verified registration certificate")

    # Assign the vehicle to Nadia.
    page.get_by_role("button", name="Assign to a driver").click()
    expect(page.locator("#vehicle_id")).to_have_value(vehicle_id)
    page.get_by_label("Driver").select_option(str(first))
    page.locator("form.card button[type='submit']").click()
    expect(page).to_have_url(f"{url}/app/vehicles/{vehicle_id}")
    expect(page.locator(".flash")).to_contain_text(f"{plate}")
    expect(page.locator(".flash")).to_contain_text("assigned to Nadia Petit")
    expect(page.locator("#assignments")).to_contain_text("Nadia Petit")

    # Assigning it to Karim over the same period is refused, saying who has it and since when.
    page.goto(f"{url}/app/assignments/new?vehicle_id={vehicle_id}")
    page.get_by_label("Driver").select_option(str(second))
    page.locator("form.card button[type='submit']").click()
    errors = page.locator("#form-errors")
    expect(errors).to_contain_text(f"Refused: {plate}")
    expect(errors).to_contain_text("is already assigned to Nadia Petit from")
    expect(page.locator("#vehicle_id-error")).to_have_text("already assigned in this period")
    expect(page.locator("#driver_id")).to_have_value(str(second))  # the form kept its values
    assert fleet.sql("SELECT count(*) FROM flt_vehicle_assignments")[0][0] == 1


def test_pages_fit_a_phone_screen_and_work_from_the_keyboard(
    console_url: str, chromium: Browser, e2e_fleet: Fleet,
) -> None:
    fleet = e2e_fleet
    vehicle = fleet.compliant_vehicle()
    fleet.driver(first_name="Nadia", last_name="Petit", phone="+33639980103")
    context = chromium.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{console_url}/app/sign-in?tenant={fleet.world.slug}")
        # Keyboard only: Tab to the owner's button and press Enter.
        owner = page.locator(f'button.member[data-email="{fleet.world.person("owner").email}"]')
        owner.focus()
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{console_url}/app")
        for path in ("/app", "/app/vehicles", f"/app/vehicles/{vehicle['id']}", "/app/drivers",
                     "/app/assignments/new", "/app/documents", "/app/tasks"):
            page.goto(console_url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)  # wide tables scroll inside their frame
        # The first field of a form has the focus, and the form submits with Enter.
        page.goto(f"{console_url}/app/drivers/new")
        expect(page.locator("#first_name")).to_be_focused()
        page.keyboard.type("Léa")
        page.keyboard.press("Enter")
        expect(page.locator("#last_name-error")).to_be_visible()
        expect(page.locator("#first_name")).to_have_value("Léa")
    finally:
        context.close()
