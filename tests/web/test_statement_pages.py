"""The console's driver statement: the week's settlements grouped with their sources (the same
HTML as the PDF), its language, the PDF download, e-mailing it, and another tenant's driver
not found — in a fixed number of queries whatever the number of lines."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pypdf import PdfReader
from sqlalchemy import Engine

from fleet_support import Fleet
from web_support import Browser, count_statements

WEEK = date(2026, 11, 16)


def _rent_week(fleet: Fleet, browser: Browser, *, rent: str = "70.00") -> uuid.UUID:
    """A driver on fixed rent with a recharged fuel expense; the week computed (drafts)."""
    driver = fleet.driver(first_name="Lina", last_name="Moreau", phone="+33639981077")
    fleet.sql("UPDATE rid_drivers SET email = 'lina@fleet.test' WHERE id = :d", d=driver)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fleet.insert("rid_driver_cooperation_terms", driver_id=driver, terms_version="v1",
                 status="active", accepted_at=start - timedelta(days=1), effective_from=start,
                 currency="EUR", settlement_model="fixed_rent", rent_amount=Decimal(rent),
                 rent_period="week", recharge_fuel=True)
    vehicle = fleet.vehicle()["id"]
    fleet.insert("flt_vehicle_expenses", vehicle_id=vehicle, driver_id=driver,
                 category="fuel", payment_method="fuel_card", amount=Decimal("40.00"),
                 currency="EUR", incurred_on=WEEK + timedelta(days=1), is_rechargeable=True,
                 is_reimbursable=False)
    computed = browser.post("/app/settlements/compute", {"week": WEEK.isoformat()},
                            page="/app/settlements")
    assert computed.status_code == 303, computed.text[:1000]
    return driver


def test_the_statement_page_pdf_and_email(
    fleet: Fleet, signed_in: Callable[..., Browser], app_engine: Engine,
) -> None:
    browser = signed_in(fleet.world)
    driver = _rent_week(fleet, browser)
    page = f"/app/drivers/{driver}/statements?week={WEEK + timedelta(days=2)}"
    with count_statements(app_engine) as counter:
        response = browser.get(page)
    assert response.status_code == 200, response.text[:2000]
    html = response.text
    assert "Lina Moreau" in html
    assert "Provisional (not confirmed yet)" in html  # drafts
    assert 'data-group="rent"' in html
    assert 'data-group="expenses"' in html
    assert "€110.00" in html  # rent 70 and fuel 40, carried
    assert 'data-state="carried"' in html
    assert html.count('data-source="term:') == 7  # the seven rent days, each with its source
    assert len(counter.statements) < 40, counter.statements[-10:]

    french = browser.get(page + "&lang=fr").text
    assert "Loyer" in french
    assert "Reporté à la semaine suivante" in french

    pdf = browser.get(f"/app/drivers/{driver}/statements.pdf?week={WEEK}")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Lina Moreau" in text
    assert "110.00" in text

    sent = browser.post(f"/app/drivers/{driver}/statements/send?week={WEEK}", page=page)
    assert sent.status_code == 303
    after = browser.get(sent.headers["location"]).text
    assert "on its way to lina@fleet.test" in after
    jobs = fleet.sql("SELECT args FROM procrastinate_jobs WHERE task_name ="
                     " 'fleetcore.send_statement' AND args ->> 'driver_id' = :d", d=str(driver))
    assert [j.args["week"] for j in jobs] == [WEEK.isoformat()]


def test_another_tenants_driver_is_not_found(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    driver = _rent_week(fleet, signed_in(fleet.world))
    stranger = signed_in(other_fleet.world)
    for path in (f"/app/drivers/{driver}/statements?week={WEEK}",
                 f"/app/drivers/{driver}/statements.pdf?week={WEEK}"):
        assert stranger.get(path).status_code == 404
    assert stranger.get(f"/app/drivers/{driver}/statements?week=2026-99-01").status_code == 400
