"""Administration tables (``adm_``): tenants, members, roles, audit, provider staff, lifecycle,
and the infrastructure tables that make notifications, webhooks, idempotency and numbering
exactly-once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    Base,
    CountryCode,
    CurrencyCode,
    GlobalRow,
    JsonObject,
    SoftDeletable,
    Timestamped,
    Versioned,
    WithMetadata,
    country_check,
    currency_check,
    enum_check,
)


class TenantStatus(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class Tenant(Base, GlobalRow, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """A fleet operator using Fleetcore. Under RLS a tenant sees only its own row."""

    __tablename__ = "adm_tenants"

    name: Mapped[str]
    slug: Mapped[str] = mapped_column(unique=True)
    legal_name: Mapped[str | None]
    country: Mapped[CountryCode]
    default_currency: Mapped[CurrencyCode]
    timezone: Mapped[str]
    vat_rate_pct: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    vat_number: Mapped[str | None]
    tax_settings: Mapped[JsonObject]
    status: Mapped[str] = mapped_column(server_default=TenantStatus.TRIALING.value)
    clerk_organization_id: Mapped[str | None] = mapped_column(unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(unique=True)
    contact_email: Mapped[str | None]
    settings: Mapped[JsonObject]
    trial_ends_at: Mapped[datetime | None]

    __table_args__ = (
        enum_check("status", TenantStatus),
        country_check("country"),
        currency_check("default_currency"),
        CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="slug_url_safe"),
        CheckConstraint("vat_rate_pct BETWEEN 0 AND 100", name="vat_rate_pct_range"),
    )

