"""Response models of the ledger API: a driver's balances and statement of account.

Money crosses the API as ``{"amount": "12.50", "currency": "EUR"}`` (money.md). Amounts are
signed as they affect the driver: positive = the fleet owes the driver (more), negative = the
driver owes the fleet.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fleetcore.core.money import Money
from fleetcore.core.schemas import MoneyOut
from fleetcore.finance.service import DriverBalance, LedgerEntry

_DRIVER_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9f"
_ACCOUNT_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8db0"
_ENTRY_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8db1"
_EVENT_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8db2"
_SETTLEMENT_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e"
_LINE_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8db3"
_TERMS_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8db4"


def _eur(amount: str) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


class Position(StrEnum):
    OWED_TO_DRIVER = "owed_to_driver"
    OWED_BY_DRIVER = "owed_by_driver"
    SETTLED = "settled"


def position_of(balance: Money) -> tuple[Position, str]:
    """Who owes whom, and the sentence that says it."""
    magnitude = Money(abs(balance.amount), balance.currency).to_api()["amount"]
    if balance.amount > 0:
        return Position.OWED_TO_DRIVER, f"The fleet owes the driver {magnitude} {balance.currency}."
    if balance.amount < 0:
        return Position.OWED_BY_DRIVER, f"The driver owes the fleet {magnitude} {balance.currency}."
    return Position.SETTLED, "Nothing is owed either way."


class CurrencyBalanceOut(BaseModel):
    """The driver's balance in one currency."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "balance": _eur("-150.00"), "position": "owed_by_driver",
        "wording": "The driver owes the fleet 150.00 EUR.", "account_id": _ACCOUNT_ID}]})

    balance: MoneyOut = Field(description="Positive: the fleet owes the driver; negative: the "
                                          "driver owes the fleet.")
    position: Position
    wording: str
    account_id: uuid.UUID = Field(description="The driver's balance account in this currency.")

    @classmethod
    def of(cls, row: DriverBalance) -> CurrencyBalanceOut:
        """The API form of ``row``."""
        money = Money(row.balance, row.currency)
        position, wording = position_of(money)
        return cls(balance=MoneyOut(**money.to_api()), position=position, wording=wording,
                   account_id=row.account_id)


class DriverBalanceOut(BaseModel):
    """What the fleet owes the driver, or the driver owes the fleet, per currency, as of a day
    (by economic date: a week counts on its last day, whenever it was confirmed)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "driver_id": _DRIVER_ID, "as_of": "2026-03-31",
        "balances": [{"balance": _eur("-150.00"), "position": "owed_by_driver",
                      "wording": "The driver owes the fleet 150.00 EUR.",
                      "account_id": _ACCOUNT_ID}]}]})

    driver_id: uuid.UUID
    as_of: date | None = Field(description="Entries with an economic date on or before this "
                                            "day count; null: every entry.")
    balances: list[CurrencyBalanceOut] = Field(
        description="One per currency the driver has an account in; empty when nothing was "
                    "ever posted for them.")


class LedgerSourceOut(BaseModel):
    """Where an entry comes from: the settlement (week, platform) and its line, and the
    report row, trip, expense, toll, fine or payment behind it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "settlement",
        "label": "Settlement week of 2026-03-23 · driver-level · Rent: Rent 2026-03-23",
        "settlement_id": _SETTLEMENT_ID, "settlement_week": "2026-03-23", "platform_id": None,
        "platform": None, "settlement_line_id": _LINE_ID, "line_type": "rent",
        "line_description": "Rent 2026-03-23", "line_source_type": "term",
        "line_source_id": _TERMS_ID, "import_row_id": None, "import_id": None,
        "import_row_number": None, "trip_id": None, "expense_id": None, "toll_id": None,
        "fine_id": None, "payment_id": None}]})

    type: str = Field(description="reversal, settlement, payment, expense, toll, fine, trip or "
                                  "manual.")
    label: str
    settlement_id: uuid.UUID | None
    settlement_week: date | None = Field(description="First local day of the settled week.")
    platform_id: uuid.UUID | None
    platform: str | None
    settlement_line_id: uuid.UUID | None
    line_type: str | None
    line_description: str | None
    line_source_type: str | None
    line_source_id: uuid.UUID | None
    import_row_id: uuid.UUID | None
    import_id: uuid.UUID | None
    import_row_number: int | None
    trip_id: uuid.UUID | None
    expense_id: uuid.UUID | None
    toll_id: uuid.UUID | None
    fine_id: uuid.UUID | None
    payment_id: uuid.UUID | None


class LedgerEntryOut(BaseModel):
    """One entry of a driver's statement of account."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ENTRY_ID, "event_id": _EVENT_ID, "effective_on": "2026-03-29",
        "posted_at": "2026-04-02T09:15:00Z", "transaction_type": "rent",
        "description": "Rent 2026-03-23", "amount": _eur("-21.43"),
        "balance": _eur("-21.43"), "counterpart": {"kind": "revenue", "name": "Rent"},
        "reversal_of_id": None, "reversed_by_id": None,
        "source": LedgerSourceOut.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
    }]})

    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The business event (one settlement's posting, "
                                            "one reversal) the entry belongs to.")
    effective_on: date = Field(description="Economic date: the last day of the settled week "
                                           "for a settlement, else the business date.")
    posted_at: datetime
    transaction_type: str
    description: str | None
    amount: MoneyOut = Field(description="Signed as it affects the driver.")
    balance: MoneyOut = Field(description="The driver's balance in this currency after the "
                                          "entry (counting every earlier entry).")
    counterpart: dict[str, str] = Field(description="The other account: kind and name.")
    reversal_of_id: uuid.UUID | None
    reversed_by_id: uuid.UUID | None
    source: LedgerSourceOut

    @classmethod
    def of(cls, row: LedgerEntry) -> LedgerEntryOut:
        """The API form of ``row``."""
        amount = MoneyOut(**Money(row.amount, row.currency).to_api())
        balance = MoneyOut(**Money(row.balance, row.currency).to_api())
        source = LedgerSourceOut(
            type=row.source_type, label=row.source_label,
            **{name: getattr(row, name) for name in LedgerSourceOut.model_fields
               if name not in ("type", "label")})
        return cls(
            id=row.id, event_id=row.event_id, effective_on=row.effective_on,
            posted_at=row.posted_at, transaction_type=row.transaction_type,
            description=row.description, amount=amount, balance=balance,
            counterpart={"kind": row.counterpart_kind, "name": row.counterpart_name},
            reversal_of_id=row.reversal_of_id, reversed_by_id=row.reversed_by_id, source=source)
