"""Request and response models of the drivers API.

Phone numbers arrive as typed by people (``06 12 34 56 78``): the service normalises them to
E.164 with the tenant's country as the default region, so they are plain strings here.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
)

from fleetcore.core.schemas import Currency, MoneyIn, MoneyOut, from_row, money_out
from fleetcore.drivers.models import (
    BlacklistCategory,
    BlacklistStatus,
    CooperationTermsStatus,
    DocumentRequirement,
    DriverRequest,
    DriverRequestStatus,
    DriverRequestType,
    DriverStatus,
    ProfessionalCardType,
    RentPeriod,
    SettlementModel,
    TrainingStatus,
    TrainingType,
    VerificationStatus,
)


def _country(value: str) -> str:
    code = value.upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return code


def _language(value: str) -> str:
    if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", value):
        raise ValueError("not a language tag (en, fr, pt-BR)")
    return value


Country = Annotated[str, AfterValidator(_country)]
Language = Annotated[str, StringConstraints(max_length=35), AfterValidator(_language)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
PhoneText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Percentage = Annotated[Decimal, Field(ge=0, le=100, max_digits=7, decimal_places=4)]


class Model(BaseModel):
    """Responses read attributes of ORM rows."""

    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    """Requests refuse unknown fields, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class ReasonIn(Input):
    """A decision's reason."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason": "Appeal upheld after review."}]})

    reason: Reason


# --- drivers -----------------------------------------------------------------------------------


class DriverCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "first_name": "Karim", "last_name": "Benali", "email": "karim.benali@example.com",
        "phone": "06 12 34 56 78", "date_of_birth": "1990-04-12",
        "licence_number": "120475200123", "licence_country": "FR",
        "licence_issued_on": "2010-06-01", "licence_expires_on": "2033-06-01",
        "professional_card_type": "vtc", "professional_card_number": "VTC-075-2019-0042",
        "professional_card_expires_on": "2029-03-31", "hired_on": "2026-01-05",
    }]})

    first_name: Name
    last_name: Name
    email: EmailStr | None = None
    phone: PhoneText = Field(description="E.164, or national format of the fleet's country.")
    date_of_birth: date | None = None
    licence_number: ShortText | None = None
    licence_country: Country | None = None
    licence_issued_on: date | None = None
    licence_expires_on: date | None = None
    professional_card_type: ProfessionalCardType | None = None
    professional_card_number: ShortText | None = None
    professional_card_expires_on: date | None = None
    status: DriverStatus = DriverStatus.ONBOARDING
    notes: Text | None = None
    member_id: uuid.UUID | None = None
    hired_on: date | None = None
    preferred_language: Language = "en"


class DriverUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "active", "licence_expires_on": "2034-06-01"}]})

    first_name: Name | None = None
    last_name: Name | None = None
    email: EmailStr | None = None
    phone: PhoneText | None = None
    date_of_birth: date | None = None
    licence_number: ShortText | None = None
    licence_country: Country | None = None
    licence_issued_on: date | None = None
    licence_expires_on: date | None = None
    professional_card_type: ProfessionalCardType | None = None
    professional_card_number: ShortText | None = None
    professional_card_expires_on: date | None = None
    status: DriverStatus | None = None
    notes: Text | None = None
    member_id: uuid.UUID | None = None
    hired_on: date | None = None
    preferred_language: Language | None = None


class DriverOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000002", "first_name": "Karim", "last_name": "Benali",
        "email": "karim.benali@example.com", "phone": "+33612345678",
        "date_of_birth": "1990-04-12", "licence_number": "120475200123", "licence_country": "FR",
        "licence_issued_on": "2010-06-01", "licence_expires_on": "2033-06-01",
        "professional_card_type": "vtc", "professional_card_number": "VTC-075-2019-0042",
        "professional_card_expires_on": "2029-03-31", "status": "active", "rating": "4.87",
        "notes": None, "member_id": None, "hired_on": "2026-01-05", "preferred_language": "fr",
        "anonymised_at": None, "created_at": "2026-01-05T08:00:00Z",
        "updated_at": "2026-11-25T10:15:00Z", "deleted_at": None, "deletion_reason": None,
        "version": 3,
    }]})

    id: uuid.UUID
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    date_of_birth: date | None
    licence_number: str | None
    licence_country: str | None
    licence_issued_on: date | None
    licence_expires_on: date | None
    professional_card_type: str | None
    professional_card_number: str | None
    professional_card_expires_on: date | None
    status: DriverStatus
    rating: Decimal | None
    notes: str | None
    member_id: uuid.UUID | None
    hired_on: date | None
    preferred_language: str
    anonymised_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    deletion_reason: str | None
    version: int


DRIVER_COMPLIANCE_EXAMPLE: dict[str, Any] = {
    "subject_type": "driver", "subject_id": "0195f3c2-7a10-7000-8000-000000000002",
    "evaluated_at": "2026-11-25T09:30:00Z", "compliant": False,
    "rules": [
        {"rule": "licence_valid", "status": "pass",
         "reason": "The driving licence is valid until 2033-06-01.", "related_id": None},
        {"rule": "professional_card_valid", "status": "warning",
         "reason": "The Carte professionnelle VTC expires on 2026-12-15.", "related_id": None},
        {"rule": "required_documents", "status": "fail",
         "reason": "The id card is pending, not verified.",
         "related_id": "0195f3c2-7a10-7000-8000-000000000007"},
        {"rule": "no_active_blacklist", "status": "pass", "reason": "No active blacklist entry.",
         "related_id": None},
    ],
}
"""An example ``ComplianceReport`` of a driver (the model is core's, shared by vehicles)."""


# --- driver documents --------------------------------------------------------------------------


class DriverDocumentAttach(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"document_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e", "requirement": "required"}]})

    document_id: uuid.UUID = Field(description="A document uploaded about this driver.")
    requirement: DocumentRequirement = DocumentRequirement.REQUIRED


class DriverDocumentUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"requirement": "optional"}]})

    requirement: DocumentRequirement


class DriverDocumentOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000109",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002",
        "document_id": "0195f3c2-7a10-7000-8000-000000000007", "requirement": "required",
        "verification_status": "verified", "verified_by": "0195f3c2-7a10-7000-8000-000000000003",
        "verified_at": "2026-11-25T09:30:00Z", "rejection_reason": None,
        "document_type": "driver_licence", "document_number": "120475200123",
        "file_name": "permis-karim-benali.pdf", "expires_on": "2033-06-01", "expired": False,
        "document_deleted": False, "version": 2,
    }]})

    id: uuid.UUID
    driver_id: uuid.UUID
    document_id: uuid.UUID
    requirement: DocumentRequirement
    verification_status: VerificationStatus
    verified_by: uuid.UUID | None
    verified_at: datetime | None
    rejection_reason: str | None
    document_type: str
    document_number: str | None
    file_name: str
    expires_on: date | None = Field(description="From the document (its one source of truth).")
    expired: bool
    document_deleted: bool
    version: int


# --- cooperation terms -------------------------------------------------------------------------


class CooperationTermsCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e", "terms_version": "2026-11",
        "effective_from": "2026-12-01T00:00:00+01:00", "settlement_model": "revenue_share",
        "fleet_share_pct": "25", "currency": "EUR", "recharge_fuel": True,
    }]})

    driver_id: uuid.UUID
    terms_version: ShortText
    effective_from: AwareDatetime
    effective_to: AwareDatetime | None = None
    settlement_model: SettlementModel
    fleet_share_pct: Percentage | None = Field(
        default=None, description="revenue_share only: the fleet's share, 0..100.")
    rent: MoneyIn | None = Field(default=None, description="fixed_rent only: rent per period.")
    rent_period: RentPeriod | None = None
    currency: Currency
    recharge_fuel: bool = False
    recharge_tolls: bool = False
    recharge_fines: bool = False
    recharge_other_expenses: bool = False
    deposit: MoneyIn | None = None
    weekly_deposit_instalment: MoneyIn | None = None


class TermsTermination(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "The driver left the fleet.", "effective_to": "2026-12-31T23:59:59+01:00"}]})

    reason: Reason
    effective_to: AwareDatetime | None = Field(
        default=None, description="When terms in force end (now when absent).")


class CooperationTermsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000110",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002", "terms_version": "2026-11",
        "status": "active", "accepted_at": "2026-11-25T09:30:00Z", "accepted_ip": "203.0.113.9",
        "accepted_user_agent": "DriverApp/2.1", "effective_from": "2026-12-01T00:00:00+01:00",
        "effective_to": None, "settlement_model": "revenue_share", "fleet_share_pct": "25.0000",
        "rent": None, "rent_period": None, "currency": "EUR", "recharge_fuel": True,
        "recharge_tolls": False, "recharge_fines": True, "recharge_other_expenses": False,
        "deposit": {"amount": "1000.00", "currency": "EUR"},
        "weekly_deposit_instalment": {"amount": "100.00", "currency": "EUR"},
        "termination_reason": None, "created_at": "2026-11-25T09:30:00Z", "version": 2,
    }]})

    id: uuid.UUID
    driver_id: uuid.UUID
    terms_version: str
    status: CooperationTermsStatus
    accepted_at: datetime | None
    accepted_ip: str | None
    accepted_user_agent: str | None
    effective_from: datetime
    effective_to: datetime | None
    settlement_model: SettlementModel
    fleet_share_pct: Decimal | None
    rent: MoneyOut | None
    rent_period: RentPeriod | None
    currency: str
    recharge_fuel: bool
    recharge_tolls: bool
    recharge_fines: bool
    recharge_other_expenses: bool
    deposit: MoneyOut | None
    weekly_deposit_instalment: MoneyOut | None
    termination_reason: str | None
    created_at: datetime
    version: int


# --- requests ----------------------------------------------------------------------------------


class DriverRequestCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e", "request_type": "leave",
        "period_start": "2026-12-20T00:00:00+01:00", "period_end": "2026-12-27T00:00:00+01:00",
        "reason": "Family holiday",
    }]})

    driver_id: uuid.UUID
    request_type: DriverRequestType
    period_start: AwareDatetime | None = None
    period_end: AwareDatetime | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    reason: Text | None = None
    amount: MoneyIn | None = Field(default=None, description="advance_payment: the amount.")
    requested_vehicle_id: uuid.UUID | None = Field(
        default=None, description="vehicle_change: the vehicle wanted.")


class DriverRequestUpdate(Input):
    """A change to an open request (pending or under review); only the fields sent change,
    ``null`` clears one (the rules of its type still apply)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "period_end": "2026-12-28T00:00:00+01:00", "reason": "Family holiday, one more day",
    }]})

    period_start: AwareDatetime | None = None
    period_end: AwareDatetime | None = None
    details: dict[str, Any] | None = None
    reason: Text | None = None
    amount: MoneyIn | None = Field(default=None, description="advance_payment: the amount.")
    requested_vehicle_id: uuid.UUID | None = Field(
        default=None, description="vehicle_change: the vehicle wanted.")


class RequestDecision(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"notes": "Approved: cover arranged."}]})

    notes: Text | None = None


class DriverRequestOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000111",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002", "request_type": "leave",
        "status": "under_review", "period_start": "2026-12-20T00:00:00+01:00",
        "period_end": "2026-12-27T00:00:00+01:00", "details": {}, "reason": "Family holiday",
        "amount": None, "requested_vehicle_id": None,
        "reviewed_by": "0195f3c2-7a10-7000-8000-000000000003",
        "reviewed_at": "2026-11-25T09:30:00Z", "resolution_notes": None,
        "resulting_assignment_id": None, "created_at": "2026-11-25T09:30:00Z", "version": 2,
    }]})

    id: uuid.UUID
    driver_id: uuid.UUID
    request_type: DriverRequestType
    status: DriverRequestStatus
    period_start: datetime | None
    period_end: datetime | None
    details: dict[str, Any]
    reason: str | None
    amount: MoneyOut | None
    requested_vehicle_id: uuid.UUID | None
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    resolution_notes: str | None
    resulting_assignment_id: uuid.UUID | None
    created_at: datetime
    version: int


# --- blacklists --------------------------------------------------------------------------------



def driver_request_out(row: DriverRequest) -> DriverRequestOut:
    """A request as the API shows it (its amount with its currency)."""
    return from_row(DriverRequestOut, row, amount=money_out(row.amount, row.currency))

class BlacklistCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e", "category": "fraud",
        "reason": "Fake trips on two platforms.",
    }]})

    driver_id: uuid.UUID
    reason: Reason
    category: BlacklistCategory
    starts_at: AwareDatetime | None = Field(default=None, description="Now when absent.")
    ends_at: AwareDatetime | None = Field(default=None, description="Until lifted when absent.")


class BlacklistUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"ends_at": "2027-06-01T00:00:00+02:00"}]})

    reason: Reason | None = None
    category: BlacklistCategory | None = None
    ends_at: AwareDatetime | None = None


class BlacklistOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000112",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002",
        "reason": "Fake trips on two platforms.", "category": "fraud",
        "starts_at": "2026-11-25T09:30:00Z", "ends_at": None, "status": "active",
        "decided_by": "0195f3c2-7a10-7000-8000-000000000003", "lifted_at": None, "lifted_by": None,
        "lift_reason": None, "created_at": "2026-11-25T09:30:00Z", "deleted_at": None,
        "deletion_reason": None, "version": 1,
    }]})

    id: uuid.UUID
    driver_id: uuid.UUID
    reason: str
    category: BlacklistCategory
    starts_at: datetime
    ends_at: datetime | None
    status: BlacklistStatus
    decided_by: uuid.UUID | None
    lifted_at: datetime | None
    lifted_by: uuid.UUID | None
    lift_reason: str | None
    created_at: datetime
    deleted_at: datetime | None
    deletion_reason: str | None
    version: int


# --- training ----------------------------------------------------------------------------------


class TrainingCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e", "training_name": "Safe driving",
        "training_type": "mandatory", "status": "completed", "completed_on": "2026-10-02",
        "expires_on": "2028-10-02",
    }]})

    driver_id: uuid.UUID
    training_name: Name
    training_type: TrainingType
    provider: Name | None = None
    status: TrainingStatus = TrainingStatus.PLANNED
    scheduled_on: date | None = None
    completed_on: date | None = None
    expires_on: date | None = None
    score: Annotated[Decimal, Field(ge=0, max_digits=5, decimal_places=2)] | None = None
    certificate_document_id: uuid.UUID | None = None


class TrainingUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "completed", "completed_on": "2026-11-20"}]})

    training_name: Name | None = None
    training_type: TrainingType | None = None
    provider: Name | None = None
    status: TrainingStatus | None = None
    scheduled_on: date | None = None
    completed_on: date | None = None
    expires_on: date | None = None
    score: Annotated[Decimal, Field(ge=0, max_digits=5, decimal_places=2)] | None = None
    certificate_document_id: uuid.UUID | None = None


class TrainingOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000113",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002", "training_name": "Safe driving",
        "training_type": "mandatory", "provider": "Auto-école Lumière", "status": "completed",
        "scheduled_on": "2026-10-01", "completed_on": "2026-10-02", "expires_on": "2028-10-02",
        "score": "18.50", "certificate_document_id": None, "created_at": "2026-11-25T09:30:00Z",
        "deleted_at": None, "deletion_reason": None, "version": 2,
    }]})

    id: uuid.UUID
    driver_id: uuid.UUID
    training_name: str
    training_type: TrainingType
    provider: str | None
    status: TrainingStatus
    scheduled_on: date | None
    completed_on: date | None
    expires_on: date | None
    score: Decimal | None
    certificate_document_id: uuid.UUID | None
    created_at: datetime
    deleted_at: datetime | None
    deletion_reason: str | None
    version: int


# --- performances ------------------------------------------------------------------------------


class PerformanceOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000114",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002",
        "platform_id": "0195f3c2-7a10-7000-8000-000000000115",
        "period_start": "2026-11-16T00:00:00+01:00", "period_end": "2026-11-23T00:00:00+01:00",
        "trips_completed": 86, "trips_cancelled": 3, "acceptance_rate_pct": "92.5000",
        "cancellation_rate_pct": "3.4000", "average_rating": "4.87", "hours_online": "48.50",
        "hours_on_trip": "36.25", "distance_km": "1204.6",
        "gross_revenue": {"amount": "1842.30", "currency": "EUR"},
        "net_revenue": {"amount": "1381.73", "currency": "EUR"},
        "computed_at": "2026-11-25T09:30:00Z",
    }]})

    id: uuid.UUID
    driver_id: uuid.UUID
    platform_id: uuid.UUID | None
    period_start: datetime
    period_end: datetime
    trips_completed: int
    trips_cancelled: int
    acceptance_rate_pct: Decimal | None
    cancellation_rate_pct: Decimal | None
    average_rating: Decimal | None
    hours_online: Decimal | None
    hours_on_trip: Decimal | None
    distance_km: Decimal | None
    gross_revenue: MoneyOut
    net_revenue: MoneyOut
    computed_at: datetime
