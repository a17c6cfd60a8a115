"""The whole week of a fleet in a real browser, through the console only.

A manager adds a car with its insurance and papers, a driver with cooperation terms, a bank
account and portal access, and assigns the car; imports last week's Uber report (shaped like
Uber's per-transaction export) and links the unknown account to the driver; reconciles the
week; computes and bulk-confirms the settlements; drafts and approves a payout batch and
downloads its SEPA file (pain.001, CtrlSum = what the driver is owed); opens the driver's
statement PDF. Then the driver signs in on a phone and reads the statement. axe-core checks
every page on the way (no serious or critical violation).
"""

from __future__ import annotations

import io
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from a11y_support import assert_accessible
from fleet_support import Fleet, fr_plate, vin
from fleetcore.core.db import DbContext, context_session
from fleetcore.demo.reports import sample_drivers, to_csv, uber_payments_order
from fleetcore.reference.service import load_reference_data
from web_support import PDF

PHONE = {"width": 390, "height": 844}
PAIN = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}"
WAIT = 30_000  # generous: the machine may be loaded


@pytest.fixture(scope="module", autouse=True)
def platforms(sessions: Any) -> None:
    """The reference platforms (uber, bolt): the importer names reports by them."""
    with context_session(sessions, DbContext.system()) as session:
        load_reference_data(session)


def _accept_dialogs(page: Page) -> list[str]:
    """Say yes to every confirmation the console asks; the questions are kept."""
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    return asked


def _upload_document(page: Page, kind: str, number: str, name: str, expires: str) -> None:
    page.get_by_role("button", name="Upload a document").click()
    assert_accessible(page)
    page.get_by_label("Type").select_option(kind)
    page.get_by_label("Number").fill(number)
    if expires:
        page.get_by_label("Expires on").fill(expires)
    page.locator("#file").set_input_files(files=[{
        "name": name, "mimeType": "application/pdf", "buffer": PDF}])
    page.get_by_role("button", name="Upload", exact=True).click()
    row = page.locator("tr[id^='doc-row-']", has_text=name)
    expect(row).to_contain_text("Pending", timeout=WAIT)
    row.locator("button[data-action='verify']").click()
    expect(row).to_contain_text("Verified", timeout=WAIT)


def test_the_whole_week_in_the_browser(console_url: str, page: Page, chromium: Browser,
                                       e2e_fleet: Fleet) -> None:
    url, fleet = console_url, e2e_fleet
    page.set_default_timeout(WAIT)
    owner, portal_member = fleet.world.person("owner"), fleet.world.person("driver")
    zone = ZoneInfo("Europe/Paris")
    today = datetime.now(zone).date()
    monday = today - timedelta(days=today.weekday() + 7)  # last week
    sunday = monday + timedelta(days=6)
    asked = _accept_dialogs(page)

    page.goto(f"{url}/app/sign-in?tenant={fleet.world.slug}&next=/app")
    assert_accessible(page)
    page.locator(f'button.member[data-email="{owner.email}"]').click()
    expect(page).to_have_url(f"{url}/app")
    assert_accessible(page)

    # --- the fleet's own bank account (SEPA files pay from it) ---------------------------
    page.get_by_role("link", name="Settings").click()
    assert_accessible(page)
    page.get_by_label("IBAN SEPA files pay from").fill("FR76 3000 6000 0112 3456 7890 189")
    page.get_by_label("Account holder").fill("Lumière VTC")
    page.get_by_role("button", name="Save the payout settings").click()
    expect(page.locator(".flash")).to_be_visible()
    expect(page.get_by_label("IBAN SEPA files pay from")).to_have_value(
        re.compile(r"FR76\s?3000"))

    # --- a car, its insurance and its papers ----------------------------------------------
    page.get_by_role("link", name="Vehicles").click()
    assert_accessible(page)
    page.get_by_role("button", name="Add a vehicle").click()
    assert_accessible(page)
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
    vehicle_id = page.url.rsplit("/", 1)[1]
    assert_accessible(page)

    page.get_by_role("button", name="Add a policy").click()
    assert_accessible(page)
    page.get_by_label("Insurer").fill("AXA")
    page.get_by_label("Policy number").fill(f"AXA-{uuid.uuid4().hex[:8]}")
    page.locator("#coverage_type").fill("comprehensive")
    page.get_by_label("Covers from").fill((monday - timedelta(days=90)).isoformat())
    page.get_by_label("Covers until (last day)").fill((monday + timedelta(days=275)).isoformat())
    page.get_by_role("button", name="Record the policy").click()
    expect(page).to_have_url(re.compile(rf"/app/vehicles/{vehicle_id}"))
    expect(page.locator("#insurances")).to_contain_text("AXA")
    _upload_document(page, "registration", "2026AB00123", "carte-grise.pdf", "")
    _upload_document(page, "inspection_report", "CT-2026-1", "controle-technique.pdf",
                     (today + timedelta(days=700)).isoformat())

    # --- a driver, with portal access, terms and a bank account ---------------------------
    page.get_by_role("link", name="Drivers").click()
    assert_accessible(page)
    page.get_by_role("button", name="Add a driver").click()
    page.locator("#first_name").fill("Inès")
    page.locator("#last_name").fill("Carvalho")
    page.locator("#phone").fill("+33612345671")
    page.locator("#email").fill(f"ines.{fleet.world.slug}@example.com")
    page.locator("#date_of_birth").fill("1991-04-12")
    page.locator("#status").select_option("active")
    page.locator("#preferred_language").fill("fr")
    page.locator("#licence_number").fill("120475200123")
    page.locator("#licence_country").fill("FR")
    page.locator("#licence_issued_on").fill("2012-06-01")
    page.locator("#licence_expires_on").fill("2033-06-01")
    page.locator("#professional_card_type").select_option("vtc")
    page.locator("#professional_card_number").fill("VTC-075-2019-0042")
    page.locator("#professional_card_expires_on").fill("2030-03-31")
    page.locator("#member_id").select_option(str(portal_member.member_id))
    assert_accessible(page)
    page.get_by_role("button", name="Add the driver").click()
    expect(page).to_have_url(re.compile(r"/app/drivers/[0-9a-f-]{36}$"))
    driver_id = page.url.rsplit("/", 1)[1]
    expect(page.locator(".flash")).to_contain_text("Inès Carvalho added.")
    assert_accessible(page)

    page.get_by_role("button", name="Offer terms").click()
    assert_accessible(page)
    page.get_by_label("Model").select_option("revenue_share")
    page.get_by_label("In force from").fill(f"{(monday - timedelta(days=14)).isoformat()}T00:00")
    page.get_by_label("Fleet share (%)").fill("25")
    page.get_by_role("button", name="Offer the terms").click()
    expect(page.locator("#terms")).to_contain_text("Pending")
    page.locator("#terms").get_by_role("button", name="Record acceptance").click()
    expect(page.locator(".flash")).to_contain_text("Acceptance recorded")
    expect(page.locator("#terms")).to_contain_text("Active")

    page.get_by_role("button", name="Add a bank account").click()
    assert_accessible(page)
    page.locator("#iban").fill("FR14 2004 1010 0505 0001 3M02 606")
    page.get_by_role("button", name="Save the bank account").click()
    expect(page.locator(".flash")).to_contain_text("Bank account of Inès Carvalho saved")
    expect(page.locator("#payout-accounts")).to_contain_text("FR14…2606")

    # --- the car goes to the driver (from before last week) -------------------------------
    page.get_by_role("button", name="Assign a vehicle").click()
    assert_accessible(page)
    page.get_by_label("Vehicle").select_option(vehicle_id)
    expect(page.locator("#driver_id")).to_have_value(driver_id)
    page.locator("#starts_at").fill(f"{(monday - timedelta(days=1)).isoformat()}T08:00")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("assigned to Inès Carvalho")
    assert_accessible(page)

    # --- last week's Uber report: upload, link the unknown account, commit ----------------
    account = sample_drivers(1, seed=uuid.uuid4().int % 1000)[0]
    report = uber_payments_order([account], monday, trips_per_driver=6, seed=11)
    page.get_by_role("link", name="Imports").click()
    assert_accessible(page)
    page.get_by_role("button", name="Upload a report").click()
    assert_accessible(page)
    page.locator("#file").set_input_files(files=[{
        "name": "uber-payments-order.csv", "mimeType": "text/csv", "buffer": to_csv(report)}])
    page.get_by_role("button", name="Upload and check").click()
    expect(page).to_have_url(re.compile(r"/app/imports/[0-9a-f-]{36}$"))
    expect(page.locator(".flash")).to_contain_text("uber-payments-order.csv: 7 rows read")
    assert_accessible(page)
    waiting = page.locator("#accounts tbody tr").filter(has_text=account.uuid)
    waiting.locator("select").select_option(driver_id)
    waiting.get_by_role("button", name="Link").click()
    expect(page.locator(".flash")).to_contain_text(f"Account {account.uuid} linked to Inès "
                                                   "Carvalho")
    page.get_by_role("button", name="Commit 7 valid rows").click()
    expect(page.locator(".flash")).to_contain_text("Committed: 7 rows written")
    assert_accessible(page)

    # --- reconcile the week ----------------------------------------------------------------
    page.get_by_role("button", name="Reconcile this week").click()
    assert_accessible(page)
    expect(page.get_by_label("Week (any day of it)")).to_have_value(monday.isoformat())
    page.get_by_role("button", name="Reconcile", exact=True).click()
    expect(page).to_have_url(re.compile(r"/app/reconciliations/[0-9a-f-]{36}$"))
    expect(page.locator(".flash")).to_contain_text("Reconciled: 5 trips match")
    assert_accessible(page)

    # --- settle the week: compute the drafts, confirm them all -----------------------------
    page.get_by_role("link", name="Settlements").click()
    assert_accessible(page)
    page.get_by_label("Week (any day of it)").first.fill(monday.isoformat())
    page.get_by_role("button", name="Compute the drafts").first.click()
    expect(page).to_have_url(re.compile(rf"/app/settlements\?week={monday.isoformat()}"))
    rows = page.locator("table.striped tbody tr").filter(has_text="Carvalho")
    expect(rows.first).to_contain_text("Draft")
    assert_accessible(page)
    page.get_by_role("button", name="Confirm the ticked drafts").click()
    expect(page.locator(".flash")).to_contain_text("onfirmed")
    expect(rows.first).to_contain_text("Confirmed")
    assert_accessible(page)
    (net,), = fleet.sql("SELECT sum(net) FROM trp_settlements WHERE driver_id = :d "
                        "AND status = 'confirmed'", d=driver_id)
    assert net > 0, net

    # --- pay: draft, approve, download the SEPA file ---------------------------------------
    page.get_by_role("link", name="Payouts").click()
    assert_accessible(page)
    expect(page.get_by_label("First day")).to_have_value(monday.isoformat())
    expect(page.get_by_label("Last day")).to_have_value(sunday.isoformat())
    page.get_by_role("button", name="Draft the batch").click()
    expect(page).to_have_url(re.compile(r"/app/payouts/[0-9a-f-]{36}$"))
    expect(page.locator(".flash")).to_contain_text("Draft with 1 payments")
    # The period as people say it: Monday to Sunday, both included.
    expect(page.locator("h1")).to_contain_text(f"Payouts of {monday} \u2013 {sunday}")
    assert_accessible(page)
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash")).to_contain_text("Batch approved")
    assert_accessible(page)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the SEPA file").click()
    sepa = Path(download_info.value.path()).read_bytes()
    document = ET.fromstring(sepa)
    assert document.tag == f"{PAIN}Document", document.tag
    header = document.find(f"{PAIN}CstmrCdtTrfInitn/{PAIN}GrpHdr")
    assert header is not None
    assert header.findtext(f"{PAIN}NbOfTxs") == "1"
    assert Decimal(header.findtext(f"{PAIN}CtrlSum") or "") == Decimal(net).quantize(
        Decimal("0.01"))
    assert "FR1420041010050500013M02606" in sepa.decode()
    assert any(q.startswith("Approve 1 payments") for q in asked), asked

    # --- the driver's statement: on screen and as PDF --------------------------------------
    page.get_by_role("link", name="Settlements").click()
    page.get_by_role("link", name=monday.isoformat()).click()
    page.locator("table.striped tbody tr").filter(has_text="Carvalho").get_by_role(
        "link").first.click()
    assert_accessible(page)
    page.get_by_role("button", name="The driver's statement").click()
    expect(page.locator(".statement-panel")).to_contain_text("Inès Carvalho")
    assert_accessible(page)
    total = f"{Decimal(net):.2f}".replace(".", ",")
    with page.expect_download() as pdf_info:
        page.get_by_role("button", name="Download the PDF").click()
    pdf = Path(pdf_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-"), pdf[:16]
    assert total in _pdf_text(pdf) or f"{Decimal(net):.2f}" in _pdf_text(pdf)

    # --- the driver reads it on a phone ----------------------------------------------------
    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                 device_scale_factor=2)
    phone.set_default_timeout(WAIT)
    try:
        mobile = phone.new_page()
        mobile.goto(f"{url}/app/sign-in?tenant={fleet.world.slug}&next=/driver")
        mobile.locator(f'button.member[data-email="{portal_member.email}"]').click()
        expect(mobile).to_have_url(f"{url}/driver")
        expect(mobile.locator("h1")).to_contain_text("Inès Carvalho")
        assert_accessible(mobile)
        mobile.get_by_role("link", name="Relevés").click()
        statement = mobile.get_by_test_id("statement")
        expect(statement).to_contain_text("Inès Carvalho")
        expect(statement).to_contain_text(total)
        # The SEPA file went out: the payment is on its way, said in French.
        expect(statement).to_contain_text(f"En cours de paiement : {total}")
        assert_accessible(mobile)
        width = mobile.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
    finally:
        phone.close()


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)
