"""Scheduling tables (``sch_``): shifts and their recurring series, and goals.

Two ``sch_`` tables live elsewhere (decision 0023): maintenance schedules are the fleet's
(:mod:`fleetcore.fleet.models`) and the staff's tasks are :mod:`fleetcore.tasks`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    Base,
    CurrencyCode,
    SoftDeletable,
    TenantOwned,
    Timestamped,
    Versioned,
    currency_check,
    enum_check,
    no_overlap,
    non_negative,
    tenant_fk,
)


class ShiftStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    MISSED = "missed"


class GoalScope(StrEnum):
    TENANT = "tenant"
    DRIVER = "driver"
    VEHICLE = "vehicle"


class GoalMetric(StrEnum):
    REVENUE = "revenue"
    TRIPS = "trips"
    UTILISATION = "utilisation"
    DISTANCE = "distance"
    RATING = "rating"


class GoalStatus(StrEnum):
    ACTIVE = "active"
    ACHIEVED = "achieved"
    MISSED = "missed"
    CANCELLED = "cancelled"


class ShiftSeries(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """A recurring shift: an RFC 5545 RRULE whose occurrences are materialised in ``sch_shifts``."""

    __tablename__ = "sch_shift_series"

    driver_id: Mapped[uuid.UUID]
    vehicle_id: Mapped[uuid.UUID | None]
    # The RRULE value without the "RRULE:" prefix (e.g. "FREQ=WEEKLY;BYDAY=MO,TU"); parsed
    # and validated with python-dateutil by the API.
    rrule: Mapped[str]
    # The first occurrence's start; occurrences recur in ``timezone`` (wall-clock times
    # survive DST changes).
    dtstart: Mapped[datetime]
    duration_s: Mapped[int]
    # IANA time zone name.
    timezone: Mapped[str]
    # No occurrence starts after this instant; NULL = no end.
    until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    notes: Mapped[str | None]

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers"),
        tenant_fk("vehicle_id", "flt_vehicles"),
        CheckConstraint("rrule ~ '(^|;)FREQ=[A-Z]+'", name="rrule_has_freq"),
        CheckConstraint("duration_s > 0 AND duration_s <= 86400", name="duration_s_range"),
        CheckConstraint("length(timezone) > 0", name="timezone_not_blank"),
        CheckConstraint("until > dtstart", name="until_after_dtstart"),
        Index("ix_sch_shift_series_driver", "tenant_id", "driver_id"),
        Index("ix_sch_shift_series_vehicle", "tenant_id", "vehicle_id"),
    )


class Shift(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """A driver's working shift ``[starts_at, ends_at)``, alone or an occurrence of a series."""

    __tablename__ = "sch_shifts"

    driver_id: Mapped[uuid.UUID]
    vehicle_id: Mapped[uuid.UUID | None]
    series_id: Mapped[uuid.UUID | None]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(server_default=ShiftStatus.SCHEDULED.value)
    notes: Mapped[str | None]

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers"),
        tenant_fk("vehicle_id", "flt_vehicles"),
        tenant_fk("series_id", "sch_shift_series"),
        enum_check("status", ShiftStatus),
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        no_overlap(
            "ex_sch_shifts_driver",
            "tenant_id",
            "driver_id",
            start="starts_at",
            end="ends_at",
            where="status <> 'cancelled' AND deleted_at IS NULL",
        ),
        # One row per occurrence, deliberately not limited to live rows: a cancelled or
        # deleted occurrence stays as the series' exception, so re-expanding the RRULE
        # cannot bring it back.
        UniqueConstraint("tenant_id", "series_id", "starts_at"),
        Index("ix_sch_shifts_driver", "tenant_id", "driver_id", "starts_at"),
        Index("ix_sch_shifts_vehicle", "tenant_id", "vehicle_id", "starts_at"),
        Index("ix_sch_shifts_starts_at", "tenant_id", "starts_at"),
    )


class Goal(Base, TenantOwned, Timestamped, Versioned):
    """A target for the tenant, a driver or a vehicle over ``[period_start, period_end)``."""

    __tablename__ = "sch_goals"

    name: Mapped[str | None]
    scope: Mapped[str]
    # The driver or vehicle id (NULL for a tenant goal). Polymorphic, so no foreign key:
    # the service checks it exists in the tenant.
    scope_id: Mapped[uuid.UUID | None]
    metric: Mapped[str]
    target: Mapped[Decimal]
    # The currency of a revenue target.
    currency: Mapped[CurrencyCode | None]
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    current_value: Mapped[Decimal | None]
    computed_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(server_default=GoalStatus.ACTIVE.value)

    __table_args__ = (
        enum_check("scope", GoalScope),
        enum_check("metric", GoalMetric),
        enum_check("status", GoalStatus),
        currency_check("currency"),
        CheckConstraint("(scope = 'tenant') = (scope_id IS NULL)", name="scope_id_iff_not_tenant"),
        CheckConstraint(
            "(metric = 'revenue') = (currency IS NOT NULL)", name="currency_iff_revenue"
        ),
        CheckConstraint("period_end > period_start", name="period_end_after_start"),
        *non_negative("target"),
        Index("ix_sch_goals_scope", "tenant_id", "scope", "scope_id"),
        Index("ix_sch_goals_period", "tenant_id", "period_start"),
    )
