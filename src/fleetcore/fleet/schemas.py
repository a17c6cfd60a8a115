"""Request and response models of the fleet API: vehicles, assignments, insurances, expenses,
vehicle events and vehicle compliance.

VINs and plates are checked in the service (they depend on the vehicle's country, which a
PATCH may change), so the error names the field; everything else is checked here.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from fleetcore.core.compliance import ComplianceReport, RuleStatus
from fleetcore.core.schemas import Currency, MoneyIn, MoneyOut
from fleetcore.fleet.models import (
    AssignmentStatus,
    AssignmentType,
    EnergyUnit,
    EventSeverity,
    ExpenseCategory,
    ExpensePaymentMethod,
    FuelType,
    OwnershipType,
    PremiumFrequency,
    VehicleEventSource,
    VehicleEventType,
    VehicleStatus,
)


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the driver.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _country(value: str) -> str:
    code = value.upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return code


Text = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_no_nul)]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Identifier = Annotated[str, StringConstraints(max_length=40), AfterValidator(_no_nul)]
Country = Annotated[str, StringConstraints(min_length=2, max_length=2), AfterValidator(_country)]
Km = Annotated[Decimal, Field(ge=0, le=Decimal("9999999.9"), decimal_places=1)]
Quantity = Annotated[Decimal, Field(ge=0, le=Decimal("999999999.999"), decimal_places=3)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000),
                   AfterValidator(_no_nul)]


class Model(BaseModel):
    """Responses read attributes of ORM rows."""

    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    """Requests refuse unknown fields, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


# --- vehicles --------------------------------------------------------------------------------


class VehicleOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000001",
        "make_id": "0195f3c2-7a10-7000-8000-000000000008",
        "model_id": "0195f3c2-7a10-7000-8000-000000000009",
        "vehicle_class_id": "0195f3c2-7a10-7000-8000-000000000103", "vin": "JTDKARFU0K3000001",
        "licence_plate": "GA-123-BC", "country": "FR", "year": 2024,
        "first_registration_on": "2024-03-01", "colour": "Black", "seats": 5,
        "fuel_type": "hybrid", "ownership_type": "leased", "acquired_on": "2024-03-01",
        "acquisition_cost": {"amount": "31500.00", "currency": "EUR"}, "status": "active",
        "traccar_device_id": None, "notes": None, "current_odometer_km": "41250.0",
        "odometer_read_at": "2026-11-25T09:30:00Z", "created_at": "2024-03-01T09:00:00Z",
        "updated_at": "2026-11-25T10:15:00Z", "deleted_at": None, "deletion_reason": None,
        "version": 4,
    }]})

    id: uuid.UUID
    make_id: uuid.UUID
    model_id: uuid.UUID | None
    vehicle_class_id: uuid.UUID | None
    vin: str | None
    licence_plate: str
    country: str
    year: int
    first_registration_on: date | None
    colour: str | None
    seats: int | None
    fuel_type: FuelType
    ownership_type: OwnershipType
    acquired_on: date | None
    acquisition_cost: MoneyOut | None = None
    status: VehicleStatus
    traccar_device_id: str | None
    notes: str | None
    current_odometer_km: Decimal | None = Field(
        default=None, description="Latest trusted odometer reading (derived, read-only).")
    odometer_read_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    deletion_reason: str | None
    version: int


class VehicleCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "make_id": "0195f3c2-7a10-7000-8000-000000000001", "licence_plate": "GA-123-BC",
        "country": "FR", "year": 2024, "fuel_type": "hybrid", "ownership_type": "leased",
        "vin": "JTDKARFU0K3000001",
    }]})

    make_id: uuid.UUID
    model_id: uuid.UUID | None = None
    vehicle_class_id: uuid.UUID | None = None
    vin: Identifier | None = Field(default=None, examples=["JTDKARFU0K3000001"])
    licence_plate: Annotated[str, StringConstraints(min_length=1, max_length=20),
                             AfterValidator(_no_nul)] = Field(examples=["GA-123-BC"])
    country: Country = Field(examples=["FR"])
    year: int = Field(ge=1950, le=2100, examples=[2024])
    first_registration_on: date | None = None
    colour: ShortText | None = None
    seats: int | None = Field(default=None, ge=1, le=99)
    fuel_type: FuelType
    ownership_type: OwnershipType
    acquired_on: date | None = None
    acquisition_cost: MoneyIn | None = None
    status: VehicleStatus = VehicleStatus.ACTIVE
    traccar_device_id: Identifier | None = None
    notes: Text | None = None


class VehicleUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"colour": "Black", "status": "in_maintenance"}]})

    make_id: uuid.UUID | None = None
    model_id: uuid.UUID | None = None
    vehicle_class_id: uuid.UUID | None = None
    vin: Identifier | None = None
    licence_plate: Annotated[str, StringConstraints(min_length=1, max_length=20),
                             AfterValidator(_no_nul)] | None = None
    country: Country | None = None
    year: int | None = Field(default=None, ge=1950, le=2100)
    first_registration_on: date | None = None
    colour: ShortText | None = None
    seats: int | None = Field(default=None, ge=1, le=99)
    fuel_type: FuelType | None = None
    ownership_type: OwnershipType | None = None
    acquired_on: date | None = None
    acquisition_cost: MoneyIn | None = None
    status: VehicleStatus | None = None
    traccar_device_id: Identifier | None = None
    notes: Text | None = None


# --- assignments -----------------------------------------------------------------------------


_ASSIGNMENT_EXAMPLE: dict[str, Any] = {
    "id": "0195f3c2-7a10-7000-8000-000000000006",
    "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001",
    "driver_id": "0195f3c2-7a10-7000-8000-000000000002",
    "starts_at": "2026-11-25T08:00:00+01:00", "ends_at": None, "assignment_type": "permanent",
    "status": "active", "odometer_out_km": "41250.0", "odometer_in_km": None, "notes": None,
    "override_reason": None, "overridden_by": None, "created_at": "2026-11-25T09:30:00Z",
    "updated_at": "2026-11-25T09:30:00Z", "version": 1,
}


class AssignmentOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [_ASSIGNMENT_EXAMPLE]})

    id: uuid.UUID
    vehicle_id: uuid.UUID
    driver_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime | None
    assignment_type: AssignmentType
    status: AssignmentStatus
    odometer_out_km: Decimal | None
    odometer_in_km: Decimal | None
    notes: str | None
    override_reason: str | None
    overridden_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("a timestamp needs its UTC offset (2026-11-25T08:00:00+01:00)")
    return value


Instant = Annotated[datetime, AfterValidator(_aware)]


class AssignmentCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002",
        "starts_at": "2026-11-25T08:00:00+01:00", "assignment_type": "permanent",
        "odometer_out_km": "41250.0",
    }]})

    vehicle_id: uuid.UUID
    driver_id: uuid.UUID
    starts_at: Instant
    ends_at: Instant | None = None
    assignment_type: AssignmentType = AssignmentType.PERMANENT
    odometer_out_km: Km | None = Field(default=None, description="Handover odometer (out).")
    notes: Text | None = None
    override_reason: Reason | None = Field(
        default=None,
        description="Assign despite failed compliance rules (needs `assignments:override`).")

    @model_validator(mode="after")
    def _period(self) -> AssignmentCreate:
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class AssignmentEnd(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "ends_at": "2026-11-30T18:00:00+01:00", "odometer_in_km": "42010.5"}]})

    ends_at: Instant | None = Field(default=None, description="Defaults to now.")
    odometer_in_km: Km | None = None
    notes: Text | None = None


class AssignmentCancel(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason": "Driver fell ill"}]})

    reason: Reason | None = None


class CustodianOut(BaseModel):
    """Who had the vehicle at ``at``: the assignment covering that instant."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001", "at": "2026-11-25T09:30:00Z",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002", "assignment": _ASSIGNMENT_EXAMPLE,
    }]})

    vehicle_id: uuid.UUID
    at: datetime
    driver_id: uuid.UUID
    assignment: AssignmentOut


# --- compliance ------------------------------------------------------------------------------


VEHICLE_COMPLIANCE_EXAMPLE: dict[str, Any] = {
    "subject_type": "vehicle", "subject_id": "0195f3c2-7a10-7000-8000-000000000001",
    "evaluated_at": "2026-11-25T09:30:00Z", "compliant": False,
    "rules": [
        {"rule": "registration_document", "status": "pass",
         "reason": "The registration is verified.",
         "related_id": "0195f3c2-7a10-7000-8000-000000000007"},
        {"rule": "insurance_valid", "status": "fail",
         "reason": "No active insurance policy covers today.", "related_id": None},
        {"rule": "vehicle_age", "status": "warning",
         "reason": "The vehicle reaches the 6-year limit on 2026-12-01.", "related_id": None},
    ],
}
"""An example ``ComplianceReport`` of a vehicle (the model is core's, shared by drivers)."""


class RuleCount(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "rule": "insurance_valid", "passed": 37, "failed": 3, "warnings": 2, "not_applicable": 0,
    }]})

    rule: str
    passed: int = 0
    failed: int = 0
    warnings: int = 0
    not_applicable: int = 0

    def add(self, status: RuleStatus) -> None:
        """Count one outcome."""
        if status is RuleStatus.PASS:
            self.passed += 1
        elif status is RuleStatus.FAIL:
            self.failed += 1
        elif status is RuleStatus.WARNING:
            self.warnings += 1
        else:
            self.not_applicable += 1


_VEHICLES_SUMMARY_EXAMPLE: dict[str, Any] = {
    "subjects": 40, "compliant": 37, "non_compliant": 3,
    "rules": [{"rule": "insurance_valid", "passed": 37, "failed": 3, "warnings": 2,
               "not_applicable": 0}],
    "non_compliant_reports": [VEHICLE_COMPLIANCE_EXAMPLE],
}


class SubjectSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_VEHICLES_SUMMARY_EXAMPLE]})

    subjects: int
    compliant: int
    non_compliant: int
    rules: list[RuleCount]
    non_compliant_reports: list[ComplianceReport]


class ComplianceSummaryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "evaluated_at": "2026-11-25T09:30:00Z", "vehicles": _VEHICLES_SUMMARY_EXAMPLE,
        "drivers": None}]})

    evaluated_at: datetime
    vehicles: SubjectSummary
    drivers: SubjectSummary | None = Field(
        default=None, description="Null when the caller lacks `drivers:read`.")


# --- insurances ------------------------------------------------------------------------------


class InsuranceOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000104",
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001", "provider": "AXA",
        "policy_number": "VTC-2026-0042", "coverage_type": "comprehensive", "currency": "EUR",
        "deductible": {"amount": "500.00", "currency": "EUR"},
        "premium": {"amount": "210.00", "currency": "EUR"}, "premium_frequency": "monthly",
        "starts_on": "2026-01-01", "ends_on": "2026-12-31", "active": True, "notes": None,
        "created_at": "2026-11-25T09:30:00Z", "updated_at": "2026-11-25T09:30:00Z",
        "deleted_at": None, "version": 1,
    }]})

    id: uuid.UUID
    vehicle_id: uuid.UUID
    provider: str
    policy_number: str
    coverage_type: str
    currency: str
    deductible: MoneyOut | None = None
    premium: MoneyOut | None = None
    premium_frequency: PremiumFrequency | None
    starts_on: date
    ends_on: date
    active: bool
    notes: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int


class InsuranceCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001", "provider": "AXA",
        "policy_number": "VTC-2026-0042", "coverage_type": "comprehensive", "currency": "EUR",
        "premium": {"amount": "210.00", "currency": "EUR"}, "premium_frequency": "monthly",
        "starts_on": "2026-01-01", "ends_on": "2026-12-31",
    }]})

    vehicle_id: uuid.UUID
    provider: ShortText
    policy_number: ShortText
    coverage_type: ShortText
    currency: Currency
    deductible: MoneyIn | None = None
    premium: MoneyIn | None = None
    premium_frequency: PremiumFrequency | None = None
    starts_on: date
    ends_on: date
    active: bool = True
    notes: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> InsuranceCreate:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        if self.premium is not None and self.premium_frequency is None:
            raise ValueError("a premium needs its premium_frequency")
        return self


class InsuranceUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"ends_on": "2027-01-31", "notes": "Extended by one month"}]})

    provider: ShortText | None = None
    policy_number: ShortText | None = None
    coverage_type: ShortText | None = None
    deductible: MoneyIn | None = None
    premium: MoneyIn | None = None
    premium_frequency: PremiumFrequency | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    active: bool | None = None
    notes: Text | None = None


# --- expenses --------------------------------------------------------------------------------


class ExpenseOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000105",
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002", "category": "fuel",
        "payment_method": "fuel_card", "amount": {"amount": "62.40", "currency": "EUR"},
        "tax_amount": {"amount": "10.40", "currency": "EUR"}, "incurred_on": "2026-11-24",
        "incurred_at": "2026-11-24T18:05:00+01:00", "odometer_km": "41180.0",
        "vendor": "TotalEnergies Paris 15", "description": "Full tank", "quantity": "34.870",
        "quantity_unit": "litre", "unit_price": {"amount": "1.7895", "currency": "EUR"},
        "trip_id": None, "receipt_document_id": "0195f3c2-7a10-7000-8000-000000000007",
        "is_reimbursable": False, "is_rechargeable": True, "created_at": "2026-11-25T09:30:00Z",
        "updated_at": "2026-11-25T09:30:00Z", "deleted_at": None, "version": 1,
    }]})

    id: uuid.UUID
    vehicle_id: uuid.UUID
    driver_id: uuid.UUID | None
    category: ExpenseCategory
    payment_method: ExpensePaymentMethod
    amount: MoneyOut
    tax_amount: MoneyOut | None = None
    incurred_on: date
    incurred_at: datetime | None
    odometer_km: Decimal | None
    vendor: str | None
    description: str | None
    quantity: Decimal | None
    quantity_unit: EnergyUnit | None
    unit_price: MoneyOut | None = None
    trip_id: uuid.UUID | None
    receipt_document_id: uuid.UUID | None
    is_reimbursable: bool
    is_rechargeable: bool
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int


class ExpenseCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001", "category": "fuel",
        "payment_method": "fuel_card", "amount": {"amount": "62.40", "currency": "EUR"},
        "incurred_on": "2026-11-24", "quantity": "34.870", "quantity_unit": "litre",
    }]})

    vehicle_id: uuid.UUID
    driver_id: uuid.UUID | None = None
    category: ExpenseCategory
    payment_method: ExpensePaymentMethod
    amount: MoneyIn
    tax_amount: MoneyIn | None = None
    incurred_on: date
    incurred_at: Instant | None = None
    odometer_km: Km | None = None
    vendor: ShortText | None = None
    description: Text | None = None
    quantity: Quantity | None = None
    quantity_unit: EnergyUnit | None = None
    unit_price: MoneyIn | None = None
    trip_id: uuid.UUID | None = None
    receipt_document_id: uuid.UUID | None = None
    is_reimbursable: bool = False
    is_rechargeable: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ExpenseCreate:
        _check_expense(self.amount, self.tax_amount, self.unit_price, self.quantity,
                       self.quantity_unit)
        if (self.is_reimbursable or self.is_rechargeable) and self.driver_id is None:
            raise ValueError("a reimbursable or rechargeable expense names its driver_id")
        return self


def _check_expense(amount: MoneyIn | None, tax: MoneyIn | None,
                   unit_price: MoneyIn | None, quantity: Decimal | None,
                   unit: EnergyUnit | None) -> None:
    currency = amount.currency if amount else None
    for other in (tax, unit_price):
        if other is not None and currency is not None and other.currency != currency:
            raise ValueError("tax_amount and unit_price are in the amount's currency")
    if amount is not None and tax is not None and Decimal(tax.amount) > Decimal(amount.amount):
        raise ValueError("tax_amount cannot exceed amount")
    if (quantity is None) != (unit is None):
        raise ValueError("quantity and quantity_unit go together")


class ExpenseUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"vendor": "TotalEnergies Paris 15", "description": "Full tank"}]})

    driver_id: uuid.UUID | None = None
    category: ExpenseCategory | None = None
    payment_method: ExpensePaymentMethod | None = None
    amount: MoneyIn | None = None
    tax_amount: MoneyIn | None = None
    incurred_on: date | None = None
    incurred_at: Instant | None = None
    odometer_km: Km | None = None
    vendor: ShortText | None = None
    description: Text | None = None
    receipt_document_id: uuid.UUID | None = None
    is_reimbursable: bool | None = None
    is_rechargeable: bool | None = None


# --- vehicle events --------------------------------------------------------------------------


class EventOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000106",
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002",
        "assignment_id": "0195f3c2-7a10-7000-8000-000000000006", "event_type": "accident",
        "severity": "medium", "occurred_at": "2026-11-24T17:30:00+01:00", "odometer_km": "41170.0",
        "description": "Rear bumper scratched in a car park",
        "cost": {"amount": "380.00", "currency": "EUR"}, "source": "manual",
        "external_event_id": None, "follow_up_due_on": "2026-12-01", "resolved_at": None,
        "created_at": "2026-11-25T09:30:00Z", "updated_at": "2026-11-25T09:30:00Z",
        "deleted_at": None, "version": 1,
    }]})

    id: uuid.UUID
    vehicle_id: uuid.UUID
    driver_id: uuid.UUID | None
    assignment_id: uuid.UUID | None
    event_type: VehicleEventType
    severity: EventSeverity
    occurred_at: datetime
    odometer_km: Decimal | None
    description: str | None
    cost: MoneyOut | None = None
    source: VehicleEventSource
    external_event_id: str | None
    follow_up_due_on: date | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int


class EventCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001", "event_type": "accident",
        "severity": "medium", "occurred_at": "2026-11-24T17:30:00+01:00",
        "description": "Rear bumper scratched in a car park",
    }]})

    vehicle_id: uuid.UUID
    driver_id: uuid.UUID | None = None
    event_type: VehicleEventType
    severity: EventSeverity = EventSeverity.INFO
    occurred_at: Instant
    odometer_km: Km | None = None
    description: Text | None = None
    cost: MoneyIn | None = None
    follow_up_due_on: date | None = None
    resolved_at: Instant | None = None

    @field_validator("event_type")
    @classmethod
    def _not_handover(cls, value: VehicleEventType) -> VehicleEventType:
        if value is VehicleEventType.HANDOVER:
            raise ValueError("handover events are written by assignments")
        return value


class EventUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"resolved_at": "2026-11-25T10:00:00+01:00", "severity": "low"}]})

    severity: EventSeverity | None = None
    description: Text | None = None
    cost: MoneyIn | None = None
    follow_up_due_on: date | None = None
    resolved_at: Instant | None = None
