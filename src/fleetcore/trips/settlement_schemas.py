"""Request and response models of the settlements API, and the list's filter and sort spec.

Money crosses the API as ``{"amount": "12.50", "currency": "EUR"}`` (money.md). Header totals
are positive magnitudes except ``charges``, ``adjustments`` and ``net`` (what the fleet owes
the driver; negative = the driver owes the fleet); line amounts are signed as they affect the
driver.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from fleetcore.core.schemas import MoneyOut, SignedMoneyIn, money_out
from fleetcore.trips.models import (
    PayoutReceiver,
    Settlement,
    SettlementLine,
    SettlementLineSource,
    SettlementLineType,
    SettlementStatus,
)

_SETTLEMENT_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e"
_DRIVER_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9f"
_PLATFORM_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8da0"
_ROW_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8da1"


EARLIEST_WEEK = date(2000, 1, 3)
LATEST_WEEK = date(2099, 12, 31)
Week = Annotated[date, Field(ge=EARLIEST_WEEK, le=LATEST_WEEK)]
"""A local day naming a settlement week (bounded: weeks far outside any business are typos)."""


def _eur(amount: str) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


# --- list filter and sort ------------------------------------------------------------------


class SettlementSort(StrEnum):
    PERIOD = "period_start"
    PERIOD_DESC = "-period_start"
    NET = "net"
    NET_DESC = "-net"
    CREATED = "created"
    CREATED_DESC = "-created"

    @property
    def descending(self) -> bool:
        """True for the ``-`` variants."""
        return self.value.startswith("-")


@dataclass(frozen=True, slots=True)
class SettlementFilter:
    """Filters of ``GET /v1/settlements`` (and its CSV export); ``None`` = not filtered."""

    driver_id: uuid.UUID | None = None
    platform_id: uuid.UUID | None = None
    # True: only driver-level settlements (no platform); False: only platform ones.
    driver_level: bool | None = None
    status: str | None = None
    # Weeks (tenant's local days): settlements of the weeks holding these days and between.
    period_from: date | None = None
    period_to: date | None = None
    sort: SettlementSort = SettlementSort.PERIOD_DESC


# --- requests ------------------------------------------------------------------------------


class SettlementCompute(BaseModel):
    """Which week to (re)compute, and optionally for which drivers only."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"week": "2026-11-18"},
        {"week": "2026-11-18", "driver_ids": [_DRIVER_ID]},
    ]})

    week: Week = Field(description="Any local day of the week to compute (tenant's zone).",
                       examples=["2026-11-18"])
    driver_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=1000)] | None = Field(
        default=None, description="Only these drivers (all drivers when absent).")


Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class AdjustmentCreate(BaseModel):
    """A manual, signed adjustment of a draft settlement and why it is made."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "amount": _eur("-25.00"), "description": "Car wash not recorded as an expense",
        "service_date": "2026-11-19",
    }]})

    amount: SignedMoneyIn = Field(
        description="Positive adds to what the fleet owes the driver; in the settlement's "
                    "currency, a whole number of minor units.")
    description: Description = Field(description="The reason, shown to the driver.",
                                     examples=["Car wash not recorded as an expense"])
    service_date: date | None = Field(default=None, examples=["2026-11-19"])


class SettlementConfirm(BaseModel):
    """An explicit decision that goes with a confirmation (the body may be left out).

    A settlement whose earnings fell on days without accepted cooperation terms
    (``needs_terms``) took no fleet share on them; it is confirmed only with
    ``without_terms: true`` and the reason, recorded in the audit trail.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "without_terms": True,
        "reason": "Trial week agreed orally: the driver keeps all earnings",
    }]})

    without_terms: bool = Field(
        default=False, description="Confirm although some earnings had no accepted terms "
                                   "(the driver keeps them whole).")
    reason: Description | None = Field(
        default=None, description="Why; required with without_terms, kept in the audit trail.",
        examples=["Trial week agreed orally: the driver keeps all earnings"])

    @model_validator(mode="after")
    def _reason_with_decision(self) -> SettlementConfirm:
        if self.without_terms and self.reason is None:
            raise ValueError("give the reason for confirming without terms")
        return self


class SettlementVersion(BaseModel):
    """One settlement of a bulk confirmation and the version the caller saw (its If-Match)."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(examples=[_SETTLEMENT_ID])
    version: int = Field(ge=1, description="The version read (the ETag's number): a settlement "
                                           "changed since is reported stale, not confirmed.")


BULK_CONFIRM_MAX = 1000


class SettlementBulkConfirm(BaseModel):
    """Confirm many drafts at once, each against the version the caller saw.

    Settlements that ``need_terms`` are skipped (reported, left draft) unless
    ``without_terms`` is given with a reason, which then applies to each of them (one audit
    entry per settlement)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "items": [{"id": _SETTLEMENT_ID, "version": 3}],
    }, {
        "items": [{"id": _SETTLEMENT_ID, "version": 3}], "without_terms": True,
        "reason": "Trial week agreed orally: the driver keeps all earnings",
    }]})

    items: Annotated[list[SettlementVersion], Field(min_length=1, max_length=BULK_CONFIRM_MAX)]
    without_terms: bool = Field(
        default=False, description="Also confirm the selected settlements that need terms "
                                   "(the drivers keep those earnings whole).")
    reason: Description | None = Field(
        default=None, description="Why; required with without_terms, kept in the audit trail.")

    @model_validator(mode="after")
    def _reason_with_decision(self) -> SettlementBulkConfirm:
        if self.without_terms and self.reason is None:
            raise ValueError("give the reason for confirming without terms")
        ids = [item.id for item in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("each settlement once")
        return self

    def decision(self) -> SettlementConfirm | None:
        """The decision each settlement that needs terms is confirmed with (None: skip them)."""
        return (SettlementConfirm(without_terms=True, reason=self.reason)
                if self.without_terms else None)


# --- responses -----------------------------------------------------------------------------

_SETTLEMENT_EXAMPLE: dict[str, Any] = {
    "id": _SETTLEMENT_ID, "driver_id": _DRIVER_ID, "platform_id": _PLATFORM_ID,
    "period_start": "2026-11-16T00:00:00Z", "period_end": "2026-11-23T00:00:00Z",
    "period_first_day": "2026-11-16", "payout_receiver": "fleet", "trip_count": 42,
    "gross": _eur("1000.00"), "commission": _eur("250.00"), "tips": _eur("30.00"),
    "promotions": _eur("0.00"), "toll_refunds": _eur("12.00"),
    "cash_collected": _eur("120.00"), "fleet_share": _eur("187.50"), "charges": _eur("0.00"),
    "adjustments": _eur("0.00"), "net": _eur("484.50"), "currency": "EUR", "status": "draft",
    "confirmed_at": None, "confirmed_by": None, "payment_batch_id": None,
    "needs_terms": False, "days_without_terms": [],
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z", "version": 1,
}


class SettlementOut(BaseModel):
    """A settlement with its totals (each the sum of its lines of that type)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SETTLEMENT_EXAMPLE]})

    id: uuid.UUID
    driver_id: uuid.UUID
    platform_id: uuid.UUID | None = Field(
        description="Null for the driver-level settlement (rent and recharged costs).")
    period_start: datetime
    period_end: datetime
    period_first_day: date = Field(description="The week's first local day (Monday).")
    payout_receiver: PayoutReceiver | None
    trip_count: int
    gross: MoneyOut
    commission: MoneyOut
    tips: MoneyOut
    promotions: MoneyOut
    toll_refunds: MoneyOut
    cash_collected: MoneyOut
    fleet_share: MoneyOut
    charges: MoneyOut
    adjustments: MoneyOut
    net: MoneyOut = Field(description="What the fleet owes the driver (negative: a receivable).")
    currency: str
    status: SettlementStatus
    confirmed_at: datetime | None
    confirmed_by: uuid.UUID | None
    payment_batch_id: uuid.UUID | None
    needs_terms: bool = Field(
        description="Earnings fell on days without accepted cooperation terms: no fleet share "
                    "was taken on them. Confirming needs an explicit decision "
                    "(without_terms and a reason).")
    days_without_terms: list[date] = Field(
        description="The local days of those earnings (empty unless needs_terms).")
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, row: Settlement, first_day: date) -> SettlementOut:
        """The API form of ``row`` (``first_day``: its week's first local day)."""

        def money(value: object) -> MoneyOut:
            out = money_out(value, row.currency)  # type: ignore[arg-type]
            assert out is not None
            return out

        return cls(
            id=row.id, driver_id=row.driver_id, platform_id=row.platform_id,
            period_start=row.period_start, period_end=row.period_end,
            period_first_day=first_day,
            payout_receiver=PayoutReceiver(row.payout_receiver) if row.payout_receiver else None,
            trip_count=row.trip_count, gross=money(row.gross), commission=money(row.commission),
            tips=money(row.tips), promotions=money(row.promotions),
            toll_refunds=money(row.toll_refunds), cash_collected=money(row.cash_collected),
            fleet_share=money(row.fleet_share), charges=money(row.charges),
            adjustments=money(row.adjustments), net=money(row.net), currency=row.currency,
            status=SettlementStatus(row.status), confirmed_at=row.confirmed_at,
            confirmed_by=row.confirmed_by, payment_batch_id=row.payment_batch_id,
            needs_terms=row.needs_terms, days_without_terms=list(row.days_without_terms),
            created_at=row.created_at, updated_at=row.updated_at, version=row.version,
        )


class SettlementComputeOut(BaseModel):
    """The week computed, its draft settlements, and what had to be left out."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "period_start": "2026-11-16T00:00:00Z", "period_end": "2026-11-23T00:00:00Z",
        "period_first_day": "2026-11-16", "settlements": [_SETTLEMENT_EXAMPLE],
        "unlinked_rows": 3, "other_currency_rows": 0, "settlements_needing_terms": 0,
    }]})

    period_start: datetime
    period_end: datetime
    period_first_day: date
    settlements: list[SettlementOut]
    unlinked_rows: int = Field(
        description="Report rows of the week whose platform account is not linked to a "
                    "driver: settled once linked and recomputed.")
    other_currency_rows: int = Field(
        description="Rows in another currency than their settlement: left unsettled.")
    settlements_needing_terms: int = Field(
        description="Drafts with earnings on days without accepted cooperation terms "
                    "(needs_terms): the driver keeps those earnings whole unless terms are "
                    "accepted and the week recomputed.")


class SettlementLineOut(BaseModel):
    """One amount of a settlement and the source it comes from."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ROW_ID, "settlement_id": _SETTLEMENT_ID, "line_type": "platform_earning",
        "description": "Fare: trip completed order", "amount": _eur("18.40"),
        "source_type": "import_row", "source_id": _ROW_ID,
        "consumed_key": f"import_row:{_ROW_ID}", "service_date": "2026-11-18",
        "created_at": "2026-11-23T08:00:00Z",
    }]})

    id: uuid.UUID
    settlement_id: uuid.UUID
    line_type: SettlementLineType
    description: str
    amount: MoneyOut = Field(description="Signed: positive adds to what the driver is owed.")
    source_type: SettlementLineSource
    source_id: uuid.UUID | None
    consumed_key: str = Field(description="What the line consumes; a source is consumed by "
                                          "at most one confirmed settlement.")
    service_date: date | None
    created_at: datetime

    @classmethod
    def of(cls, row: SettlementLine) -> SettlementLineOut:
        """The API form of ``row``."""
        amount = money_out(row.amount, row.currency)
        assert amount is not None
        return cls(
            id=row.id, settlement_id=row.settlement_id,
            line_type=SettlementLineType(row.line_type), description=row.description,
            amount=amount, source_type=SettlementLineSource(row.source_type),
            source_id=row.source_id, consumed_key=row.consumed_key,
            service_date=row.service_date, created_at=row.created_at,
        )


class BulkRefusal(BaseModel):
    """A settlement of a bulk confirmation left as it was, and why (a problem's fields)."""

    id: uuid.UUID
    status: int = Field(description="The HTTP status its own confirmation would have had: 412 "
                                    "stale version, 409 not a draft or a source already "
                                    "settled, 404 unknown in this tenant.", examples=[412])
    title: str
    detail: str


class BulkSkipped(BaseModel):
    """A settlement needing terms, left draft because no decision to confirm without them."""

    id: uuid.UUID
    days_without_terms: list[date]


class BulkTotal(BaseModel):
    """The confirmed settlements of one currency."""

    currency: str = Field(examples=["EUR"])
    count: int
    net: MoneyOut = Field(description="Their net: what the fleet owes the drivers.")


class SettlementBulkConfirmOut(BaseModel):
    """What a bulk confirmation did: every requested settlement is in exactly one list."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "confirmed": [{**_SETTLEMENT_EXAMPLE, "status": "confirmed"}],
        "skipped_needs_terms": [{"id": _DRIVER_ID, "days_without_terms": ["2026-11-18"]}],
        "refused": [{"id": _PLATFORM_ID, "status": 412, "title": "Precondition failed",
                     "detail": "The settlement is at version 4; re-read it and confirm what "
                               "you see."}],
        "totals": [{"currency": "EUR", "count": 1, "net": _eur("82.75")}],
    }]})

    confirmed: list[SettlementOut]
    skipped_needs_terms: list[BulkSkipped]
    refused: list[BulkRefusal]
    totals: list[BulkTotal] = Field(description="Per currency, of the confirmed ones.")
