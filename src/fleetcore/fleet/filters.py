"""Typed filter and sort specs of the fleet lists, shared by the API and (later) the console.

Each spec is a frozen dataclass of the filters people use; ``None`` means "not filtered".
Sorts are keyset-friendly: a column plus ``id`` as the unique tie-breaker, both in the same
direction, so every sort pages with an opaque cursor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class VehicleSort(StrEnum):
    CREATED = "created"  # by id: UUIDv7 ids are in creation order
    CREATED_DESC = "-created"
    PLATE = "licence_plate"
    PLATE_DESC = "-licence_plate"
    YEAR = "year"
    YEAR_DESC = "-year"

    @property
    def descending(self) -> bool:
        """True for the ``-`` variants."""
        return self.value.startswith("-")


@dataclass(frozen=True, slots=True)
class VehicleFilter:
    """Filters of ``GET /v1/vehicles`` (and its CSV export)."""

    status: str | None = None
    make_id: uuid.UUID | None = None
    model_id: uuid.UUID | None = None
    vehicle_class_id: uuid.UUID | None = None
    country: str | None = None
    fuel_type: str | None = None
    ownership_type: str | None = None
    q: str | None = None
    include_deleted: bool = False
    sort: VehicleSort = VehicleSort.CREATED


@dataclass(frozen=True, slots=True)
class AssignmentFilter:
    """Filters of the assignment lists (history first: newest start first)."""

    vehicle_id: uuid.UUID | None = None
    driver_id: uuid.UUID | None = None
    status: str | None = None
    since: datetime | None = None  # assignments still running at or after this instant
    until: datetime | None = None  # assignments started before this instant


@dataclass(frozen=True, slots=True)
class InsuranceFilter:
    """Filters of ``GET /v1/vehicle-insurances``."""

    vehicle_id: uuid.UUID | None = None
    active: bool | None = None
    covering: date | None = None  # policies covering this day
    include_deleted: bool = False


@dataclass(frozen=True, slots=True)
class ExpenseFilter:
    """Filters of ``GET /v1/vehicle-expenses``."""

    vehicle_id: uuid.UUID | None = None
    driver_id: uuid.UUID | None = None
    category: str | None = None
    payment_method: str | None = None
    since: date | None = None
    until: date | None = None
    include_deleted: bool = False


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Filters of ``GET /v1/vehicle-events``."""

    vehicle_id: uuid.UUID | None = None
    driver_id: uuid.UUID | None = None
    event_type: str | None = None
    severity: str | None = None
    unresolved: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_deleted: bool = False
