"""The console and the API docs under their Content-Security-Policy in a real browser: nothing
a page needs is refused (Chromium reports every refusal on the console)."""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page, expect

from fleet_support import Fleet

PAGES = ("/app", "/app/vehicles", "/app/drivers", "/app/assignments", "/app/documents",
         "/app/maintenance", "/app/tasks", "/app/imports", "/app/imports/new",
         "/app/reconciliations", "/app/settlements", "/app/trips", "/app/audit",
         "/app/assignments/calendar", "/app/search?q=zz")


def _refusals(page: Page) -> list[str]:
    refused: list[str] = []

    def listen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            refused.append(f"{page.url}: {message.text}")

    page.on("console", listen)
    return refused


def test_console_pages_run_under_their_policy(console_url: str, page: Page,
                                              e2e_fleet: Fleet) -> None:
    refused = _refusals(page)
    owner = e2e_fleet.world.person("owner")
    page.goto(f"{console_url}/app/sign-in?tenant={e2e_fleet.world.slug}&next=/app")
    page.locator(f'button.member[data-email="{owner.email}"]').click()
    expect(page).to_have_url(f"{console_url}/app")
    for path in PAGES:
        response = page.goto(f"{console_url}{path}")
        assert response is not None
        assert response.status == 200, path
        assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
    # HTMX works (filters reload the list in place) and its progress bar stays hidden (its
    # indicator rules come from console.css, not from a <style> htmx may not inject).
    page.goto(f"{console_url}/app/imports/new")
    expect(page.locator("#upload-progress")).to_have_css("opacity", "0")
    page.goto(f"{console_url}/app/vehicles")
    page.locator("#q").fill("zz-no-such-plate")
    expect(page.locator("#main")).to_contain_text("No vehicle", ignore_case=True)
    # The trips filters reload the table (and its CSV link) in place.
    page.goto(f"{console_url}/app/trips")
    page.locator("#status").select_option("no_show")
    expect(page.locator("#results a[download]")).to_have_attribute(
        "href", "/app/trips/export.csv?status=no_show")
    assert refused == []


def test_the_docs_render_offline_under_their_policy(console_url: str, page: Page) -> None:
    """Swagger UI comes from the vendored bundle: the operations render with no request
    leaving this server and nothing refused by the policy."""
    refused = _refusals(page)
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(console_url) or r.url.startswith(
        "data:") else outside.append(r.url))
    response = page.goto(f"{console_url}/docs")
    assert response is not None
    assert response.status == 200
    assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
    # The first /openapi.json of a process builds the whole document: seconds when loaded.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Fleetcore API",
                                                                     timeout=60_000)
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() >= 10
    assert refused == []
    assert outside == []
