"""Request and response models of odometer readings, maintenance schedules and records."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from fleetcore.core.schemas import MoneyIn, MoneyOut, money_out
from fleetcore.fleet.models import MaintenanceStatus, MaintenanceType, OdometerSource

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Km = Annotated[Decimal, Field(ge=0, le=Decimal("99999999.9"), decimal_places=1,
                              examples=["45210.5"])]


class Model(BaseModel):
    """Responses read attributes of ORM rows."""

    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    """Requests refuse unknown fields, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


# --- odometer readings ---------------------------------------------------------------------


class OdometerReadingCreate(Input):
    """A new reading. A correction names the reading it corrects and says why."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"odometer_km": "45210.5", "read_at": "2026-11-25T08:30:00+01:00", "source": "manual"},
    ]})

    odometer_km: Km
    read_at: AwareDatetime | None = Field(
        default=None, description="When the odometer showed this value; now when absent. "
        "A correction defaults to the corrected reading's time.")
    source: OdometerSource = OdometerSource.MANUAL
    corrects_reading_id: uuid.UUID | None = Field(
        default=None, description="The reading this one corrects (it may then go backwards).")
    reason: Text | None = Field(default=None, description="Required for a correction.")


class OdometerReadingOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000107",
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001",
        "read_at": "2026-11-25T08:30:00+01:00", "odometer_km": "41250.0", "source": "manual",
        "is_anomaly": False, "anomaly_reason": None, "corrects_reading_id": None,
        "correction_reason": None, "corrected_by_id": None, "trusted": True, "confirmed_at": None,
        "confirmed_by": None, "recorded_by": "0195f3c2-7a10-7000-8000-000000000003",
        "created_at": "2026-11-25T09:30:00Z", "version": 1,
    }]})

    id: uuid.UUID
    vehicle_id: uuid.UUID
    read_at: datetime
    odometer_km: Decimal
    source: OdometerSource
    is_anomaly: bool
    anomaly_reason: str | None = Field(description="Why the reading looks implausible.")
    corrects_reading_id: uuid.UUID | None
    correction_reason: str | None = None
    corrected_by_id: uuid.UUID | None = Field(
        default=None, description="The reading that corrects this one (it is then superseded).")
    trusted: bool = Field(
        default=True,
        description="Counts for the current odometer and due forecasts (not an unconfirmed "
        "anomaly, not superseded by a correction).")
    confirmed_at: datetime | None
    confirmed_by: uuid.UUID | None
    recorded_by: uuid.UUID | None
    created_at: datetime
    version: int


class OdometerConfirm(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"note": "Checked on the dashboard photo."}]})

    note: Text | None = None


# --- maintenance schedules -----------------------------------------------------------------


class DueStatus(StrEnum):
    OK = "ok"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


class ScheduleCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "vehicle_id": "01936f5e-0000-7000-8000-000000000001", "maintenance_type": "oil_change",
        "interval_km": 15000, "interval_days": 365, "last_done_km": "30000.0",
        "last_done_on": "2026-06-01", "reminder_lead_km": 1000, "reminder_lead_days": 14,
    }]})

    vehicle_id: uuid.UUID
    maintenance_type: MaintenanceType
    description: Text | None = None
    interval_km: int | None = Field(default=None, gt=0, le=1_000_000)
    interval_days: int | None = Field(default=None, gt=0, le=3660)
    last_done_km: Km | None = None
    last_done_on: date | None = None
    reminder_lead_km: int = Field(default=1000, ge=0, le=100_000)
    reminder_lead_days: int = Field(default=14, ge=0, le=365)
    active: bool = True


class ScheduleUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"interval_km": 20000, "reminder_lead_days": 21}]})

    description: Text | None = None
    interval_km: int | None = Field(default=None, gt=0, le=1_000_000)
    interval_days: int | None = Field(default=None, gt=0, le=3660)
    last_done_km: Km | None = None
    last_done_on: date | None = None
    reminder_lead_km: int | None = Field(default=None, ge=0, le=100_000)
    reminder_lead_days: int | None = Field(default=None, ge=0, le=365)
    active: bool | None = None


class ScheduleOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-00000000000b",
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001", "maintenance_type": "oil_change",
        "description": "Engine oil and filter", "interval_km": 15000, "interval_days": 365,
        "last_done_km": "30000.0", "last_done_on": "2026-02-10", "next_due_km": "45000.0",
        "next_due_on": "2027-02-10", "reminder_lead_km": 1000, "reminder_lead_days": 14,
        "active": True, "current_odometer_km": "41250.0", "due_status": "ok",
        "created_at": "2026-11-25T09:30:00Z", "updated_at": "2026-11-25T09:30:00Z",
        "deleted_at": None, "version": 2,
    }]})

    id: uuid.UUID
    vehicle_id: uuid.UUID
    maintenance_type: MaintenanceType
    description: str | None
    interval_km: int | None
    interval_days: int | None
    last_done_km: Decimal | None
    last_done_on: date | None
    next_due_km: Decimal | None
    next_due_on: date | None
    reminder_lead_km: int | None
    reminder_lead_days: int | None
    active: bool
    current_odometer_km: Decimal | None = Field(
        default=None, description="The vehicle's current trusted odometer.")
    due_status: DueStatus = DueStatus.OK
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int


# --- maintenance records -------------------------------------------------------------------


class MaintenanceCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "vehicle_id": "01936f5e-0000-7000-8000-000000000001", "maintenance_type": "oil_change",
        "scheduled_on": "2026-12-02", "provider": "Garage du Centre",
    }]})

    vehicle_id: uuid.UUID
    maintenance_type: MaintenanceType | None = Field(
        default=None, description="Defaults to the schedule's type.")
    schedule_id: uuid.UUID | None = None
    scheduled_on: date
    provider: ShortText | None = None
    description: Text | None = None
    cost: MoneyIn | None = None
    off_road_starts_at: AwareDatetime | None = None
    off_road_ends_at: AwareDatetime | None = None
    driver_at_fault: bool = False
    notes: Text | None = None


class MaintenanceUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "in_progress", "provider": "Garage du Centre"}]})

    status: MaintenanceStatus | None = Field(
        default=None, description="scheduled → in_progress → cancelled; completing is "
        "`POST .../complete`.")
    scheduled_on: date | None = None
    provider: ShortText | None = None
    description: Text | None = None
    cost: MoneyIn | None = None
    off_road_starts_at: AwareDatetime | None = None
    off_road_ends_at: AwareDatetime | None = None
    driver_at_fault: bool | None = None
    notes: Text | None = None


class MaintenanceComplete(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "completed_on": "2026-11-24", "odometer_km": "45210.0",
        "cost": {"amount": "189.90", "currency": "EUR"},
    }]})

    completed_on: date
    odometer_km: Km
    cost: MoneyIn | None = None
    provider: ShortText | None = None
    notes: Text | None = None


class MaintenanceOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000108",
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001",
        "schedule_id": "0195f3c2-7a10-7000-8000-00000000000b", "maintenance_type": "oil_change",
        "status": "completed", "scheduled_on": "2026-11-20", "completed_on": "2026-11-20",
        "odometer_km": "41000.0", "next_due_km": "56000.0", "next_due_on": "2027-11-20",
        "provider": "Garage du Parc", "description": "Engine oil and filter",
        "cost": {"amount": "189.90", "currency": "EUR"},
        "off_road_starts_at": "2026-11-20T08:00:00+01:00",
        "off_road_ends_at": "2026-11-20T12:00:00+01:00", "driver_at_fault": False, "notes": None,
        "created_at": "2026-11-25T09:30:00Z", "updated_at": "2026-11-25T09:30:00Z",
        "deleted_at": None, "version": 2,
    }]})

    id: uuid.UUID
    vehicle_id: uuid.UUID
    schedule_id: uuid.UUID | None
    maintenance_type: MaintenanceType
    status: MaintenanceStatus
    scheduled_on: date | None
    completed_on: date | None
    odometer_km: Decimal | None
    next_due_km: Decimal | None
    next_due_on: date | None
    provider: str | None
    description: str | None
    cost: MoneyOut | None = None
    off_road_starts_at: datetime | None
    off_road_ends_at: datetime | None
    driver_at_fault: bool
    notes: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int

    @classmethod
    def of(cls, row: Any) -> MaintenanceOut:
        """The API form of a ``flt_vehicle_maintenance`` row (cost as money)."""
        values = {name: getattr(row, name) for name in cls.model_fields if name != "cost"}
        return cls.model_validate({**values, "cost": money_out(row.cost, row.currency)})
