"""The filter specs of the trips lists (platform accounts, trips), shared by the API and console."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select

from fleetcore.core.pagination import equal_filters, range_filter
from fleetcore.trips.models import PlatformAccount, Trip


@dataclass(frozen=True, slots=True)
class PlatformAccountFilter:
    platform_id: uuid.UUID | None = None
    driver_id: uuid.UUID | None = None
    status: str | None = None
    # True: only accounts linked to no driver (what an import is waiting for).
    unlinked: bool = False
    external_account_id: str | None = None
    include_deleted: bool = False


def apply_platform_account_filter(
    statement: Select[Any], spec: PlatformAccountFilter
) -> Select[Any]:
    """``statement`` narrowed to ``spec``."""
    statement = equal_filters(statement, {
        PlatformAccount.platform_id: spec.platform_id,
        PlatformAccount.driver_id: spec.driver_id,
        PlatformAccount.status: spec.status,
        PlatformAccount.external_account_id: spec.external_account_id,
    })
    if spec.unlinked:
        statement = statement.where(PlatformAccount.driver_id.is_(None))
    if not spec.include_deleted:
        statement = statement.where(PlatformAccount.deleted_at.is_(None))
    return statement


@dataclass(frozen=True, slots=True)
class TripFilter:
    platform_id: uuid.UUID | None = None
    driver_id: uuid.UUID | None = None
    vehicle_id: uuid.UUID | None = None
    import_id: uuid.UUID | None = None
    status: str | None = None
    external_trip_id: str | None = None
    ended_since: datetime | None = None
    ended_before: datetime | None = None


def apply_trip_filter(statement: Select[Any], spec: TripFilter) -> Select[Any]:
    """``statement`` narrowed to ``spec`` (live trips only)."""
    statement = equal_filters(statement, {
        Trip.platform_id: spec.platform_id,
        Trip.driver_id: spec.driver_id,
        Trip.vehicle_id: spec.vehicle_id,
        Trip.import_id: spec.import_id,
        Trip.status: spec.status,
        Trip.external_trip_id: spec.external_trip_id,
    })
    statement = range_filter(statement, Trip.ended_at, since=spec.ended_since,
                             until=spec.ended_before)
    return statement.where(Trip.deleted_at.is_(None))
