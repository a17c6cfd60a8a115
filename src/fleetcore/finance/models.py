"""Finance tables (``fin_``): accounts and the double-entry ledger, driver payout batches and
payments, tolls and traffic fines.

The ledger rules are ``money.md`` "Ledger rules": each ``fin_transactions`` row moves a positive
amount between two accounts of one tenant and one currency, rows are never updated or deleted,
and balances are sums of rows.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Computed,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    LIVE_ROWS,
    Base,
    CurrencyCode,
    JsonList,
    MoneyAmount,
    SoftDeletable,
    TenantOwned,
    Timestamped,
    Versioned,
    WithMetadata,
    currency_check,
    enum_check,
    live_unique,
    non_negative,
    set_checked_reference,
    sha256_check,
    tenant_fk,
)


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# ---------------------------------------------------------------------------------------------
# fin_accounts
# ---------------------------------------------------------------------------------------------


class AccountOwnerType(StrEnum):
    TENANT = "tenant"
    DRIVER = "driver"


class AccountKind(StrEnum):
    BANK = "bank"
    STRIPE_CONNECT = "stripe_connect"
    CASH = "cash"
    PLATFORM_RECEIVABLE = "platform_receivable"
    DRIVER_BALANCE = "driver_balance"
    DRIVER_DEPOSIT = "driver_deposit"
    REVENUE = "revenue"
    EXPENSE = "expense"
    FLEET_SHARE = "fleet_share"
    TAX = "tax"
    SUSPENSE = "suspense"
    EQUITY = "equity"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class NormalBalance(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


DEBIT_NORMAL_KINDS = (
    "bank",
    "stripe_connect",
    "cash",
    "platform_receivable",
    "expense",
    "suspense",
)
"""Assets and expenses: their balance is debits - credits. The others (driver balance and
deposit = what the fleet owes the driver, revenue, fleet share, tax, equity) are credits -
debits, so "no overdraft" always means balance ≥ 0."""
DRIVER_KINDS = ("bank", "stripe_connect", "cash", "driver_balance", "driver_deposit")
"""Kinds a driver may own; the rest are the tenant's own books."""
SINGLETON_KINDS = (
    "driver_balance",
    "driver_deposit",
    "platform_receivable",
    "fleet_share",
    "suspense",
)
"""Kinds the posting engine resolves by (owner, platform, currency): exactly one live each."""


class Account(Base, TenantOwned, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """A ledger account of the tenant or of one driver; bank and Stripe accounts are also
    payout destinations."""

    __tablename__ = "fin_accounts"

    owner_type: Mapped[str]
    driver_id: Mapped[uuid.UUID | None]
    kind: Mapped[str]
    # Derived from kind: the side that increases the balance.
    normal_balance: Mapped[str] = mapped_column(
        Computed(
            f"CASE WHEN kind IN ({_in_list(DEBIT_NORMAL_KINDS)}) THEN 'debit' ELSE 'credit' END",
            persisted=True,
        )
    )
    # The platform a receivable is owed by (platform_receivable only).
    platform_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dir_platforms.id"))
    name: Mapped[str]
    currency: Mapped[CurrencyCode]
    # Format only here; the API validates checksums and the bank (schwifty / python-stdnum).
    iban: Mapped[str | None]
    bic: Mapped[str | None]
    stripe_account_id: Mapped[str | None]
    # False = no-overdraft account: its balance (on its normal side) must stay >= 0.
    allow_negative: Mapped[bool] = mapped_column(server_default=text("false"))
    status: Mapped[str] = mapped_column(server_default=AccountStatus.ACTIVE.value)

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers"),
        # Targets of composite FKs that make the database itself refuse a cross-currency entry
        # (fin_transactions) and a payout to another driver's account (fin_driver_payments).
        UniqueConstraint("tenant_id", "id", "currency"),
        UniqueConstraint("tenant_id", "id", "driver_id", "currency"),
        enum_check("owner_type", AccountOwnerType),
        enum_check("kind", AccountKind),
        enum_check("status", AccountStatus),
        currency_check(),
        CheckConstraint(
            "(owner_type = 'driver') = (driver_id IS NOT NULL)", name="driver_owner_has_driver"
        ),
        CheckConstraint(
            f"owner_type = 'tenant' OR kind IN ({_in_list(DRIVER_KINDS)})", name="driver_kinds"
        ),
        CheckConstraint(
            "kind NOT IN ('driver_balance', 'driver_deposit') OR owner_type = 'driver'",
            name="driver_balance_owned_by_driver",
        ),
        CheckConstraint(
            "platform_id IS NULL OR kind = 'platform_receivable'", name="platform_receivable_only"
        ),
        CheckConstraint("iban ~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$'", name="iban_format"),
        CheckConstraint("bic ~ '^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$'", name="bic_format"),
        CheckConstraint("stripe_account_id ~ '^acct_[A-Za-z0-9]+$'", name="stripe_account_format"),
        CheckConstraint(
            "kind <> 'stripe_connect' OR stripe_account_id IS NOT NULL",
            name="stripe_connect_has_account",
        ),
        CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
        Index(
            "uq_fin_accounts_singleton_live",
            "tenant_id",
            "kind",
            "currency",
            "driver_id",
            "platform_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
            postgresql_where=text(f"deleted_at IS NULL AND kind IN ({_in_list(SINGLETON_KINDS)})"),
        ),
        live_unique("fin_accounts", "tenant_id", "stripe_account_id"),
        Index("ix_fin_accounts_tenant_id_driver_id", "tenant_id", "driver_id"),
    )


# ---------------------------------------------------------------------------------------------
# fin_transactions
# ---------------------------------------------------------------------------------------------


class TransactionType(StrEnum):
    PLATFORM_EARNING = "platform_earning"
    COMMISSION = "commission"
    RENT = "rent"
    FUEL = "fuel"
    TOLL = "toll"
    FINE = "fine"
    EXPENSE = "expense"
    PAYOUT = "payout"
    REIMBURSEMENT = "reimbursement"
    SUBSCRIPTION_CHARGE = "subscription_charge"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"
    # workflows.md Finance 1 movements, so each settlement line type posts as its own type.
    CASH_COLLECTED = "cash_collected"
    TIP = "tip"
    BONUS = "bonus"
    PROMOTION = "promotion"
    TOLL_REFUND = "toll_refund"
    FLEET_SHARE = "fleet_share"
    ADVANCE = "advance"
    DEPOSIT = "deposit"
    DAMAGE = "damage"
    CARRY_OVER = "carry_over"


class Transaction(Base, TenantOwned, Timestamped):
    """One ledger entry: a positive amount moved from a debit account to a credit account of
    the same tenant and currency. Append-only; a correction is a reversal."""

    __tablename__ = "fin_transactions"

    # Groups the entries one business event posts together (in one database transaction).
    event_id: Mapped[uuid.UUID]
    transaction_type: Mapped[str]
    debit_account_id: Mapped[uuid.UUID]
    credit_account_id: Mapped[uuid.UUID]
    amount: Mapped[MoneyAmount]
    currency: Mapped[CurrencyCode]
    # Business (effective) time; created_at is record time. "As of" reports filter on this.
    posted_at: Mapped[datetime]
    # Economic date (tenant's local day): the last day of the settled week for a settlement's
    # entries, else the local day of ``posted_at`` (a BEFORE INSERT trigger fills it when not
    # given). Balances "as of D" sum the entries with ``effective_on <= D`` (migration 0013).
    effective_on: Mapped[date]
    description: Mapped[str | None]
    # One key per entry (the command's key plus the entry's position in the event): a replay
    # finds it; the same key with another payload hash is a 409.
    idempotency_key: Mapped[str]
    payload_sha256: Mapped[str] = mapped_column(CHAR(64))
    reversal_of_id: Mapped[uuid.UUID | None]
    # Where the money came from (each NULL unless this entry stems from it).
    trip_id: Mapped[uuid.UUID | None]
    expense_id: Mapped[uuid.UUID | None]
    settlement_id: Mapped[uuid.UUID | None]
    settlement_line_id: Mapped[uuid.UUID | None]
    payment_id: Mapped[uuid.UUID | None]
    toll_id: Mapped[uuid.UUID | None]
    fine_id: Mapped[uuid.UUID | None]
    client_invoice_id: Mapped[uuid.UUID | None]
    # The database transaction that wrote the entry (never set by the application; NULL for
    # entries older than migration 0024). A payout approval reads the entries its draft's
    # snapshot did not see through it (``payout_service.approve_batch``).
    xact_id: Mapped[int | None] = mapped_column(
        BigInteger, server_default=text("CAST(CAST(pg_current_xact_id() AS text) AS bigint)")
    )

    __table_args__ = (
        # The currency is part of both account references, so an entry whose accounts are in
        # another currency (or another tenant) cannot exist.
        ForeignKeyConstraint(
            ["tenant_id", "debit_account_id", "currency"],
            ["fin_accounts.tenant_id", "fin_accounts.id", "fin_accounts.currency"],
            name="fk_fin_transactions_debit_account",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "credit_account_id", "currency"],
            ["fin_accounts.tenant_id", "fin_accounts.id", "fin_accounts.currency"],
            name="fk_fin_transactions_credit_account",
        ),
        tenant_fk("reversal_of_id", "fin_transactions"),
        tenant_fk("trip_id", "trp_trips"),
        tenant_fk("expense_id", "flt_vehicle_expenses"),
        tenant_fk("settlement_id", "trp_settlements"),
        tenant_fk("settlement_line_id", "trp_settlement_lines"),
        tenant_fk("payment_id", "fin_driver_payments"),
        tenant_fk("toll_id", "fin_toll_transactions"),
        tenant_fk("fine_id", "fin_traffic_fines"),
        tenant_fk("client_invoice_id", "trp_client_invoices"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        # An entry is reversed at most once.
        UniqueConstraint("tenant_id", "reversal_of_id"),
        enum_check("transaction_type", TransactionType),
        currency_check(),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        CheckConstraint(
            "(transaction_type = 'reversal') = (reversal_of_id IS NOT NULL)",
            name="reversal_has_original",
        ),
        CheckConstraint("length(idempotency_key) BETWEEN 1 AND 255", name="idempotency_key_length"),
        sha256_check("payload_sha256"),
        Index(
            "ix_fin_transactions_tenant_id_debit_posted_at",
            "tenant_id",
            "debit_account_id",
            "posted_at",
        ),
        Index(
            "ix_fin_transactions_tenant_id_credit_posted_at",
            "tenant_id",
            "credit_account_id",
            "posted_at",
        ),
        Index("ix_fin_transactions_tenant_id_event_id", "tenant_id", "event_id"),
        Index(
            "ix_fin_transactions_tenant_id_xact_id",
            "tenant_id",
            "xact_id",
            postgresql_where=text("xact_id IS NOT NULL"),
        ),
        # Balances as of a day: index-only scans per account side (finance.ledger).
        *(
            Index(
                f"ix_fin_transactions_tenant_id_{side}_effective_on",
                "tenant_id",
                f"{side}_account_id",
                "effective_on",
                postgresql_include=["amount"],
            )
            for side in ("credit", "debit")
        ),
        *(
            Index(
                f"ix_fin_transactions_tenant_id_{col}",
                "tenant_id",
                col,
                postgresql_where=text(f"{col} IS NOT NULL"),
            )
            for col in (
                "trip_id",
                "expense_id",
                "settlement_id",
                "settlement_line_id",
                "payment_id",
                "toll_id",
                "fine_id",
                "client_invoice_id",
            )
        ),
    )


# ---------------------------------------------------------------------------------------------
# fin_driver_payment_batches, fin_driver_payments
# ---------------------------------------------------------------------------------------------


class PaymentBatchStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    PROCESSING = "processing"
    PAID = "paid"
    PARTIALLY_FAILED = "partially_failed"
    CANCELLED = "cancelled"


class PaymentBatchMethod(StrEnum):
    STRIPE_CONNECT = "stripe_connect"
    SEPA_TRANSFER = "sepa_transfer"
    MANUAL = "manual"


class DriverPaymentBatch(Base, TenantOwned, Timestamped, Versioned, WithMetadata):
    """One payout run: a payment per driver for a period, approved then paid by Stripe Connect
    transfers, a SEPA credit-transfer file or by hand."""

    __tablename__ = "fin_driver_payment_batches"

    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(server_default=PaymentBatchStatus.DRAFT.value)
    method: Mapped[str]
    # Totals = sums over the batch's payments (kept in step by the service, checked by tests).
    gross_total: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    deductions_total: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    net_total: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    currency: Mapped[CurrencyCode]
    payment_count: Mapped[int] = mapped_column(server_default=text("0"))
    approved_by: Mapped[uuid.UUID | None]
    approved_at: Mapped[datetime | None]
    # The exported file (e.g. pain.001 XML) and its hash: a batch is exported once.
    export_document_id: Mapped[uuid.UUID | None]
    export_sha256: Mapped[str | None] = mapped_column(CHAR(64))
    exported_at: Mapped[datetime | None]
    # The SEPA MsgId or the provider's payout reference.
    external_reference: Mapped[str | None]
    # The snapshot (``pg_snapshot`` as text) the draft read the balances with: the approval
    # re-checks only the drivers with ledger entries it did not see. NULL: re-check all.
    balances_snapshot: Mapped[str | None]

    __table_args__ = (
        tenant_fk("export_document_id", "doc_documents"),
        # Target of the payments' FK: a payment is in its batch's currency.
        UniqueConstraint("tenant_id", "id", "currency"),
        UniqueConstraint("tenant_id", "external_reference"),
        enum_check("status", PaymentBatchStatus),
        enum_check("method", PaymentBatchMethod),
        currency_check(),
        *non_negative("gross_total", "deductions_total", "net_total", "payment_count"),
        CheckConstraint("net_total = gross_total - deductions_total", name="net_total_sum"),
        CheckConstraint("period_end > period_start", name="period_end_after_start"),
        CheckConstraint(
            "status IN ('draft', 'cancelled') OR (approved_at IS NOT NULL"
            " AND approved_by IS NOT NULL)",
            name="approved_has_approver",
        ),
        CheckConstraint(
            "exported_at IS NULL OR export_sha256 IS NOT NULL", name="exported_has_sha256"
        ),
        sha256_check("export_sha256"),
        Index("ix_fin_driver_payment_batches_tenant_id_status", "tenant_id", "status"),
        Index("ix_fin_driver_payment_batches_tenant_id_period", "tenant_id", "period_start"),
    )


class DriverPaymentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    PAID = "paid"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DriverPayment(Base, TenantOwned, Timestamped, Versioned, WithMetadata):
    """What one batch pays one driver: confirmed settlements net of deductions, never
    negative (a negative balance carries over)."""

    __tablename__ = "fin_driver_payments"

    # Set-checked, not a foreign key (below).
    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-100)
    batch_id: Mapped[uuid.UUID]
    driver_id: Mapped[uuid.UUID]
    destination_account_id: Mapped[uuid.UUID | None]
    gross: Mapped[MoneyAmount]
    deductions: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    # [{"type": ..., "description": ..., "amount": "12.50", "source": ...}, ...]
    deductions_detail: Mapped[JsonList]
    net: Mapped[MoneyAmount]
    currency: Mapped[CurrencyCode]
    status: Mapped[str] = mapped_column(server_default=DriverPaymentStatus.PENDING.value)
    stripe_transfer_id: Mapped[str | None]
    # SEPA EndToEndId: at most 35 characters of the SEPA character set, unique per tenant.
    end_to_end_id: Mapped[str | None]
    paid_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None]
    attempt: Mapped[int] = mapped_column(server_default=text("1"))

    # The tenant, the batch (tenant_id, batch_id, currency: money records, the batch cannot be
    # deleted under its payments), the driver and the destination (tenant_id,
    # destination_account_id, driver_id, currency: this driver's own account, in the payment's
    # currency) are set-checked references, not foreign keys: checked once per statement by
    # triggers of migration 0024 (decision 0008; a draft writes a payment per driver), under
    # the same names.
    __table_args__ = (
        UniqueConstraint("tenant_id", "batch_id", "driver_id"),
        # Unique where set (migration 0024): a payment without a transfer or an EndToEndId yet
        # (every payment of a draft) writes no entry in these indexes.
        *(
            Index(
                f"uq_fin_driver_payments_tenant_id_{column}",
                "tenant_id",
                column,
                unique=True,
                postgresql_where=text(f"{column} IS NOT NULL"),
            )
            for column in ("stripe_transfer_id", "end_to_end_id")
        ),
        enum_check("status", DriverPaymentStatus),
        currency_check(),
        *non_negative("gross", "deductions", "net"),
        CheckConstraint("net = gross - deductions", name="net_is_gross_minus_deductions"),
        CheckConstraint(
            "end_to_end_id ~ '^[A-Za-z0-9/?:().,+ -]{1,35}$'", name="end_to_end_id_sepa"
        ),
        CheckConstraint("stripe_transfer_id ~ '^tr_[A-Za-z0-9]+$'", name="stripe_transfer_format"),
        CheckConstraint("jsonb_typeof(deductions_detail) = 'array'", name="deductions_detail_list"),
        CheckConstraint("status <> 'paid' OR paid_at IS NOT NULL", name="paid_has_paid_at"),
        CheckConstraint(
            "status <> 'failed' OR failure_reason IS NOT NULL", name="failed_has_reason"
        ),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
        Index("ix_fin_driver_payments_tenant_id_driver_id", "tenant_id", "driver_id"),
        # No index on status (migration 0024): the status changes of a batch's payments (the
        # export's flip to processing, paid, cancelled) are then HOT updates — no index entry
        # written — in the room the fill factor leaves on each page. Payments are read by
        # batch (the unique key above) or by driver.
        {"postgresql_with": {"fillfactor": "50"}},
    )


for _target in ("adm_tenants", "fin_driver_payment_batches", "rid_drivers", "fin_accounts"):
    set_checked_reference("fin_driver_payments", _target)


# ---------------------------------------------------------------------------------------------
# fin_toll_transactions, fin_traffic_fines
# ---------------------------------------------------------------------------------------------


class TollSource(StrEnum):
    IMPORT = "import"
    MANUAL = "manual"
    GPS = "gps"


class TollStatus(StrEnum):
    UNASSIGNED = "unassigned"
    ASSIGNED = "assigned"
    RECHARGED = "recharged"
    DISPUTED = "disputed"


class TollTransaction(Base, TenantOwned, Timestamped, Versioned, WithMetadata):
    """One toll charge, attributed to the driver who had the vehicle at the time."""

    __tablename__ = "fin_toll_transactions"

    vehicle_id: Mapped[uuid.UUID | None]
    # Resolved from assignment history at occurred_at.
    driver_id: Mapped[uuid.UUID | None]
    operator: Mapped[str | None]
    # Gate or plaza (entry → exit for closed motorways).
    gate: Mapped[str | None]
    plate: Mapped[str | None]
    occurred_at: Mapped[datetime]
    amount: Mapped[MoneyAmount]
    currency: Mapped[CurrencyCode]
    source: Mapped[str]
    trip_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(server_default=TollStatus.UNASSIGNED.value)
    # The operator's id of the charge: importing the same statement twice stores it once.
    external_reference: Mapped[str | None]

    __table_args__ = (
        tenant_fk("vehicle_id", "flt_vehicles"),
        tenant_fk("driver_id", "rid_drivers"),
        tenant_fk("trip_id", "trp_trips"),
        UniqueConstraint("tenant_id", "external_reference"),
        enum_check("source", TollSource),
        enum_check("status", TollStatus),
        currency_check(),
        *non_negative("amount"),
        CheckConstraint(
            "status NOT IN ('assigned', 'recharged') OR driver_id IS NOT NULL",
            name="assigned_has_driver",
        ),
        CheckConstraint("vehicle_id IS NOT NULL OR plate IS NOT NULL", name="vehicle_or_plate"),
        Index(
            "ix_fin_toll_transactions_tenant_id_vehicle_occurred",
            "tenant_id",
            "vehicle_id",
            "occurred_at",
        ),
        Index(
            "ix_fin_toll_transactions_tenant_id_driver_occurred",
            "tenant_id",
            "driver_id",
            "occurred_at",
        ),
        Index("ix_fin_toll_transactions_tenant_id_status", "tenant_id", "status"),
        Index(
            "ix_fin_toll_transactions_tenant_id_trip_id",
            "tenant_id",
            "trip_id",
            postgresql_where=text("trip_id IS NOT NULL"),
        ),
    )


class TrafficFineStatus(StrEnum):
    RECEIVED = "received"
    DRIVER_DESIGNATED = "driver_designated"
    PAID = "paid"
    CONTESTED = "contested"
    CANCELLED = "cancelled"
    RECHARGED = "recharged"


class TrafficFine(Base, TenantOwned, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """One traffic fine, with the legal deadline to designate the driver who had the car."""

    __tablename__ = "fin_traffic_fines"

    vehicle_id: Mapped[uuid.UUID | None]
    # Resolved from assignment history at offence_at.
    driver_id: Mapped[uuid.UUID | None]
    fine_reference: Mapped[str]
    issuing_authority: Mapped[str | None]
    offence_type: Mapped[str | None]
    offence_at: Mapped[datetime]
    offence_place: Mapped[str | None]
    plate: Mapped[str | None]
    amount: Mapped[MoneyAmount]
    currency: Mapped[CurrencyCode]
    due_on: Mapped[date | None]
    designation_deadline_on: Mapped[date | None]
    designated_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(server_default=TrafficFineStatus.RECEIVED.value)
    scan_document_id: Mapped[uuid.UUID | None]
    # When the fleet paid it (or recharged it): the week its recharge lands in (migration 0014).
    charged_at: Mapped[datetime | None]

    __table_args__ = (
        tenant_fk("vehicle_id", "flt_vehicles"),
        tenant_fk("driver_id", "rid_drivers"),
        tenant_fk("scan_document_id", "doc_documents"),
        live_unique("fin_traffic_fines", "tenant_id", "fine_reference"),
        enum_check("status", TrafficFineStatus),
        currency_check(),
        *non_negative("amount"),
        CheckConstraint(
            "status NOT IN ('driver_designated', 'recharged') OR driver_id IS NOT NULL",
            name="designated_has_driver",
        ),
        CheckConstraint(
            "status <> 'driver_designated' OR designated_at IS NOT NULL",
            name="designated_has_designated_at",
        ),
        CheckConstraint("vehicle_id IS NOT NULL OR plate IS NOT NULL", name="vehicle_or_plate"),
        CheckConstraint("length(fine_reference) BETWEEN 1 AND 100", name="fine_reference_length"),
        Index(
            "ix_fin_traffic_fines_tenant_id_vehicle_offence",
            "tenant_id",
            "vehicle_id",
            "offence_at",
        ),
        Index(
            "ix_fin_traffic_fines_tenant_id_driver_offence", "tenant_id", "driver_id", "offence_at"
        ),
        Index("ix_fin_traffic_fines_tenant_id_status", "tenant_id", "status"),
        Index(
            "ix_fin_traffic_fines_tenant_id_designation_deadline",
            "tenant_id",
            "designation_deadline_on",
            postgresql_where=text(f"status = 'received' AND {LIVE_ROWS}"),
        ),
    )
