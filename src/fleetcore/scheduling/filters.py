"""Typed filter specs of the scheduling lists, shared by the API (and later the console)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ShiftFilter:
    """Filters of ``GET /v1/shifts``: shifts overlapping ``[starts_from, starts_to)``."""

    driver_id: uuid.UUID | None = None
    vehicle_id: uuid.UUID | None = None
    series_id: uuid.UUID | None = None
    status: str | None = None
    starts_from: datetime | None = None
    starts_to: datetime | None = None
    include_deleted: bool = False


@dataclass(frozen=True, slots=True)
class SeriesFilter:
    """Filters of ``GET /v1/shift-series``."""

    driver_id: uuid.UUID | None = None
    active: bool | None = None


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Filters of ``GET /v1/tasks``."""

    status: str | None = None
    assignee_id: uuid.UUID | None = None
    priority: str | None = None
    task_type: str | None = None
    source: str | None = None
    related_entity_type: str | None = None
    related_entity_id: uuid.UUID | None = None
    due_before: datetime | None = None
    include_deleted: bool = False
    # "created" (the default: creation order) or "due" (soonest due first, undated last).
    sort: str = "created"


@dataclass(frozen=True, slots=True)
class GoalFilter:
    """Filters of ``GET /v1/goals``."""

    scope: str | None = None
    scope_id: uuid.UUID | None = None
    metric: str | None = None
    status: str | None = None
    active_at: datetime | None = None
