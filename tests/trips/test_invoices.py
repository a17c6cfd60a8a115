"""Client invoices, credit notes and self-billed driver invoices (money.md "Invoices and
usage"): numbers are given at finalisation only, gapless per tenant, series and year, never
reused — even when finalisations run at the same time in separate transactions and some of
them roll back; client invoices group a client's trips of a period once; a correction is a
credit note; self-billed invoices follow the week's statement total."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from settlement_fixtures import WEEK, Books, at, books_on, committed_books, midnight
from sqlalchemy.orm import Session

from api_support import TenantWorld
from fleetcore.admin.numbering import take_numbers
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.errors import Conflict, NotFound
from fleetcore.trips import invoice_service as service
from fleetcore.trips import settlement_service
from fleetcore.trips.invoice_service import ClientInvoiceDraft, split_tax
from fleetcore.trips.statement_render import render_statement_html
from fleetcore.trips.statement_service import build_statement

YEAR = datetime.now(UTC).year  # numbers are per year of issue (today, in the tenant's zone)


def _trip(books: Books, platform: uuid.UUID, client: str | None, day: date, fare: str, *,
          status: str = "completed", currency: str = "EUR") -> uuid.UUID:
    return books.insert(
        "trp_trips", platform_id=platform, external_trip_id=f"t-{uuid.uuid4().hex[:10]}",
        status=status, started_at=at(day, 10), ended_at=at(day, 11),
        fare_gross=Decimal(fare), currency=currency,
        metadata=f'{{"client_ref": "{client}"}}' if client else "{}")


def _draft(client: str = "acme", start: date = date(2026, 11, 1),
           end: date = date(2026, 11, 30)) -> ClientInvoiceDraft:
    return ClientInvoiceDraft(client_ref=client, client_name=f"{client.upper()} SAS",
                              period_start=start, period_end=end, currency="EUR",
                              client_tax_id="FR40303265045")


def _vat(books: Books, rate: str = "20", **settings: Any) -> None:
    import json

    books.sql("UPDATE adm_tenants SET vat_rate_pct = :r, tax_settings = CAST(:s AS jsonb)"
              " WHERE id = :t", r=Decimal(rate), s=json.dumps(settings), t=books.tenant_id)


# --- numbering under concurrency ----------------------------------------------------------------


def test_concurrent_finalisations_number_gaplessly_and_rollbacks_leave_no_gap(
    tenant_a: TenantWorld, sessions: Any,
) -> None:
    """N drafts finalised by N threads at once, each in its own transaction; every third one
    rolls back after taking its number. The committed numbers are exactly 1..k; finalising
    the rolled-back ones afterwards continues k+1.. with no gap and no repeat."""
    books = committed_books(sessions, tenant_a.id)
    platform = books.platform()
    drafts = []
    for n in range(12):
        client = f"client{n}"
        _trip(books, platform, client, date(2026, 11, 3), "10.00")
        with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
            drafts.append(service.create_client_invoice(session, books.actor,
                                                        _draft(client)).id)
    start = threading.Barrier(len(drafts))
    outcomes: dict[uuid.UUID, str] = {}
    errors: list[BaseException] = []

    class RollBackError(Exception):
        pass

    def finalise(index: int, invoice_id: uuid.UUID) -> None:
        try:
            start.wait(10)
            with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
                row = service.finalise_invoice(session, books.actor, invoice_id, None)
                if index % 3 == 2:
                    raise RollBackError
                outcomes[invoice_id] = str(row.invoice_number)
        except RollBackError:
            outcomes[invoice_id] = "rolled back"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=finalise, args=(i, d)) for i, d in enumerate(drafts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    numbered = sorted(n for n in outcomes.values() if n != "rolled back")
    assert numbered == [f"F-{YEAR}-{k:06d}" for k in range(1, 9)]
    rolled_back = [d for d, n in outcomes.items() if n == "rolled back"]
    assert len(rolled_back) == 4
    rows = books.sql("SELECT status, invoice_number FROM trp_client_invoices"
                     " WHERE id = ANY(:ids)", ids=rolled_back)
    assert {(r.status, r.invoice_number) for r in rows} == {("draft", None)}
    later = []
    for invoice_id in rolled_back:
        with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
            later.append(service.finalise_invoice(session, books.actor, invoice_id,
                                                  None).invoice_number)
    assert later == [f"F-{YEAR}-{k:06d}" for k in range(9, 13)]


def test_take_numbers_is_per_tenant_and_series(db: Session) -> None:
    books = books_on(db)
    first = take_numbers(db, books.tenant_id, "client_invoice_2031", 3, prefix="F-2031-")
    assert first.formatted() == ["F-2031-000001", "F-2031-000002", "F-2031-000003"]
    assert take_numbers(db, books.tenant_id, "client_invoice_2032").formatted() == ["000001"]
    other = books_on(db)
    assert take_numbers(db, other.tenant_id, "client_invoice_2031").first == 1


# --- client invoices and credit notes ----------------------------------------------------------


def test_client_invoice_groups_the_clients_trips_of_the_period_once(db: Session) -> None:
    books = books_on(db)
    _vat(books, "20", prices_include_vat=True)
    platform = books.platform()
    mine = [_trip(books, platform, "acme", date(2026, 11, d), fare)
            for d, fare in ((2, "30.00"), (15, "45.50"), (30, "44.50"))]
    _trip(books, platform, "acme", date(2026, 12, 1), "99.00")  # next period
    _trip(books, platform, "globex", date(2026, 11, 5), "99.00")  # another client
    _trip(books, platform, "acme", date(2026, 11, 6), "99.00", status="cancelled_by_rider")
    _trip(books, platform, None, date(2026, 11, 7), "99.00")  # not a corporate trip
    draft = service.create_client_invoice(db, books.actor, _draft())
    assert (draft.status, draft.invoice_number, draft.kind) == ("draft", None, "invoice")
    assert service.invoice_trip_count(db, draft) == 3
    attached = books.sql("SELECT id FROM trp_trips WHERE client_invoice_id = :i", i=draft.id)
    assert sorted(r.id for r in attached) == sorted(mine)
    # 120.00 tax included at 20 %: 100.00 + 20.00.
    assert (draft.subtotal, draft.tax, draft.total) == (Decimal("100.00"), Decimal("20.00"),
                                                        Decimal("120.00"))
    with pytest.raises(Conflict, match="not invoiced yet"):
        service.create_client_invoice(db, books.actor, _draft())

    issued = service.finalise_invoice(db, books.actor, draft.id, draft.version)
    assert issued.invoice_number == f"F-{YEAR}-000001"
    assert issued.series == f"client_invoice_{YEAR}"
    assert issued.due_on == issued.issued_on + timedelta(days=30)
    with pytest.raises(Conflict, match="credit note"):
        service.finalise_invoice(db, books.actor, draft.id, issued.version)

    # Prices without VAT: the tax is added to the subtotal.
    _vat(books, "20", prices_include_vat=False)
    _trip(books, platform, "globex", date(2026, 11, 9), "0.99")
    globex = service.create_client_invoice(db, books.actor, _draft("globex"))
    assert (globex.subtotal, globex.tax, globex.total) == (Decimal("99.99"), Decimal("20.00"),
                                                           Decimal("119.99"))


def test_credit_notes_correct_an_issued_invoice_never_beyond_it(db: Session) -> None:
    books = books_on(db)
    _vat(books, "10")
    platform = books.platform()
    _trip(books, platform, "acme", date(2026, 11, 2), "110.00")
    draft = service.create_client_invoice(db, books.actor, _draft())
    with pytest.raises(Conflict, match="Only an issued invoice"):
        service.create_credit_note(db, books.actor, draft.id, amount=None, reason="x",
                                   expected_version=None)
    invoice = service.finalise_invoice(db, books.actor, draft.id, None)
    partial = service.create_credit_note(db, books.actor, invoice.id,
                                         amount=Decimal("22.00"), reason="one trip cancelled",
                                         expected_version=invoice.version)
    assert (partial.kind, partial.corrects_invoice_id, partial.status) == (
        "credit_note", invoice.id, "draft")
    assert (partial.subtotal, partial.tax, partial.total) == (Decimal("20.00"),
                                                              Decimal("2.00"),
                                                              Decimal("22.00"))
    with pytest.raises(Conflict, match=r"88\.00 EUR of invoice .* is left"):
        service.create_credit_note(db, books.actor, invoice.id, amount=Decimal("88.01"),
                                   reason="too much", expected_version=None)
    rest = service.create_credit_note(db, books.actor, invoice.id, amount=None,
                                      reason="client cancelled", expected_version=None)
    assert rest.total == Decimal("88.00")
    with pytest.raises(Conflict):
        service.create_credit_note(db, books.actor, invoice.id, amount=None, reason="again",
                                   expected_version=None)
    # Credit notes are numbered at finalisation, in the invoice's series, after it.
    assert service.finalise_invoice(db, books.actor, rest.id, None).invoice_number == (
        f"F-{YEAR}-000002")
    assert service.finalise_invoice(db, books.actor, partial.id, None).invoice_number == (
        f"F-{YEAR}-000003")
    reasons = books.sql("SELECT changes ->> 'reason' FROM adm_audit_logs"
                        " WHERE action = 'credit_note_reason' AND entity_id = :n", n=rest.id)
    assert [r[0] for r in reasons] == ["client cancelled"]


def test_split_tax_rounds_the_subtotal_then_derives_the_tax() -> None:
    assert split_tax(Decimal("10.00"), Decimal("5.5"), "EUR", inclusive=True) == (
        service.Taxed(Decimal("9.48"), Decimal("0.52"), Decimal("10.00")))
    assert split_tax(Decimal("9.48"), Decimal("5.5"), "EUR", inclusive=False) == (
        service.Taxed(Decimal("9.48"), Decimal("0.52"), Decimal("10.00")))
    assert split_tax(Decimal("1000"), Decimal("0"), "JPY", inclusive=True).tax == 0


# --- self-billed invoices ----------------------------------------------------------------------


def _drivers_week(db: Session) -> tuple[Books, dict[str, uuid.UUID]]:
    books = books_on(db)
    _vat(books, "20", self_billing=True, prices_include_vat=True)
    uber = books.platform()
    people: dict[str, uuid.UUID] = {}
    for name, model in (("Ana", "revenue_share"), ("Bob", "salaried"), ("Cleo", "fixed_rent"),
                        ("Dan", "revenue_share")):
        driver = people[name] = books.driver(name)
        ref = books.account(driver, uber)
        options: dict[str, Any] = {"model": model}
        if model == "fixed_rent":
            options |= {"rent": "500.00", "rent_period": "week"}
        books.terms(driver, midnight(date(2026, 1, 1)), **options)
        books.row(books.report(uber), uber, driver, at(WEEK), ref=ref, fare_gross="120.00",
                  commission="20.00")
    books.sql("UPDATE rid_drivers SET metadata = CAST(:m AS jsonb) WHERE id = :d",
              m='{"tax": {"vat_registered": true, "vat_number": "FR12345678901"}}',
              d=people["Ana"])
    return books, people


def _self_billed(books: Books) -> list[Any]:
    return books.sql("SELECT * FROM trp_client_invoices WHERE tenant_id = :t"
                     " AND driver_id IS NOT NULL ORDER BY invoice_number", t=books.tenant_id)


def test_a_confirmed_week_yields_its_self_billed_invoice(db: Session) -> None:
    books, people = _drivers_week(db)
    settlements = settlement_service.compute_settlements(db, books.actor, period=WEEK)
    for s in settlements:
        if s.driver_id != people["Dan"]:  # Dan's week stays a draft
            settlement_service.confirm_settlement(db, books.actor, s.id, s.version)
    # Confirming Ana's week issued her invoice; Bob is salaried, Cleo's week is negative
    # (rent), Dan's is not confirmed.
    (ana,) = _self_billed(books)
    assert ana.driver_id == people["Ana"]
    statement = build_statement(db, books.actor, people["Ana"], WEEK, language="fr")
    assert statement.invoice_number == ana.invoice_number
    assert f"Autofacture n° {ana.invoice_number}" in render_statement_html(statement)
    assert ana.total == statement.total == Decimal("75.00")  # 100 after commission - 25 %
    assert (ana.subtotal, ana.tax, ana.tax_rate_pct) == (Decimal("62.50"), Decimal("12.50"),
                                                         Decimal("20"))
    assert ana.invoice_number == f"AF-{YEAR}-000001"
    assert (ana.series, ana.status, ana.kind) == (f"self_billing_{YEAR}", "issued", "invoice")
    assert (ana.client_name, ana.client_tax_id) == ("Ana Borg", "FR12345678901")
    assert (ana.period_start, ana.period_end) == (WEEK, WEEK + timedelta(days=6))
    # Issuing the week again: nothing more. Once Dan's week is confirmed, his invoice takes
    # the next number.
    assert service.issue_self_billed_invoices(db, books.actor, WEEK + timedelta(days=3)) == []
    dan = next(s for s in settlements if s.driver_id == people["Dan"])
    settlement_service.confirm_settlement(db, books.actor, dan.id, dan.version)
    dans = _self_billed(books)[1]
    assert (dans.driver_id, dans.invoice_number) == (people["Dan"], f"AF-{YEAR}-000002")
    assert dans.tax == 0  # not VAT-registered: no VAT on a franchise driver's invoice
    # A correction of a self-billed invoice is a credit note in its series.
    note = service.create_credit_note(db, books.actor, ana.id, amount=Decimal("7.50"),
                                      reason="late fare correction", expected_version=None)
    assert service.finalise_invoice(db, books.actor, note.id, None).invoice_number == (
        f"AF-{YEAR}-000003")
    assert note.driver_id == people["Ana"]


def test_self_billing_off_is_refused_and_other_tenants_see_nothing(db: Session) -> None:
    books, _ = _drivers_week(db)
    _vat(books, "20", self_billing=False)
    with pytest.raises(Conflict, match="Self-billing is off"):
        service.issue_self_billed_invoices(db, books.actor, WEEK)
    platform = books.platform("bolt")
    _trip(books, platform, "acme", date(2026, 11, 2), "10.00")
    invoice = service.create_client_invoice(db, books.actor, _draft())
    other = books_on(db)
    for call in (lambda: service.get_invoice(db, other.actor, invoice.id),
                 lambda: service.finalise_invoice(db, other.actor, invoice.id, None)):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(Conflict, match="not invoiced yet"):  # A's trips are invisible to B
        service.create_client_invoice(db, other.actor, _draft())


def test_concurrent_self_billing_runs_issue_each_invoice_once(
    tenant_b: TenantWorld, sessions: Any,
) -> None:
    """Weeks confirmed before self-billing was turned on are issued by the explicit run; three
    runs at once issue each invoice once, numbered 1..4."""
    books = committed_books(sessions, tenant_b.id)
    uber = books.platform()
    drivers = []
    for n in range(4):
        driver = books.driver(f"D{n}")
        ref = books.account(driver, uber)
        books.terms(driver, midnight(date(2026, 1, 1)))
        books.row(books.report(uber), uber, driver, at(WEEK), ref=ref, fare_gross="40.00",
                  commission="0")
        drivers.append(driver)
    with context_session(sessions, DbContext.for_tenant(tenant_b.id)) as session:
        for s in settlement_service.compute_settlements(session, books.actor, period=WEEK):
            settlement_service.confirm_settlement(session, books.actor, s.id, s.version)
    _vat(books, "20", self_billing=True)
    barrier = threading.Barrier(3)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def issue() -> None:
        try:
            barrier.wait(10)
            with context_session(sessions, DbContext.for_tenant(tenant_b.id)) as session:
                rows = service.issue_self_billed_invoices(session, books.actor, WEEK)
                results.append([str(r.invoice_number) for r in rows])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=issue) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    numbers = sorted(n for batch in results for n in batch)
    assert numbers == [f"AF-{YEAR}-{k:06d}" for k in range(1, 5)]
    assert sorted(len(batch) for batch in results) == [0, 0, 4]



def test_invoice_documents_carry_the_countrys_mentions(db: Session) -> None:
    """A French self-billed invoice says it is self-billed and, for a driver without VAT,
    the franchise mention; a client invoice lists its trips; a credit note names the
    invoice it corrects — in the PDF too."""
    import io

    from pypdf import PdfReader

    from fleetcore.trips.invoice_render import render_invoice_html, render_invoice_pdf

    books, _ = _drivers_week(db)
    books.sql("UPDATE adm_tenants SET legal_name = 'Borg VTC SAS' WHERE id = :t",
              t=books.tenant_id)
    for s in settlement_service.compute_settlements(db, books.actor, period=WEEK):
        settlement_service.confirm_settlement(db, books.actor, s.id, s.version)
    ana, dan = _self_billed(books)
    html = render_invoice_html(db, service.get_invoice(db, books.actor, dan.id))
    assert "Autofacturation : facture établie par Borg VTC SAS au nom et pour le compte de " \
           "Dan Borg." in html
    assert "TVA non applicable, art. 293 B du CGI." in html
    ana_html = render_invoice_html(db, service.get_invoice(db, books.actor, ana.id))
    assert "293 B" not in ana_html  # Ana charges VAT
    assert "FR12345678901" in ana_html

    _trip(books, books.platform("bolt"), "acme", date(2026, 11, 2), "60.00")
    invoice = service.finalise_invoice(
        db, books.actor, service.create_client_invoice(db, books.actor, _draft()).id, None)
    note = service.create_credit_note(db, books.actor, invoice.id, amount=None, reason="x",
                                      expected_version=None)
    note = service.finalise_invoice(db, books.actor, note.id, None)
    note_html = render_invoice_html(db, note)
    assert f"Rectifie la facture n° {invoice.invoice_number}." in note_html
    pdf = render_invoice_pdf(db, invoice)
    assert pdf.startswith(b"%PDF")
    words = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert str(invoice.invoice_number) in words
    assert "ACME SAS" in words
    assert "Course t-" in words
