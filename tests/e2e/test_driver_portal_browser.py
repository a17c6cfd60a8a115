"""The driver portal on a phone: a driver signs in (demo sign-in, the same session cookie as
Clerk's), lands on the portal, opens last week's statement and reads it, in French."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, expect

from fleet_support import Fleet

PHONE = {"width": 390, "height": 844}


def test_a_driver_signs_in_on_a_phone_and_reads_the_statement(
    console_url: str, chromium: Browser, e2e_fleet: Fleet,
) -> None:
    fleet = e2e_fleet
    member = fleet.world.person("driver")
    driver = fleet.driver(first_name="Inès", last_name="Carvalho", preferred_language="fr")
    fleet.sql("UPDATE rid_drivers SET member_id = :m WHERE id = :d", m=member.member_id,
              d=driver)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fleet.insert("rid_driver_cooperation_terms", driver_id=driver, terms_version="v1",
                 status="active", accepted_at=start - timedelta(days=1), effective_from=start,
                 currency="EUR", settlement_model="fixed_rent", rent_amount=Decimal("80.00"),
                 rent_period="week")
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    last_week = today - timedelta(days=today.weekday() + 7)
    computed = fleet.client.post("/v1/settlements/compute", headers=fleet.headers(),
                                 json={"week": last_week.isoformat()})
    assert computed.status_code == 200, computed.text

    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                   device_scale_factor=2)
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        page.goto(f"{console_url}/app/sign-in?tenant={fleet.world.slug}&next=/driver")
        page.locator(f'button.member[data-email="{member.email}"]').click()
        expect(page).to_have_url(f"{console_url}/driver")
        expect(page.locator("h1")).to_contain_text("Bonjour Inès Carvalho")
        page.get_by_role("link", name="Relevés").click()
        statement = page.get_by_test_id("statement")
        expect(statement).to_contain_text("Inès Carvalho")
        expect(statement).to_contain_text("Loyer")
        expect(statement).to_contain_text("80,00")
        # Mobile first: nothing wider than the phone's screen but the statement's own scroller.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
        page.get_by_role("link", name="EN", exact=True).click()
        expect(page.locator("h1")).to_contain_text("Statements")
        expect(page.get_by_test_id("statement")).to_contain_text("Rent")
    finally:
        context.close()
