"""Driver tables (``rid_``): drivers, their documents, cooperation terms, requests,
performance, blacklist entries and training."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INET, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    Base,
    CountryCode,
    CurrencyCode,
    JsonObject,
    MoneyAmount,
    SoftDeletable,
    TenantOwned,
    Timestamped,
    Versioned,
    WithMetadata,
    country_check,
    currency_check,
    e164_check,
    enum_check,
    live_unique,
    no_overlap,
    non_negative,
    tenant_fk,
)

Percentage = Annotated[Decimal, mapped_column(Numeric(7, 4))]
"""A percentage, 0..100."""
Rating = Annotated[Decimal, mapped_column(Numeric(3, 2))]
"""A star rating, 0..5 with two decimals."""
Hours = Annotated[Decimal, mapped_column(Numeric(8, 2))]
"""A duration in hours."""


class ProfessionalCardType(StrEnum):
    VTC = "vtc"
    TAXI = "taxi"
    PCO = "pco"
    TVDE = "tvde"
    OTHER = "other"


class DriverStatus(StrEnum):
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    INACTIVE = "inactive"
    TERMINATED = "terminated"


class DocumentRequirement(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"


class VerificationStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"
    EXPIRED = "expired"


class CooperationTermsStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class SettlementModel(StrEnum):
    REVENUE_SHARE = "revenue_share"
    FIXED_RENT = "fixed_rent"
    SALARIED = "salaried"


class RentPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"


class DriverRequestType(StrEnum):
    LEAVE = "leave"
    SHIFT_CHANGE = "shift_change"
    VEHICLE_CHANGE = "vehicle_change"
    LICENCE_RENEWAL = "licence_renewal"
    ADVANCE_PAYMENT = "advance_payment"
    OTHER = "other"


class DriverRequestStatus(StrEnum):
    PENDING = "pending"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class BlacklistCategory(StrEnum):
    SAFETY = "safety"
    FRAUD = "fraud"
    CONDUCT = "conduct"
    DOCUMENTS = "documents"
    PAYMENT = "payment"
    OTHER = "other"


class BlacklistStatus(StrEnum):
    ACTIVE = "active"
    LIFTED = "lifted"


class TrainingType(StrEnum):
    MANDATORY = "mandatory"
    OPTIONAL = "optional"


class TrainingStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    EXPIRED = "expired"
    FAILED = "failed"


class Driver(Base, TenantOwned, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """A driver working with the tenant's fleet."""

    __tablename__ = "rid_drivers"

    first_name: Mapped[str]
    last_name: Mapped[str]
    email: Mapped[str | None]
    # Nullable so that erasure on request (workflows.md, Finance 8) can clear it; the API
    # requires it on creation.
    phone: Mapped[str | None]
    date_of_birth: Mapped[date | None]
    licence_number: Mapped[str | None]
    licence_country: Mapped[CountryCode | None]
    licence_issued_on: Mapped[date | None]
    licence_expires_on: Mapped[date | None]
    professional_card_type: Mapped[str | None]
    professional_card_number: Mapped[str | None]
    professional_card_expires_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(server_default=DriverStatus.ONBOARDING.value)
    rating: Mapped[Rating | None]
    notes: Mapped[str | None]
    # The member the driver logs in to the driver portal as.
    member_id: Mapped[uuid.UUID | None]
    hired_on: Mapped[date | None]
    preferred_language: Mapped[str] = mapped_column(server_default="en")
    # Set when personal data was erased on request; ledger rows and statements stay intact.
    anonymised_at: Mapped[datetime | None]

    __table_args__ = (
        tenant_fk("member_id", "adm_members"),
        enum_check("status", DriverStatus),
        enum_check("professional_card_type", ProfessionalCardType),
        country_check("licence_country"),
        e164_check("phone"),
        CheckConstraint("email ~ '^[^@[:space:]]+@[^@[:space:]]+$'", name="email_shape"),
        CheckConstraint("rating BETWEEN 0 AND 5", name="rating_range"),
        CheckConstraint("date_of_birth > DATE '1900-01-01'", name="date_of_birth_plausible"),
        CheckConstraint("licence_expires_on > licence_issued_on", name="licence_expires_after"),
        CheckConstraint(
            "preferred_language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'",
            name="language_bcp47",
        ),
        Index(
            "uq_rid_drivers_tenant_id_email_live",
            "tenant_id",
            text("lower(email)"),
            unique=True,
            postgresql_where=text("email IS NOT NULL AND deleted_at IS NULL"),
        ),
        live_unique("rid_drivers", "tenant_id", "phone"),
        live_unique("rid_drivers", "tenant_id", "member_id"),
        Index("ix_rid_drivers_tenant_id_status", "tenant_id", "status"),
        Index("ix_rid_drivers_name", "tenant_id", "last_name", "first_name"),
        # The drivers list's default order (creation), newest or oldest first.
        Index("ix_rid_drivers_created", "tenant_id", "created_at", "id",
              postgresql_where=text("deleted_at IS NULL")),
        # Expiry reminders and compliance.
        Index("ix_rid_drivers_licence_expires_on", "tenant_id", "licence_expires_on"),
        Index(
            "ix_rid_drivers_professional_card_expires_on",
            "tenant_id",
            "professional_card_expires_on",
        ),
    )


class DriverDocument(Base, TenantOwned, Timestamped, Versioned):
    """A document a driver must (or may) provide, with its verification state.

    ``doc_documents`` owns the file and its expiry date (one source of truth each,
    data-model.md); this row owns the requirement and the verification.
    """

    __tablename__ = "rid_driver_documents"

    driver_id: Mapped[uuid.UUID]
    document_id: Mapped[uuid.UUID]
    requirement: Mapped[str] = mapped_column(server_default=DocumentRequirement.REQUIRED.value)
    verification_status: Mapped[str] = mapped_column(
        server_default=VerificationStatus.PENDING.value
    )
    verified_by: Mapped[uuid.UUID | None]
    verified_at: Mapped[datetime | None]
    rejection_reason: Mapped[str | None]

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers", ondelete="CASCADE"),
        tenant_fk("document_id", "doc_documents"),
        enum_check("requirement", DocumentRequirement),
        enum_check("verification_status", VerificationStatus),
        UniqueConstraint("tenant_id", "driver_id", "document_id"),
        CheckConstraint(
            "verification_status NOT IN ('verified', 'rejected') OR verified_at IS NOT NULL",
            name="reviewed_has_time",
        ),
        CheckConstraint(
            "verification_status <> 'rejected' OR rejection_reason IS NOT NULL",
            name="rejected_has_reason",
        ),
        Index("ix_rid_driver_documents_document", "tenant_id", "document_id"),
        Index("ix_rid_driver_documents_status", "tenant_id", "verification_status"),
    )


class DriverCooperationTerms(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """A version of the terms a driver works under over ``[effective_from, effective_to)``,
    and the settlement model they set (revenue share, fixed rent or salary)."""

    __tablename__ = "rid_driver_cooperation_terms"

    driver_id: Mapped[uuid.UUID]
    terms_version: Mapped[str]
    status: Mapped[str] = mapped_column(server_default=CooperationTermsStatus.PENDING.value)
    accepted_at: Mapped[datetime | None]
    accepted_ip: Mapped[str | None] = mapped_column(INET)
    accepted_user_agent: Mapped[str | None]
    effective_from: Mapped[datetime]
    # NULL = open-ended. Terminated terms keep their real end.
    effective_to: Mapped[datetime | None]
    settlement_model: Mapped[str]
    # Share of the driver's platform earnings after commission kept by the fleet
    # (revenue_share only; tips and toll refunds are not shared).
    fleet_share_pct: Mapped[Percentage | None]
    # Rent per ``rent_period``, prorated by days in force (fixed_rent only).
    rent_amount: Mapped[MoneyAmount | None]
    rent_period: Mapped[str | None]
    currency: Mapped[CurrencyCode]
    recharge_fuel: Mapped[bool] = mapped_column(server_default=text("false"))
    recharge_tolls: Mapped[bool] = mapped_column(server_default=text("false"))
    recharge_fines: Mapped[bool] = mapped_column(server_default=text("false"))
    recharge_other_expenses: Mapped[bool] = mapped_column(server_default=text("false"))
    deposit_amount: Mapped[MoneyAmount | None]
    weekly_deposit_instalment: Mapped[MoneyAmount | None]
    termination_reason: Mapped[str | None]

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers"),
        enum_check("status", CooperationTermsStatus),
        enum_check("settlement_model", SettlementModel),
        enum_check("rent_period", RentPeriod),
        currency_check("currency"),
        CheckConstraint("effective_to > effective_from", name="effective_to_after_from"),
        # ``pending`` = offered, not yet accepted; terms in force were accepted.
        CheckConstraint("status <> 'pending' OR accepted_at IS NULL", name="pending_unaccepted"),
        CheckConstraint(
            "status NOT IN ('active', 'expired') OR accepted_at IS NOT NULL",
            name="in_force_accepted",
        ),
        CheckConstraint("status <> 'expired' OR effective_to IS NOT NULL", name="expired_has_end"),
        CheckConstraint(
            "accepted_at IS NOT NULL OR (accepted_ip IS NULL AND accepted_user_agent IS NULL)",
            name="acceptance_evidence",
        ),
        CheckConstraint("fleet_share_pct BETWEEN 0 AND 100", name="fleet_share_pct_range"),
        CheckConstraint(
            "(settlement_model = 'revenue_share') = (fleet_share_pct IS NOT NULL)",
            name="fleet_share_iff_revenue_share",
        ),
        CheckConstraint(
            "(settlement_model = 'fixed_rent')"
            " = (rent_amount IS NOT NULL AND rent_period IS NOT NULL)",
            name="rent_iff_fixed_rent",
        ),
        CheckConstraint(
            "settlement_model = 'fixed_rent' OR (rent_amount IS NULL AND rent_period IS NULL)",
            name="no_rent_unless_fixed_rent",
        ),
        CheckConstraint(
            "weekly_deposit_instalment IS NULL OR deposit_amount IS NOT NULL",
            name="instalment_has_deposit",
        ),
        CheckConstraint(
            "weekly_deposit_instalment > 0 AND weekly_deposit_instalment <= deposit_amount",
            name="instalment_range",
        ),
        *non_negative("rent_amount", "deposit_amount"),
        # Settlement applies "the terms in force on each day", so terms the driver accepted
        # (active, expired, and terminated ones, which keep their real end) never overlap.
        # Unaccepted offers (pending, or terminated = withdrawn before acceptance) are left
        # out: a new version can be offered while the current terms are still open-ended;
        # accepting it closes the current terms in the same transaction.
        no_overlap(
            "ex_rid_driver_cooperation_terms_period",
            "tenant_id",
            "driver_id",
            start="effective_from",
            end="effective_to",
            where="accepted_at IS NOT NULL AND deleted_at IS NULL",
        ),
        Index("ix_rid_driver_cooperation_terms_driver", "tenant_id", "driver_id", "effective_from"),
        Index("ix_rid_driver_cooperation_terms_status", "tenant_id", "status"),
    )


class DriverRequest(Base, TenantOwned, Timestamped, Versioned):
    """A driver's request (leave, vehicle change, advance…) and its review."""

    __tablename__ = "rid_driver_requests"

    driver_id: Mapped[uuid.UUID]
    request_type: Mapped[str]
    status: Mapped[str] = mapped_column(server_default=DriverRequestStatus.PENDING.value)
    # The period concerned (required for leave); an approved leave blocks shifts and
    # assignments in it.
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    details: Mapped[JsonObject]
    reason: Mapped[str | None]
    # The amount asked for (advance_payment).
    amount: Mapped[MoneyAmount | None]
    currency: Mapped[CurrencyCode | None]
    requested_vehicle_id: Mapped[uuid.UUID | None]
    reviewed_by: Mapped[uuid.UUID | None]
    reviewed_at: Mapped[datetime | None]
    resolution_notes: Mapped[str | None]
    # The assignment an approved vehicle change created.
    resulting_assignment_id: Mapped[uuid.UUID | None]

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers"),
        tenant_fk("requested_vehicle_id", "flt_vehicles"),
        tenant_fk("resulting_assignment_id", "flt_vehicle_assignments"),
        enum_check("request_type", DriverRequestType),
        enum_check("status", DriverRequestStatus),
        currency_check("currency"),
        CheckConstraint("period_end > period_start", name="period_end_after_start"),
        CheckConstraint(
            "request_type <> 'leave' OR (period_start IS NOT NULL AND period_end IS NOT NULL)",
            name="leave_has_period",
        ),
        CheckConstraint(
            "request_type <> 'advance_payment' OR amount IS NOT NULL",
            name="advance_has_amount",
        ),
        CheckConstraint("amount IS NULL OR currency IS NOT NULL", name="amount_has_currency"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "status NOT IN ('approved', 'rejected') OR reviewed_at IS NOT NULL",
            name="decided_has_review_time",
        ),
        Index("ix_rid_driver_requests_driver", "tenant_id", "driver_id", "created_at"),
        Index("ix_rid_driver_requests_status", "tenant_id", "status"),
        # Leave checks when scheduling shifts and assignments.
        Index(
            "ix_rid_driver_requests_approved_leave",
            "tenant_id",
            "driver_id",
            "period_start",
            postgresql_where=text("request_type = 'leave' AND status = 'approved'"),
        ),
    )


class DriverPerformance(Base, TenantOwned, Timestamped):
    """A driver's figures for one period, on one platform or all (``platform_id`` NULL).

    Computed from trips and imports, and recomputable: no user edits, so no version.
    """

    __tablename__ = "rid_driver_performances"

    driver_id: Mapped[uuid.UUID]
    platform_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dir_platforms.id"))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    trips_completed: Mapped[int] = mapped_column(server_default=text("0"))
    trips_cancelled: Mapped[int] = mapped_column(server_default=text("0"))
    acceptance_rate_pct: Mapped[Percentage | None]
    cancellation_rate_pct: Mapped[Percentage | None]
    average_rating: Mapped[Rating | None]
    hours_online: Mapped[Hours | None]
    hours_on_trip: Mapped[Hours | None]
    distance_km: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    gross_revenue: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    net_revenue: Mapped[MoneyAmount] = mapped_column(server_default=text("0"))
    currency: Mapped[CurrencyCode]
    computed_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers"),
        currency_check("currency"),
        CheckConstraint("period_end > period_start", name="period_end_after_start"),
        CheckConstraint("acceptance_rate_pct BETWEEN 0 AND 100", name="acceptance_rate_pct_range"),
        CheckConstraint(
            "cancellation_rate_pct BETWEEN 0 AND 100", name="cancellation_rate_pct_range"
        ),
        CheckConstraint("average_rating BETWEEN 1 AND 5", name="average_rating_range"),
        CheckConstraint("hours_on_trip <= hours_online", name="on_trip_within_online"),
        *non_negative(
            "trips_completed", "trips_cancelled", "hours_online", "hours_on_trip", "distance_km"
        ),
        # Recomputation upserts on this key (ON CONFLICT needs a unique, not an exclusion).
        UniqueConstraint(
            "tenant_id",
            "driver_id",
            "platform_id",
            "period_start",
            name="uq_rid_driver_performances_period_start",
            postgresql_nulls_not_distinct=True,
        ),
        ExcludeConstraint(
            ("tenant_id", "="),
            ("driver_id", "="),
            (text("COALESCE(platform_id, '00000000-0000-0000-0000-000000000000'::uuid)"), "="),
            (text("tstzrange(period_start, period_end, '[)')"), "&&"),
            name="ex_rid_driver_performances_period",
            using="gist",
        ),
        Index("ix_rid_driver_performances_period", "tenant_id", "period_start"),
    )


class DriverBlacklist(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """A ban of a driver; while active it blocks new assignments and shifts."""

    __tablename__ = "rid_driver_blacklists"

    driver_id: Mapped[uuid.UUID]
    reason: Mapped[str]
    category: Mapped[str]
    starts_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # NULL = until lifted.
    ends_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(server_default=BlacklistStatus.ACTIVE.value)
    decided_by: Mapped[uuid.UUID | None]
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[uuid.UUID | None]
    lift_reason: Mapped[str | None]

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers"),
        enum_check("category", BlacklistCategory),
        enum_check("status", BlacklistStatus),
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        CheckConstraint(
            "(status = 'lifted') = (lifted_at IS NOT NULL AND lift_reason IS NOT NULL)",
            name="lifted_complete",
        ),
        CheckConstraint(
            "status = 'lifted'"
            " OR (lifted_at IS NULL AND lifted_by IS NULL AND lift_reason IS NULL)",
            name="active_not_lifted",
        ),
        Index(
            "ix_rid_driver_blacklists_active",
            "tenant_id",
            "driver_id",
            postgresql_where=text("status = 'active' AND deleted_at IS NULL"),
        ),
        Index("ix_rid_driver_blacklists_driver", "tenant_id", "driver_id", "starts_at"),
    )


class DriverTraining(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """A training a driver must or may take, and its outcome."""

    __tablename__ = "rid_driver_training"

    driver_id: Mapped[uuid.UUID]
    training_name: Mapped[str]
    training_type: Mapped[str]
    provider: Mapped[str | None]
    status: Mapped[str] = mapped_column(server_default=TrainingStatus.PLANNED.value)
    scheduled_on: Mapped[date | None]
    completed_on: Mapped[date | None]
    expires_on: Mapped[date | None]
    score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    certificate_document_id: Mapped[uuid.UUID | None]

    __table_args__ = (
        tenant_fk("driver_id", "rid_drivers"),
        tenant_fk("certificate_document_id", "doc_documents"),
        enum_check("training_type", TrainingType),
        enum_check("status", TrainingStatus),
        CheckConstraint(
            "status <> 'completed' OR completed_on IS NOT NULL", name="completed_has_date"
        ),
        CheckConstraint("expires_on >= completed_on", name="expires_after_completion"),
        *non_negative("score"),
        Index("ix_rid_driver_training_driver", "tenant_id", "driver_id"),
        # Training-due reminders and compliance.
        Index("ix_rid_driver_training_expires_on", "tenant_id", "expires_on"),
    )
