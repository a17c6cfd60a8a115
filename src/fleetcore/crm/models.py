"""CRM tables (``crm_``): Fleetcore's own sales pipeline, lead → opportunity → contract → tenant.

These rows belong to the provider, not to a tenant; only a contract gains a ``tenant_id`` once
signing it has provisioned the customer's tenant."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, text
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    Base,
    CountryCode,
    CurrencyCode,
    GlobalRow,
    MoneyAmount,
    SoftDeletable,
    Timestamped,
    Versioned,
    WithMetadata,
    country_check,
    currency_check,
    e164_check,
    email_check,
    enum_check,
    non_negative,
)


class LeadStatus(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"
    CONVERTED = "converted"


class LeadPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class OpportunityStage(StrEnum):
    PROSPECTING = "prospecting"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


class ContractStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    SIGNED = "signed"
    ACTIVE = "active"
    TERMINATED = "terminated"
    EXPIRED = "expired"


class Lead(Base, GlobalRow, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """A prospective fleet operator that sales is talking to (or has ruled out)."""

    __tablename__ = "crm_leads"

    company_name: Mapped[str]
    contact_name: Mapped[str | None]
    email: Mapped[str | None]
    phone: Mapped[str | None]
    country: Mapped[CountryCode | None]
    fleet_size: Mapped[int | None]
    # Where the lead came from (website, referral, event, ...); campaign details go in metadata.
    source: Mapped[str | None]
    status: Mapped[str] = mapped_column(server_default=LeadStatus.NEW.value)
    priority: Mapped[str] = mapped_column(server_default=LeadPriority.NORMAL.value)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("adm_provider_employees.id"))
    notes: Mapped[str | None]
    disqualification_reason: Mapped[str | None]
    converted_at: Mapped[datetime | None]

    __table_args__ = (
        enum_check("status", LeadStatus),
        enum_check("priority", LeadPriority),
        country_check("country"),
        email_check("email"),
        e164_check("phone"),
        CheckConstraint("fleet_size >= 0", name="fleet_size_non_negative"),
        CheckConstraint(
            "status <> 'converted' OR converted_at IS NOT NULL", name="converted_has_converted_at"
        ),
        Index("ix_crm_leads_status", "status"),
        Index("ix_crm_leads_owner_id", "owner_id"),
        # Finding an existing lead before creating a duplicate one.
        Index("ix_crm_leads_email", text("lower(email)")),
    )


class Opportunity(Base, GlobalRow, Timestamped, SoftDeletable, Versioned):
    """A qualified deal with a lead, moving through the sales stages towards a contract."""

    __tablename__ = "crm_opportunities"

    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("crm_leads.id"))
    name: Mapped[str]
    stage: Mapped[str] = mapped_column(server_default=OpportunityStage.PROSPECTING.value)
    expected_value: Mapped[MoneyAmount | None]
    currency: Mapped[CurrencyCode | None]
    probability_pct: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    expected_close_on: Mapped[date | None]
    proposed_plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bil_billing_plans.id"))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("adm_provider_employees.id"))
    closed_at: Mapped[datetime | None]
    lost_reason: Mapped[str | None]

    __table_args__ = (
        enum_check("stage", OpportunityStage),
        currency_check("currency"),
        *non_negative("expected_value"),
        CheckConstraint(
            "expected_value IS NULL OR currency IS NOT NULL", name="expected_value_has_currency"
        ),
        CheckConstraint("probability_pct BETWEEN 0 AND 100", name="probability_pct_range"),
        CheckConstraint(
            "(stage IN ('closed_won', 'closed_lost')) = (closed_at IS NOT NULL)",
            name="closed_has_closed_at",
        ),
        Index("ix_crm_opportunities_lead_id", "lead_id"),
        Index("ix_crm_opportunities_owner_id", "owner_id"),
        # The forecast: open deals by stage and expected close.
        Index("ix_crm_opportunities_stage_expected_close_on", "stage", "expected_close_on"),
    )


class Contract(Base, GlobalRow, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """A signed (or to-be-signed) agreement with a customer; signing it provisions the tenant."""

    __tablename__ = "crm_contracts"

    # NULL until signing provisions the customer's tenant.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("adm_tenants.id", ondelete="RESTRICT"), sort_order=-99
    )
    opportunity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("crm_opportunities.id"))
    contract_number: Mapped[str] = mapped_column(unique=True)
    # The contracting party as signed; the lead's fields may change afterwards.
    customer_legal_name: Mapped[str]
    customer_vat_number: Mapped[str | None]
    signatory_name: Mapped[str | None]
    signatory_email: Mapped[str | None]
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bil_billing_plans.id"))
    starts_on: Mapped[date]
    # NULL for an open-ended contract.
    ends_on: Mapped[date | None]
    value: Mapped[MoneyAmount]
    currency: Mapped[CurrencyCode]
    status: Mapped[str] = mapped_column(server_default=ContractStatus.DRAFT.value)
    sent_at: Mapped[datetime | None]
    signed_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]
    termination_reason: Mapped[str | None]
    # The contract PDF, stored before any tenant (and so any doc_documents row) exists.
    document_storage_key: Mapped[str | None]
    stripe_subscription_id: Mapped[str | None] = mapped_column(unique=True)

    __table_args__ = (
        enum_check("status", ContractStatus),
        currency_check("currency"),
        *non_negative("value"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="ends_after_starts"),
        CheckConstraint(
            "status NOT IN ('signed', 'active', 'terminated') OR signed_at IS NOT NULL",
            name="signed_has_signed_at",
        ),
        CheckConstraint(
            "status <> 'terminated' OR terminated_at IS NOT NULL",
            name="terminated_has_terminated_at",
        ),
        email_check("signatory_email"),
        Index("ix_crm_contracts_tenant_id", "tenant_id"),
        Index("ix_crm_contracts_opportunity_id", "opportunity_id"),
        Index("ix_crm_contracts_status_ends_on", "status", "ends_on"),
    )
