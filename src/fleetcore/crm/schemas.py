"""Request and response bodies of the CRM API: leads, opportunities, contracts, forecast."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from fleetcore.admin.schemas import Country, Name, Phone, Slug, TimeZone
from fleetcore.core.money import round_minor
from fleetcore.core.schemas import MoneyIn, MoneyOut, money_out
from fleetcore.crm.models import ContractStatus, LeadPriority, LeadStatus, OpportunityStage

_ID = "0195f3c2-7a10-7000-8000-0000000000a1"
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Probability = Annotated[Decimal, Field(ge=0, le=100, max_digits=7, decimal_places=4,
                                       description="Chance of winning, in percent (0 to 100).")]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- leads ---------------------------------------------------------------------------------

_LEAD: dict[str, Any] = {
    "company_name": "Lumière VTC", "contact_name": "Inès Martin",
    "email": "ines@lumiere-vtc.fr", "phone": "+33612345678", "country": "FR",
    "fleet_size": 40, "source": "website", "priority": "high",
}


class LeadCreate(_Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_LEAD]})

    company_name: Name
    contact_name: Name | None = None
    email: EmailStr | None = None
    phone: Phone | None = None
    country: Country | None = None
    fleet_size: int | None = Field(default=None, ge=0, le=1_000_000)
    source: Short | None = Field(default=None, description="website, referral, event, …")
    status: LeadStatus = LeadStatus.NEW
    priority: LeadPriority = LeadPriority.NORMAL
    owner_id: uuid.UUID | None = Field(default=None, description="A provider employee.")
    notes: Text | None = None
    disqualification_reason: Text | None = None


class LeadUpdate(_Input):
    """Only the fields sent change; ``null`` clears an optional field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "qualified", "fleet_size": 45}]})

    company_name: Name | None = None
    contact_name: Name | None = None
    email: EmailStr | None = None
    phone: Phone | None = None
    country: Country | None = None
    fleet_size: int | None = Field(default=None, ge=0, le=1_000_000)
    source: Short | None = None
    status: LeadStatus | None = None
    priority: LeadPriority | None = None
    owner_id: uuid.UUID | None = None
    notes: Text | None = None
    disqualification_reason: Text | None = None


class LeadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": _ID, **_LEAD, "status": "qualified", "owner_id": None, "notes": None,
        "disqualification_reason": None, "converted_at": None,
        "created_at": "2026-03-02T09:00:00Z", "updated_at": "2026-03-02T09:00:00Z",
        "version": 1}]})

    id: uuid.UUID
    company_name: str
    contact_name: str | None
    email: str | None
    phone: str | None
    country: str | None
    fleet_size: int | None
    source: str | None
    status: str
    priority: str
    owner_id: uuid.UUID | None
    notes: str | None
    disqualification_reason: str | None
    converted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


# --- opportunities -------------------------------------------------------------------------

_OPPORTUNITY: dict[str, Any] = {
    "lead_id": _ID, "name": "Lumière VTC — 40 cars", "stage": "proposal",
    "expected_value": {"amount": "4776.00", "currency": "EUR"}, "probability_pct": "40",
    "expected_close_on": "2026-04-30",
}


class OpportunityCreate(_Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_OPPORTUNITY]})

    lead_id: uuid.UUID
    name: Name
    stage: OpportunityStage = OpportunityStage.PROSPECTING
    expected_value: MoneyIn | None = None
    probability_pct: Probability | None = Field(
        default=None, description="Defaults to the stage's (prospecting 10, proposal 40, "
        "negotiation 70, won 100, lost 0).")
    expected_close_on: date | None = None
    proposed_plan_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    lost_reason: Text | None = None


class OpportunityUpdate(_Input):
    """Only the fields sent change; ``null`` clears an optional field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"stage": "negotiation", "probability_pct": "70"}]})

    name: Name | None = None
    stage: OpportunityStage | None = None
    expected_value: MoneyIn | None = None
    probability_pct: Probability | None = None
    expected_close_on: date | None = None
    proposed_plan_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    lost_reason: Text | None = None


class OpportunityOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ID, **_OPPORTUNITY, "probability_pct": "40.0000", "proposed_plan_id": None,
        "owner_id": None, "closed_at": None, "lost_reason": None,
        "weighted_value": {"amount": "1910.40", "currency": "EUR"},
        "created_at": "2026-03-02T09:00:00Z", "updated_at": "2026-03-02T09:00:00Z",
        "version": 1}]})

    id: uuid.UUID
    lead_id: uuid.UUID
    name: str
    stage: str
    expected_value: MoneyOut | None
    probability_pct: Decimal | None
    weighted_value: MoneyOut | None = Field(
        description="expected value x probability, rounded to the currency's minor unit.")
    expected_close_on: date | None
    proposed_plan_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    closed_at: datetime | None
    lost_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, row: Any) -> OpportunityOut:
        weighted = None
        if row.expected_value is not None and row.probability_pct is not None:
            weighted = money_out(round_minor(row.expected_value * row.probability_pct / 100,
                                             row.currency), row.currency)
        return cls(
            id=row.id, lead_id=row.lead_id, name=row.name, stage=row.stage,
            expected_value=money_out(row.expected_value, row.currency),
            probability_pct=row.probability_pct, weighted_value=weighted,
            expected_close_on=row.expected_close_on, proposed_plan_id=row.proposed_plan_id,
            owner_id=row.owner_id, closed_at=row.closed_at, lost_reason=row.lost_reason,
            created_at=row.created_at, updated_at=row.updated_at, version=row.version)


# --- forecast ------------------------------------------------------------------------------


class ForecastMonth(BaseModel):
    month: str = Field(description="YYYY-MM of the expected close.", examples=["2026-04"])
    currency: str
    open_deals: int
    pipeline: MoneyOut = Field(description="The expected values, unweighted.")
    weighted: MoneyOut = Field(
        description="The sum of expected value x probability over the month's open deals: "
        "summed exactly, rounded once to the currency's minor unit.")


class ForecastOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "since": "2026-04", "until": "2026-06", "months": [{
            "month": "2026-04", "currency": "EUR", "open_deals": 3,
            "pipeline": {"amount": "12000.00", "currency": "EUR"},
            "weighted": {"amount": "5400.00", "currency": "EUR"}}]}]})

    since: str | None
    until: str | None
    months: list[ForecastMonth]


# --- contracts -----------------------------------------------------------------------------

_CONTRACT: dict[str, Any] = {
    "opportunity_id": _ID, "customer_legal_name": "Lumière VTC SAS",
    "customer_vat_number": "FR40123456824", "signatory_name": "Inès Martin",
    "signatory_email": "ines@lumiere-vtc.fr", "plan_id": _ID, "starts_on": "2026-05-01",
    "value": {"amount": "4776.00", "currency": "EUR"},
}


class ContractCreate(_Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CONTRACT]})

    opportunity_id: uuid.UUID
    customer_legal_name: Name | None = Field(
        default=None, description="Defaults to the lead's company name.")
    customer_vat_number: Short | None = None
    signatory_name: Name | None = None
    signatory_email: EmailStr | None = Field(
        default=None, description="The future tenant's owner: invited when the contract is "
        "signed (defaults to the lead's e-mail).")
    plan_id: uuid.UUID | None = Field(
        default=None, description="Defaults to the opportunity's proposed plan.")
    starts_on: date
    ends_on: date | None = None
    value: MoneyIn | None = Field(
        default=None, description="Defaults to the opportunity's expected value.")


class ContractUpdate(_Input):
    """Terms change while the contract is a draft or sent; ``status`` moves it (``sent``;
    ``terminated`` with a reason once signed). Signing is ``POST …/sign``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "sent"}]})

    customer_legal_name: Name | None = None
    customer_vat_number: Short | None = None
    signatory_name: Name | None = None
    signatory_email: EmailStr | None = None
    plan_id: uuid.UUID | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    value: MoneyIn | None = None
    status: ContractStatus | None = None
    termination_reason: Text | None = None


class ContractSign(_Input):
    """What signing needs beyond the contract: the tenant's time zone (derived from the
    country when it has only one) and, optionally, its slug and display name."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"timezone": "Europe/Paris"}]})

    timezone: TimeZone | None = None
    slug: Slug | None = Field(default=None, description="Defaults to one made of the name.")
    name: Name | None = Field(default=None, description="Defaults to the lead's company name.")
    country: Country | None = Field(default=None, description="Defaults to the lead's country.")
    signed_at: datetime | None = Field(default=None, description="Defaults to now.")


class ContractOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ID, "contract_number": "CT-2026-0001", "tenant_id": None, "status": "draft",
        **_CONTRACT, "ends_on": None, "sent_at": None, "signed_at": None,
        "terminated_at": None, "termination_reason": None, "document": None,
        "created_at": "2026-03-02T09:00:00Z", "updated_at": "2026-03-02T09:00:00Z",
        "version": 1}]})

    id: uuid.UUID
    contract_number: str
    opportunity_id: uuid.UUID
    tenant_id: uuid.UUID | None
    status: str
    customer_legal_name: str
    customer_vat_number: str | None
    signatory_name: str | None
    signatory_email: str | None
    plan_id: uuid.UUID
    starts_on: date
    ends_on: date | None
    value: MoneyOut
    sent_at: datetime | None
    signed_at: datetime | None
    terminated_at: datetime | None
    termination_reason: str | None
    document: ContractDocumentOut | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, row: Any) -> ContractOut:
        value = money_out(row.value, row.currency)
        assert value is not None
        doc = (row.extra or {}).get("document") if row.document_storage_key else None
        return cls(
            id=row.id, contract_number=row.contract_number, opportunity_id=row.opportunity_id,
            tenant_id=row.tenant_id, status=row.status,
            customer_legal_name=row.customer_legal_name,
            customer_vat_number=row.customer_vat_number, signatory_name=row.signatory_name,
            signatory_email=row.signatory_email, plan_id=row.plan_id, starts_on=row.starts_on,
            ends_on=row.ends_on, value=value, sent_at=row.sent_at, signed_at=row.signed_at,
            terminated_at=row.terminated_at, termination_reason=row.termination_reason,
            document=ContractDocumentOut(**doc) if doc else None,
            created_at=row.created_at, updated_at=row.updated_at, version=row.version)


class ContractDocumentOut(BaseModel):
    """The stored contract file (download: ``GET …/document``)."""

    file_name: str
    mime_type: str
    size_bytes: int
    sha256: str


class SignedOut(BaseModel):
    """The signed contract and the tenant it provisioned (the same on every retry)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "contract_id": _ID, "contract_number": "CT-2026-0001", "tenant_id": _ID,
        "tenant_slug": "lumiere-vtc", "owner_member_id": _ID, "subscription_id": _ID,
        "invitation_id": _ID, "already_signed": False}]})

    contract_id: uuid.UUID
    contract_number: str
    tenant_id: uuid.UUID
    tenant_slug: str
    owner_member_id: uuid.UUID
    subscription_id: uuid.UUID | None
    invitation_id: uuid.UUID | None
    already_signed: bool = Field(description="True when this was a retry: nothing was made.")


ContractOut.model_rebuild()
