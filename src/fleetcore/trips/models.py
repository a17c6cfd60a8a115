"""Trip tables (``trp_``): platform accounts, trips, settlements with their lines, and client
invoices.

Platform earnings live in trips and import rows; settlements are computed from them (and from
rent, tolls, fines, expenses) and post to the ledger only when confirmed (``money.md``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Computed,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Numeric,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    E164_PATTERN,
    LIVE_ROWS,
    Base,
    CurrencyCode,
    MoneyAmount,
    SoftDeletable,
    TenantOwned,
    Timestamped,
    Versioned,
    WithMetadata,
    currency_check,
    enum_check,
    non_negative,
    set_checked_reference,
    tenant_fk,
)

# ---------------------------------------------------------------------------------------------
# trp_platform_accounts
# ---------------------------------------------------------------------------------------------


class ExternalAccountKind(StrEnum):
    UUID = "uuid"
    PHONE = "phone"
    EMAIL = "email"
    OTHER = "other"


class PayoutReceiver(StrEnum):
    FLEET = "fleet"
    DRIVER = "driver"


class PlatformAccountStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    UNLINKED = "unlinked"


class PlatformAccount(Base, TenantOwned, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """A driver's (and/or vehicle's) account on a ride-hailing platform, as the platform's
    reports identify it."""

    __tablename__ = "trp_platform_accounts"

    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dir_platforms.id"))
    driver_id: Mapped[uuid.UUID | None]
    vehicle_id: Mapped[uuid.UUID | None]
    # The platform's identifier of the driver (Uber: Driver UUID; Bolt's weekly CSV has no id,
    # so the phone or the email), stored normalised (lower-case UUID/email, E.164 phone) so
    # report rows are matched by equality, never by name.
    external_account_id: Mapped[str]
    external_account_kind: Mapped[str]
    display_name: Mapped[str | None]
    # Who receives the platform's payout: when it is the driver, the driver owes the fleet its
    # share and the charges, and the settlement is a receivable (workflows.md, Trips 3).
    payout_receiver: Mapped[str] = mapped_column(server_default=PayoutReceiver.FLEET.value)
    status: Mapped[str] = mapped_column(server_default=PlatformAccountStatus.ACTIVE.value)
    linked_at: Mapped[datetime | None]
    unlinked_at: Mapped[datetime | None]
    # A reference to a secret-store entry (API credentials of this account), never a credential.
    secret_ref: Mapped[str | None]

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers"),
        tenant_fk("vehicle_id", "flt_vehicles"),
        enum_check("external_account_kind", ExternalAccountKind),
        enum_check("payout_receiver", PayoutReceiver),
        enum_check("status", PlatformAccountStatus),
        CheckConstraint(
            "driver_id IS NOT NULL OR vehicle_id IS NOT NULL", name="driver_or_vehicle"
        ),
        CheckConstraint(
            "length(external_account_id) BETWEEN 1 AND 255", name="external_account_id_length"
        ),
        # Normalised forms, so the unique index below also catches "+33 6…" vs "+336…" etc.
        CheckConstraint(
            f"external_account_kind <> 'phone' OR external_account_id ~ '{E164_PATTERN}'",
            name="phone_e164",
        ),
        CheckConstraint(
            "external_account_kind <> 'email' OR "
            "(external_account_id = lower(external_account_id) AND external_account_id ~ '@')",
            name="email_lower",
        ),
        CheckConstraint(
            "external_account_kind <> 'uuid' OR external_account_id ~ "
            "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'",
            name="uuid_lower",
        ),
        CheckConstraint("unlinked_at IS NULL OR status = 'unlinked'", name="unlinked_at_status"),
        # live_unique() would name it past PostgreSQL's 63-character limit.
        Index(
            "uq_trp_platform_accounts_external_id_live",
            "tenant_id",
            "platform_id",
            "external_account_id",
            unique=True,
            postgresql_where=text(LIVE_ROWS),
        ),
        Index("ix_trp_platform_accounts_tenant_id_driver_id", "tenant_id", "driver_id"),
        Index("ix_trp_platform_accounts_tenant_id_vehicle_id", "tenant_id", "vehicle_id"),
    )


# ---------------------------------------------------------------------------------------------
# trp_trips
# ---------------------------------------------------------------------------------------------


class TripStatus(StrEnum):
    COMPLETED = "completed"
    CANCELLED_BY_DRIVER = "cancelled_by_driver"
    CANCELLED_BY_RIDER = "cancelled_by_rider"
    NO_SHOW = "no_show"


class TripPaymentMethod(StrEnum):
    CASH = "cash"
    CARD = "card"
    WALLET = "wallet"


Coordinate = Numeric(9, 6)
"""Latitude/longitude in decimal degrees (≈ 0.1 m resolution)."""


class Trip(Base, TenantOwned, Timestamped, SoftDeletable, WithMetadata):
    """One ride on a platform, upserted by the platform's trip id from reports or APIs."""

    __tablename__ = "trp_trips"

    # Set-checked, not a foreign key (below).
    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-100)
    platform_id: Mapped[uuid.UUID]
    # The platform's id (Uber Trip UUID, Bolt order_reference).
    external_trip_id: Mapped[str]
    platform_account_id: Mapped[uuid.UUID | None]
    driver_id: Mapped[uuid.UUID | None]
    vehicle_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(server_default=TripStatus.COMPLETED.value)
    # The platform's product (UberX, Comfort, …), as in the file.
    service_type: Mapped[str | None]
    requested_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    pickup_lat: Mapped[Decimal | None] = mapped_column(Coordinate)
    pickup_lon: Mapped[Decimal | None] = mapped_column(Coordinate)
    dropoff_lat: Mapped[Decimal | None] = mapped_column(Coordinate)
    dropoff_lon: Mapped[Decimal | None] = mapped_column(Coordinate)
    distance_km: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    duration_s: Mapped[int | None]
    # Amounts are NULL when the source carries none (e.g. Uber's trip-activity CSV); every
    # amount is normalised by meaning, not by the file's sign (cash collected is positive here).
    fare_gross: Mapped[MoneyAmount | None]
    tip: Mapped[MoneyAmount | None]
    tolls: Mapped[MoneyAmount | None]
    platform_commission: Mapped[MoneyAmount | None]
    cash_collected: Mapped[MoneyAmount | None]
    # Signed: a cancellation or correction can leave the driver with less than nothing.
    net_earnings: Mapped[MoneyAmount | None]
    currency: Mapped[CurrencyCode | None]
    payment_method: Mapped[str | None]
    # The import that last wrote the trip (re-imports upsert by external_trip_id).
    import_id: Mapped[uuid.UUID | None]
    client_invoice_id: Mapped[uuid.UUID | None]

    # Every reference of a trip (tenant, platform, platform account, driver, import, vehicle,
    # client invoice) is a set-checked reference, not a foreign key: checked once per
    # statement by triggers of migrations 0016 and 0025 (decisions 0008 and 0012; an import
    # writes up to a million trips), under the same names.
    __table_args__ = (
        # Plain unique (deleted rows included): a re-import upserts, never duplicates.
        UniqueConstraint("tenant_id", "platform_id", "external_trip_id"),
        enum_check("status", TripStatus),
        enum_check("payment_method", TripPaymentMethod),
        currency_check(),
        CheckConstraint(
            "currency IS NOT NULL OR (fare_gross IS NULL AND tip IS NULL AND tolls IS NULL"
            " AND platform_commission IS NULL AND cash_collected IS NULL"
            " AND net_earnings IS NULL)",
            name="amounts_have_currency",
        ),
        *non_negative(
            "fare_gross",
            "tip",
            "tolls",
            "platform_commission",
            "cash_collected",
            "distance_km",
            "duration_s",
        ),
        CheckConstraint("started_at >= requested_at", name="started_after_requested"),
        CheckConstraint("ended_at >= started_at", name="ended_after_started"),
        CheckConstraint("pickup_lat BETWEEN -90 AND 90", name="pickup_lat_range"),
        CheckConstraint("pickup_lon BETWEEN -180 AND 180", name="pickup_lon_range"),
        CheckConstraint("dropoff_lat BETWEEN -90 AND 90", name="dropoff_lat_range"),
        CheckConstraint("dropoff_lon BETWEEN -180 AND 180", name="dropoff_lon_range"),
        CheckConstraint("(pickup_lat IS NULL) = (pickup_lon IS NULL)", name="pickup_pair"),
        CheckConstraint("(dropoff_lat IS NULL) = (dropoff_lon IS NULL)", name="dropoff_pair"),
        CheckConstraint(
            "length(external_trip_id) BETWEEN 1 AND 255", name="external_trip_id_length"
        ),
        Index(
            "ix_trp_trips_tenant_id_driver_id_started_at", "tenant_id", "driver_id", "started_at"
        ),
        Index(
            "ix_trp_trips_tenant_id_vehicle_id_started_at", "tenant_id", "vehicle_id", "started_at"
        ),
        Index(
            "ix_trp_trips_tenant_id_platform_id_ended_at", "tenant_id", "platform_id", "ended_at"
        ),
        Index("ix_trp_trips_tenant_id_import_id", "tenant_id", "import_id"),
        Index(
            "ix_trp_trips_tenant_id_client_invoice_id",
            "tenant_id",
            "client_invoice_id",
            postgresql_where=text("client_invoice_id IS NOT NULL"),
        ),
    )


# ---------------------------------------------------------------------------------------------
# trp_settlements
# ---------------------------------------------------------------------------------------------



for _target in ("adm_tenants", "dir_platforms", "trp_platform_accounts", "rid_drivers",
                "rev_revenue_imports", "flt_vehicles", "trp_client_invoices"):
    set_checked_reference("trp_trips", _target)


class SettlementStatus(StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"
    PAID = "paid"


NIL_UUID = "'00000000-0000-0000-0000-000000000000'::uuid"
"""Stands for the NULL platform of driver-level settlements where NULL must compare equal."""


class Settlement(Base, TenantOwned, Timestamped, Versioned):
    """What one driver earned and owes for one period: per platform, or driver-level
    (``platform_id`` NULL: rent and recharged costs, charged once whatever the platforms)."""

    __tablename__ = "trp_settlements"

    driver_id: Mapped[uuid.UUID]
    platform_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dir_platforms.id"))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    # Snapshot of the platform account's payout receiver for the period (NULL when driver-level):
    # with `driver` the platform paid the driver and the settlement is a receivable.
    payout_receiver: Mapped[str | None]
    trip_count: Mapped[int] = mapped_column(server_default=text("0"))
    # Header totals, each the sum of its lines by line type, signed as positive magnitudes
    # except `charges`, `adjustments` and `net` (net = what the fleet owes the driver).
    gross: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    commission: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    tips: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    promotions: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    toll_refunds: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    cash_collected: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    fleet_share: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    # Rent, recharged fuel/tolls/fines/damage/expenses, advance and deposit instalments; a
    # deposit returned at offboarding lowers it.
    charges: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    adjustments: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    net: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    currency: Mapped[CurrencyCode]
    status: Mapped[str] = mapped_column(server_default=SettlementStatus.DRAFT.value)
    # Derived, never written: the lines copy it through their foreign key (ON UPDATE CASCADE),
    # which is what makes "consumed by at most one confirmed settlement" a database rule.
    confirmed: Mapped[bool] = mapped_column(
        Computed("status IN ('confirmed', 'paid')", persisted=True)
    )
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[uuid.UUID | None]
    # The batch that pays (or reserved) this settlement.
    payment_batch_id: Mapped[uuid.UUID | None]
    # Local days of the platform earnings that had no accepted cooperation terms in force when
    # the draft was computed (no fleet share taken: the driver keeps everything). Written when
    # the draft is inserted, never afterwards.
    days_without_terms: Mapped[list[date]] = mapped_column(
        ARRAY(Date), server_default=text("'{}'"))

    @property
    def needs_terms(self) -> bool:
        """Earnings on days without accepted terms: confirming needs an explicit decision."""
        return bool(self.days_without_terms)

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers"),
        tenant_fk("payment_batch_id", "fin_driver_payment_batches"),
        UniqueConstraint(
            "tenant_id",
            "driver_id",
            "platform_id",
            "period_start",
            name="uq_trp_settlements_driver_platform_period_start",
            postgresql_nulls_not_distinct=True,
        ),
        # One settlement per (driver, platform, period): no two overlap, the driver-level one
        # (platform NULL) included.
        ExcludeConstraint(
            ("tenant_id", "="),
            ("driver_id", "="),
            (text(f"COALESCE(platform_id, {NIL_UUID})"), "="),
            (text("tstzrange(period_start, period_end, '[)')"), "&&"),
            name="ex_trp_settlements_period",
            using="gist",
        ),
        # Targets of the lines' foreign keys (currency match, confirmed flag propagation).
        UniqueConstraint("tenant_id", "id", "currency"),
        UniqueConstraint("tenant_id", "id", "confirmed"),
        enum_check("status", SettlementStatus),
        enum_check("payout_receiver", PayoutReceiver),
        currency_check(),
        CheckConstraint("period_end > period_start", name="period_end_after_start"),
        CheckConstraint(
            "(platform_id IS NULL) = (payout_receiver IS NULL)", name="payout_receiver_platform"
        ),
        *non_negative(
            "trip_count",
            "gross",
            "commission",
            "tips",
            "promotions",
            "toll_refunds",
            "cash_collected",
            "fleet_share",
        ),
        # money.md: net = gross - commission + tips (+ promotions) + toll refunds - fleet share
        # - cash collected - charges +- adjustments.
        CheckConstraint(
            "net = gross - commission + tips + promotions + toll_refunds - fleet_share"
            " - cash_collected - charges + adjustments",
            name="net_is_sum_of_parts",
        ),
        CheckConstraint(
            "status = 'draft' OR (confirmed_at IS NOT NULL AND confirmed_by IS NOT NULL)",
            name="confirmed_has_actor",
        ),
        CheckConstraint("status <> 'paid' OR payment_batch_id IS NOT NULL", name="paid_has_batch"),
        Index("ix_trp_settlements_tenant_id_status_period", "tenant_id", "status", "period_start"),
        Index("ix_trp_settlements_tenant_id_payment_batch_id", "tenant_id", "payment_batch_id"),
    )


class SettlementLineType(StrEnum):
    PLATFORM_EARNING = "platform_earning"
    COMMISSION = "commission"
    TIP = "tip"
    PROMOTION = "promotion"
    TOLL_REFUND = "toll_refund"
    CASH_COLLECTED = "cash_collected"
    FLEET_SHARE = "fleet_share"
    RENT = "rent"
    FUEL = "fuel"
    TOLL = "toll"
    FINE = "fine"
    DAMAGE = "damage"
    EXPENSE = "expense"
    ADVANCE = "advance"
    DEPOSIT = "deposit"
    ADJUSTMENT = "adjustment"
    CARRY_OVER = "carry_over"


class SettlementLineSource(StrEnum):
    IMPORT_ROW = "import_row"
    TRIP = "trip"
    EXPENSE = "expense"
    TOLL = "toll"
    FINE = "fine"
    TERM = "term"
    REQUEST = "request"
    SETTLEMENT = "settlement"
    MANUAL = "manual"


CREDIT_LINE_TYPES = ("platform_earning", "tip", "promotion", "toll_refund")
"""Line types that only ever add to what the driver is owed."""
DEBIT_LINE_TYPES = (
    "commission",
    "cash_collected",
    "fleet_share",
    "rent",
    "fuel",
    "toll",
    "fine",
    "damage",
    "expense",
)
"""Line types that only ever reduce it (advance, deposit, adjustment, carry_over: either sign)."""


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class SettlementLine(Base, TenantOwned, Timestamped):
    """One amount of a settlement and the source it comes from (report row, trip, expense,
    toll, fine, term day, request, earlier settlement or a manual entry)."""

    __tablename__ = "trp_settlement_lines"

    settlement_id: Mapped[uuid.UUID]
    line_type: Mapped[str]
    description: Mapped[str]
    # Signed as it affects the driver: positive adds to what the fleet owes the driver.
    amount: Mapped[MoneyAmount]
    currency: Mapped[CurrencyCode]
    source_type: Mapped[str]
    source_id: Mapped[uuid.UUID | None]
    # The report row of an ``import_row`` line, by a real foreign key: a row cannot vanish
    # under a confirmed settlement (the final-state trigger refuses the SET NULL), and the
    # lines of a draft whose import is rolled back lose it, so that draft cannot be confirmed
    # until it is recomputed (rollback recomputes it in the same transaction).
    import_row_id: Mapped[uuid.UUID | None]
    service_date: Mapped[date | None]
    # What this line consumes, "<source_type>:<source_id>" (rent: "term:<term id>:<day>", so a
    # rent day is charged once; manual: "manual:<line id>"). One source may give several lines
    # of one settlement (an Uber row → fare, commission, tip, toll refund, cash).
    consumed_key: Mapped[str]
    # Copy of the settlement's `confirmed`, kept in step by the database (see the FK below).
    #
    # Why this design: a source may sit in any number of DRAFT settlements (drafts are
    # recomputed freely) but in at most ONE confirmed settlement. A partial unique index on
    # (tenant_id, consumed_key) WHERE confirmed would also forbid the several lines one source
    # legitimately gives inside one settlement; an exclusion constraint "same key, other
    # settlement, both confirmed" says exactly the rule. The flag cannot drift from the
    # settlement's status because it is part of the foreign key to the settlement's generated
    # `confirmed` column with ON UPDATE CASCADE: confirming a settlement flips its lines in the
    # same statement, and the confirmation fails if any of its sources is already consumed.
    confirmed: Mapped[bool] = mapped_column(server_default=text("false"))

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "settlement_id", "confirmed"],
            ["trp_settlements.tenant_id", "trp_settlements.id", "trp_settlements.confirmed"],
            name="fk_trp_settlement_lines_settlement_confirmed",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        # Same currency as the settlement; a settlement's currency cannot change under its lines.
        ForeignKeyConstraint(
            ["tenant_id", "settlement_id", "currency"],
            ["trp_settlements.tenant_id", "trp_settlements.id", "trp_settlements.currency"],
            name="fk_trp_settlement_lines_settlement_currency",
            ondelete="CASCADE",
        ),
        tenant_fk("import_row_id", "rev_import_rows", ondelete="SET NULL"),
        CheckConstraint(
            "import_row_id IS NULL OR (source_type = 'import_row' AND source_id = import_row_id)",
            name="import_row_is_source",
        ),
        ExcludeConstraint(
            ("tenant_id", "="),
            ("consumed_key", "="),
            ("settlement_id", "<>"),
            name="ex_trp_settlement_lines_consumed_once",
            using="gist",
            where=text("confirmed"),
        ),
        # Inside one settlement a source gives at most one line of each type.
        UniqueConstraint(
            "tenant_id",
            "settlement_id",
            "consumed_key",
            "line_type",
            name="uq_trp_settlement_lines_settlement_source_type",
        ),
        enum_check("line_type", SettlementLineType),
        enum_check("source_type", SettlementLineSource),
        currency_check(),
        CheckConstraint(
            "source_type = 'manual' OR source_id IS NOT NULL", name="source_id_present"
        ),
        CheckConstraint("starts_with(consumed_key, source_type || ':')", name="consumed_key_shape"),
        CheckConstraint(
            f"line_type NOT IN ({_in_list(CREDIT_LINE_TYPES)}) OR amount >= 0",
            name="credit_line_sign",
        ),
        CheckConstraint(
            f"line_type NOT IN ({_in_list(DEBIT_LINE_TYPES)}) OR amount <= 0",
            name="debit_line_sign",
        ),
        Index(
            "ix_trp_settlement_lines_tenant_id_source",
            "tenant_id",
            "source_type",
            "source_id",
        ),
        # Deleting report rows (an import rollback) finds the lines to release by index.
        Index(
            "ix_trp_settlement_lines_tenant_id_import_row_id",
            "tenant_id",
            "import_row_id",
            postgresql_where=text("import_row_id IS NOT NULL"),
        ),
    )


# ---------------------------------------------------------------------------------------------
# trp_client_invoices
# ---------------------------------------------------------------------------------------------


class ClientInvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


class ClientInvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class ClientInvoice(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """An invoice (or credit note) from the fleet to a corporate client for the trips that
    point to it."""

    __tablename__ = "trp_client_invoices"

    kind: Mapped[str] = mapped_column(server_default=ClientInvoiceKind.INVOICE.value)
    # A correction of an issued invoice is a credit note pointing to it (money.md).
    corrects_invoice_id: Mapped[uuid.UUID | None]
    client_name: Mapped[str]
    client_tax_id: Mapped[str | None]
    client_address: Mapped[str | None]
    client_email: Mapped[str | None]
    # Gapless per tenant and series, taken from adm_number_sequences at finalisation only.
    series: Mapped[str] = mapped_column(server_default="client_invoice")
    invoice_number: Mapped[str | None]
    # Calendar days as printed on the invoice, both included.
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    # Amounts are magnitudes; `kind` says whether they are owed or credited.
    subtotal: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    # Snapshot of the tenant's rate at issue; the tax is computed on the subtotal.
    tax_rate_pct: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    tax: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    total: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    currency: Mapped[CurrencyCode]
    status: Mapped[str] = mapped_column(server_default=ClientInvoiceStatus.DRAFT.value)
    issued_on: Mapped[date | None]
    due_on: Mapped[date | None]
    paid_on: Mapped[date | None]
    pdf_document_id: Mapped[uuid.UUID | None]
    # A self-billed invoice names its driver (the supplier the fleet invoices for); NULL for
    # client invoices. One per driver, week and currency; corrections are credit notes.
    driver_id: Mapped[uuid.UUID | None]

    __table_args__ = (
        tenant_fk("corrects_invoice_id", "trp_client_invoices"),
        tenant_fk("pdf_document_id", "doc_documents"),
        tenant_fk("driver_id", "rid_drivers"),
        UniqueConstraint("tenant_id", "series", "invoice_number"),
        CheckConstraint("driver_id IS NULL OR starts_with(series, 'self_billing')",
                        name="self_billed_series"),
        Index("uq_trp_client_invoices_self_billed_week", "tenant_id", "driver_id",
              "period_start", "currency", unique=True,
              postgresql_where=text("driver_id IS NOT NULL AND kind = 'invoice' AND "
                                    "deleted_at IS NULL")),
        enum_check("kind", ClientInvoiceKind),
        enum_check("status", ClientInvoiceStatus),
        currency_check(),
        *non_negative("subtotal", "tax", "total"),
        CheckConstraint("total = subtotal + tax", name="total_is_subtotal_plus_tax"),
        CheckConstraint("tax_rate_pct BETWEEN 0 AND 100", name="tax_rate_pct_range"),
        CheckConstraint("period_end >= period_start", name="period_end_after_start"),
        CheckConstraint("due_on >= issued_on", name="due_after_issued"),
        CheckConstraint(
            "(kind = 'credit_note') = (corrects_invoice_id IS NOT NULL)",
            name="credit_note_corrects",
        ),
        CheckConstraint(
            "status = 'draft' OR (invoice_number IS NOT NULL AND issued_on IS NOT NULL)",
            name="numbered_when_issued",
        ),
        CheckConstraint("status <> 'paid' OR paid_on IS NOT NULL", name="paid_has_paid_on"),
        CheckConstraint("length(series) BETWEEN 1 AND 64", name="series_length"),
        Index("ix_trp_client_invoices_tenant_id_status", "tenant_id", "status", "issued_on"),
    )
