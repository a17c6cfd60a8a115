"""Scheduling tables (``sch_``): shifts and their recurring series, maintenance schedules,
goals and the staff's tasks."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ColumnElement, Index, UniqueConstraint, func, literal, text
from sqlalchemy.ext.hybrid import hybrid_property
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
    live_unique,
    no_overlap,
    non_negative,
    tenant_fk,
)

# A schedule plans the jobs recorded in flt_vehicle_maintenance: one list of types for both.
from fleetcore.fleet.models import MaintenanceType, OdometerKm


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


class TaskType(StrEnum):
    VEHICLE_INSPECTION = "vehicle_inspection"
    DOCUMENT_VERIFICATION = "document_verification"
    ONBOARDING = "onboarding"
    MAINTENANCE = "maintenance"
    PAYOUT_REVIEW = "payout_review"
    OTHER = "other"


class TaskPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TaskStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"
    CANCELLED = "cancelled"


class TaskSource(StrEnum):
    MANUAL = "manual"
    SYSTEM = "system"


class TaskEntityType(StrEnum):
    """What a task can be about (``related_entity_type``); each names one tenant table."""

    DOCUMENT = "document"
    VEHICLE = "vehicle"
    DRIVER = "driver"
    MEMBER = "member"
    VEHICLE_ASSIGNMENT = "vehicle_assignment"
    VEHICLE_INSURANCE = "vehicle_insurance"
    VEHICLE_MAINTENANCE = "vehicle_maintenance"
    VEHICLE_EXPENSE = "vehicle_expense"
    MAINTENANCE_SCHEDULE = "maintenance_schedule"
    SHIFT = "shift"
    DRIVER_TRAINING = "driver_training"
    DRIVER_REQUEST = "driver_request"
    TRAFFIC_FINE = "traffic_fine"
    TOLL_TRANSACTION = "toll_transaction"
    PLATFORM_ACCOUNT = "platform_account"
    REVENUE_IMPORT = "revenue_import"
    RECONCILIATION = "reconciliation"
    SETTLEMENT = "settlement"
    PAYMENT_BATCH = "payment_batch"


TASK_ENTITY_TABLES: dict[TaskEntityType, tuple[str, bool]] = {
    TaskEntityType.DOCUMENT: ("doc_documents", True),
    TaskEntityType.VEHICLE: ("flt_vehicles", True),
    TaskEntityType.DRIVER: ("rid_drivers", True),
    TaskEntityType.MEMBER: ("adm_members", True),
    TaskEntityType.VEHICLE_ASSIGNMENT: ("flt_vehicle_assignments", True),
    TaskEntityType.VEHICLE_INSURANCE: ("flt_vehicle_insurances", True),
    TaskEntityType.VEHICLE_MAINTENANCE: ("flt_vehicle_maintenance", True),
    TaskEntityType.VEHICLE_EXPENSE: ("flt_vehicle_expenses", True),
    TaskEntityType.MAINTENANCE_SCHEDULE: ("sch_maintenance_schedules", True),
    TaskEntityType.SHIFT: ("sch_shifts", True),
    TaskEntityType.DRIVER_TRAINING: ("rid_driver_training", True),
    TaskEntityType.DRIVER_REQUEST: ("rid_driver_requests", False),
    TaskEntityType.TRAFFIC_FINE: ("fin_traffic_fines", True),
    TaskEntityType.TOLL_TRANSACTION: ("fin_toll_transactions", False),
    TaskEntityType.PLATFORM_ACCOUNT: ("trp_platform_accounts", True),
    TaskEntityType.REVENUE_IMPORT: ("rev_revenue_imports", False),
    TaskEntityType.RECONCILIATION: ("rev_reconciliations", False),
    TaskEntityType.SETTLEMENT: ("trp_settlements", False),
    TaskEntityType.PAYMENT_BATCH: ("fin_driver_payment_batches", False),
}
"""The table of each related entity type (all tenant-owned: the tenant's RLS applies) and
whether its rows are soft-deleted (``deleted_at``)."""


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


class MaintenanceSchedule(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """A recurring maintenance plan for a vehicle: every N km and/or N days."""

    __tablename__ = "sch_maintenance_schedules"

    vehicle_id: Mapped[uuid.UUID]
    maintenance_type: Mapped[str]
    description: Mapped[str | None]
    interval_km: Mapped[int | None]
    interval_days: Mapped[int | None]
    last_done_km: Mapped[OdometerKm | None]
    last_done_on: Mapped[date | None]
    next_due_km: Mapped[OdometerKm | None]
    next_due_on: Mapped[date | None]
    # How early the reminder goes out before the due km / date.
    reminder_lead_km: Mapped[int | None]
    reminder_lead_days: Mapped[int | None]
    active: Mapped[bool] = mapped_column(server_default=text("true"))

    __table_args__ = (
        tenant_fk("vehicle_id", "flt_vehicles"),
        enum_check("maintenance_type", MaintenanceType),
        CheckConstraint(
            "interval_km IS NOT NULL OR interval_days IS NOT NULL", name="has_an_interval"
        ),
        CheckConstraint("interval_km > 0", name="interval_km_positive"),
        CheckConstraint("interval_days > 0", name="interval_days_positive"),
        *non_negative("last_done_km", "next_due_km", "reminder_lead_km", "reminder_lead_days"),
        Index("ix_sch_maintenance_schedules_vehicle", "tenant_id", "vehicle_id"),
        # Due-date reminders.
        Index(
            "ix_sch_maintenance_schedules_next_due_on",
            "tenant_id",
            "next_due_on",
            postgresql_where=text("active AND deleted_at IS NULL"),
        ),
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


NO_DUE_DATE = datetime(9999, 12, 31, tzinfo=UTC)
"""Where a task without a due date sorts among dated ones: last."""


class Task(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """An item on the staff's to-do list, created by a member or by the system."""

    __tablename__ = "sch_tasks"

    title: Mapped[str]
    description: Mapped[str | None]
    task_type: Mapped[str] = mapped_column(server_default=TaskType.OTHER.value)
    # The entity the task is about (e.g. "document", "fin_traffic_fine"): polymorphic, so
    # no foreign key.
    related_entity_type: Mapped[str | None]
    related_entity_id: Mapped[uuid.UUID | None]
    assignee_id: Mapped[uuid.UUID | None]
    priority: Mapped[str] = mapped_column(server_default=TaskPriority.NORMAL.value)
    due_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(server_default=TaskStatus.OPEN.value)
    completed_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(server_default=TaskSource.MANUAL.value)
    # What a system task is about (e.g. "document_verification:<document id>"): the system
    # creates each such task once.
    dedup_key: Mapped[str | None]

    @hybrid_property
    def due_order(self) -> datetime:
        """The due date to sort by (undated tasks last): a keyset key that is never NULL."""
        return self.due_at or NO_DUE_DATE

    @due_order.inplace.expression
    @classmethod
    def _due_order_expression(cls) -> ColumnElement[datetime]:
        return func.coalesce(cls.due_at, literal(NO_DUE_DATE)).label("due_order")

    __table_args__ = (
        tenant_fk("assignee_id", "adm_members"),
        enum_check("task_type", TaskType),
        enum_check("priority", TaskPriority),
        enum_check("status", TaskStatus),
        enum_check("source", TaskSource),
        CheckConstraint("length(btrim(title)) > 0", name="title_not_blank"),
        CheckConstraint(
            "(related_entity_type IS NULL) = (related_entity_id IS NULL)",
            name="related_entity_complete",
        ),
        CheckConstraint("related_entity_type ~ '^[a-z_]+$'", name="related_entity_type_format"),
        CheckConstraint("status <> 'done' OR completed_at IS NOT NULL", name="done_has_time"),
        CheckConstraint("source <> 'system' OR dedup_key IS NOT NULL", name="system_has_dedup_key"),
        live_unique("sch_tasks", "tenant_id", "dedup_key"),
        Index("ix_sch_tasks_assignee", "tenant_id", "assignee_id", "status"),
        Index("ix_sch_tasks_status_due_at", "tenant_id", "status", "due_at"),
        Index(
            "ix_sch_tasks_related_entity", "tenant_id", "related_entity_type", "related_entity_id"
        ),
    )
