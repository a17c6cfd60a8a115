"""Response models of ``/v1/drivers/{id}/statements``: one driver's week, grouped.

Amounts are signed as they affect the driver (positive: the fleet owes it to the driver);
``total`` is what the week pays the driver (negative: carried to the next week).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fleetcore.core.money import Money
from fleetcore.core.schemas import MoneyOut
from fleetcore.trips.statement_service import GROUP_ORDER, Statement


class StatementLanguage(StrEnum):
    EN = "en"
    FR = "fr"


def _money(amount: Decimal, currency: str) -> MoneyOut:
    return MoneyOut(**Money(amount, currency).to_api())


class FleetIdentityOut(BaseModel):
    name: str
    legal_name: str
    country: str
    vat_number: str | None
    registration_number: str | None
    address: str | None
    contact_email: str | None


class StatementSourceOut(BaseModel):
    line_id: uuid.UUID
    settlement_id: uuid.UUID
    line_type: str
    source_type: str = Field(description="import_row, trip, expense, toll, fine, term, "
                                         "request, settlement or manual.")
    source_id: uuid.UUID | None
    reference: str | None = Field(description="The trip id, fine reference, toll gate or "
                                              "terms version, when the source has one.")
    description: str
    service_date: date | None
    amount: MoneyOut


class StatementGroupOut(BaseModel):
    key: str = Field(description=f"One of {', '.join(GROUP_ORDER)}.")
    label: str = Field(description="The group's name in the statement's language.")
    platform_id: uuid.UUID | None
    amount: MoneyOut
    sources: list[StatementSourceOut]


class StatementPaymentOut(BaseModel):
    id: uuid.UUID
    batch_id: uuid.UUID
    status: str
    net: MoneyOut
    paid_at: datetime | None


class StatementPaymentGroupOut(BaseModel):
    state: str = Field(description="paid, in_payment, to_be_paid, or carried (a negative "
                                   "total is never paid: it carries over).")
    amount: MoneyOut = Field(description="What the payments pay, else the total to pay or "
                                         "carry.")
    payments: list[StatementPaymentOut]


_EUR = "EUR"
_EXAMPLE: dict[str, Any] = {
    "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9f", "driver_name": "Ana Borg",
    "language": "en", "week": "2026-11-16", "period_start": "2026-11-15T23:00:00Z",
    "period_end": "2026-11-22T23:00:00Z", "status": "confirmed",
    "fleet": {"name": "Borg Cabs", "legal_name": "Borg Cabs SAS", "country": "FR",
              "vat_number": "FR40303265045", "registration_number": None, "address": None,
              "contact_email": "owner@borg.example"},
    "groups": [
        {"key": "earnings", "label": "Earnings — Uber",
         "platform_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8da0",
         "amount": {"amount": "100.00", "currency": _EUR},
         "sources": [{"line_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8da2",
                      "settlement_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e",
                      "line_type": "platform_earning", "source_type": "import_row",
                      "source_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8da1", "reference": "t1",
                      "description": "trip completed order", "service_date": "2026-11-16",
                      "amount": {"amount": "100.00", "currency": _EUR}}]},
        {"key": "commission", "label": "Platform commission", "platform_id": None,
         "amount": {"amount": "-25.00", "currency": _EUR}, "sources": []}],
    "total": {"amount": "75.00", "currency": _EUR},
    "payment": {"state": "to_be_paid", "amount": {"amount": "75.00", "currency": _EUR},
                "payments": []},
    "ledger": {"amount": "75.00", "currency": _EUR},
    "settlement_ids": ["0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e"], "other_currencies": [],
    "invoice_number": "AF-2026-000042",
}


class StatementOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    driver_id: uuid.UUID
    driver_name: str
    language: StatementLanguage
    week: date = Field(description="The local Monday of the week.")
    period_start: datetime
    period_end: datetime
    status: str = Field(description="confirmed, provisional (some settlements are drafts) "
                                    "or empty.")
    fleet: FleetIdentityOut
    groups: list[StatementGroupOut]
    total: MoneyOut = Field(description="Sum of the groups and of the week's settlements' "
                                        "nets: paid to the driver, or carried when negative.")
    payment: StatementPaymentGroupOut
    ledger: MoneyOut | None = Field(description="The driver's balance movement posted for "
                                                "the week (equal to total once confirmed).")
    settlement_ids: list[uuid.UUID]
    other_currencies: list[str]
    invoice_number: str | None = Field(
        default=None, description="The week's self-billed invoice, when the fleet self-bills.")

    @classmethod
    def of(cls, s: Statement, labels: dict[str, str]) -> StatementOut:
        c = s.currency
        state = s.payment_state
        amount = (s.paid if state in ("paid", "in_payment")
                  else -s.total if state == "carried" else s.total)
        return cls(
            driver_id=s.driver_id, driver_name=s.driver_name,
            language=StatementLanguage(s.language), week=s.period.first_day,
            period_start=s.period.start, period_end=s.period.end, status=s.status,
            fleet=FleetIdentityOut(
                name=s.fleet.name, legal_name=s.fleet.legal_name, country=s.fleet.country,
                vat_number=s.fleet.vat_number,
                registration_number=s.fleet.registration_number, address=s.fleet.address,
                contact_email=s.fleet.contact_email),
            groups=[StatementGroupOut(
                key=g.key, label=labels[f"group_{g.key}"].format(platform=g.platform_name or ""),
                platform_id=g.platform_id, amount=_money(g.amount, c),
                sources=[StatementSourceOut(
                    line_id=x.line_id, settlement_id=x.settlement_id, line_type=x.line_type,
                    source_type=x.source_type, source_id=x.source_id, reference=x.reference,
                    description=x.description, service_date=x.service_date,
                    amount=_money(x.amount, c)) for x in g.sources],
            ) for g in s.groups],
            total=_money(s.total, c),
            payment=StatementPaymentGroupOut(
                state=state, amount=_money(amount, c),
                payments=[StatementPaymentOut(id=p.id, batch_id=p.batch_id, status=p.status,
                                              net=_money(p.net, p.currency), paid_at=p.paid_at)
                          for p in s.payments]),
            ledger=_money(s.ledger, c) if s.ledger is not None else None,
            settlement_ids=s.settlement_ids, other_currencies=s.other_currencies,
            invoice_number=s.invoice_number)


class StatementSendOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9f", "week": "2026-11-16",
        "email": "ana@fleet.example", "job": "4711"}]})

    driver_id: uuid.UUID
    week: date
    email: str = Field(description="Where the statement is sent.")
    job: str = Field(description="The queued e-mail job.")
