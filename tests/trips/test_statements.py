"""Driver statements (one per driver and week): the groups sum to the total, which is the sum
of the week's settlements' nets and the driver's ledger movement; the payment group reads the
week's payments; the statement renders in French and English, as HTML and PDF."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from settlement_fixtures import WEEK, Books, at, books_on, midnight
from sqlalchemy.orm import Session

from fleetcore.core.errors import NotFound
from fleetcore.trips import settlement_service
from fleetcore.trips.statement_render import (
    render_statement_document,
    render_statement_html,
    render_statement_pdf,
)
from fleetcore.trips.statement_service import (
    GROUP_ORDER,
    build_statement,
    group_of,
    group_totals,
)


def _two_platforms(db: Session) -> tuple[Books, uuid.UUID, uuid.UUID, uuid.UUID]:
    """Ana on Uber (fleet paid, revenue share) and Bolt (paid directly), with rent, fuel,
    a toll, a fine and a reimbursed parking ticket."""
    books = books_on(db)
    uber, bolt = books.platform("uber"), books.platform("bolt")
    ana = books.driver("Ana")
    ref_u = books.account(ana, uber)
    ref_b = books.account(ana, bolt, receiver="driver")
    books.terms(ana, midnight(date(2026, 1, 1)), pct="25", recharge_fuel=True,
                recharge_tolls=True, recharge_fines=True)
    uber_report = books.report(uber)
    for n in range(5):
        books.row(uber_report, uber, ana, at(WEEK + timedelta(days=n % 7)), ref=ref_u,
                  trip=f"u{n}", fare_gross="20.10", commission="5.03", tip="1.00",
                  cash_collected="3.00" if n == 2 else "0")
    bolt_report = books.report(bolt, "bolt_orders")
    books.row(bolt_report, bolt, ana, at(WEEK + timedelta(days=3)), ref=ref_b, trip="b1",
              fare_gross="50.00", commission="10.00")
    books.expense(ana, WEEK + timedelta(days=1), "40.00")
    books.expense(ana, WEEK + timedelta(days=2), "12.00", category="parking",
                  rechargeable=False, reimbursable=True, payment_method="driver_paid")
    books.toll(ana, at(WEEK + timedelta(days=2)), "7.40")
    books.fine(ana, at(WEEK + timedelta(days=4)), "35.00")
    return books, ana, uber, bolt


def _confirm_week(db: Session, books: Books) -> list[Any]:
    return [settlement_service.confirm_settlement(db, books.actor, s.id, s.version)
            for s in settlement_service.compute_settlements(db, books.actor, period=WEEK)]


def test_groups_sum_to_the_total_the_settlements_and_the_ledger(db: Session) -> None:
    books, ana, _uber, _bolt = _two_platforms(db)
    settlement_service.compute_settlements(db, books.actor, period=WEEK)
    draft = build_statement(db, books.actor, ana, WEEK + timedelta(days=3))
    assert draft.status == "provisional"
    assert draft.ledger is None  # drafts post nothing
    settlements = _confirm_week(db, books)
    assert len(settlements) == 3  # Uber, Bolt, driver-level
    statement = build_statement(db, books.actor, ana, WEEK)
    nets = sum((s.net for s in settlements), Decimal(0))
    assert statement.status == "confirmed"
    assert statement.total == nets
    assert sum((g.amount for g in statement.groups), Decimal(0)) == statement.total
    assert statement.ledger == statement.total
    assert sorted(statement.settlement_ids) == sorted(s.id for s in settlements)
    # Each group is the sum of its sources; every line of the week appears exactly once.
    for group in statement.groups:
        assert group.amount == sum((s.amount for s in group.sources), Decimal(0))
    lines = [line for s in settlements for line in books.lines(s.id)]
    assert sorted(src.line_id for g in statement.groups for src in g.sources) == sorted(
        line.id for line in lines)
    # Earnings per platform, then the other groups in the printed order.
    keys = [(g.key, g.platform_name) for g in statement.groups]
    assert keys[:2] == [("earnings", "Bolt"), ("earnings", "Uber")]
    order = [GROUP_ORDER.index(k) for k, _ in keys]
    assert order == sorted(order)
    totals = group_totals(statement)
    assert totals["earnings"] == Decimal("50.00") + 5 * Decimal("21.10")
    assert totals["commission"] == -(Decimal("10.00") + 5 * Decimal("5.03"))
    assert totals["cash"] == Decimal("-3.00")
    assert totals["platform_payout"] == Decimal("-40.00")  # Bolt paid Ana directly
    assert totals["tolls"] == Decimal("-7.40")
    assert totals["fines"] == Decimal("-35.00")
    assert totals["expenses"] == Decimal("-40.00") + Decimal("12.00")
    sources = {src.source_type for g in statement.groups for src in g.sources}
    assert {"import_row", "expense", "toll", "fine", "term"} <= sources
    assert statement.payment_state == ("to_be_paid" if statement.total >= 0 else "carried")


def test_a_negative_week_is_carried_and_payments_are_read(db: Session) -> None:
    books = books_on(db)
    ana = books.driver()
    books.terms(ana, midnight(date(2026, 1, 1)), model="fixed_rent", rent="70.00",
                rent_period="week")
    (settlement,) = _confirm_week(db, books)
    statement = build_statement(db, books.actor, ana, WEEK)
    assert statement.total == Decimal("-70.00") == settlement.net
    assert [g.key for g in statement.groups] == ["rent"]
    assert len(statement.groups[0].sources) == 7  # one rent day each
    assert statement.payment_state == "carried"
    assert "Carried to next week" in render_statement_html(statement)

    # A week with a payment: the payment group shows it.
    bob = books.driver("Bob")
    uber = books.platform()
    ref = books.account(bob, uber)
    books.terms(bob, midnight(date(2026, 1, 1)), pct="20")
    books.row(books.report(uber), uber, bob, at(WEEK), ref=ref, fare_gross="100.00",
              commission="20.00")
    _confirm_week(db, books)
    bob_week = build_statement(db, books.actor, bob, WEEK)
    assert bob_week.total == Decimal("64.00")
    assert bob_week.payment_state == "to_be_paid"
    batch = books.insert(
        "fin_driver_payment_batches", period_start=bob_week.period.start,
        period_end=bob_week.period.end, method="sepa_transfer", currency="EUR",
        gross_total=Decimal("64.00"), net_total=Decimal("64.00"), payment_count=1)
    books.insert("fin_driver_payments", batch_id=batch, driver_id=bob,
                 gross=Decimal("64.00"), net=Decimal("64.00"), currency="EUR")
    paid = build_statement(db, books.actor, bob, WEEK)
    assert paid.payment_state == "in_payment"
    assert paid.paid == paid.total == Decimal("64.00")


def test_french_and_english_html_and_pdf(db: Session) -> None:
    books, ana, _, _ = _two_platforms(db)
    books.sql("UPDATE adm_tenants SET legal_name = 'Transports Borg SAS',"
              " vat_number = 'FR40303265045' WHERE id = :t", t=books.tenant_id)
    _confirm_week(db, books)
    english = build_statement(db, books.actor, ana, WEEK)
    french = build_statement(db, books.actor, ana, WEEK, language="fr")
    assert english.language == "en"  # the driver's preferred language
    html_en, html_fr = render_statement_html(english), render_statement_html(french)
    assert "Total for the week" in html_en
    assert "Fleet share" in html_en
    assert "Total de la semaine" in html_fr
    assert "Part de la flotte" in html_fr
    assert "Transports Borg SAS" in html_fr
    assert "FR40303265045" in html_fr
    # Amounts in each language's notation (babel): 1,234.56 vs 1 234,56.
    total = f"{abs(english.total):.2f}"
    assert total in html_en
    assert total.replace(".", ",") in html_fr
    books.sql("UPDATE rid_drivers SET preferred_language = 'fr-FR' WHERE id = :d", d=ana)
    assert build_statement(db, books.actor, ana, WEEK).language == "fr"

    pdf = render_statement_pdf(french)
    assert pdf.startswith(b"%PDF")
    words = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Ana Borg" in words
    assert "Total de la semaine" in words
    assert "Revenus — Bolt" in words
    assert "b1" in words  # the sources are printed, not only the groups
    assert "A1 Senlis" in words
    assert total.replace(".", ",") in words
    assert "<html" in render_statement_document(english)


def test_another_driver_or_tenant_is_not_found(db: Session) -> None:
    books, ana, _, _ = _two_platforms(db)
    _confirm_week(db, books)
    with pytest.raises(NotFound):
        build_statement(db, books.actor, uuid.uuid4(), WEEK)
    other = books_on(db)  # binds the session to another tenant
    with pytest.raises(NotFound):
        build_statement(db, other.actor, ana, WEEK)


def test_empty_week_and_group_of() -> None:
    assert group_of("adjustment", "settlement") == "platform_payout"
    assert group_of("adjustment", "term") == "fleet_share"
    assert group_of("adjustment", "expense") == "expenses"
    assert group_of("adjustment", "manual") == "adjustments"
    assert group_of("carry_over", "settlement") == "carried"
    assert group_of("tip", "import_row") == "earnings"


def test_a_fixed_number_of_queries_whatever_the_number_of_lines(db: Session) -> None:
    """200 report rows (the console's old 200 raw lines) or 2: the same queries."""
    import time

    from sqlalchemy import event

    counts = []
    for rows in (2, 200):
        books = books_on(db)
        uber = books.platform()
        ana = books.driver()
        ref = books.account(ana, uber)
        books.terms(ana, midnight(date(2026, 1, 1)), pct="20")
        report = books.report(uber)
        books.sql("""
            INSERT INTO rev_import_rows (tenant_id, id, import_id, row_number, platform_id,
                   driver_id, occurred_at, currency, platform_account_ref, external_trip_id,
                   description, fare_gross, commission)
            SELECT :t, gen_random_uuid(), :i, n + 1, :p, :d,
                   :at + n * interval '1 minute', 'EUR', :ref, 'trip-' || n, 'trip', 10, 2
              FROM generate_series(1, :rows) n""",
                  t=books.tenant_id, i=report, p=uber, d=ana, at=at(WEEK), ref=ref, rows=rows)
        _confirm_week(db, books)
        seen: list[str] = []

        def count(*args: Any, seen: list[str] = seen) -> None:
            seen.append(args[2])

        connection = db.connection()
        event.listen(connection, "before_cursor_execute", count)
        started = time.perf_counter()
        statement = build_statement(db, books.actor, ana, WEEK)
        elapsed = time.perf_counter() - started
        event.remove(connection, "before_cursor_execute", count)
        assert sum(len(g.sources) for g in statement.groups) == 2 * rows + 1
        assert statement.total == rows * Decimal("6.40")  # (10 - 2) less 20 %
        counts.append(len(seen))
        assert elapsed < 5
    assert counts[0] == counts[1]
