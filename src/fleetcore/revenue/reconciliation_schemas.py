"""Request and response models of the reconciliations API.

A run's header says how many trips matched and how many are discrepancies of each kind, and
the drift (report total - internal total, signed); its items list the discrepancies one by
one, each with the amounts compared and the trip/report row it comes from.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fleetcore.core.schemas import MoneyIn, MoneyOut, money_out
from fleetcore.revenue.models import (
    Reconciliation,
    ReconciliationItem,
    ReconciliationItemKind,
    ReconciliationStatus,
)

_RUN_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d10"
_PLATFORM_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d02"
_IMPORT_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d04"


class ReconciliationCreate(BaseModel):
    """Reconcile a platform's report with the trips of a period."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "platform_id": _PLATFORM_ID, "period_start": "2026-11-16T00:00:00+01:00",
        "period_end": "2026-11-23T00:00:00+01:00",
        "tolerance": {"amount": "0.05", "currency": "EUR"},
    }]})

    platform_id: uuid.UUID
    period_start: AwareDatetime = Field(description="Start of the period, included.")
    period_end: AwareDatetime = Field(description="End of the period, excluded.")
    import_id: uuid.UUID | None = Field(
        default=None,
        description="Compare this committed import only; by default every committed "
        "per-trip payments report of the platform for the period.")
    tolerance: MoneyIn = Field(
        description="A fare or commission difference up to this amount (included) counts as "
        "matched. Its currency is the reconciliation's: every row and trip of the period must "
        "be in it.")


class ReconciliationOut(BaseModel):
    """One reconciliation run and its totals."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _RUN_ID, "platform_id": _PLATFORM_ID, "import_id": None,
        "period_start": "2026-11-15T23:00:00Z", "period_end": "2026-11-22T23:00:00Z",
        "status": "completed", "tolerance": {"amount": "0.05", "currency": "EUR"},
        "matched_count": 1204, "missing_internal_count": 3, "missing_platform_count": 1,
        "fare_mismatch_count": 2, "commission_mismatch_count": 0, "cash_mismatch_count": 1,
        "gps_mismatch_count": 2, "outside_shift_count": 1,
        "amount_discrepancy": {"amount": "41.30", "currency": "EUR"}, "currency": "EUR",
        "run_by": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d01", "started_at": "2026-11-23T09:00:00Z",
        "finished_at": "2026-11-23T09:00:01Z", "error": None,
        "items": f"/v1/reconciliations/{_RUN_ID}/items",
        "created_at": "2026-11-23T09:00:00Z",
    }]})

    id: uuid.UUID
    platform_id: uuid.UUID
    import_id: uuid.UUID | None
    period_start: datetime
    period_end: datetime
    status: ReconciliationStatus = Field(
        description="`completed`, or `failed` with `error` (nothing itemised).")
    tolerance: MoneyOut
    matched_count: int = Field(description="Trips in both, amounts within the tolerance.")
    missing_internal_count: int = Field(description="Trip ids in the report, not in the trips.")
    missing_platform_count: int = Field(description="Trips with money not in the report.")
    fare_mismatch_count: int
    commission_mismatch_count: int
    cash_mismatch_count: int = Field(
        description="Trips whose cash collected differs from the report's beyond the tolerance.")
    gps_mismatch_count: int = Field(
        description="Trips the vehicle's GPS contradicts: `trip_not_moving`, `pickup_far`, "
        "`dropoff_far` items.")
    outside_shift_count: int = Field(
        description="Stretches of vehicle movement in the period outside the shifts of the "
        "driver who had it. They belong to no platform, so they are not items of the run: each "
        "is one vehicle event (`GET /v1/vehicle-events`, source `system`), recorded once "
        "whatever the number of runs; every platform's run of the period counts the same "
        "stretches.")
    amount_discrepancy: MoneyOut = Field(
        description="Report fares - internal fares over the period, signed: the drift.")
    currency: str
    run_by: uuid.UUID | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    items: str = Field(description="Where the itemised discrepancies are listed.")
    created_at: datetime


def reconciliation_out(run: Reconciliation) -> ReconciliationOut:
    """The API form of a run."""
    tolerance = money_out(run.tolerance_amount, run.currency)
    drift = money_out(run.amount_discrepancy, run.currency)
    assert tolerance is not None
    assert drift is not None
    return ReconciliationOut(
        id=run.id, platform_id=run.platform_id, import_id=run.import_id,
        period_start=run.period_start, period_end=run.period_end,
        status=ReconciliationStatus(run.status), tolerance=tolerance,
        matched_count=run.matched_count, missing_internal_count=run.missing_internal_count,
        missing_platform_count=run.missing_platform_count,
        fare_mismatch_count=run.fare_mismatch_count,
        commission_mismatch_count=run.commission_mismatch_count,
        cash_mismatch_count=run.cash_mismatch_count, gps_mismatch_count=run.gps_mismatch_count,
        outside_shift_count=run.outside_shift_count, amount_discrepancy=drift,
        currency=run.currency, run_by=run.run_by, started_at=run.started_at,
        finished_at=run.finished_at, error=run.error,
        items=f"/v1/reconciliations/{run.id}/items", created_at=run.created_at)


class ReconciliationItemOut(BaseModel):
    """One discrepancy: what the report and the trips say, and the difference."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d11", "reconciliation_id": _RUN_ID,
        "kind": "fare_mismatch", "external_trip_id": "5d1c0a6e-2f4b-4c3d-9e8f-7a6b5c4d3e2f",
        "trip_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d12",
        "import_row_id": None,
        "report_amount": {"amount": "27.50", "currency": "EUR"},
        "internal_amount": {"amount": "25.00", "currency": "EUR"},
        "difference": {"amount": "2.50", "currency": "EUR"},
        "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d14", "report_rows": 2,
        "trip_at": "2026-11-17T10:42:00Z", "trip_outside_period": False,
        "report_fare": {"amount": "27.50", "currency": "EUR"},
        "internal_fare": {"amount": "25.00", "currency": "EUR"},
        "report_commission": {"amount": "6.25", "currency": "EUR"},
        "internal_commission": {"amount": "6.25", "currency": "EUR"},
    }]})

    id: uuid.UUID
    reconciliation_id: uuid.UUID
    kind: ReconciliationItemKind = Field(
        description="`missing_internal`: in the report, not in the period's trips; "
        "`missing_platform`: a trip the report does not have; `fare_mismatch` / "
        "`commission_mismatch` / `cash_mismatch`: both have it, the amounts differ beyond the "
        "tolerance; `trip_not_moving`, `pickup_far`, `dropoff_far`: the vehicle's GPS "
        "contradicts the trip; `use_outside_shift`: only in runs made before these became "
        "vehicle events (see `outside_shift_count`). `reason` says why in words.")
    external_trip_id: str | None
    trip_id: uuid.UUID | None = Field(
        description="The internal trip (for `missing_internal`: the same trip id found in "
        "another period, see `trip_outside_period`).")
    import_row_id: uuid.UUID | None = Field(
        description="For a trip the period's trips do not have (`missing_internal`): its first "
        "report row. The other kinds link the trip; its report rows share its trip id.")
    report_amount: MoneyOut | None = Field(
        description="The report's fare (commission for `commission_mismatch`), summed over the "
        "trip's rows; null when the report does not have the trip.")
    internal_amount: MoneyOut | None = Field(
        description="The trip's fare (commission for `commission_mismatch`); null when there "
        "is no trip in the period.")
    difference: MoneyOut = Field(description="report - internal, a missing side counting 0.")
    driver_id: uuid.UUID | None
    report_rows: int | None = Field(description="How many report rows the trip has.")
    trip_at: datetime | None = Field(description="The trip's time (end, else start, else "
                                     "request).")
    trip_outside_period: bool = Field(
        description="The report's trip exists, but in another period (e.g. a late fare "
        "adjustment or tip of an older trip).")
    report_fare: MoneyOut | None
    internal_fare: MoneyOut | None
    report_commission: MoneyOut | None
    internal_commission: MoneyOut | None
    report_cash: MoneyOut | None = None
    internal_cash: MoneyOut | None = None
    reason: str | None = Field(default=None, description="Why, in words (GPS and shift items).")
    vehicle_id: uuid.UUID | None = Field(default=None, description="GPS and shift items.")
    gps: dict[str, Any] | None = Field(
        default=None,
        description="What the GPS check measured: `gps_points`, `max_speed_kmh`, `spread_m` "
        "(`trip_not_moving`), `distance_m` (`pickup_far`, `dropoff_far`), `since`, `until`, "
        "`moving_minutes` (`use_outside_shift`).")


_GPS_KEYS = ("gps_points", "max_speed_kmh", "spread_m", "distance_m", "since", "until",
             "moving_minutes")


def detail_decimal(details: dict[str, Any], key: str) -> Decimal | None:
    """An amount of an item's ``details`` (stored as a string: never through a float)."""
    value = details.get(key)
    return Decimal(str(value)) if value is not None else None


def detail_uuid(details: dict[str, Any], key: str) -> uuid.UUID | None:
    """An id of an item's ``details``."""
    value = details.get(key)
    return uuid.UUID(str(value)) if value else None


def detail_time(details: dict[str, Any], key: str) -> datetime | None:
    """A time of an item's ``details``."""
    value = details.get(key)
    return datetime.fromisoformat(str(value)) if value else None


def _detail_amount(details: dict[str, Any], key: str, currency: str) -> MoneyOut | None:
    return money_out(detail_decimal(details, key), currency)


def item_out(item: ReconciliationItem) -> ReconciliationItemOut:
    """The API form of an item (its ``details`` spelled out as typed fields)."""
    details = item.details or {}
    currency = item.currency
    difference = money_out(item.difference, currency)
    assert difference is not None
    report_rows = details.get("report_rows")
    return ReconciliationItemOut(
        id=item.id, reconciliation_id=item.reconciliation_id,
        kind=ReconciliationItemKind(item.kind), external_trip_id=item.external_trip_id,
        trip_id=item.trip_id, import_row_id=item.import_row_id,
        report_amount=money_out(item.report_amount, currency),
        internal_amount=money_out(item.internal_amount, currency), difference=difference,
        driver_id=detail_uuid(details, "driver_id"),
        report_rows=int(report_rows) if report_rows is not None else None,
        trip_at=detail_time(details, "trip_at"),
        trip_outside_period=bool(details.get("trip_outside_period", False)),
        report_fare=_detail_amount(details, "report_fare", currency),
        internal_fare=_detail_amount(details, "internal_fare", currency),
        report_commission=_detail_amount(details, "report_commission", currency),
        internal_commission=_detail_amount(details, "internal_commission", currency),
        report_cash=_detail_amount(details, "report_cash", currency),
        internal_cash=_detail_amount(details, "internal_cash", currency),
        reason=details.get("reason"), vehicle_id=detail_uuid(details, "vehicle_id"),
        gps={k: details[k] for k in _GPS_KEYS if k in details} or None)


__all__ = [
    "ReconciliationCreate",
    "ReconciliationItemOut",
    "ReconciliationOut",
    "detail_decimal",
    "detail_time",
    "detail_uuid",
    "item_out",
    "reconciliation_out",
]
