"""Request and response models of the invoices API: client invoices (a corporate client's trips
of a period), credit notes, and self-billed driver invoices.

Invoice amounts are magnitudes (``kind`` says whether they are owed or credited); ``total =
subtotal + tax``.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from fleetcore.core.schemas import Currency, MoneyIn, MoneyOut, money_out
from fleetcore.trips.invoice_service import ClientInvoiceDraft
from fleetcore.trips.models import ClientInvoice
from fleetcore.trips.settlement_schemas import Week

_INVOICE_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8db0"
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ClientInvoiceCreate(BaseModel):
    """Group a client's completed trips of a period (trips name the client in
    ``metadata.client_ref``) into a draft invoice."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "client_ref": "acme", "client_name": "ACME SAS", "client_tax_id": "FR40303265045",
        "client_address": "1 rue de la Paix, 75002 Paris", "client_email": "ap@acme.example",
        "period_start": "2026-11-01", "period_end": "2026-11-30", "currency": "EUR"}]})

    client_ref: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    client_name: Text
    client_tax_id: Text | None = None
    client_address: Annotated[str, StringConstraints(max_length=500)] | None = None
    client_email: Annotated[str, StringConstraints(max_length=320)] | None = None
    period_start: Week
    period_end: Week
    currency: Currency

    @model_validator(mode="after")
    def _period(self) -> ClientInvoiceCreate:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self

    def to_draft(self) -> ClientInvoiceDraft:
        return ClientInvoiceDraft(
            client_ref=self.client_ref, client_name=self.client_name,
            period_start=self.period_start, period_end=self.period_end, currency=self.currency,
            client_tax_id=self.client_tax_id, client_address=self.client_address,
            client_email=self.client_email)


class CreditNoteCreate(BaseModel):
    """A correction of an issued invoice: all that is left of it, or ``amount`` (tax
    included, as the invoice's total)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"amount": {"amount": "24.00", "currency": "EUR"}, "reason": "Trip t-42 was cancelled"},
        {"reason": "Invoiced to the wrong client"}]})

    amount: MoneyIn | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=500)]

    def amount_for(self, currency: str) -> Decimal | None:
        if self.amount is None:
            return None
        money = self.amount.to_money()
        if money.currency != currency:
            raise ValueError(f"the invoice is in {currency}, not {money.currency}")
        return money.amount


class SelfBilledIssue(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"week": "2026-11-16"}]})

    week: Week = Field(description="Any local day of the week to invoice.")


class ClientInvoiceOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _INVOICE_ID, "kind": "invoice", "corrects_invoice_id": None, "driver_id": None,
        "client_name": "ACME SAS", "client_tax_id": "FR40303265045", "client_address": None,
        "client_email": None, "series": "client_invoice_2026", "invoice_number": "F-2026-000042",
        "period_start": "2026-11-01", "period_end": "2026-11-30",
        "subtotal": {"amount": "100.00", "currency": "EUR"},
        "tax_rate_pct": "20.0000", "tax": {"amount": "20.00", "currency": "EUR"},
        "total": {"amount": "120.00", "currency": "EUR"}, "status": "issued",
        "issued_on": "2026-12-01", "due_on": "2026-12-31", "version": 2}]})

    id: uuid.UUID
    kind: str = Field(description="invoice or credit_note.")
    corrects_invoice_id: uuid.UUID | None
    driver_id: uuid.UUID | None = Field(description="Set on self-billed invoices: the driver "
                                                    "invoiced for.")
    client_name: str
    client_tax_id: str | None
    client_address: str | None
    client_email: str | None
    series: str
    invoice_number: str | None = Field(description="Given at finalisation, gapless per "
                                                   "series and year.")
    period_start: date | None
    period_end: date | None
    subtotal: MoneyOut
    tax_rate_pct: str | None
    tax: MoneyOut
    total: MoneyOut
    status: str
    issued_on: date | None
    due_on: date | None
    version: int

    @classmethod
    def of(cls, row: ClientInvoice) -> ClientInvoiceOut:
        def m(amount: Decimal) -> MoneyOut:
            found = money_out(amount, row.currency)
            assert found is not None
            return found

        return cls(
            id=row.id, kind=row.kind, corrects_invoice_id=row.corrects_invoice_id,
            driver_id=row.driver_id, client_name=row.client_name,
            client_tax_id=row.client_tax_id, client_address=row.client_address,
            client_email=row.client_email, series=row.series,
            invoice_number=row.invoice_number, period_start=row.period_start,
            period_end=row.period_end, subtotal=m(row.subtotal),
            tax_rate_pct=str(row.tax_rate_pct) if row.tax_rate_pct is not None else None,
            tax=m(row.tax), total=m(row.total), status=row.status, issued_on=row.issued_on,
            due_on=row.due_on, version=row.version)


class SelfBilledIssueOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"week": "2026-11-16",
                                                               "invoices": []}]})

    week: date
    invoices: list[ClientInvoiceOut]
