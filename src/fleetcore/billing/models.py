"""SaaS billing tables (``bil_``): Fleetcore's plans, its tenants' subscriptions, usage,
invoices mirrored from Stripe Billing, and payment methods.

Stripe Billing is the invoicing master for these invoices (its numbers, its ids); the rows here
mirror it and carry our own durable keys for usage deduplication (``money.md``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Numeric,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    Base,
    CurrencyCode,
    GlobalRow,
    JsonObject,
    MoneyAmount,
    TenantOwned,
    Timestamped,
    Versioned,
    WithMetadata,
    currency_check,
    enum_check,
    non_negative,
    set_checked_reference,
)

Quantity = Numeric(18, 4)
"""A usage quantity (vehicles, trips, km), never float."""


def _unique_where_set(table: str, column: str) -> Index:
    """Unique per tenant where set (migration 0026): a row without its Stripe id yet (every
    row the hourly close writes) writes no entry in this index."""
    return Index(f"uq_{table}_tenant_id_{column}", "tenant_id", column, unique=True,
                 postgresql_where=text(f"{column} IS NOT NULL"))


# ---------------------------------------------------------------------------------------------
# bil_billing_plans
# ---------------------------------------------------------------------------------------------


class BillingPlanStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class BillingPlan(Base, GlobalRow, Timestamped, Versioned, WithMetadata):
    """One version of a Fleetcore plan; a price change is a new version, and subscribers keep
    theirs until migrated."""

    __tablename__ = "bil_billing_plans"

    code: Mapped[str]
    # The plan's version (data-model "version"); named apart from the row's optimistic-locking
    # `version` column.
    plan_version: Mapped[int]
    name: Mapped[str]
    description: Mapped[str | None]
    monthly_fee: Mapped[MoneyAmount]
    currency: Mapped[CurrencyCode]
    # Included quantities per month (NULL = unlimited).
    included_vehicles: Mapped[int | None]
    included_drivers: Mapped[int | None]
    included_trips: Mapped[int | None]
    included_km: Mapped[int | None]
    # Overage unit prices (NULL = no overage billed for that metric).
    overage_vehicle_price: Mapped[MoneyAmount | None]
    overage_driver_price: Mapped[MoneyAmount | None]
    overage_trip_price: Mapped[MoneyAmount | None]
    overage_km_price: Mapped[MoneyAmount | None]
    trial_days: Mapped[int] = mapped_column(server_default=text("0"))
    # `active` = offered to new subscribers; `archived` versions keep billing their subscribers.
    status: Mapped[str] = mapped_column(server_default=BillingPlanStatus.ACTIVE.value)
    stripe_product_id: Mapped[str | None]
    stripe_price_id: Mapped[str | None]
    features: Mapped[JsonObject]

    __table_args__ = (
        UniqueConstraint("code", "plan_version"),
        # Target of the subscriptions' (plan_id, plan_version) reference.
        UniqueConstraint("id", "plan_version"),
        # Exactly one offered version per plan code.
        Index(
            "uq_bil_billing_plans_code_active",
            "code",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        enum_check("status", BillingPlanStatus),
        currency_check(),
        *non_negative(
            "monthly_fee",
            "included_vehicles",
            "included_drivers",
            "included_trips",
            "included_km",
            "overage_vehicle_price",
            "overage_driver_price",
            "overage_trip_price",
            "overage_km_price",
            "trial_days",
        ),
        CheckConstraint("plan_version >= 1", name="plan_version_positive"),
        CheckConstraint("code ~ '^[a-z0-9]+(_[a-z0-9]+)*$'", name="code_shape"),
    )


# ---------------------------------------------------------------------------------------------
# bil_tenant_subscriptions
# ---------------------------------------------------------------------------------------------


class SubscriptionStatus(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class TenantSubscription(Base, TenantOwned, Timestamped, Versioned, WithMetadata):
    """A tenant's subscription to one plan version, mirrored with its Stripe subscription."""

    __tablename__ = "bil_tenant_subscriptions"

    plan_id: Mapped[uuid.UUID]
    plan_version: Mapped[int]
    status: Mapped[str] = mapped_column(server_default=SubscriptionStatus.TRIALING.value)
    trial_starts_at: Mapped[datetime | None]
    trial_ends_at: Mapped[datetime | None]
    current_period_start: Mapped[datetime | None]
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(server_default=text("false"))
    cancelled_at: Mapped[datetime | None]
    stripe_subscription_id: Mapped[str | None]

    __table_args__ = (
        # (plan_id, plan_version) together, so the version stated is the plan row's own.
        ForeignKeyConstraint(
            ["plan_id", "plan_version"],
            ["bil_billing_plans.id", "bil_billing_plans.plan_version"],
            name="fk_bil_tenant_subscriptions_plan",
        ),
        UniqueConstraint("tenant_id", "stripe_subscription_id"),
        # At most one subscription per tenant that is not cancelled.
        Index(
            "uq_bil_tenant_subscriptions_current",
            "tenant_id",
            unique=True,
            postgresql_where=text("status <> 'cancelled'"),
        ),
        enum_check("status", SubscriptionStatus),
        CheckConstraint("trial_ends_at > trial_starts_at", name="trial_ends_after_starts"),
        CheckConstraint(
            "current_period_end > current_period_start", name="current_period_end_after_start"
        ),
        CheckConstraint(
            "status <> 'trialing' OR trial_ends_at IS NOT NULL", name="trialing_has_trial_end"
        ),
        CheckConstraint(
            "status <> 'cancelled' OR cancelled_at IS NOT NULL", name="cancelled_has_cancelled_at"
        ),
        CheckConstraint("stripe_subscription_id ~ '^sub_[A-Za-z0-9]+$'", name="stripe_id_format"),
        Index("ix_bil_tenant_subscriptions_tenant_id_plan_id", "tenant_id", "plan_id"),
        # The hourly close advances every period: HOT updates in the room a fill factor of 50
        # leaves on each page (migration 0026).
        {"postgresql_with": {"fillfactor": "50"}},
    )


# ---------------------------------------------------------------------------------------------
# bil_tenant_usage_metrics
# ---------------------------------------------------------------------------------------------


class UsageMetric(StrEnum):
    ACTIVE_VEHICLES = "active_vehicles"
    ACTIVE_DRIVERS = "active_drivers"
    TRIPS = "trips"
    DISTANCE_KM = "distance_km"


class TenantUsageMetric(Base, TenantOwned, Timestamped):
    """One usage quantity of a tenant for one billing period; (tenant, metric, period) is the
    durable key that deduplicates what is reported to Stripe meters."""

    __tablename__ = "bil_tenant_usage_metrics"

    # Set-checked, not a foreign key (migration 0026, decision 0017).
    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-100)
    metric: Mapped[str]
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    value: Mapped[Decimal] = mapped_column(Quantity)
    computed_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    # What computed it (e.g. "job:usage", "backfill").
    source: Mapped[str]
    # The identifier we send as the meter event's identifier (derived from our id).
    stripe_meter_event_id: Mapped[str | None]
    reported_at: Mapped[datetime | None]

    __table_args__ = (
        # A period's value is single. Periods are the subscription's billing periods, one
        # after the other: no exclusion constraint against overlaps (decision 0017).
        UniqueConstraint("tenant_id", "metric", "period_start"),
        _unique_where_set("bil_tenant_usage_metrics", "stripe_meter_event_id"),
        enum_check("metric", UsageMetric),
        *non_negative("value"),
        CheckConstraint("period_end > period_start", name="period_end_after_start"),
        CheckConstraint(
            "reported_at IS NULL OR stripe_meter_event_id IS NOT NULL",
            name="reported_has_event_id",
        ),
    )


# ---------------------------------------------------------------------------------------------
# bil_tenant_invoices, bil_tenant_invoice_lines
# ---------------------------------------------------------------------------------------------


class TenantInvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class TenantInvoice(Base, TenantOwned, Timestamped, Versioned, WithMetadata):
    """Fleetcore's invoice to a tenant: our gapless number, pushed to its Stripe twin
    (decision 0013)."""

    __tablename__ = "bil_tenant_invoices"

    # Set-checked, not a foreign key (migration 0026, decision 0017).
    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-100)
    subscription_id: Mapped[uuid.UUID | None]
    # Ours, from the fleet's yearly series at finalisation (Stripe's twin carries it; a number
    # Stripe shows that is not ours is kept in metadata.stripe_number).
    invoice_number: Mapped[str | None]
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(server_default=TenantInvoiceStatus.DRAFT.value)
    # Mirrored as Stripe computes them (a downgrade proration can make subtotal/total negative).
    subtotal: Mapped[MoneyAmount]
    tax: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    total: Mapped[MoneyAmount]
    amount_paid: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    amount_due: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    currency: Mapped[CurrencyCode]
    due_on: Mapped[date | None]
    paid_at: Mapped[datetime | None]
    stripe_invoice_id: Mapped[str | None]
    hosted_invoice_url: Mapped[str | None]
    invoice_pdf_url: Mapped[str | None]

    # The tenant and the subscription (tenant_id, subscription_id) are set-checked
    # references, not foreign keys: checked once per statement by triggers of migration 0026
    # (decision 0017; the hourly close writes an invoice per fleet), under the same names.
    __table_args__ = (
        _unique_where_set("bil_tenant_invoices", "stripe_invoice_id"),
        # A period is invoiced once.
        UniqueConstraint("tenant_id", "subscription_id", "period_start"),
        # Target of the lines' reference: lines are in their invoice's currency.
        UniqueConstraint("tenant_id", "id", "currency"),
        enum_check("status", TenantInvoiceStatus),
        currency_check(),
        *non_negative("tax", "amount_paid", "amount_due"),
        # Stripe gives one-off invoices an empty period (start = end).
        CheckConstraint("period_end >= period_start", name="period_end_after_start"),
        CheckConstraint("status <> 'paid' OR paid_at IS NOT NULL", name="paid_has_paid_at"),
        CheckConstraint(
            "status = 'draft' OR invoice_number IS NOT NULL", name="finalised_has_number"
        ),
        CheckConstraint("stripe_invoice_id ~ '^in_[A-Za-z0-9]+$'", name="stripe_id_format"),
        Index("ix_bil_tenant_invoices_tenant_id_status", "tenant_id", "status"),
    )


class TenantInvoiceLineType(StrEnum):
    BASE = "base"
    OVERAGE = "overage"
    PRORATION = "proration"
    DISCOUNT = "discount"
    TAX = "tax"


class TenantInvoiceLine(Base, TenantOwned, Timestamped):
    """One line of a tenant invoice (base fee, overage of a metric, proration, discount, tax);
    the lines sum to the invoice total."""

    __tablename__ = "bil_tenant_invoice_lines"

    # Set-checked, not a foreign key (migration 0026, decision 0017).
    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-100)
    invoice_id: Mapped[uuid.UUID]
    line_type: Mapped[str]
    description: Mapped[str]
    metric: Mapped[str | None]
    quantity: Mapped[Decimal] = mapped_column(Quantity, server_default=text("1"))
    unit_price: Mapped[MoneyAmount | None]
    # Signed: discounts (and proration credits) are negative.
    amount: Mapped[MoneyAmount]
    currency: Mapped[CurrencyCode]
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    stripe_line_id: Mapped[str | None]

    # The tenant and the invoice (tenant_id, invoice_id, currency: lines are in their
    # invoice's currency, and go with it) are set-checked references, not foreign keys:
    # checked once per statement by triggers of migration 0026 (decision 0017), same names.
    __table_args__ = (
        _unique_where_set("bil_tenant_invoice_lines", "stripe_line_id"),
        enum_check("line_type", TenantInvoiceLineType),
        enum_check("metric", UsageMetric),
        currency_check(),
        *non_negative("quantity", "unit_price"),
        CheckConstraint("line_type <> 'discount' OR amount <= 0", name="discount_negative"),
        CheckConstraint(
            "line_type NOT IN ('base', 'overage') OR amount >= 0", name="charge_non_negative"
        ),
        CheckConstraint("line_type <> 'overage' OR metric IS NOT NULL", name="overage_has_metric"),
        CheckConstraint("period_end >= period_start", name="period_end_after_start"),
        Index("ix_bil_tenant_invoice_lines_tenant_id_invoice_id", "tenant_id", "invoice_id"),
    )


for _table, _targets in (
        ("bil_tenant_usage_metrics", ("adm_tenants",)),
        ("bil_tenant_invoices", ("adm_tenants", "bil_tenant_subscriptions")),
        ("bil_tenant_invoice_lines", ("adm_tenants", "bil_tenant_invoices"))):
    for _target in _targets:
        set_checked_reference(_table, _target)


# ---------------------------------------------------------------------------------------------
# bil_payment_methods
# ---------------------------------------------------------------------------------------------


class PaymentMethodType(StrEnum):
    CARD = "card"
    SEPA_DEBIT = "sepa_debit"


class PaymentMethodStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    DETACHED = "detached"


class PaymentMethod(Base, TenantOwned, Timestamped, Versioned, WithMetadata):
    """A tenant's card or SEPA mandate on Stripe (a reference and display details only)."""

    __tablename__ = "bil_payment_methods"

    stripe_payment_method_id: Mapped[str]
    method_type: Mapped[str]
    brand: Mapped[str | None]
    last4: Mapped[str | None]
    exp_month: Mapped[int | None]
    exp_year: Mapped[int | None]
    is_default: Mapped[bool] = mapped_column(server_default=text("false"))
    status: Mapped[str] = mapped_column(server_default=PaymentMethodStatus.ACTIVE.value)

    __table_args__ = (
        UniqueConstraint("tenant_id", "stripe_payment_method_id"),
        # One default payment method per tenant among the usable ones.
        Index(
            "uq_bil_payment_methods_default",
            "tenant_id",
            unique=True,
            postgresql_where=text("is_default AND status = 'active'"),
        ),
        enum_check("method_type", PaymentMethodType),
        enum_check("status", PaymentMethodStatus),
        CheckConstraint("last4 ~ '^[0-9]{4}$'", name="last4_digits"),
        CheckConstraint("exp_month BETWEEN 1 AND 12", name="exp_month_range"),
        CheckConstraint("exp_year BETWEEN 2000 AND 2200", name="exp_year_range"),
        CheckConstraint(
            "method_type <> 'card' OR (exp_month IS NOT NULL AND exp_year IS NOT NULL)",
            name="card_has_expiry",
        ),
        CheckConstraint(
            "stripe_payment_method_id ~ '^(pm|card|src)_[A-Za-z0-9]+$'", name="stripe_id_format"
        ),
    )
