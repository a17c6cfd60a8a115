"""Invoices, credit notes and self-billed invoices as HTML and PDF (WeasyPrint), with the
mentions the fleet's country asks for (French and English first).

A self-billed invoice is the driver's invoice, drawn up by the fleet: the driver is the seller,
the fleet the buyer, and it says so ("Autofacturation" in France, with the VAT franchise
mention when the driver charges no VAT). A credit note names the invoice it corrects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.admin.notifications import language_for
from fleetcore.core.money import Money
from fleetcore.trips.models import ClientInvoice

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "invoices"

WORDS: dict[str, dict[str, str]] = {
    "en": {"invoice": "Invoice", "credit_note": "Credit note", "self_billed": "Self-billed invoice",
           "draft": "(draft)", "issued_on": "Issued on", "due_on": "Due on", "period": "Period",
           "seller": "Seller", "buyer": "Buyer", "date": "Date", "description": "Description",
           "amount": "Amount", "subtotal": "Subtotal", "tax": "VAT", "total": "Total",
           "vat_number": "VAT number", "registration_number": "Registration number",
           "corrects": "Corrects invoice {number}.", "trip": "Trip {ref}",
           "week": "Driving services, week of {day}", "credit": "Credit on invoice {number}",
           "self_billing": "Self-billing: invoice drawn up by {fleet} in the name and on behalf "
                           "of {driver}, who accepted self-billing.",
           "no_vat": "VAT not charged by the supplier."},
    "fr": {"invoice": "Facture", "credit_note": "Avoir", "self_billed": "Facture",
           "draft": "(brouillon)", "issued_on": "Date d'émission", "due_on": "Échéance",
           "period": "Période", "seller": "Vendeur", "buyer": "Acheteur", "date": "Date",
           "description": "Désignation", "amount": "Montant", "subtotal": "Total HT",
           "tax": "TVA", "total": "Total TTC", "vat_number": "N° de TVA",
           "registration_number": "SIRET", "corrects": "Rectifie la facture n° {number}.",
           "trip": "Course {ref}", "week": "Prestations de transport, semaine du {day}",
           "credit": "Avoir sur la facture n° {number}",
           "self_billing": "Autofacturation : facture établie par {fleet} au nom et pour le "
                           "compte de {driver}.",
           "no_vat": "TVA non applicable, art. 293 B du CGI."},
}
_LOCALES = {"en": "en_GB", "fr": "fr_FR"}


@dataclass(frozen=True, slots=True)
class _Line:
    day: date | None
    text: str
    amount: Decimal


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_invoice_html(session: Session, invoice: ClientInvoice) -> str:
    """The invoice as a printable HTML document, in its country's language."""
    fleet = session.execute(text("""
        SELECT name, coalesce(legal_name, name) AS legal_name, country, vat_number,
               tax_settings, timezone FROM adm_tenants WHERE id = :t"""),
        {"t": invoice.tenant_id}).one()
    lang = language_for(None, fleet.country)
    t, locale = WORDS[lang], _LOCALES[lang]
    tax_settings: dict[str, Any] = fleet.tax_settings if isinstance(fleet.tax_settings,
                                                                    dict) else {}
    fleet_lines = [fleet.legal_name, *[str(tax_settings[k]) for k in ("address",)
                                       if tax_settings.get(k)]]
    if tax_settings.get("registration_number"):
        fleet_lines.append(f"{t['registration_number']} : {tax_settings['registration_number']}")
    if fleet.vat_number:
        fleet_lines.append(f"{t['vat_number']} : {fleet.vat_number}")
    other = [invoice.client_name, *[v for v in (invoice.client_address,) if v]]
    if invoice.client_tax_id:
        other.append(f"{t['vat_number']} : {invoice.client_tax_id}")
    self_billed = invoice.driver_id is not None
    seller, buyer = (other, fleet_lines) if self_billed else (fleet_lines, other)
    day = _day_format(locale)
    corrected = _corrected_number(session, invoice)
    lines = _lines(session, invoice, t, day, corrected, fleet.timezone)
    mentions = []
    if self_billed:
        mentions.append(t["self_billing"].format(fleet=fleet.legal_name,
                                                 driver=invoice.client_name))
        if not invoice.tax:
            mentions.append(t["no_vat"])
    title = t["credit_note"] if invoice.kind == "credit_note" else (
        t["self_billed"] if self_billed else t["invoice"])
    rate = Decimal(invoice.tax_rate_pct or 0).normalize()
    return _environment().get_template("invoice.html.j2").render(
        inv=invoice, t=t, lang=lang, title=title, seller=seller, buyer=buyer, lines=lines,
        mentions=mentions, corrected=corrected, day=day, rate=f"{rate:f}",
        money=lambda amount: Money(amount, invoice.currency).format(locale))


def _day_format(locale: str) -> Callable[[date | None], str]:
    """A day as the document writes it (``medium`` in the invoice's language; none: blank)."""
    def day(value: date | None) -> str:
        return format_date(value, "medium", locale=locale) if value else ""

    return day


def _corrected_number(session: Session, invoice: ClientInvoice) -> str | None:
    """The number of the invoice a credit note corrects (None for an invoice)."""
    if invoice.corrects_invoice_id is None:
        return None
    number: str = session.execute(text(
        "SELECT invoice_number FROM trp_client_invoices WHERE tenant_id = :t AND id = :i"),
        {"t": invoice.tenant_id, "i": invoice.corrects_invoice_id}).scalar_one()
    return number


def _lines(session: Session, invoice: ClientInvoice, t: dict[str, str], day: Any,
           corrected: str | None, zone: str) -> list[_Line]:
    if invoice.kind == "credit_note":
        return [_Line(invoice.issued_on, t["credit"].format(number=corrected),
                      invoice.subtotal)]
    if invoice.driver_id is not None:
        return [_Line(invoice.period_start, t["week"].format(day=day(invoice.period_start)),
                      invoice.subtotal)]
    rows = session.execute(text("""
        SELECT (coalesce(ended_at, started_at) AT TIME ZONE :tz)::date AS day,
               external_trip_id, fare_gross
          FROM trp_trips WHERE tenant_id = :t AND client_invoice_id = :i
         ORDER BY coalesce(ended_at, started_at), id"""),
        {"t": invoice.tenant_id, "i": invoice.id, "tz": zone}).all()
    return [_Line(r.day, t["trip"].format(ref=r.external_trip_id), r.fare_gross)
            for r in rows]


def invoice_lines(session: Session, invoice: ClientInvoice) -> list[_Line]:
    """The lines as the invoice's document shows them (in the fleet's language): its trips,
    the week it self-bills, or what a credit note credits."""
    fleet = session.execute(text("SELECT country, timezone FROM adm_tenants WHERE id = :t"),
                            {"t": invoice.tenant_id}).one()
    lang = language_for(None, fleet.country)
    t, locale = WORDS[lang], _LOCALES[lang]
    return _lines(session, invoice, t, _day_format(locale), _corrected_number(session, invoice),
                  fleet.timezone)


def render_invoice_pdf(session: Session, invoice: ClientInvoice) -> bytes:
    """The invoice as PDF."""
    from weasyprint import HTML

    pdf = HTML(string=render_invoice_html(session, invoice)).write_pdf()
    assert pdf is not None
    return bytes(pdf)


def invoice_filename(invoice: ClientInvoice) -> str:
    """``<number>.pdf`` (``draft-<id>.pdf`` before finalisation)."""
    return f"{invoice.invoice_number or f'draft-{invoice.id}'}.pdf"


__all__ = ["invoice_filename", "invoice_lines", "render_invoice_html", "render_invoice_pdf"]
