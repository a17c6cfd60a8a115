"""Administration tables (``adm_``): tenants, members, roles, audit, provider staff, lifecycle,
and the infrastructure tables that make notifications, webhooks, idempotency and numbering
exactly-once."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    LIVE_ROWS,
    Base,
    CountryCode,
    CurrencyCode,
    GlobalRow,
    JsonList,
    JsonObject,
    SoftDeletable,
    TenantOwned,
    Timestamped,
    Versioned,
    WithMetadata,
    country_check,
    currency_check,
    e164_check,
    email_check,
    enum_check,
    sha256_check,
    snake_case_check,
    tenant_fk,
)


class TenantStatus(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class MemberStatus(StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    SUSPENDED = "suspended"


class ActorType(StrEnum):
    MEMBER = "member"
    PROVIDER_EMPLOYEE = "provider_employee"
    SYSTEM = "system"
    INTEGRATION = "integration"


class ProviderEmployeeStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    INACTIVE = "inactive"


class LifecycleEventType(StrEnum):
    CREATED = "created"
    TRIAL_STARTED = "trial_started"
    ACTIVATED = "activated"
    PLAN_CHANGED = "plan_changed"
    PAST_DUE = "past_due"
    SUSPENDED = "suspended"
    REACTIVATED = "reactivated"
    CANCELLED = "cancelled"


class LifecyclePerformerType(StrEnum):
    PROVIDER_EMPLOYEE = "provider_employee"
    SYSTEM = "system"
    MEMBER = "member"


class NotificationChannel(StrEnum):
    EMAIL = "email"
    IN_APP = "in_app"


class NotificationRecipientType(StrEnum):
    MEMBER = "member"
    DRIVER = "driver"
    # A bare address with no account behind it (e.g. a corporate client's billing contact).
    EXTERNAL = "external"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"


class SuppressionReason(StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"


class WebhookProvider(StrEnum):
    CLERK = "clerk"
    STRIPE = "stripe"
    RESEND = "resend"
    CHATWOOT = "chatwoot"
    FREESCOUT = "freescout"
    TRACCAR = "traccar"


class WebhookDeliveryStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"
    IGNORED = "ignored"


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
    # SHA-256 of the fleet's Traccar forwarding token (the token is shown once, never stored).
    traccar_token_sha256: Mapped[str | None] = mapped_column(CHAR(64), unique=True)
    contact_email: Mapped[str | None]
    settings: Mapped[JsonObject]
    trial_ends_at: Mapped[datetime | None]

    __table_args__ = (
        enum_check("status", TenantStatus),
        country_check("country"),
        currency_check("default_currency"),
        CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="slug_url_safe"),
        CheckConstraint("vat_rate_pct BETWEEN 0 AND 100", name="vat_rate_pct_range"),
        sha256_check("traccar_token_sha256"),
    )


class Member(Base, TenantOwned, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """A person who signs in to a tenant (staff, or a driver using the portal), linked to Clerk."""

    __tablename__ = "adm_members"

    # NULL until the invitation is accepted and Clerk tells us the user id.
    clerk_user_id: Mapped[str | None]
    email: Mapped[str]
    first_name: Mapped[str | None]
    last_name: Mapped[str | None]
    phone: Mapped[str | None]
    status: Mapped[str] = mapped_column(server_default=MemberStatus.INVITED.value)
    preferred_language: Mapped[str] = mapped_column(server_default="en")
    invited_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # Set when personal data was erased on request (docs/privacy.md).
    anonymised_at: Mapped[datetime | None]

    __table_args__ = (
        enum_check("status", MemberStatus),
        UniqueConstraint("tenant_id", "clerk_user_id"),
        Index(
            "uq_adm_members_tenant_id_email_live",
            "tenant_id",
            text("lower(email)"),
            unique=True,
            postgresql_where=text(LIVE_ROWS),
        ),
        Index("ix_adm_members_tenant_id_status", "tenant_id", "status"),
        email_check("email"),
        e164_check("phone"),
        # BCP 47 shape only (en, fr-FR, pt-BR, zh-Hant-TW); the API checks the tag exists.
        CheckConstraint(
            "preferred_language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'", name="language_bcp47"
        ),
    )


class Role(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """A named set of ``resource:action`` permissions; built-in roles are seeded per tenant."""

    __tablename__ = "adm_roles"

    name: Mapped[str]
    description: Mapped[str | None]
    permissions: Mapped[JsonList]
    # Built-in roles (owner, admin, fleet_manager, ...) cannot be renamed or deleted.
    is_system: Mapped[bool] = mapped_column(server_default=text("false"))

    __table_args__ = (
        # Case-insensitive: "Finance" and "finance" side by side would confuse every picker.
        Index(
            "uq_adm_roles_tenant_id_name_live",
            "tenant_id",
            text("lower(name)"),
            unique=True,
            postgresql_where=text(LIVE_ROWS),
        ),
        CheckConstraint("jsonb_typeof(permissions) = 'array'", name="permissions_is_list"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
    )


class MemberRole(Base, TenantOwned, Timestamped):
    """One role granted to one member; revoking deletes the row (the audit log keeps history)."""

    __tablename__ = "adm_member_roles"

    member_id: Mapped[uuid.UUID]
    role_id: Mapped[uuid.UUID]
    granted_by: Mapped[uuid.UUID | None]
    granted_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        tenant_fk("member_id", "adm_members", ondelete="CASCADE"),
        tenant_fk("role_id", "adm_roles", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "member_id", "role_id"),
        Index("ix_adm_member_roles_tenant_id_role_id", "tenant_id", "role_id"),
    )


class AuditLog(Base, GlobalRow):
    """One audited action (a change, a sign-in, an export, a cross-tenant access). Append-only."""

    __tablename__ = "adm_audit_logs"

    # NULL for provider-level actions (CRM, plans, provider staff) that belong to no tenant.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("adm_tenants.id", ondelete="RESTRICT"), sort_order=-99
    )
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_type: Mapped[str]
    actor_id: Mapped[uuid.UUID | None]
    action: Mapped[str]
    entity_type: Mapped[str]
    entity_id: Mapped[uuid.UUID | None]
    # Before/after of the changed fields only: {"field": {"old": ..., "new": ...}}.
    changes: Mapped[JsonObject]
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None]
    request_id: Mapped[str | None]

    __table_args__ = (
        enum_check("actor_type", ActorType),
        CheckConstraint(
            "actor_type NOT IN ('member', 'provider_employee') OR actor_id IS NOT NULL",
            name="person_actor_has_id",
        ),
        # An open list (create, update, delete, restore, login, export, approve, impersonate...).
        snake_case_check("action"),
        snake_case_check("entity_type"),
        CheckConstraint("jsonb_typeof(changes) = 'object'", name="changes_is_object"),
        Index("ix_adm_audit_logs_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        Index("ix_adm_audit_logs_tenant_id_entity", "tenant_id", "entity_type", "entity_id"),
        # "What did this employee do, in any tenant?" is the cross-tenant access review.
        Index("ix_adm_audit_logs_actor_id_occurred_at", "actor_id", "occurred_at"),
    )


class ProviderEmployee(Base, GlobalRow, Timestamped, SoftDeletable, Versioned):
    """A Fleetcore staff member (sales, onboarding, support, billing) who may act across tenants."""

    __tablename__ = "adm_provider_employees"

    # NULL until the employee first signs in through Clerk.
    clerk_user_id: Mapped[str | None] = mapped_column(unique=True)
    email: Mapped[str]
    first_name: Mapped[str]
    last_name: Mapped[str]
    department: Mapped[str | None]
    title: Mapped[str | None]
    permissions: Mapped[JsonList]
    status: Mapped[str] = mapped_column(server_default=ProviderEmployeeStatus.ACTIVE.value)
    last_login_at: Mapped[datetime | None]

    # Staff are only ever managed by other staff, so the actor columns are real references.
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("adm_provider_employees.id"), sort_order=902
    )
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("adm_provider_employees.id"), sort_order=903
    )
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("adm_provider_employees.id"), sort_order=911
    )

    __table_args__ = (
        enum_check("status", ProviderEmployeeStatus),
        Index(
            "uq_adm_provider_employees_email_live",
            text("lower(email)"),
            unique=True,
            postgresql_where=text(LIVE_ROWS),
        ),
        email_check("email"),
        CheckConstraint("jsonb_typeof(permissions) = 'array'", name="permissions_is_list"),
    )


class TenantLifecycleEvent(Base, TenantOwned, Timestamped, WithMetadata):
    """One change of a tenant's commercial state (trial, activation, plan, dunning). Append-only."""

    __tablename__ = "adm_tenant_lifecycle_events"

    event_type: Mapped[str]
    effective_at: Mapped[datetime] = mapped_column(server_default=func.now())
    performed_by_type: Mapped[str]
    performed_by_id: Mapped[uuid.UUID | None]
    reason: Mapped[str | None]

    __table_args__ = (
        enum_check("event_type", LifecycleEventType),
        enum_check("performed_by_type", LifecyclePerformerType),
        CheckConstraint(
            "performed_by_type = 'system' OR performed_by_id IS NOT NULL",
            name="person_performer_has_id",
        ),
        Index("ix_adm_tenant_lifecycle_events_tenant_id_effective_at", "tenant_id", "effective_at"),
    )


class Notification(Base, TenantOwned, Timestamped):
    """One message about one item for one reason and threshold: the exactly-once send key."""

    __tablename__ = "adm_notifications"

    entity_type: Mapped[str]
    entity_id: Mapped[uuid.UUID]
    reason: Mapped[str]
    # Which step of a reminder ladder ("30d", "7d", "0d", "overdue"); NULL for one-off messages.
    threshold: Mapped[str | None]
    channel: Mapped[str]
    recipient_type: Mapped[str]
    recipient_id: Mapped[uuid.UUID | None]
    # The address used, kept for delivery evidence and for recipients without an account.
    recipient_email: Mapped[str | None]
    status: Mapped[str] = mapped_column(server_default=NotificationStatus.PENDING.value)
    # Sent to Resend as its Idempotency-Key, so a retried job never sends twice.
    idempotency_key: Mapped[str]
    provider_message_id: Mapped[str | None]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    last_error: Mapped[str | None]

    __table_args__ = (
        enum_check("channel", NotificationChannel),
        enum_check("recipient_type", NotificationRecipientType),
        enum_check("status", NotificationStatus),
        UniqueConstraint(
            "tenant_id",
            "entity_type",
            "entity_id",
            "reason",
            "threshold",
            "channel",
            "recipient_id",
            name="uq_adm_notifications_once",
            postgresql_nulls_not_distinct=True,
        ),
        UniqueConstraint("tenant_id", "idempotency_key"),
        snake_case_check("entity_type"),
        snake_case_check("reason"),
        CheckConstraint(
            "(recipient_type = 'external') = (recipient_id IS NULL)",
            name="recipient_id_unless_external",
        ),
        CheckConstraint(
            "channel <> 'email' OR recipient_type <> 'external' OR recipient_email IS NOT NULL",
            name="external_email_has_address",
        ),
        CheckConstraint("channel <> 'in_app' OR recipient_id IS NOT NULL", name="in_app_has_id"),
        email_check("recipient_email"),
        CheckConstraint("status <> 'sent' OR sent_at IS NOT NULL", name="sent_has_sent_at"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_adm_notifications_tenant_id_status", "tenant_id", "status"),
        Index("ix_adm_notifications_tenant_id_entity", "tenant_id", "entity_type", "entity_id"),
        # Resend's delivery/bounce webhooks name the message by its id.
        Index(
            "ix_adm_notifications_tenant_id_provider_message_id",
            "tenant_id",
            "provider_message_id",
        ),
    )


class EmailSuppression(Base, TenantOwned, Timestamped):
    """An address a tenant must not email (it bounced, complained, or was blocked by hand)."""

    __tablename__ = "adm_email_suppressions"

    email: Mapped[str]
    reason: Mapped[str]
    # The provider event (e.g. Resend's svix-id) that caused it; NULL for manual entries.
    source_event_id: Mapped[str | None]
    # Bounce type/message from the provider, or the member's note for a manual entry.
    detail: Mapped[str | None]
    suppressed_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        enum_check("reason", SuppressionReason),
        Index(
            "uq_adm_email_suppressions_tenant_id_email",
            "tenant_id",
            text("lower(email)"),
            unique=True,
        ),
        email_check("email"),
    )


class WebhookDelivery(Base, GlobalRow, Timestamped):
    """One inbound webhook delivery per (provider, delivery id): the exactly-once key."""

    __tablename__ = "adm_webhook_deliveries"

    provider: Mapped[str]
    delivery_id: Mapped[str]
    # Resolved after routing; NULL while unknown or for provider-level events.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("adm_tenants.id", ondelete="RESTRICT")
    )
    event_type: Mapped[str]
    # The body is not kept (personal data); its hash shows whether a redelivery differed.
    payload_sha256: Mapped[str] = mapped_column(CHAR(64))
    status: Mapped[str] = mapped_column(server_default=WebhookDeliveryStatus.RECEIVED.value)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None]

    __table_args__ = (
        enum_check("provider", WebhookProvider),
        enum_check("status", WebhookDeliveryStatus),
        UniqueConstraint("provider", "delivery_id"),
        sha256_check("payload_sha256"),
        Index("ix_adm_webhook_deliveries_tenant_id_received_at", "tenant_id", "received_at"),
        Index("ix_adm_webhook_deliveries_status_received_at", "status", "received_at"),
    )


class IdempotencyKey(Base, TenantOwned, Timestamped):
    """An API ``Idempotency-Key`` with the request's hash and the stored first response."""

    __tablename__ = "adm_idempotency_keys"

    key: Mapped[str]
    method: Mapped[str]
    path: Mapped[str]
    # Same key with another payload is a 409, so the payload's hash is kept.
    request_sha256: Mapped[str] = mapped_column(CHAR(64))
    # NULL while the first request is still running.
    response_status: Mapped[int | None]
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # A concurrent replay waits (or gets 409) until the first request finishes or this passes.
    locked_until: Mapped[datetime | None]
    expires_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        CheckConstraint("length(key) BETWEEN 1 AND 255", name="key_length"),
        CheckConstraint("method ~ '^[A-Z]+$'", name="method_upper_case"),
        sha256_check("request_sha256"),
        CheckConstraint("response_status BETWEEN 100 AND 599", name="response_status_http"),
        Index("ix_adm_idempotency_keys_tenant_id_expires_at", "tenant_id", "expires_at"),
    )


class NumberSequence(Base, TenantOwned, Timestamped):
    """A gapless counter per tenant and series, locked in the transaction that takes a number."""

    __tablename__ = "adm_number_sequences"

    series: Mapped[str]
    prefix: Mapped[str] = mapped_column(server_default="")
    next_value: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    # Zero-padded width of the numeric part ("INV-000042" has padding 6).
    padding: Mapped[int] = mapped_column(server_default=text("6"))

    __table_args__ = (
        UniqueConstraint("tenant_id", "series"),
        snake_case_check("series"),
        CheckConstraint("next_value > 0", name="next_value_positive"),
        CheckConstraint("padding BETWEEN 0 AND 20", name="padding_range"),
    )
