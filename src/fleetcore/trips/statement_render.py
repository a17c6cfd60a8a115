"""A statement as HTML (the console page embeds it) and as PDF (WeasyPrint renders the same
HTML), in the driver's language: English and French, amounts and dates by babel (CLDR).

The template is ``templates/statements/statement.html.j2``; ``document.html.j2`` wraps it in a
printable page. The PDF library is imported on first use (it loads Pango through cffi).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from fleetcore.core.money import Money
from fleetcore.trips.statement_service import Statement

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "statements"

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Statement", "week": "Week", "driver": "Driver", "issued_by": "Issued by",
        "vat_number": "VAT number", "registration_number": "Registration number",
        "status_confirmed": "Confirmed", "status_provisional": "Provisional (not confirmed yet)",
        "status_empty": "Nothing settled this week",
        "group_earnings": "Earnings — {platform}", "group_commission": "Platform commission",
        "group_cash": "Cash collected by you", "group_platform_payout": "Paid to you by the "
        "platform", "group_fleet_share": "Fleet share", "group_rent": "Rent",
        "group_deposit": "Deposit and advances", "group_expenses": "Expenses recharged or "
        "refunded", "group_tolls": "Tolls", "group_fines": "Fines",
        "group_adjustments": "Adjustments", "group_carried": "Balance carried from earlier",
        "total": "Total for the week", "payment": "Payment", "to_be_paid": "To be paid to you",
        "carried": "Carried to next week (you owe it)", "paid": "Paid",
        "in_payment": "In payment", "payment_status": "Payment {status}",
        "payment_pending": "Payment being prepared", "payment_processing": "In payment",
        "payment_failed": "Payment returned", "payment_cancelled": "Payment cancelled",
        "sources": "{count} line(s)", "source": "Source", "date": "Date", "amount": "Amount",
        "reference": "Reference", "other_currencies": "Other currencies this week: {codes}",
        "src_import_row": "Platform report row", "src_trip": "Trip",
        "src_expense": "Expense", "src_toll": "Toll", "src_fine": "Fine",
        "src_term": "Cooperation terms", "src_request": "Your request",
        "src_settlement": "Settlement", "src_manual": "Manual adjustment",
        "invoice": "Self-billed invoice {number}",
    },
    "fr": {
        "title": "Relevé", "week": "Semaine", "driver": "Chauffeur", "issued_by": "Émis par",
        "vat_number": "N° de TVA", "registration_number": "N° d'immatriculation",
        "status_confirmed": "Confirmé", "status_provisional": "Provisoire (pas encore confirmé)",
        "status_empty": "Rien de réglé cette semaine",
        "group_earnings": "Revenus — {platform}", "group_commission": "Commission de la "
        "plateforme", "group_cash": "Espèces encaissées par vous",
        "group_platform_payout": "Versé directement par la plateforme",
        "group_fleet_share": "Part de la flotte", "group_rent": "Loyer",
        "group_deposit": "Dépôt de garantie et avances",
        "group_expenses": "Frais refacturés ou remboursés", "group_tolls": "Péages",
        "group_fines": "Amendes", "group_adjustments": "Ajustements",
        "group_carried": "Solde reporté", "total": "Total de la semaine",
        "payment": "Paiement", "to_be_paid": "À vous verser",
        "carried": "Reporté à la semaine suivante (à votre charge)", "paid": "Payé",
        "in_payment": "En cours de paiement", "payment_status": "Paiement {status}",
        "payment_pending": "Paiement en préparation", "payment_processing": "En cours de "
        "paiement", "payment_failed": "Paiement retourné", "payment_cancelled": "Paiement annulé",
        "sources": "{count} ligne(s)", "source": "Origine", "date": "Date",
        "amount": "Montant", "reference": "Référence",
        "other_currencies": "Autres devises cette semaine : {codes}",
        "src_import_row": "Ligne de relevé de la plateforme", "src_trip": "Course",
        "src_expense": "Dépense", "src_toll": "Péage", "src_fine": "Amende",
        "src_term": "Conditions de collaboration", "src_request": "Votre demande",
        "src_settlement": "Décompte", "src_manual": "Ajustement manuel",
        "invoice": "Autofacture n° {number}",
    },
}
"""The statement's words in each language (keys are the same in every language)."""

_LOCALES = {"en": "en_GB", "fr": "fr_FR"}


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def statement_context(statement: Statement) -> dict[str, Any]:
    """What the template reads: the statement, its words and formatters in its language."""
    language = statement.language if statement.language in LABELS else "en"
    words = LABELS[language]
    locale = _LOCALES[language]
    zone = statement.period.start.tzinfo

    def money(amount: Decimal) -> str:
        return Money(amount, statement.currency).format(locale)

    def day(value: date | None) -> str:
        return format_date(value, "medium", locale=locale) if value else ""

    def group_label(key: str, platform: str | None) -> str:
        return words[f"group_{key}"].format(platform=platform or "")

    last_day = statement.period.first_day + timedelta(days=6)
    return {
        "s": statement, "t": words, "lang": language, "money": money, "day": day,
        "group_label": group_label,
        "moment": lambda v: format_datetime(v.astimezone(zone), "medium", locale=locale),
        "week_label": f"{day(statement.period.first_day)} \u2013 {day(last_day)}",
    }


def render_statement_html(statement: Statement) -> Markup:
    """The statement as an HTML fragment (the console page embeds it as is)."""
    html = _environment().get_template("statement.html.j2").render(statement_context(statement))
    return Markup(html)  # noqa: S704 - rendered by an autoescaping environment


def render_statement_document(statement: Statement) -> str:
    """The statement as a whole printable HTML document (what the PDF is made of)."""
    context = statement_context(statement)
    context["body"] = render_statement_html(statement)
    return _environment().get_template("document.html.j2").render(context)


def render_statement_pdf(statement: Statement) -> bytes:
    """The statement as PDF: WeasyPrint renders :func:`render_statement_document`."""
    from weasyprint import HTML

    pdf = HTML(string=render_statement_document(statement)).write_pdf()
    assert pdf is not None
    return bytes(pdf)


def statement_filename(statement: Statement) -> str:
    """``statement-<week>-<driver id>.pdf``."""
    return f"statement-{statement.period.first_day.isoformat()}-{statement.driver_id}.pdf"
