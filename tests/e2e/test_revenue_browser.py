"""Importing a platform report in a real browser: sign in, upload an Uber report with malformed
rows (the upload's progress shows while it runs), read the row errors on the import's page,
link the unknown driver account, and commit."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from fleet_support import Fleet
from fleetcore.core.db import DbContext, context_session
from fleetcore.demo.reports import (
    inject_bad_number,
    inject_duplicate,
    sample_drivers,
    to_csv,
    uber_payments_order,
)
from fleetcore.reference.service import load_reference_data


@pytest.fixture(scope="module", autouse=True)
def platforms(sessions: Any) -> None:
    """The reference platforms (uber, bolt): the importer names reports by them."""
    with context_session(sessions, DbContext.system()) as session:
        load_reference_data(session)


def test_import_a_report_see_its_row_errors_link_the_account_and_commit(
    console_url: str, page: Page, e2e_fleet: Fleet,
) -> None:
    url, fleet = console_url, e2e_fleet
    karim = fleet.driver(first_name="Karim", last_name="Benali", phone="+33639980201")
    nadia = fleet.driver(first_name="Nadia", last_name="Petit", phone="+33639980202")
    known, unknown = sample_drivers(2, seed=uuid.uuid4().int % 1000)
    linked = fleet.client.post("/v1/platform-accounts", headers=fleet.headers(), json={
        "platform": "uber", "external_account_id": known.uuid, "driver_id": str(karim)})
    assert linked.status_code == 201, linked.text
    # Last week's per-transaction report (as downloaded from Uber), with a malformed amount
    # on line 3 and line 2 repeated at the end.
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    monday = today - timedelta(days=today.weekday() + 7)
    report = uber_payments_order([known, unknown], monday, trips_per_driver=3, seed=3)
    report = inject_duplicate(inject_bad_number(report, 1, "your_earnings", "12,3,4"), 0)
    valid = sum(1 for e in report.expected if e["valid"])
    owner = fleet.world.person("owner")

    page.goto(f"{url}/app/sign-in?tenant={fleet.world.slug}&next=/app/imports")
    page.locator(f'button.member[data-email="{owner.email}"]').click()
    expect(page).to_have_url(f"{url}/app/imports")
    expect(page.locator("main")).to_contain_text("No import here")
    page.get_by_role("button", name="Upload a report").click()

    # Without a file the form comes back (swapped in by HTMX) with the error next to it.
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("#file-error")).to_have_text(
        "choose the report file (CSV, XLSX, Bolt orders JSON, or a zip)")
    expect(page).to_have_url(f"{url}/app/imports/new")
    page.locator("#file").set_input_files(files=[{
        "name": "uber-week.csv", "mimeType": "text/csv", "buffer": to_csv(report)}])
    expect(page.get_by_label("Currency")).to_have_value("EUR")
    progress = page.locator("#upload-progress")
    expect(progress).to_have_css("opacity", "0")  # shown only while the upload runs
    # What the progress box said while the request ran (kept across the page change).
    page.evaluate("""() => document.addEventListener("htmx:xhr:progress", () => setTimeout(() => {
        const box = document.getElementById("upload-progress");
        const seen = JSON.parse(sessionStorage.getItem("progress") || "[]");
        seen.push({shown: box.classList.contains("htmx-request"),
                   note: box.querySelector("small").textContent});
        sessionStorage.setItem("progress", JSON.stringify(seen));
    }))""")
    page.get_by_role("button", name="Upload and check").click()
    expect(page).to_have_url(re.compile(r"/app/imports/[0-9a-f-]{36}$"))
    import_id = page.url.rsplit("/", 1)[1]
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('progress') || '[]')")
    assert seen, "the upload reported no progress"
    assert all(s["shown"] for s in seen), seen
    # The whole file went up: the bar then waits for the server to read and check the rows.
    assert seen[-1]["note"] == "Uploaded: reading and checking the rows…", seen
    expect(page.locator(".flash")).to_contain_text("uber-week.csv: 9 rows read, 2 with errors")

    # The row errors: line, column, value and why.
    errors = page.locator("#row-errors tbody tr")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("3")
    expect(errors.nth(0)).to_contain_text("Paid to you : Your earnings")
    expect(errors.nth(0)).to_contain_text("12,3,4")
    expect(errors.nth(1)).to_contain_text("duplicate of row 2")
    expect(page.get_by_role("link", name="Download them all as CSV")).to_have_attribute(
        "href", f"/app/imports/{import_id}/errors.csv")

    # Karim's account is linked; the other one is linked here, to Nadia.
    accounts = page.locator("#accounts tbody tr")
    expect(accounts.filter(has_text=known.uuid)).to_contain_text("Karim Benali")
    waiting = accounts.filter(has_text=unknown.uuid)
    waiting.locator("select").select_option(str(nadia))
    waiting.get_by_role("button", name="Link").click()
    expect(page.locator(".flash")).to_contain_text(f"Account {unknown.uuid} linked to Nadia "
                                                   "Petit")
    expect(page.locator("#accounts tbody tr").filter(has_text=unknown.uuid)).to_contain_text(
        "Nadia Petit")

    # Commit the valid rows: the console asks first; saying no sends nothing.
    asked: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        asked.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.get_by_role("button", name=f"Commit {valid} valid rows").click()
    expect(page.get_by_role("button", name=f"Commit {valid} valid rows")).to_be_visible()
    assert fleet.sql("SELECT status FROM rev_revenue_imports WHERE id = :i",
                     i=import_id) == [("validated",)]
    page.once("dialog", lambda dialog: answer(dialog, True))
    page.get_by_role("button", name=f"Commit {valid} valid rows").click()
    expect(page.locator(".flash")).to_contain_text(f"Committed: {valid} rows written")
    assert len(asked) == 2
    assert asked[0].startswith(f"Commit {valid} valid rows of ")
    expect(page.locator("h1")).to_contain_text("Committed")
    expect(page.get_by_role("button", name="Roll back this import")).to_be_visible()
    assert fleet.sql("SELECT status, rows_valid FROM rev_revenue_imports WHERE id = :i",
                     i=import_id) == [("committed", valid)]
    # Both drivers' rows are theirs: their weekly revenues exist.
    drivers = {row[0] for row in fleet.sql("SELECT driver_id FROM rev_driver_revenues")}
    assert drivers == {karim, nadia}
