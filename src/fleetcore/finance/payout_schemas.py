"""Request and response models of the payout API (``/v1/driver-payment-batches``,
``/v1/driver-payments``, drivers' payout accounts).

Money crosses the API as ``{"amount": "12.50", "currency": "EUR"}`` (money.md).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from fleetcore.core.schemas import Currency, MoneyOut
from fleetcore.finance.models import (
    Account,
    DriverPayment,
    DriverPaymentBatch,
    PaymentBatchMethod,
)

_DRIVER_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9f"
_BATCH_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8db0"
_PAYMENT_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8db1"
_ACCOUNT_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8db2"
_SETTLEMENT_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8db3"
_MEMBER_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8db4"


def _eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


_BATCH_EXAMPLE: dict[str, Any] = {
    "id": _BATCH_ID, "period_start": "2026-11-15T23:00:00Z", "period_end": "2026-11-22T23:00:00Z",
    "status": "approved", "method": "sepa_transfer", "gross_total": _eur("1250.00"),
    "deductions_total": _eur("250.00"), "net_total": _eur("1000.00"), "payment_count": 8,
    "created_by": _MEMBER_ID, "approved_by": _MEMBER_ID, "approved_at": "2026-11-24T09:30:00Z",
    "exported_at": None, "export_sha256": None, "external_reference": None,
    "carried_negative": {"drivers": 1, "amount": "-35.0000"}, "version": 3,
}
_PAYMENT_EXAMPLE: dict[str, Any] = {
    "id": _PAYMENT_ID, "batch_id": _BATCH_ID, "driver_id": _DRIVER_ID,
    "destination_account_id": _ACCOUNT_ID, "gross": _eur("120.00"),
    "deductions": _eur("30.00"), "net": _eur("90.00"),
    "deductions_detail": [
        {"type": "settlement", "settlement_id": _SETTLEMENT_ID,
         "description": "Rent and recharged costs", "period_start": "2026-11-15T23:00:00+00:00",
         "amount": "20.00"},
        {"type": "carried_over", "description": "Balance owed from earlier periods",
         "amount": "10.00"}],
    "settlements": [{"settlement_id": _SETTLEMENT_ID, "platform_id": None,
                     "period_start": "2026-11-15T23:00:00+00:00", "net": "-20.00"}],
    "carried_over": _eur("-10.00"), "status": "pending", "stripe_transfer_id": None,
    "end_to_end_id": None, "paid_at": None, "failure_reason": None, "attempt": 1, "version": 1,
}

EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2099, 12, 31)
Day = Annotated[date, Field(ge=EARLIEST_DAY, le=LATEST_DAY)]


def _money(amount: Any, currency: str) -> MoneyOut:
    from fleetcore.core.money import Money

    return MoneyOut(**Money(amount, currency).to_api())


# --- requests ------------------------------------------------------------------------------


class BatchDraft(BaseModel):
    """Which period's balances to pay, how, in which currency, and optionally to whom."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"period_first_day": "2026-11-16", "period_last_day": "2026-11-22",
         "method": "sepa_transfer"},
    ]})

    period_first_day: Day = Field(description="First local day of the period (tenant's zone).")
    period_last_day: Day = Field(description="Last local day of the period, included.")
    method: PaymentBatchMethod = Field(description="How the batch will be paid.")
    currency: Currency | None = Field(
        default=None, description="The batch's currency (the tenant's default when absent).")
    driver_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=10000)] | None = Field(
        default=None, description="Only these drivers (all drivers when absent).")

    @model_validator(mode="after")
    def _ordered(self) -> BatchDraft:
        if self.period_last_day < self.period_first_day:
            raise ValueError("period_last_day is before period_first_day")
        return self


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class PaymentFailure(BaseModel):
    """Why a payment failed or came back (a SEPA return's reason code, the bank's words)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "AC04 account closed"}]})

    reason: Reason


class BankAccountIn(BaseModel):
    """A driver's bank account for SEPA payouts; IBAN and BIC are checked (checksum, bank
    registry) before anything is stored."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX",
         "holder_name": "Ana Borg"}]})

    iban: Annotated[str, StringConstraints(strip_whitespace=True, min_length=15,
                                           max_length=42)]
    bic: Annotated[str, StringConstraints(strip_whitespace=True, min_length=8,
                                          max_length=11)] | None = None
    holder_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                  max_length=70)] | None = Field(
        default=None, description="The account holder as the bank knows them (the driver's "
                                  "name when absent).")
    currency: Currency | None = Field(default=None,
                                      description="The tenant's default currency when absent.")


class StripeAccountIn(BaseModel):
    """A driver's Stripe Connect account (``acct_…``) for transfers."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"stripe_account_id": "acct_1Nv0FGQ9RKHgCVdK"}]})

    stripe_account_id: Annotated[str, StringConstraints(pattern=r"^acct_[A-Za-z0-9]{1,64}$")]
    currency: Currency | None = None


# --- responses -----------------------------------------------------------------------------


class BatchOut(BaseModel):
    """A payout batch and its totals (sums over its payments that are not cancelled)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_BATCH_EXAMPLE]})

    id: uuid.UUID
    period_start: datetime
    period_end: datetime
    status: str
    method: str
    gross_total: MoneyOut
    deductions_total: MoneyOut
    net_total: MoneyOut
    payment_count: int
    created_by: uuid.UUID | None
    approved_by: uuid.UUID | None
    approved_at: datetime | None
    exported_at: datetime | None
    export_sha256: str | None
    external_reference: str | None
    carried_negative: dict[str, Any] = Field(
        description="Drivers whose balance is negative: carried to a later period, not paid.")
    version: int

    @classmethod
    def of(cls, row: DriverPaymentBatch) -> BatchOut:
        """The API form of ``row``."""
        return cls(
            id=row.id, period_start=row.period_start, period_end=row.period_end,
            status=row.status, method=row.method,
            gross_total=_money(row.gross_total, row.currency),
            deductions_total=_money(row.deductions_total, row.currency),
            net_total=_money(row.net_total, row.currency), payment_count=row.payment_count,
            created_by=row.created_by, approved_by=row.approved_by, approved_at=row.approved_at,
            exported_at=row.exported_at, export_sha256=row.export_sha256,
            external_reference=row.external_reference,
            carried_negative=dict((row.extra or {}).get("carried_negative") or {}),
            version=row.version)


class PaymentOut(BaseModel):
    """What a batch pays one driver, itemised: the settlements it pays, what is deducted and
    what was carried over from earlier periods."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PAYMENT_EXAMPLE]})

    id: uuid.UUID
    batch_id: uuid.UUID
    driver_id: uuid.UUID
    destination_account_id: uuid.UUID | None
    gross: MoneyOut
    deductions: MoneyOut
    net: MoneyOut
    deductions_detail: list[dict[str, Any]]
    settlements: list[dict[str, Any]] = Field(
        description="The confirmed settlements this payment pays (net signed as owed to the "
                    "driver).")
    carried_over: MoneyOut = Field(
        description="Balance from before these settlements (negative: owed by the driver).")
    status: str
    stripe_transfer_id: str | None
    end_to_end_id: str | None
    paid_at: datetime | None
    failure_reason: str | None
    attempt: int
    version: int

    @classmethod
    def of(cls, row: DriverPayment) -> PaymentOut:
        """The API form of ``row``."""
        extra = row.extra or {}
        return cls(
            id=row.id, batch_id=row.batch_id, driver_id=row.driver_id,
            destination_account_id=row.destination_account_id,
            gross=_money(row.gross, row.currency), deductions=_money(row.deductions, row.currency),
            net=_money(row.net, row.currency), deductions_detail=list(row.deductions_detail),
            settlements=list(extra.get("settlements") or []),
            carried_over=_money(extra.get("carried_over") or "0", row.currency),
            status=row.status, stripe_transfer_id=row.stripe_transfer_id,
            end_to_end_id=row.end_to_end_id, paid_at=row.paid_at,
            failure_reason=row.failure_reason, attempt=row.attempt, version=row.version)


class PayoutAccountOut(BaseModel):
    """A driver's payout destination (bank or Stripe Connect account). The IBAN is masked."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ACCOUNT_ID, "driver_id": _DRIVER_ID, "kind": "bank", "name": "Ana Borg",
        "currency": "EUR", "iban_masked": "DE89…3000", "bic": "COBADEFFXXX",
        "stripe_account_id": None, "status": "active", "version": 1}]})

    id: uuid.UUID
    driver_id: uuid.UUID
    kind: str
    name: str
    currency: str
    iban_masked: str | None
    bic: str | None
    stripe_account_id: str | None
    status: str
    version: int

    @classmethod
    def of(cls, row: Account) -> PayoutAccountOut:
        """The API form of ``row`` (never the full IBAN: personal data)."""
        masked = f"{row.iban[:4]}…{row.iban[-4:]}" if row.iban else None
        assert row.driver_id is not None
        return cls(id=row.id, driver_id=row.driver_id, kind=row.kind, name=row.name,
                   currency=row.currency, iban_masked=masked, bic=row.bic,
                   stripe_account_id=row.stripe_account_id, status=row.status,
                   version=row.version)


class DebtorIn(BaseModel):
    """The fleet's own bank account that SEPA payout files pay from."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=70)]
    iban: Annotated[str, StringConstraints(strip_whitespace=True, min_length=15,
                                           max_length=42)]
    bic: Annotated[str, StringConstraints(strip_whitespace=True, min_length=8,
                                          max_length=11)] | None = None


class PayoutSettingsIn(BaseModel):
    """The tenant's payout settings (replaced as a whole)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"four_eyes": True, "debtor": {"name": "Fleet SAS", "iban": "FR1420041010050500013M02606",
                                       "bic": "PSSTFRPPXXX"}}]})

    four_eyes: bool = Field(
        default=False, description="A batch is approved by a member other than its drafter.")
    debtor: DebtorIn | None = Field(
        default=None, description="The fleet's bank account (needed for SEPA files).")


class PayoutSettingsOut(BaseModel):
    """The tenant's payout settings; the debtor IBAN is masked."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "four_eyes": True, "debtor_name": "Fleet SAS", "debtor_iban_masked": "FR14…2606",
        "debtor_bic": "PSSTFRPPXXX"}]})

    four_eyes: bool
    debtor_name: str | None
    debtor_iban_masked: str | None
    debtor_bic: str | None

    @classmethod
    def of(cls, payouts: dict[str, Any]) -> PayoutSettingsOut:
        """The API form of ``adm_tenants.settings -> 'payouts'``."""
        debtor = payouts.get("debtor") if isinstance(payouts.get("debtor"), dict) else None
        iban = str(debtor["iban"]) if debtor and debtor.get("iban") else None
        return cls(four_eyes=payouts.get("four_eyes") is True,
                   debtor_name=debtor.get("name") if debtor else None,
                   debtor_iban_masked=f"{iban[:4]}…{iban[-4:]}" if iban else None,
                   debtor_bic=debtor.get("bic") if debtor else None)


class PaymentsPaid(BaseModel):
    """Which payments were paid (all the batch's open ones when absent)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"payment_ids": [_PAYMENT_ID]}, {}]})

    payment_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=10000)] | None = None
