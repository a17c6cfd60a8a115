"""The console's revenue pages: imports (upload, preview, row errors, linking an unknown
account, commit, roll back), reconciliation runs and their discrepancies, settlements
(compute a week, totals, lines and their sources, adjustments, confirmation), the dashboard's
revenue from the drivers' weekly revenues — and none of them runs a query per row.

Report files are written by ``fleetcore.demo.reports`` for the current week, so the expected
amounts come from the generator's own canonical values, never from the code under test.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from fleet_support import Fleet
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.money import Money
from fleetcore.core.periods import period_of_week
from fleetcore.demo.reports import (
    ReportDriver,
    SampleReport,
    bolt_weekly,
    inject_bad_number,
    inject_duplicate,
    sample_drivers,
    to_csv,
    uber_payments_driver,
    uber_payments_order,
)
from fleetcore.reference.service import load_reference_data
from web_support import Browser, count_statements

PARIS = ZoneInfo("Europe/Paris")
MONDAY = datetime.now(PARIS).date() - timedelta(days=datetime.now(PARIS).weekday())
"""This week's Monday in the test fleets' zone (the dashboard shows this week)."""


@pytest.fixture(scope="module", autouse=True)
def platforms(sessions: Any) -> None:
    """The reference platforms (uber, bolt): the importer names reports by them."""
    with context_session(sessions, DbContext.system()) as session:
        load_reference_data(session)


def euros(amount: Decimal | str) -> str:
    """An amount as the console shows it."""
    return Money(amount, "EUR").format("en")


def _error(html: str, name: str) -> str:
    found = re.search(rf'<small id="{name}-error" class="field-error">([^<]*)</small>', html)
    assert found, f"no error next to {name}"
    return found.group(1)


def _week_report(drivers: list[ReportDriver], *, seed: int = 7) -> SampleReport:
    """Uber's per-transaction report of this week with a malformed amount (line 3) and a
    repeated transaction (the last line repeats line 2)."""
    report = uber_payments_order(drivers, MONDAY, trips_per_driver=3, seed=seed)
    return inject_duplicate(inject_bad_number(report, 1, "your_earnings", "twelve"), 0)


def _valid(report: SampleReport, driver: ReportDriver) -> list[dict[str, Any]]:
    return [e for e in report.expected
            if e["valid"] and e["platform_account_ref"] == driver.uuid]


def _link_account(fleet: Fleet, ref: str, driver_id: uuid.UUID) -> None:
    response = fleet.client.post("/v1/platform-accounts", headers=fleet.headers(), json={
        "platform": "uber", "external_account_id": ref, "driver_id": str(driver_id)})
    assert response.status_code == 201, response.text


def _upload(browser: Browser, data: bytes, name: str = "week.csv", **fields: str) -> Any:
    return browser.post("/app/imports", {"currency": "EUR", **fields}, page="/app/imports/new",
                        files={"file": (name, data, "text/csv")})


def _import_id(response: Any) -> str:
    assert response.status_code == 303, response.text[:2000]
    found = re.fullmatch(r"/app/imports/([0-9a-f-]{36})", response.headers["location"])
    assert found, response.headers["location"]
    return found.group(1)


def _version(html: str, action: str) -> str:
    found = re.search(rf'action="/app/[a-z]+/[0-9a-f-]+/{action}"[^>]*>\s*<input type="hidden" '
                      r'name="csrf_token" value="[0-9a-f]+"><input type="hidden" '
                      r'name="version" value="(\d+)"', html)
    assert found, f"no {action} form with a version"
    return found.group(1)


def _terms(fleet: Fleet, driver: uuid.UUID, **values: Any) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fleet.insert("rid_driver_cooperation_terms", driver_id=driver, terms_version="v1",
                 status="active", accepted_at=start - timedelta(days=1), effective_from=start,
                 currency="EUR", **({"settlement_model": "revenue_share",
                                     "fleet_share_pct": Decimal(25)} | values))


@pytest.fixture
def setup(fleet: Fleet) -> dict[str, Any]:
    """Two drivers; the first one's Uber account is linked, the second's is not yet."""
    karim = fleet.driver(first_name="Karim", last_name="Benali", phone="+33639981001")
    nadia = fleet.driver(first_name="Nadia", last_name="Petit", phone="+33639981002")
    known, unknown = sample_drivers(2, seed=int(uuid.uuid4().int % 1000))
    _link_account(fleet, known.uuid, karim)
    report = _week_report([known, unknown])
    return {"karim": karim, "nadia": nadia, "known": known, "unknown": unknown,
            "report": report, "file": to_csv(report)}


# --- imports -----------------------------------------------------------------------------------


def test_upload_shows_the_preview_row_errors_and_links_the_unknown_account(
    fleet: Fleet, setup: dict[str, Any], signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    report, known, unknown = setup["report"], setup["known"], setup["unknown"]
    import_id = _import_id(_upload(browser, setup["file"]))
    page = browser.get(f"/app/imports/{import_id}")
    assert page.status_code == 200
    html = page.text
    assert "week.csv" in html
    assert "Validated" in html
    assert "rows read, 2 with errors" in html  # the flash of the upload
    # Counts: 9 lines, 7 valid, 2 left out (one of them a duplicate).
    assert "<strong>9</strong> · 7 valid · 2 with errors (1 duplicate)" in html
    # The row errors: the line in the file, the column as written, the value, the reason.
    errors = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td><code>([^<]*)'
                        r'</code></td><td>([^<]*)</td></tr>', html)
    assert ("3", "Paid to you : Your earnings", "twelve") in {e[:3] for e in errors}
    assert any(e[0] == "10" and e[3] == "duplicate of row 2" for e in errors), errors
    listed = browser.get(f"/app/imports/{import_id}/errors.csv")
    assert listed.status_code == 200
    assert listed.headers["content-type"].startswith("text/csv")
    assert [r["row"] for r in csv.DictReader(io.StringIO(listed.text))] == ["3", "10"]
    # Each account with what its valid rows add up to; Karim's is linked, the other waits.
    for driver in (known, unknown):
        earnings = sum((e["earnings"] for e in _valid(report, driver)), Decimal(0))
        assert euros(earnings) in html
    assert 'href="/app/drivers/{}">Karim Benali</a>'.format(setup["karim"]) in html
    assert unknown.uuid in html
    assert html.count("Link to a driver…") == 1
    assert "1 not linked to a driver" in html

    # Linking without a driver is refused next to that account's select.
    token_page = f"/app/imports/{import_id}"
    refused = browser.post(f"/app/imports/{import_id}/link",
                           {"platform_account": unknown.uuid, "driver_id": ""}, page=token_page)
    assert refused.status_code == 422
    select_id = re.search(r'<select id="(link-\d+)" name="driver_id" aria-invalid="true"',
                          refused.text)
    assert select_id, refused.text[:3000]
    assert "choose the driver" in _error(refused.text, select_id.group(1))
    # Linking creates the platform account and re-renders the preview with the driver.
    linked = browser.post(f"/app/imports/{import_id}/link",
                          {"platform_account": unknown.uuid, "driver_id": str(setup["nadia"])},
                          page=token_page)
    assert linked.status_code == 303, linked.text[:2000]
    assert linked.headers["location"] == f"/app/imports/{import_id}#accounts"
    assert fleet.sql("SELECT driver_id FROM trp_platform_accounts WHERE external_account_id"
                     " = :ref", ref=unknown.uuid) == [(setup["nadia"],)]
    after = browser.get(f"/app/imports/{import_id}").text
    assert f"Account {unknown.uuid} linked to Nadia Petit" in after
    assert 'href="/app/drivers/{}">Nadia Petit</a>'.format(setup["nadia"]) in after
    assert "Link to a driver…" not in after
    summary = fleet.sql("SELECT summary FROM rev_revenue_imports WHERE id = :i", i=import_id)
    assert summary[0][0]["unknown_accounts"] == 0
    # A preview writes nothing but the import.
    assert fleet.sql("SELECT count(*) FROM rev_import_rows")[0][0] == 0


def test_an_account_whose_phone_and_email_name_two_drivers_is_shown_as_a_conflict(
    fleet: Fleet, setup: dict[str, Any], signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    [sample] = sample_drivers(1, seed=int(uuid.uuid4().int % 1000) + 5000)
    # A number the accounts API accepts as valid (the sample range is only "possible").
    driver = dataclasses.replace(sample, phone=f"+33612{uuid.uuid4().int % 10**6:06d}")
    for ref, owner in ((driver.phone, setup["karim"]), (driver.email, setup["nadia"])):
        response = fleet.client.post("/v1/platform-accounts", headers=fleet.headers(), json={
            "platform": "bolt", "external_account_id": ref, "driver_id": str(owner)})
        assert response.status_code == 201, response.text
    report = bolt_weekly([driver], MONDAY, identify="both", seed=3)
    import_id = _import_id(_upload(browser, to_csv(report), name="bolt.csv",
                                   period_start=MONDAY.isoformat()))
    html = browser.get(f"/app/imports/{import_id}").text
    assert "Conflict" in html
    assert f"{driver.phone} and {driver.email} are the platform accounts of two" in html
    # Neither driver is shown as the account's, and no link form offers a third guess.
    assert "Karim Benali</a>" not in html
    assert "Nadia Petit</a>" not in html
    assert "Link to a driver…" not in html


def test_commit_and_roll_back_with_the_version_the_page_showed(
    fleet: Fleet, setup: dict[str, Any], signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    import_id = _import_id(_upload(browser, setup["file"]))
    page = f"/app/imports/{import_id}"
    version = _version(browser.get(page).text, "commit")
    # A stale version is refused, saying why, and nothing is written.
    stale = browser.post(f"{page}/commit", {"version": str(int(version) - 1)}, page=page)
    assert stale.status_code == 412
    assert "Not committed: This import changed since you opened the page" in stale.text
    assert fleet.sql("SELECT status FROM rev_revenue_imports")[0][0] == "validated"
    # Without a version the form is a bad link: never committed blindly.
    assert browser.post(f"{page}/commit", {}, page=page).status_code == 400
    # Checking the preview again is a new version: the old one no longer commits.
    checked = browser.post(f"{page}/validate", {"version": version}, page=page)
    assert checked.status_code == 303
    html = browser.get(page).text
    assert "Checked again: 7 valid rows, 2 with errors." in html
    assert browser.post(f"{page}/commit", {"version": version}, page=page).status_code == 412
    version = _version(html, "commit")
    committed = browser.post(f"{page}/commit", {"version": version}, page=page)
    assert committed.status_code == 303, committed.text[:2000]
    html = browser.get(page).text
    assert "Committed: 7 rows written" in html
    assert "Committed" in html
    assert "Roll back this import" in html
    assert fleet.sql("SELECT count(*) FROM rev_import_rows WHERE import_id = :i",
                     i=import_id)[0][0] == 7
    # A trip per valid "trip completed" row; fare adjustments stay report rows.
    trips = {e["external_trip_id"] for e in setup["report"].expected
             if e["valid"] and e["description"] == "trip completed order"}
    assert fleet.sql("SELECT count(*) FROM trp_trips")[0][0] == len(trips)
    assert f"<dt>Trips</dt><dd>{len(trips)} created · 0 updated · 0 unchanged</dd>" in html
    assert fleet.sql("SELECT count(*) FROM rev_driver_revenues")[0][0] == 1  # Karim only
    # Committing again is refused in words (it is committed), not with a stack trace.
    again = browser.post(f"{page}/commit", {"version": _version(html, "rollback")}, page=page)
    assert again.status_code == 409
    assert "Only a validated import can be committed" in again.text
    rolled = browser.post(f"{page}/rollback", {"version": _version(html, "rollback")},
                          page=page)
    assert rolled.status_code == 303
    assert "Rolled back" in browser.get(page).text
    assert fleet.sql("SELECT count(*) FROM rev_import_rows")[0][0] == 0
    assert fleet.sql("SELECT count(*) FROM trp_trips")[0][0] == 0
    assert fleet.sql("SELECT status FROM rev_revenue_imports")[0][0] == "rolled_back"


def test_discard_a_preview_with_the_version_the_page_showed(
    fleet: Fleet, setup: dict[str, Any], signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    import_id = _import_id(_upload(browser, setup["file"]))
    page = f"/app/imports/{import_id}"
    html = browser.get(page).text
    assert "Discard this preview" in html
    version = _version(html, "discard")
    stale = browser.post(f"{page}/discard", {"version": str(int(version) - 1)}, page=page)
    assert stale.status_code == 412
    assert "Not discarded" in stale.text
    assert fleet.sql("SELECT count(*) FROM rev_revenue_imports")[0][0] == 1
    gone = browser.post(f"{page}/discard", {"version": version}, page=page)
    assert gone.status_code == 303
    assert gone.headers["location"].endswith("/app/imports")
    assert "Discarded the preview of" in browser.get("/app/imports").text
    assert fleet.sql("SELECT count(*) FROM rev_revenue_imports")[0][0] == 0


def test_the_upload_form_refuses_bad_input_next_to_the_field(
    fleet: Fleet, setup: dict[str, Any], signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    no_file = browser.post("/app/imports", {"currency": "EUR"}, page="/app/imports/new")
    assert no_file.status_code == 422
    assert "choose the report file" in _error(no_file.text, "file")
    assert 'id="currency" name="currency" value="EUR"' in no_file.text  # typed values stay
    bad_currency = _upload(browser, setup["file"], currency="EURO")
    assert bad_currency.status_code == 422
    assert "at most 3 characters" in _error(bad_currency.text, "currency")
    not_iso = _upload(browser, setup["file"], currency="XYZ")
    assert not_iso.status_code == 422
    assert _error(not_iso.text, "currency")
    bad_week = _upload(browser, setup["file"], period_start="16/11/2026")
    assert "not a date" in _error(bad_week.text, "period_start")
    unreadable = _upload(browser, b"name,amount\nAna,12\n", name="notes.csv")
    assert unreadable.status_code == 422
    assert "no known report header" in _error(unreadable.text, "file")
    # A weekly summary has no dates: the week it covers is asked for, next to its field.
    summary = to_csv(uber_payments_driver([setup["known"]], MONDAY))
    weekly = _upload(browser, summary, name="summary.csv")
    assert weekly.status_code == 422
    assert "give any day of the week it covers" in _error(weekly.text, "period_start")
    assert fleet.sql("SELECT count(*) FROM rev_revenue_imports")[0][0] == 0
    # With the week it is read; the same file again replaces its preview.
    first = _import_id(_upload(browser, summary, name="summary.csv",
                               period_start=MONDAY.isoformat()))
    second = _import_id(_upload(browser, summary, name="summary.csv",
                                period_start=MONDAY.isoformat()))
    assert second != first
    assert fleet.sql("SELECT id::text FROM rev_revenue_imports WHERE sha256 ="
                     " (SELECT sha256 FROM rev_revenue_imports WHERE id = :i)",
                     i=second) == [(second,)]
    # Once committed, the same file again is refused with the earlier import.
    commit = browser.post(f"/app/imports/{second}/commit",
                          data={"version": fleet.sql(
                              "SELECT version FROM rev_revenue_imports WHERE id = :i",
                              i=second)[0][0]})
    assert commit.status_code in (302, 303), commit.text
    again = _upload(browser, summary, name="summary.csv", period_start=MONDAY.isoformat())
    assert again.status_code == 409
    assert "already imported" in again.text
    assert f'href="/app/imports/{second}"' in again.text
    # "Commit straight away" commits the valid rows in the same request.
    straight = _upload(browser, setup["file"], commit="1")
    committed = _import_id(straight)
    assert fleet.sql("SELECT status FROM rev_revenue_imports WHERE id = :i",
                     i=committed)[0][0] == "committed"


def test_the_upload_answers_htmx_with_a_redirect_or_the_form_to_swap(
    fleet: Fleet, setup: dict[str, Any], signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    page = browser.get("/app/imports/new").text
    # The form posts through HTMX (progress of the upload) and still works without it.
    assert 'hx-post="/app/imports"' in page
    assert 'method="post"' in page
    assert 'id="upload-progress"' in page
    assert "/app/static/console.js" in page  # the progress script (no inline script: CSP)
    assert "htmx:xhr:progress" in browser.get("/app/static/console.js").text
    htmx = {"HX-Request": "true"}
    refused = browser.post("/app/imports", {"currency": "EUR"}, page="/app/imports/new",
                           headers=htmx)
    assert refused.status_code == 422
    assert '<main id="main"' in refused.text  # what hx-select swaps in
    done = _upload_htmx(browser, setup["file"])
    assert done.status_code == 200
    assert re.fullmatch(r"/app/imports/[0-9a-f-]{36}", done.headers["HX-Redirect"])


def _upload_htmx(browser: Browser, data: bytes) -> Any:
    return browser.post("/app/imports", {"currency": "EUR"}, page="/app/imports/new",
                        files={"file": ("week.csv", data, "text/csv")},
                        headers={"HX-Request": "true"})


# --- reconciliation ----------------------------------------------------------------------------


def _committed(browser: Browser, data: bytes) -> str:
    return _import_id(_upload(browser, data, commit="1"))


def test_reconcile_a_week_and_read_its_discrepancies(
    fleet: Fleet, setup: dict[str, Any], signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    _committed(browser, setup["file"])
    uber = fleet.sql("SELECT id FROM dir_platforms WHERE code = 'uber'")[0][0]
    # One trip (one the report has a single row of: no fare adjustment) now says a fare 1 €
    # higher than the report; 51 trips with money are not in the report at all.
    valid = [e for e in setup["report"].expected if e["valid"]]
    single = sorted(e["external_trip_id"] for e in valid
                    if e["description"] == "trip completed order"
                    and sum(v["external_trip_id"] == e["external_trip_id"] for v in valid) == 1)
    changed = single[0]
    fleet.sql("UPDATE trp_trips SET fare_gross = fare_gross + 1 WHERE external_trip_id = :x",
              x=changed)
    inside = datetime.combine(MONDAY, datetime.min.time(), tzinfo=PARIS) + timedelta(hours=30)
    fleet.sql("INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, status,"
              " ended_at, fare_gross, currency)"
              " SELECT :t, gen_random_uuid(), :p, 'extra-' || n, 'completed', :at, 10, 'EUR'"
              " FROM generate_series(1, 51) n", t=fleet.world.id, p=uber, at=inside)
    page = browser.get(f"/app/reconciliations?platform_id={uber}&week={MONDAY}")
    assert page.status_code == 200
    assert f'id="week" name="week" value="{MONDAY}"' in page.text  # prefilled from the link
    run = browser.post("/app/reconciliations", {"platform_id": str(uber),
                                                "week": str(MONDAY + timedelta(days=2)),
                                                "tolerance": "0,05"}, page="/app/reconciliations")
    assert run.status_code == 303, run.text[:2000]
    detail_url = run.headers["location"]
    counts = fleet.sql("SELECT matched_count, missing_platform_count, fare_mismatch_count,"
                       " tolerance_amount, period_start FROM rev_reconciliations")
    assert len(counts) == 1
    matched, missing, fares_differ, tolerance, start = counts[0]
    assert (missing, tolerance, start) == (51, Decimal("0.05"),
                                           period_of_week(MONDAY, "Europe/Paris").start)
    items = fleet.sql("SELECT count(*) FROM rev_reconciliation_items")[0][0]
    html = browser.get(detail_url).text
    assert f"Reconciled: {matched} trips match, {items} discrepancies." in html
    assert re.search(r'kpi-value">51</span><span class="kpi-label">in the trips, not in the '
                     r"report", html)
    assert re.search(rf'kpi-value">{fares_differ}</span><span class="kpi-label">fares differ',
                     html)
    assert html.count('<tr>\n        <td><span class="badge') == 50  # one page of items
    second = re.search(r'href="(/app/reconciliations/[^"]+cursor=[^"]+)"', html)
    assert second, "no next page"
    assert browser.get(second.group(1).replace("&amp;", "&")).text.count(
        '<tr>\n        <td><span class="badge') == items - 50
    fares = browser.get(f"{detail_url}?kind=fare_mismatch").text
    assert changed in fares
    assert "extra-1<" not in fares
    exported = browser.get(f"{detail_url}/items.csv?kind=fare_mismatch")
    assert exported.status_code == 200
    rows = {r["external_trip_id"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert len(rows) == fares_differ
    assert (rows[changed]["kind"], rows[changed]["difference_amount"]) == (
        "fare_mismatch", "-1.00")  # report - trips
    everything = list(csv.DictReader(io.StringIO(browser.get(f"{detail_url}/items.csv").text)))
    assert len(everything) == items
    assert sum(r["kind"] == "missing_platform" for r in everything) == 51
    assert browser.get(f"{detail_url}?kind=nonsense").status_code == 400
    listed = browser.get("/app/reconciliations").text
    assert "Completed" in listed
    assert f"{MONDAY} to {MONDAY + timedelta(days=6)}" in listed


def test_the_reconciliation_form_refuses_bad_input_next_to_the_field(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    uber = fleet.sql("SELECT id FROM dir_platforms WHERE code = 'uber'")[0][0]
    refused = browser.post("/app/reconciliations", {"platform_id": "", "week": "",
                                                    "tolerance": "-1"},
                           page="/app/reconciliations")
    assert refused.status_code == 422
    assert "choose the platform" in _error(refused.text, "platform_id")
    assert "choose a day of the week" in _error(refused.text, "week")
    assert "cannot be negative" in _error(refused.text, "tolerance")
    precise = browser.post("/app/reconciliations", {"platform_id": str(uber),
                                                    "week": str(MONDAY), "tolerance": "0.00001"},
                           page="/app/reconciliations")
    assert precise.status_code == 422
    assert "at most 4 decimals" in _error(precise.text, "tolerance")
    assert 'value="0.00001"' in precise.text
    unknown = browser.post("/app/reconciliations", {"platform_id": str(uuid.uuid4()),
                                                    "week": str(MONDAY), "tolerance": "0"},
                           page="/app/reconciliations")
    assert unknown.status_code == 422
    assert "No such platform" in _error(unknown.text, "platform_id")
    assert fleet.sql("SELECT count(*) FROM rev_reconciliations")[0][0] == 0


# --- settlements -------------------------------------------------------------------------------


def test_compute_adjust_and_confirm_a_settlement(
    fleet: Fleet, setup: dict[str, Any], signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    report, known, karim = setup["report"], setup["known"], setup["karim"]
    _terms(fleet, karim)
    import_id = _committed(browser, setup["file"])
    # The compute form refuses a missing or absurd week next to its field.
    empty = browser.post("/app/settlements/compute", {"week": ""}, page="/app/settlements")
    assert empty.status_code == 422
    assert "choose a day of the week" in _error(empty.text, "week")
    ancient = browser.post("/app/settlements/compute", {"week": "1999-01-01"},
                           page="/app/settlements")
    assert ancient.status_code == 422
    assert "greater than or equal to 2000-01-03" in _error(ancient.text, "week")
    computed = browser.post("/app/settlements/compute",
                            {"week": str(MONDAY + timedelta(days=3))}, page="/app/settlements")
    assert computed.status_code == 303, computed.text[:2000]
    assert computed.headers["location"] == f"/app/settlements?week={MONDAY}"
    week = browser.get(computed.headers["location"]).text
    assert "1 draft settlement computed" in week
    assert "report rows wait for their account to be linked" in week  # the unknown account
    rows = _valid(report, known)
    # Gross fares are the positive fares (a negative fare adjustment is an adjustment); the
    # fleet's 25 % share is of every row's fare after commission.
    gross = sum((r["fare_gross"] for r in rows if r["fare_gross"] > 0), Decimal(0))
    base = sum((r["fare_gross"] - r["commission"] for r in rows), Decimal(0))
    assert "Karim Benali" in week
    assert euros(gross) in week
    settlement_id, version = fleet.sql(
        "SELECT id, version FROM trp_settlements WHERE driver_id = :d", d=karim)[0]
    net_before = fleet.sql("SELECT net FROM trp_settlements WHERE id = :s", s=settlement_id)[0][0]
    share = (Decimal("0.25") * base).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert euros(share) in week

    page = f"/app/settlements/{settlement_id}"
    detail = browser.get(page).text
    # Every report line links back to its import and line in the file.
    line_numbers = re.findall(rf'<a href="/app/imports/{import_id}">week.csv</a>, line (\d+)',
                              detail)
    assert len(line_numbers) >= len(rows)
    assert "Cooperation terms" in detail  # the fleet share's source
    # The adjustment form: missing values, a sub-cent amount refused by the service.
    missing = browser.post(f"{page}/adjustments", {"version": str(version)}, page=page)
    assert missing.status_code == 422
    assert _error(missing.text, "amount")
    assert _error(missing.text, "description")
    sub_cent = browser.post(f"{page}/adjustments", {"version": str(version), "amount": "1.005",
                                                    "description": "Wash"}, page=page)
    assert sub_cent.status_code == 422
    assert "whole number of minor units" in _error(sub_cent.text, "amount")
    stale = browser.post(f"{page}/adjustments", {"version": str(version - 1), "amount": "-5",
                                                 "description": "Wash"}, page=page)
    assert stale.status_code == 412
    assert "changed since you opened the page" in stale.text
    added = browser.post(f"{page}/adjustments", {"version": str(version), "amount": "-25,00",
                                                 "description": "Car wash",
                                                 "service_date": str(MONDAY)}, page=page)
    assert added.status_code == 303, added.text[:2000]
    net_after = fleet.sql("SELECT net FROM trp_settlements WHERE id = :s", s=settlement_id)[0][0]
    assert net_after == net_before - Decimal(25)
    detail = browser.get(page).text
    assert "Car wash" in detail
    assert "Manual adjustment by" in detail
    assert f"Adjustment added: the net is now {euros(net_after)}" in detail
    # Confirmation needs the version shown; a stale one is refused.
    current = _version(detail, "confirm")
    refused = browser.post(f"{page}/confirm", {"version": str(version)}, page=page)
    assert refused.status_code == 412
    confirmed = browser.post(f"{page}/confirm", {"version": current}, page=page)
    assert confirmed.status_code == 303, confirmed.text[:2000]
    detail = browser.get(page).text
    assert "posted to the ledger" in detail
    assert "Add an adjustment" not in detail
    assert fleet.sql("SELECT status FROM trp_settlements WHERE id = :s",
                     s=settlement_id)[0][0] == "confirmed"
    again = browser.post(f"{page}/confirm", {"version": current}, page=page)
    assert again.status_code == 409
    assert "confirmed settlements are immutable" in again.text
    # The import it settled can no longer be rolled back, and the page says why.
    imp = f"/app/imports/{import_id}"
    rollback = browser.post(f"{imp}/rollback", {"version": _version(browser.get(imp).text,
                                                                    "rollback")}, page=imp)
    assert rollback.status_code == 409
    assert "Not rolled back: A confirmed settlement covers this import" in rollback.text
    # The week's totals and the overview of the weeks.
    weeks = browser.get("/app/settlements").text
    assert f'href="/app/settlements?week={MONDAY}"' in weeks
    totals = browser.get(f"/app/settlements?week={MONDAY}").text
    assert euros(net_after) in totals


def test_a_settlement_without_terms_is_flagged_and_confirmed_only_with_a_reason(
    fleet: Fleet, setup: dict[str, Any], signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    _committed(browser, setup["file"])  # Karim has no accepted terms
    computed = browser.post("/app/settlements/compute", {"week": str(MONDAY)},
                            page="/app/settlements")
    assert computed.status_code == 303, computed.text[:2000]
    assert "1 draft settlement needs terms" in browser.get(computed.headers["location"]).text
    week = browser.get(computed.headers["location"]).text
    assert "needs terms</small>" in week
    settlement_id, days = fleet.sql("SELECT id, days_without_terms FROM trp_settlements"
                                    " WHERE driver_id = :d", d=setup["karim"])[0]
    assert days
    page = f"/app/settlements/{settlement_id}"
    detail = browser.get(page).text
    assert 'id="needs-terms"' in detail
    assert 'name="without_terms"' in detail
    version = _version(detail, "confirm")

    refused = browser.post(f"{page}/confirm", {"version": version}, page=page)
    assert refused.status_code == 409
    assert "Not confirmed: Earnings on" in refused.text
    assert "no accepted cooperation terms" in refused.text
    no_reason = browser.post(f"{page}/confirm", {"version": version, "without_terms": "1"},
                             page=page)
    assert no_reason.status_code == 422
    assert "say why" in _error(no_reason.text, "reason")
    assert fleet.sql("SELECT status FROM trp_settlements WHERE id = :s",
                     s=settlement_id)[0][0] == "draft"

    confirmed = browser.post(f"{page}/confirm", {"version": version, "without_terms": "1",
                                                 "reason": "Trial week, agreed"}, page=page)
    assert confirmed.status_code == 303, confirmed.text[:2000]
    assert fleet.sql("SELECT status FROM trp_settlements WHERE id = :s",
                     s=settlement_id)[0][0] == "confirmed"
    (changes,) = fleet.sql("SELECT changes FROM adm_audit_logs WHERE entity_id = :s"
                           " AND action = 'confirm_without_terms'", s=settlement_id)[0]
    assert changes["reason"] == "Trial week, agreed"
    assert 'name="without_terms"' not in browser.get(page).text


# --- dashboard, pages, permissions --------------------------------------------------------------


def test_every_revenue_page_renders_and_the_dashboard_shows_the_revenues(
    fleet: Fleet, setup: dict[str, Any], signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    _terms(fleet, setup["karim"])
    import_id = _committed(browser, setup["file"])
    uber = fleet.sql("SELECT id FROM dir_platforms WHERE code = 'uber'")[0][0]
    run = browser.post("/app/reconciliations", {"platform_id": str(uber), "week": str(MONDAY),
                                                "tolerance": "0"}, page="/app/reconciliations")
    computed = browser.post("/app/settlements/compute", {"week": str(MONDAY)},
                            page="/app/settlements")
    assert computed.status_code == 303
    settlement = fleet.sql("SELECT id FROM trp_settlements LIMIT 1")[0][0]
    rows = _valid(setup["report"], setup["known"])
    expectations = {
        "/app/imports": ["week.csv", "Committed", "Uber", "Payments, per transaction"],
        "/app/imports?status=committed": ["week.csv"],
        "/app/imports?status=validated": ["No import here"],
        f"/app/imports?platform={uber}&report_type=payments_order": ["week.csv"],
        "/app/imports?report_type=bolt_weekly": ["No import here"],
        f"/app/reconciliations?platform_id={uber}&status=completed": ["Completed"],
        "/app/imports/new": ["Upload a platform report", "Commit straight away"],
        f"/app/imports/{import_id}": ["Roll back this import", "Reconcile this week"],
        "/app/reconciliations": ["Run a reconciliation", "Uber"],
        run.headers["location"]: ["trips match", "Discrepancies"],
        "/app/settlements": ["Compute a week", str(MONDAY)],
        f"/app/settlements?week={MONDAY}": ["Totals of the week", "Karim Benali"],
        f"/app/settlements?week={MONDAY}&kind=driver&status=draft": ["Totals of the week"],
        f"/app/settlements/{settlement}": ["Lines and their sources", "Confirm"],
    }
    for path, texts in expectations.items():
        response = browser.get(path)
        assert response.status_code == 200, (path, response.text[:800])
        for text in texts:
            assert text in response.text, (path, text)
    # The menu's Revenue section.
    menu = browser.get("/app").text
    for path in ("/app/imports", "/app/reconciliations", "/app/settlements"):
        assert f'href="{path}"' in menu
    # The dashboard's revenue is the drivers' weekly revenues (linked accounts only).
    gross = max(sum((r["fare_gross"] for r in rows), Decimal(0)), Decimal(0))
    net = sum((r["earnings"] for r in rows), Decimal(0))
    assert re.search(rf"<td>Uber</td><td class=\"num\">\d+</td><td class=\"num\">"
                     rf"{re.escape(euros(gross))}</td><td class=\"num\">{re.escape(euros(net))}"
                     r"</td>", menu), menu[menu.find("Revenue by platform"):][:1500]
    assert "Gross fares per week by platform (EUR)" in menu
    for bad in ("/app/imports?status=nope", "/app/settlements?week=yesterday",
                "/app/settlements?week=2026-01-05&sort=sideways"):
        assert browser.get(bad).status_code == 400, bad


def test_revenue_pages_follow_permissions_and_tenants(
    fleet: Fleet, other_fleet: Fleet, setup: dict[str, Any],
    signed_in: Callable[..., Browser],
) -> None:
    owner = signed_in(fleet.world)
    import_id = _import_id(_upload(owner, setup["file"]))
    # A dispatcher has none of the revenue pages (nor their menu entries).
    dispatcher = signed_in(fleet.world, "dispatcher")
    for path in ("/app/imports", "/app/reconciliations", "/app/settlements",
                 f"/app/imports/{import_id}"):
        response = dispatcher.get(path)
        assert response.status_code == 403, path
        assert "Missing permission" in response.text
    assert 'href="/app/imports"' not in dispatcher.get("/app").text
    # A viewer reads them but changes nothing.
    viewer = signed_in(fleet.world, "viewer")
    page = viewer.get(f"/app/imports/{import_id}")
    assert page.status_code == 200
    assert "Link to a driver…" not in page.text
    assert "data-action=\"commit\"" not in page.text
    assert viewer.get("/app/imports/new").status_code == 403
    assert viewer.post(f"/app/imports/{import_id}/commit", {"version": "1"}).status_code == 403
    assert "Run a reconciliation" not in viewer.get("/app/reconciliations").text
    assert "Compute a week" not in viewer.get("/app/settlements").text
    # Finance commits imports but does not manage platform accounts: no link form.
    finance = signed_in(fleet.world, "finance")
    page = finance.get(f"/app/imports/{import_id}")
    assert "Link to a driver…" not in page.text
    assert 'data-action="commit"' in page.text
    assert finance.post(f"/app/imports/{import_id}/link", {
        "platform_account": setup["unknown"].uuid, "driver_id": str(setup["nadia"])},
        page=f"/app/imports/{import_id}").status_code == 403
    # Another fleet's import, run or settlement is not found.
    theirs = signed_in(other_fleet.world)
    for path in (f"/app/imports/{import_id}", f"/app/imports/{import_id}/errors.csv",
                 f"/app/reconciliations/{uuid.uuid4()}", f"/app/settlements/{uuid.uuid4()}"):
        assert theirs.get(path).status_code == 404, path
    assert theirs.post(f"/app/imports/{import_id}/commit", {"version": "2"}).status_code == 404
    assert fleet.sql("SELECT status FROM rev_revenue_imports")[0][0] == "validated"


# --- no query per row ----------------------------------------------------------------------------


def _fill(fleet: Fleet, n: int) -> dict[str, Any]:
    """``n`` imports (the newest with ``n`` accounts waiting for a link), ``n`` reconciliation
    runs (the newest with ``n`` discrepancies) and ``n`` drivers on weekly rent, settled."""
    uber = fleet.sql("SELECT id FROM dir_platforms WHERE code = 'uber'")[0][0]
    period = period_of_week(MONDAY, "Europe/Paris")
    accounts = [{"platform_account": str(uuid.uuid4()), "name": f"Driver {i}", "rows": 2,
                 "earnings": {"amount": "10.00", "currency": "EUR"}, "cash_collected": None,
                 "payout": {"amount": "10.00", "currency": "EUR"}, "currency": "EUR",
                 "driver_id": None} for i in range(n)]
    errors = [{"row": i + 2, "column": "Paid to you", "value": "x", "reason": "not a number"}
              for i in range(n)]
    imports = []
    for i in range(n):
        summary = {"accounts": accounts, "unknown_accounts": n, "errors": errors,
                   "errors_total": n, "unknown_columns": ["Moon surcharge"], "currency": "EUR"}
        imports.append(fleet.sql(
            "INSERT INTO rev_revenue_imports (tenant_id, id, platform_id, report_type,"
            " period_start, period_end, file_name, sha256, size_bytes, storage_key, status,"
            " rows_total, rows_valid, rows_invalid, summary, validated_at)"
            " VALUES (:t, gen_random_uuid(), :p, 'payments_order', :s, :e, :f, :h, 10, 'k',"
            " 'validated', :n, 0, :n, CAST(:summary AS jsonb), now()) RETURNING id",
            t=fleet.world.id, p=uber, s=period.start, e=period.end, f=f"week-{i}.csv",
            h=hashlib.sha256(uuid.uuid4().bytes).hexdigest(), n=2 * n,
            summary=json.dumps(summary))[0][0])
    runs = [fleet.insert("rev_reconciliations", platform_id=uber, period_start=period.start,
                         period_end=period.end, status="completed", currency="EUR",
                         matched_count=i, started_at=datetime.now(UTC) - timedelta(seconds=5),
                         finished_at=datetime.now(UTC))
            for i in range(n)]
    drivers = []
    for i in range(n):
        driver = fleet.driver(first_name=f"Driver{i}", phone=f"+3363997{i:04d}")
        _terms(fleet, driver, settlement_model="fixed_rent", fleet_share_pct=None,
               rent_amount=Decimal("210.00"), rent_period="week")
        fleet.insert("rev_reconciliation_items", reconciliation_id=runs[-1],
                     kind="missing_platform", external_trip_id=f"t-{i}",
                     internal_amount=Decimal("10.00"), difference=Decimal("-10.00"),
                     currency="EUR", details=json.dumps({"driver_id": str(driver)}))
        drivers.append(driver)
    return {"imports": imports, "runs": runs, "drivers": drivers}


def _cost(browser: Browser, engine: Engine, path: str) -> int:
    browser.get(path)  # warm: first-use caches are not per row
    with count_statements(engine) as counter:
        response = browser.get(path)
    assert response.status_code == 200, (path, response.text[:500])
    return len(counter.statements)


def test_revenue_pages_cost_the_same_for_3_or_30_rows(
    make_console_fleet: Callable[[], Fleet], signed_in: Callable[..., Browser],
    app_engine: Engine,
) -> None:
    small, large = make_console_fleet(), make_console_fleet()
    data = {}
    for fleet, n in ((small, 3), (large, 30)):
        data[fleet.world.slug] = _fill(fleet, n)
        computed = signed_in(fleet.world).post("/app/settlements/compute", {"week": str(MONDAY)},
                                               page="/app/settlements")
        assert computed.status_code == 303
        assert fleet.sql("SELECT count(*) FROM trp_settlements")[0][0] == n
    costs: dict[str, list[int]] = {}
    for fleet in (small, large):
        ids = data[fleet.world.slug]
        browser = signed_in(fleet.world)
        settlement = fleet.sql("SELECT id FROM trp_settlements LIMIT 1")[0][0]
        pages = {
            "imports": "/app/imports", "import": f"/app/imports/{ids['imports'][-1]}",
            "runs": "/app/reconciliations", "run": f"/app/reconciliations/{ids['runs'][-1]}",
            "weeks": "/app/settlements", "week": f"/app/settlements?week={MONDAY}",
            "settlement": f"/app/settlements/{settlement}", "dashboard": "/app",
        }
        for name, path in pages.items():
            costs.setdefault(name, []).append(_cost(browser, app_engine, path))
    assert all(a == b for a, b in costs.values()), costs
    # And the pages did show every row, so the counts compare full pages.
    browser = signed_in(large.world)
    assert browser.get("/app/imports").text.count('href="/app/imports/') >= 30
    assert browser.get(f"/app/imports/{data[large.world.slug]['imports'][-1]}").text.count(
        "Link to a driver…") == 30
    assert browser.get(f"/app/settlements?week={MONDAY}").text.count(
        'href="/app/settlements/') >= 30
    assert browser.get(f"/app/reconciliations/{data[large.world.slug]['runs'][-1]}").text.count(
        'href="/app/drivers/') == 30
