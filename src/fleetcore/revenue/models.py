"""Revenue tables (``rev_``): platform report imports and their committed rows, driver
revenues per period, and reconciliations of reports against trips.

Imports post nothing to the ledger; driver revenues are computed from trips and import rows and
can be recomputed (``data-model.md``, One source of truth each).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    Base,
    CurrencyCode,
    JsonObject,
    MoneyAmount,
    TenantOwned,
    Timestamped,
    Versioned,
    WithMetadata,
    currency_check,
    enum_check,
    no_overlap,
    non_negative,
    set_checked_reference,
    sha256_check,
    tenant_fk,
)

# ---------------------------------------------------------------------------------------------
# rev_revenue_imports
# ---------------------------------------------------------------------------------------------


class ReportType(StrEnum):
    PAYMENTS_ORDER = "payments_order"
    PAYMENTS_DRIVER = "payments_driver"
    TRIP_ACTIVITY = "trip_activity"
    BOLT_WEEKLY = "bolt_weekly"
    BOLT_ORDERS = "bolt_orders"


MONEY_PRECEDENCE: dict[str, int] = {
    ReportType.PAYMENTS_ORDER.value: 1,
    ReportType.PAYMENTS_DRIVER.value: 2,
    ReportType.BOLT_ORDERS.value: 1,
    ReportType.BOLT_WEEKLY.value: 2,
}
"""Report types that carry money, finest first. For one driver, platform and week the driver
revenue, the performance and the settlement are computed from the finest type present, so a
weekly summary and the per-transaction report of the same week are never added together. Trip
activity reports carry no money."""

FINE_REPORT_TYPES: tuple[str, ...] = tuple(
    t for t, rank in MONEY_PRECEDENCE.items() if rank == min(MONEY_PRECEDENCE.values()))
"""The per-transaction reports: where present for a span they replace the weekly summaries."""


def money_precedence_sql() -> str:
    """:data:`MONEY_PRECEDENCE` as the rows of a SQL ``VALUES`` list: ``('payments_order', 1),
    …`` (join it as ``(VALUES …) p(report_type, rank)``)."""
    return ", ".join(f"('{t}', {rank})" for t, rank in MONEY_PRECEDENCE.items())


class ImportStatus(StrEnum):
    UPLOADED = "uploaded"
    VALIDATING = "validating"
    VALIDATED = "validated"
    FAILED = "failed"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled_back"


class RevenueImport(Base, TenantOwned, Timestamped, Versioned, WithMetadata):
    """One uploaded platform report and its journey: validation, preview, commit, rollback."""

    __tablename__ = "rev_revenue_imports"

    # NULL until detected (or told) from the file's headers.
    platform_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dir_platforms.id"))
    report_type: Mapped[str | None]
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    file_name: Mapped[str]
    sha256: Mapped[str] = mapped_column(CHAR(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # The raw file as uploaded, in the storage backend.
    storage_key: Mapped[str]
    status: Mapped[str] = mapped_column(server_default=ImportStatus.UPLOADED.value)
    rows_total: Mapped[int] = mapped_column(server_default=text("0"))
    rows_valid: Mapped[int] = mapped_column(server_default=text("0"))
    rows_invalid: Mapped[int] = mapped_column(server_default=text("0"))
    rows_duplicate: Mapped[int] = mapped_column(server_default=text("0"))
    error_summary: Mapped[str | None]
    # The downloadable list of row errors (row number, column, reason).
    errors_storage_key: Mapped[str | None]
    # What the preview/commit reports: totals, unknown accounts, unknown columns kept, ...
    summary: Mapped[JsonObject]
    imported_by: Mapped[uuid.UUID | None]
    started_at: Mapped[datetime | None]
    validated_at: Mapped[datetime | None]
    committed_at: Mapped[datetime | None]
    rolled_back_at: Mapped[datetime | None]
    rolled_back_by: Mapped[uuid.UUID | None]
    # How the file was read (detected, never guessed silently): e.g. fr_FR, cp1252, ';'.
    locale: Mapped[str | None]
    encoding: Mapped[str | None]
    delimiter: Mapped[str | None]

    __table_args__ = (
        # The same file is never imported twice; a failed or rolled-back one can be retried.
        Index(
            "uq_rev_revenue_imports_sha256_active",
            "tenant_id",
            "platform_id",
            "sha256",
            unique=True,
            postgresql_where=text("status IN ('validated', 'committed')"),
        ),
        enum_check("report_type", ReportType),
        enum_check("status", ImportStatus),
        sha256_check("sha256"),
        *non_negative("size_bytes", "rows_total", "rows_valid", "rows_invalid", "rows_duplicate"),
        CheckConstraint("rows_valid <= rows_total", name="rows_valid_within_total"),
        CheckConstraint("rows_invalid <= rows_total", name="rows_invalid_within_total"),
        CheckConstraint("rows_duplicate <= rows_total", name="rows_duplicate_within_total"),
        CheckConstraint("period_end > period_start", name="period_end_after_start"),
        CheckConstraint(
            "platform_id IS NOT NULL OR status IN ('uploaded', 'validating', 'failed')",
            name="validated_has_platform",
        ),
        CheckConstraint(
            "status NOT IN ('committed', 'rolled_back') OR committed_at IS NOT NULL",
            name="committed_has_committed_at",
        ),
        CheckConstraint(
            "status <> 'rolled_back' OR rolled_back_at IS NOT NULL",
            name="rolled_back_has_rolled_back_at",
        ),
        CheckConstraint("length(file_name) BETWEEN 1 AND 255", name="file_name_length"),
        # The target of the import rows' (tenant, import, platform) reference.
        UniqueConstraint("tenant_id", "id", "platform_id"),
        Index("ix_rev_revenue_imports_tenant_id_status", "tenant_id", "status"),
        Index(
            "ix_rev_revenue_imports_tenant_id_platform_period",
            "tenant_id",
            "platform_id",
            "period_start",
        ),
    )


# ---------------------------------------------------------------------------------------------
# rev_import_rows
# ---------------------------------------------------------------------------------------------


class ImportRow(Base, TenantOwned, Timestamped):
    """One committed report row, normalised by meaning (positive cash collected, positive
    payouts), kept for provenance, reconciliation and statements."""

    __tablename__ = "rev_import_rows"

    # One reference, (tenant, import, platform) → the import, stands for three: a row's tenant
    # and platform are its import's (decision 0004). Each foreign key is a check per inserted
    # row, and an import writes a million rows: the tenant and platform keys of their own
    # were a third of that work and proved nothing the import's key does not.
    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-100)
    import_id: Mapped[uuid.UUID]
    # Line number in the file, as the row errors quote it.
    row_number: Mapped[int]
    platform_id: Mapped[uuid.UUID]
    # The platform's driver identifier as in the file (Uber Driver UUID, Bolt phone/email).
    platform_account_ref: Mapped[str | None]
    driver_id: Mapped[uuid.UUID | None]
    external_trip_id: Mapped[str | None]
    external_transaction_id: Mapped[str | None]
    # The identity of the money this row carries, as the platform knows it, written by commit:
    # the transaction id of a per-transaction report (Uber), the order reference of a Bolt
    # order, ``week:<week start>:<account>`` for a weekly summary; NULL for rows that carry
    # none (trip activity). Unique per tenant and platform, so a transaction committed twice —
    # even by two imports committing at the same moment — is refused by the database
    # (decision 0006).
    transaction_key: Mapped[str | None]
    occurred_at: Mapped[datetime | None]
    # The platform's row description (e.g. "trip completed order", "trip fare adjust order").
    description: Mapped[str | None]
    earnings: Mapped[MoneyAmount | None]
    fare_gross: Mapped[MoneyAmount | None]
    commission: Mapped[MoneyAmount | None]
    tip: Mapped[MoneyAmount | None]
    tolls: Mapped[MoneyAmount | None]
    cash_collected: Mapped[MoneyAmount | None]
    payout: Mapped[MoneyAmount | None]
    promotions: Mapped[MoneyAmount | None]
    adjustments: Mapped[MoneyAmount | None]
    currency: Mapped[CurrencyCode]
    # Columns the platform mapping does not know, kept verbatim (header → raw value).
    extra_columns: Mapped[JsonObject]

    __table_args__ = (
        # (tenant_id, import_id, platform_id) → the import (cascading deletes) and driver_id
        # are set-checked references (decisions 0008 and 0012, migrations 0016 and 0025):
        # checked once per statement, see set_checked_reference below.
        UniqueConstraint("tenant_id", "import_id", "row_number"),
        # Each platform transaction counts once, whatever file or import brought it.
        Index(
            "uq_rev_import_rows_transaction_key",
            "tenant_id",
            "platform_id",
            "transaction_key",
            unique=True,
            postgresql_where=text("transaction_key IS NOT NULL"),
        ),
        currency_check(),
        CheckConstraint("row_number >= 1", name="row_number_positive"),
        Index(
            "ix_rev_import_rows_tenant_id_driver_occurred",
            "tenant_id",
            "driver_id",
            "occurred_at",
        ),
        # No index on the trip id: nothing looks report rows up by it one at a time
        # (decision 0018); reconciliation reads the period's rows through their imports.
    )


for _target in ("rid_drivers", "rev_revenue_imports"):
    set_checked_reference("rev_import_rows", _target)


# ---------------------------------------------------------------------------------------------
# rev_driver_revenues
# ---------------------------------------------------------------------------------------------


class DriverRevenueStatus(StrEnum):
    PROVISIONAL = "provisional"
    RECONCILED = "reconciled"
    SETTLED = "settled"


class DriverRevenue(Base, TenantOwned, Timestamped):
    """A driver's platform revenue for one period, computed from trips and import rows."""

    __tablename__ = "rev_driver_revenues"

    driver_id: Mapped[uuid.UUID]
    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dir_platforms.id"))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    gross: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    platform_fees: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    tips: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    tolls: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    bonuses: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    # Signed: fare corrections and late adjustments can go either way.
    adjustments: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    net: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    trip_count: Mapped[int] = mapped_column(server_default=text("0"))
    currency: Mapped[CurrencyCode]
    import_id: Mapped[uuid.UUID | None]
    reconciliation_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(server_default=DriverRevenueStatus.PROVISIONAL.value)

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers"),
        tenant_fk("import_id", "rev_revenue_imports"),
        tenant_fk("reconciliation_id", "rev_reconciliations"),
        UniqueConstraint(
            "tenant_id",
            "driver_id",
            "platform_id",
            "period_start",
            name="uq_rev_driver_revenues_driver_platform_period",
        ),
        no_overlap(
            "ex_rev_driver_revenues_period",
            "tenant_id",
            "driver_id",
            "platform_id",
            start="period_start",
            end="period_end",
        ),
        enum_check("status", DriverRevenueStatus),
        currency_check(),
        *non_negative("gross", "platform_fees", "tips", "tolls", "bonuses", "trip_count"),
        CheckConstraint("period_end > period_start", name="period_end_after_start"),
        Index(
            "ix_rev_driver_revenues_tenant_id_platform_period",
            "tenant_id",
            "platform_id",
            "period_start",
        ),
        Index("ix_rev_driver_revenues_tenant_id_import_id", "tenant_id", "import_id"),
    )


# ---------------------------------------------------------------------------------------------
# rev_reconciliations, rev_reconciliation_items
# ---------------------------------------------------------------------------------------------


class ReconciliationStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class Reconciliation(Base, TenantOwned, Timestamped):
    """One run comparing a platform's report with internal trips for a period."""

    __tablename__ = "rev_reconciliations"

    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dir_platforms.id"))
    import_id: Mapped[uuid.UUID | None]
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(server_default=ReconciliationStatus.RUNNING.value)
    # A fare or commission difference up to this amount counts as matched.
    tolerance_amount: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    matched_count: Mapped[int] = mapped_column(server_default=text("0"))
    # In the report, not in trips.
    missing_internal_count: Mapped[int] = mapped_column(server_default=text("0"))
    # In trips, not in the report.
    missing_platform_count: Mapped[int] = mapped_column(server_default=text("0"))
    fare_mismatch_count: Mapped[int] = mapped_column(server_default=text("0"))
    commission_mismatch_count: Mapped[int] = mapped_column(server_default=text("0"))
    cash_mismatch_count: Mapped[int] = mapped_column(server_default=text("0"))
    # Trips whose GPS contradicts them (not moving, far from the pickup or the drop-off).
    gps_mismatch_count: Mapped[int] = mapped_column(server_default=text("0"))
    # Stretches of vehicle movement outside the shifts of the driver who had it.
    outside_shift_count: Mapped[int] = mapped_column(server_default=text("0"))
    # Report total - internal total (signed).
    amount_discrepancy: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    currency: Mapped[CurrencyCode]
    run_by: Mapped[uuid.UUID | None]
    started_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None]

    __table_args__ = (
        tenant_fk("import_id", "rev_revenue_imports"),
        enum_check("status", ReconciliationStatus),
        currency_check(),
        *non_negative(
            "tolerance_amount",
            "matched_count",
            "missing_internal_count",
            "missing_platform_count",
            "fare_mismatch_count",
            "commission_mismatch_count",
            "cash_mismatch_count",
            "gps_mismatch_count",
            "outside_shift_count",
        ),
        CheckConstraint("period_end > period_start", name="period_end_after_start"),
        CheckConstraint("finished_at >= started_at", name="finished_after_started"),
        CheckConstraint(
            "status = 'running' OR finished_at IS NOT NULL", name="finished_has_finished_at"
        ),
        CheckConstraint("status <> 'failed' OR error IS NOT NULL", name="failed_has_error"),
        Index(
            "ix_rev_reconciliations_tenant_id_platform_period",
            "tenant_id",
            "platform_id",
            "period_start",
        ),
        Index("ix_rev_reconciliations_tenant_id_import_id", "tenant_id", "import_id"),
    )


class ReconciliationItemKind(StrEnum):
    MISSING_INTERNAL = "missing_internal"
    MISSING_PLATFORM = "missing_platform"
    FARE_MISMATCH = "fare_mismatch"
    COMMISSION_MISMATCH = "commission_mismatch"
    # The trip's cash (what the driver declared) differs from the report's beyond tolerance.
    CASH_MISMATCH = "cash_mismatch"
    # GPS checks (``fleet/gps_checks.py``): no movement during the trip, GPS far from the
    # pickup or the drop-off, the vehicle moving outside its driver's shifts.
    TRIP_NOT_MOVING = "trip_not_moving"
    PICKUP_FAR = "pickup_far"
    DROPOFF_FAR = "dropoff_far"
    USE_OUTSIDE_SHIFT = "use_outside_shift"


class ReconciliationItem(Base, TenantOwned, Timestamped):
    """One discrepancy found by a reconciliation run."""

    __tablename__ = "rev_reconciliation_items"

    reconciliation_id: Mapped[uuid.UUID]
    kind: Mapped[str]
    external_trip_id: Mapped[str | None]
    trip_id: Mapped[uuid.UUID | None]
    import_row_id: Mapped[uuid.UUID | None]
    report_amount: Mapped[MoneyAmount | None]
    internal_amount: Mapped[MoneyAmount | None]
    # report_amount - internal_amount (a missing side counts as 0).
    difference: Mapped[MoneyAmount]
    currency: Mapped[CurrencyCode]
    details: Mapped[JsonObject]

    __table_args__ = (
        tenant_fk("reconciliation_id", "rev_reconciliations", ondelete="CASCADE"),
        # A diagnostic outlives the rows it points at (rolled-back import, purged trip).
        tenant_fk("trip_id", "trp_trips", ondelete="SET NULL"),
        tenant_fk("import_row_id", "rev_import_rows", ondelete="SET NULL"),
        enum_check("kind", ReconciliationItemKind),
        currency_check(),
        CheckConstraint(
            "difference = COALESCE(report_amount, 0) - COALESCE(internal_amount, 0)",
            name="difference_sum",
        ),
        CheckConstraint(
            "kind <> 'missing_platform' OR report_amount IS NULL",
            name="missing_platform_no_report",
        ),
        CheckConstraint(
            "kind <> 'missing_internal' OR internal_amount IS NULL",
            name="missing_internal_no_internal",
        ),
        Index(
            "ix_rev_reconciliation_items_tenant_id_reconciliation",
            "tenant_id",
            "reconciliation_id",
            "kind",
        ),
        # The ON DELETE SET NULL references above must find their items by index: without
        # these, deleting a trip or a report row (an import rollback) scans every item.
        Index("ix_rev_reconciliation_items_tenant_id_trip_id", "tenant_id", "trip_id"),
        Index("ix_rev_reconciliation_items_tenant_id_import_row_id", "tenant_id",
              "import_row_id"),
    )
