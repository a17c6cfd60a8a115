"""The staff's tasks (``sch_tasks``): a to-do list that members fill and that the system fills
through :mod:`fleetcore.tasks.system` (e.g. "verify this document").

A package of its own, below every domain that creates system tasks (documents today): the
scheduling domain, which shows and edits tasks, sits above the drivers and the fleet, which sit
above documents (decision 0023). The table keeps its ``sch_`` name.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ColumnElement, Index, func, literal
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    Base,
    SoftDeletable,
    TenantOwned,
    Timestamped,
    Versioned,
    enum_check,
    live_unique,
    tenant_fk,
)


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
