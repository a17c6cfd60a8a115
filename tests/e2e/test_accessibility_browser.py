"""Accessibility in a real browser: axe-core (vendored) finds no serious or critical violation
on the console's main pages, and the console works from the keyboard: a skip link to the
content, a visible focus ring, and a form filled in and submitted without the mouse."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from a11y_support import assert_accessible, describe, violations
from fleet_support import Fleet

MAIN_PAGES = (
    "/app", "/app/vehicles", "/app/vehicles/new", "/app/drivers", "/app/drivers/new",
    "/app/assignments", "/app/assignments/new", "/app/assignments/calendar", "/app/documents",
    "/app/maintenance", "/app/tasks", "/app/map", "/app/trips", "/app/imports",
    "/app/imports/new", "/app/reconciliations", "/app/settlements", "/app/payouts",
    "/app/invoices", "/app/tolls", "/app/fines", "/app/settings", "/app/members", "/app/audit",
    "/app/billing", "/app/search?q=a", "/app/shifts", "/app/shifts/new", "/app/shift-series/new",
)


def _sign_in(page: Page, url: str, fleet: Fleet, role: str = "owner", to: str = "/app") -> None:
    page.goto(f"{url}/app/sign-in?tenant={fleet.world.slug}&next={to}")
    assert_accessible(page)
    page.locator(f'button.member[data-email="{fleet.world.person(role).email}"]').click()
    expect(page).to_have_url(f"{url}{to}")


def test_axe_finds_nothing_serious_on_the_main_pages(console_url: str, page: Page,
                                                     e2e_fleet: Fleet) -> None:
    fleet = e2e_fleet
    vehicle = fleet.compliant_vehicle()
    fleet.driver(first_name="Nadia", last_name="Petit", phone="+33639980301")
    _sign_in(page, console_url, fleet)
    failures = []
    for path in (*MAIN_PAGES, f"/app/vehicles/{vehicle['id']}"):
        response = page.goto(console_url + path)
        if response is None or response.status != 200:
            failures.append(f"{path}: {response.status if response else 'no response'}")
            continue
        found = [v for v in violations(page) if v["impact"] in ("serious", "critical")]
        if found:
            failures.append(f"{path}\n{describe(found)}")
    assert not failures, "\n".join(failures)


def test_the_console_works_from_the_keyboard(console_url: str, page: Page,
                                             e2e_fleet: Fleet) -> None:
    fleet = e2e_fleet
    _sign_in(page, console_url, fleet, to="/app/drivers")

    # The first Tab lands on the skip link, which is then visible; Enter moves to the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # Tab onward to "Add a driver" (within the page's first links) and open it with Enter.
    add = page.get_by_role("button", name="Add a driver")  # a link styled as a button
    for _ in range(40):
        page.keyboard.press("Tab")
        if add.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached 'Add a driver'")
    # The focused control shows a focus ring (an outline or a box shadow).
    ring = add.evaluate("""el => { const s = getComputedStyle(el);
        return {outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
                shadow: s.boxShadow !== 'none'}; }""")
    assert ring["outline"] or ring["shadow"], ring
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{console_url}/app/drivers/new")

    # The form, keyboard only: type into the focused first field, Tab to the next ones.
    expect(page.locator("#first_name")).to_be_focused()
    page.keyboard.type("Léa")
    page.keyboard.press("Tab")
    expect(page.locator("#last_name")).to_be_focused()
    page.keyboard.type("Moreau")
    page.keyboard.press("Tab")
    expect(page.locator("#phone")).to_be_focused()
    page.keyboard.type("+33612345602")
    ring = page.locator("#phone").evaluate("""el => { const s = getComputedStyle(el);
        return {outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
                shadow: s.boxShadow !== 'none'}; }""")
    assert ring["outline"] or ring["shadow"], ring
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/app/drivers/[0-9a-f-]{36}$"))
    expect(page.locator(".flash")).to_contain_text("Léa Moreau added.")
    assert_accessible(page)
