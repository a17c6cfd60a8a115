"""Request and response models of shifts, shift series, tasks and goals."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from fleetcore.core.schemas import Currency, MoneyOut
from fleetcore.scheduling.models import GoalMetric, GoalScope, GoalStatus, ShiftStatus
from fleetcore.tasks.models import TaskEntityType, TaskPriority, TaskSource, TaskStatus, TaskType


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("not an IANA time zone (Europe/Paris)") from exc
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class Model(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- shifts --------------------------------------------------------------------------------


class ShiftCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "driver_id": "01936f5e-0000-7000-8000-000000000002",
        "starts_at": "2026-12-01T08:00:00+01:00", "ends_at": "2026-12-01T16:00:00+01:00",
    }]})

    driver_id: uuid.UUID
    vehicle_id: uuid.UUID | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    notes: Text | None = None


class ShiftUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "in_progress"}, {"notes": "Airport runs."}]})

    vehicle_id: uuid.UUID | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    status: ShiftStatus | None = Field(
        default=None, description="scheduled → in_progress | missed; in_progress → completed. "
        "Cancel with `POST …/cancel`.")
    notes: Text | None = None


_SHIFT_EXAMPLE: dict[str, Any] = {
    "id": "0195f3c2-7a10-7000-8000-000000000120",
    "driver_id": "0195f3c2-7a10-7000-8000-000000000002",
    "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001",
    "series_id": "0195f3c2-7a10-7000-8000-00000000000a",
    "starts_at": "2026-11-30T08:00:00+01:00", "ends_at": "2026-11-30T16:00:00+01:00",
    "status": "scheduled", "notes": "Morning round", "created_at": "2026-11-25T09:30:00Z",
    "updated_at": "2026-11-25T09:30:00Z", "deleted_at": None, "version": 1,
}
_SERIES_EXAMPLE: dict[str, Any] = {
    "id": "0195f3c2-7a10-7000-8000-00000000000a",
    "driver_id": "0195f3c2-7a10-7000-8000-000000000002",
    "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001",
    "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "dtstart": "2026-11-30T08:00:00+01:00",
    "duration_s": 28800, "timezone": "Europe/Paris", "until": None, "active": True,
    "notes": "Morning round", "created_at": "2026-11-25T09:30:00Z", "version": 1,
}


class ShiftOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [_SHIFT_EXAMPLE]})

    id: uuid.UUID
    driver_id: uuid.UUID
    vehicle_id: uuid.UUID | None
    series_id: uuid.UUID | None
    starts_at: datetime
    ends_at: datetime
    status: ShiftStatus
    notes: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int


class ShiftSeriesCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "driver_id": "01936f5e-0000-7000-8000-000000000002",
        "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "dtstart": "2026-12-01T08:00:00",
        "duration_minutes": 480, "timezone": "Europe/Paris",
    }]})

    driver_id: uuid.UUID
    vehicle_id: uuid.UUID | None = None
    rrule: Annotated[str, StringConstraints(strip_whitespace=True, min_length=6,
                                            max_length=500)] = Field(
        description="An RFC 5545 RRULE value (the `RRULE:` prefix is optional), e.g. "
        "`FREQ=WEEKLY;BYDAY=MO,WE,FR`. No DTSTART inside: use `dtstart`.")
    dtstart: datetime = Field(
        description="The first occurrence's local start (wall-clock time in `timezone`); an "
        "offset, if given, is converted to `timezone`.")
    duration_minutes: int = Field(gt=0, le=1440)
    timezone: TimeZone
    until: AwareDatetime | None = Field(
        default=None, description="No occurrence starts after this instant.")
    notes: Text | None = None


class ShiftSeriesOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [_SERIES_EXAMPLE]})

    id: uuid.UUID
    driver_id: uuid.UUID
    vehicle_id: uuid.UUID | None
    rrule: str
    dtstart: datetime
    duration_s: int
    timezone: str
    until: datetime | None
    active: bool
    notes: str | None
    created_at: datetime
    version: int


class ShiftSeriesCreated(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "series": _SERIES_EXAMPLE, "shifts": [_SHIFT_EXAMPLE],
        "horizon_end": "2027-02-22T07:00:00Z"}]})

    series: ShiftSeriesOut
    shifts: list[ShiftOut] = Field(description="The materialised occurrences.")
    horizon_end: datetime = Field(
        description="Occurrences are materialised up to this instant (`until`, the RRULE's own "
        "end, or 12 weeks ahead, whichever is first).")


class SeriesCancelled(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "series": {**_SERIES_EXAMPLE, "active": False, "version": 2},
        "cancelled_shift_ids": [
            "0195f3c2-7a10-7000-8000-000000000120", "0195f3c2-7a10-7000-8000-000000000121"],
    }]})

    series: ShiftSeriesOut
    cancelled_shift_ids: list[uuid.UUID]


# --- tasks ---------------------------------------------------------------------------------


class TaskCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "title": "Check the tyres of AB-123-CD", "task_type": "vehicle_inspection",
        "priority": "high", "due_at": "2026-12-01T12:00:00+01:00",
    }]})

    title: Title
    description: Text | None = None
    task_type: TaskType = TaskType.OTHER
    related_entity_type: TaskEntityType | None = Field(
        default=None, description="What the task is about; related_entity_id names a live row "
        "of that type in the caller's fleet (404 otherwise).")
    related_entity_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    priority: TaskPriority = TaskPriority.NORMAL
    due_at: AwareDatetime | None = None


class TaskUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "in_progress"}, {"assignee_id": None, "priority": "urgent"}]})

    title: Title | None = None
    description: Text | None = None
    task_type: TaskType | None = None
    assignee_id: uuid.UUID | None = None
    priority: TaskPriority | None = None
    due_at: AwareDatetime | None = None
    status: TaskStatus | None = Field(
        default=None, description="open → in_progress | cancelled; in_progress → done | "
        "blocked | cancelled | open; blocked → in_progress | cancelled.")


class TaskOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000117",
        "title": "Verify Karim Benali's driving licence",
        "description": "Uploaded on 25 November.", "task_type": "document_verification",
        "related_entity_type": "document",
        "related_entity_id": "0195f3c2-7a10-7000-8000-000000000007",
        "assignee_id": "0195f3c2-7a10-7000-8000-000000000003", "priority": "high",
        "due_at": "2026-11-27T18:00:00+01:00", "status": "open", "completed_at": None,
        "source": "system",
        "dedup_key": "document_verification:0195f3c2-7a10-7000-8000-000000000007",
        "created_at": "2026-11-25T09:30:00Z", "updated_at": "2026-11-25T09:30:00Z",
        "deleted_at": None, "version": 1,
    }]})

    id: uuid.UUID
    title: str
    description: str | None
    task_type: TaskType
    related_entity_type: str | None
    related_entity_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    priority: TaskPriority
    due_at: datetime | None
    status: TaskStatus
    completed_at: datetime | None
    source: TaskSource
    dedup_key: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int


# --- goals ---------------------------------------------------------------------------------


class GoalCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "December revenue", "scope": "tenant", "metric": "revenue",
        "target": "25000.00", "currency": "EUR",
        "period_start": "2026-12-01T00:00:00+01:00", "period_end": "2027-01-01T00:00:00+01:00",
    }]})

    name: Title | None = None
    scope: GoalScope
    scope_id: uuid.UUID | None = Field(default=None, description="The driver or vehicle.")
    metric: GoalMetric
    target: Decimal = Field(ge=0, le=Decimal("99999999999999"), decimal_places=4,
                            description="Revenue in `currency`; trips a count; distance km; "
                            "utilisation a percentage 0-100; rating 1-5.")
    currency: Currency | None = Field(default=None, description="Required for revenue only.")
    period_start: AwareDatetime
    period_end: AwareDatetime


class GoalUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"target": "30000.00"}, {"status": "cancelled"}]})

    name: Title | None = None
    target: Decimal | None = Field(default=None, ge=0, le=Decimal("99999999999999"),
                                   decimal_places=4)
    period_start: AwareDatetime | None = None
    period_end: AwareDatetime | None = None
    status: GoalStatus | None = None


class GoalOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000118", "name": "December revenue",
        "scope": "driver", "scope_id": "0195f3c2-7a10-7000-8000-000000000002", "metric": "revenue",
        "target": "6000.0000", "currency": "EUR",
        "target_money": {"amount": "6000.00", "currency": "EUR"},
        "period_start": "2026-12-01T00:00:00+01:00", "period_end": "2027-01-01T00:00:00+01:00",
        "current_value": "1842.3000", "progress_pct": "30.71",
        "computed_at": "2026-11-25T09:30:00Z", "status": "active",
        "created_at": "2026-11-25T09:30:00Z", "updated_at": "2026-11-25T09:30:00Z", "version": 1,
    }]})

    id: uuid.UUID
    name: str | None
    scope: GoalScope
    scope_id: uuid.UUID | None
    metric: GoalMetric
    target: Decimal
    currency: str | None
    target_money: MoneyOut | None = None
    period_start: datetime
    period_end: datetime
    current_value: Decimal | None
    progress_pct: Decimal | None = Field(default=None, description="current / target x 100.")
    computed_at: datetime | None
    status: GoalStatus
    created_at: datetime
    updated_at: datetime
    version: int
