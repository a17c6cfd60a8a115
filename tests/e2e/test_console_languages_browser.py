"""In a real browser, a member switches the console to French from the top bar: the page says
so in French, ``<html lang>`` follows, the French pages stay accessible (axe) and the language
stays for the next pages; switching back gives the English console."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from a11y_support import assert_accessible
from fleet_support import Fleet

FRENCH_PAGES = ("/app", "/app/vehicles", "/app/vehicles/new", "/app/drivers/new", "/app/settings")


def test_a_member_switches_to_french_from_the_top_bar(console_url: str, page: Page,
                                                       e2e_fleet: Fleet) -> None:
    fleet = e2e_fleet
    fleet.vehicle(acquired_on="2024-03-15",
                  acquisition_cost={"amount": "23450.50", "currency": "EUR"})
    page.goto(f"{console_url}/app/sign-in?tenant={fleet.world.slug}&next=/app/vehicles")
    page.locator(f'button.member[data-email="{fleet.world.person("owner").email}"]').click()
    expect(page).to_have_url(f"{console_url}/app/vehicles")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.select_option("#topbar-language", "fr")
    page.locator("form.language button").click()
    expect(page).to_have_url(f"{console_url}/app/vehicles")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator(".flash")).to_have_text("La console parle désormais français.")
    expect(page.locator("nav.sidebar")).to_contain_text("Véhicules")
    for path in FRENCH_PAGES:
        page.goto(console_url + path)
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        assert_accessible(page)
    page.goto(console_url + "/app/vehicles")
    page.locator("table a").first.click()
    expect(page.locator("main")).to_contain_text("23\u202f450,50\u00a0€")

    page.select_option("#topbar-language", "en")
    page.locator("form.language button").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".flash")).to_have_text("The console now speaks English.")
