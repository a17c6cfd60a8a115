"""Request and response bodies of Fleetcore's SaaS billing API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fleetcore.core.schemas import MoneyIn, MoneyOut, money_out

_PRICE = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,14}(\.[0-9]{1,4})?$")]
_EXAMPLE_ID = "0192f0c4-5b6e-7c1d-8e2f-3a4b5c6d7e8f"


class Included(BaseModel):
    """Included monthly quantities per metric (null = unlimited)."""

    model_config = ConfigDict(extra="forbid")

    vehicles: int | None = Field(default=None, ge=0)
    drivers: int | None = Field(default=None, ge=0)
    trips: int | None = Field(default=None, ge=0)
    km: int | None = Field(default=None, ge=0)


class Overage(BaseModel):
    """Overage unit prices per metric, in the plan's currency (null = not billed)."""

    model_config = ConfigDict(extra="forbid")

    vehicles: _PRICE | None = None
    drivers: _PRICE | None = None
    trips: _PRICE | None = None
    km: _PRICE | None = None


_PLAN_EXAMPLE: dict[str, Any] = {
    "name": "Fleet", "description": "Up to 25 vehicles",
    "monthly_fee": {"amount": "199.00", "currency": "EUR"}, "trial_days": 14,
    "included": {"vehicles": 25, "drivers": 50, "trips": 5000, "km": None},
    "overage": {"vehicles": "6.00", "drivers": "2.00", "trips": "0.02", "km": None},
    "features": {"sso": False},
}


class PlanVersionCreate(BaseModel):
    """A version of a plan: the price and quantities it offers."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_PLAN_EXAMPLE]})

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    monthly_fee: MoneyIn
    trial_days: int = Field(default=0, ge=0, le=365)
    included: Included = Field(default_factory=Included)
    overage: Overage = Field(default_factory=Overage)
    features: dict[str, Any] = Field(default_factory=dict)


class PlanCreate(PlanVersionCreate):
    """A new plan (its version 1)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"code": "fleet", **_PLAN_EXAMPLE}]})

    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(_[a-z0-9]+)*$", max_length=63)]


class PlanOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _EXAMPLE_ID, "code": "fleet", "plan_version": 2, "status": "active",
        **_PLAN_EXAMPLE, "version": 1}]})

    id: uuid.UUID
    code: str
    plan_version: int
    status: str
    name: str
    description: str | None
    monthly_fee: MoneyOut
    trial_days: int
    included: Included
    overage: Overage
    features: dict[str, Any]
    version: int

    @classmethod
    def of(cls, plan: Any) -> PlanOut:
        def price(value: Any) -> str | None:
            return None if value is None else money_out(value, plan.currency).amount  # type: ignore[union-attr]

        return cls(
            id=plan.id, code=plan.code, plan_version=plan.plan_version, status=plan.status,
            name=plan.name, description=plan.description,
            monthly_fee=money_out(plan.monthly_fee, plan.currency),
            trial_days=plan.trial_days,
            included=Included(vehicles=plan.included_vehicles, drivers=plan.included_drivers,
                              trips=plan.included_trips, km=plan.included_km),
            overage=Overage(vehicles=price(plan.overage_vehicle_price),
                            drivers=price(plan.overage_driver_price),
                            trips=price(plan.overage_trip_price),
                            km=price(plan.overage_km_price)),
            features=plan.features or {}, version=plan.version)


class MigrationOut(BaseModel):
    """How many subscriptions moved to the plan version."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"plan_id": _EXAMPLE_ID, "moved": 12}]})

    plan_id: uuid.UUID
    moved: int


class Subscribe(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"plan_code": "fleet"}]})

    plan_code: Annotated[str, StringConstraints(min_length=1, max_length=63)]


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"at_period_end": True}]})

    at_period_end: bool = True


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": _EXAMPLE_ID, "tenant_id": _EXAMPLE_ID, "plan_id": _EXAMPLE_ID, "plan_version": 1,
        "status": "active", "trial_starts_at": None, "trial_ends_at": None,
        "current_period_start": "2026-12-01T00:00:00Z",
        "current_period_end": "2027-01-01T00:00:00Z", "cancel_at_period_end": False,
        "cancelled_at": None, "scheduled_plan_id": None, "version": 3}]})

    id: uuid.UUID
    tenant_id: uuid.UUID
    plan_id: uuid.UUID
    plan_version: int
    status: str
    trial_starts_at: datetime | None
    trial_ends_at: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    cancelled_at: datetime | None
    scheduled_plan_id: uuid.UUID | None = None
    version: int

    @classmethod
    def of(cls, sub: Any) -> SubscriptionOut:
        out = cls.model_validate(sub)
        scheduled = (sub.extra or {}).get("scheduled_plan_id")
        out.scheduled_plan_id = uuid.UUID(scheduled) if scheduled else None
        return out


class InvoiceLineOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "line_type": "overage", "description": "Overage: trips", "metric": "trips",
        "quantity": "120", "unit_price": "0.0200", "amount": {"amount": "2.40",
                                                              "currency": "EUR"}}]})

    line_type: str
    description: str
    metric: str | None
    quantity: str
    unit_price: str | None
    amount: MoneyOut


class InvoiceOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _EXAMPLE_ID, "invoice_number": "FC-ACME-2026-000001", "status": "open",
        "period_start": "2026-11-01T00:00:00Z", "period_end": "2026-12-01T00:00:00Z",
        "subtotal": {"amount": "201.40", "currency": "EUR"},
        "tax": {"amount": "0.00", "currency": "EUR"},
        "total": {"amount": "201.40", "currency": "EUR"},
        "amount_due": {"amount": "201.40", "currency": "EUR"}, "due_on": "2026-12-15",
        "hosted_invoice_url": None, "invoice_pdf_url": None, "version": 2, "lines": []}]})

    id: uuid.UUID
    invoice_number: str | None
    status: str
    period_start: datetime
    period_end: datetime
    subtotal: MoneyOut
    tax: MoneyOut
    total: MoneyOut
    amount_due: MoneyOut
    due_on: date | None
    hosted_invoice_url: str | None
    invoice_pdf_url: str | None
    version: int
    lines: list[InvoiceLineOut] = Field(default_factory=list)

    @classmethod
    def of(cls, invoice: Any, lines: list[Any] | None = None) -> InvoiceOut:
        cur = invoice.currency

        def m(value: Any) -> MoneyOut:
            out = money_out(value, cur)
            assert out is not None
            return out

        return cls(
            id=invoice.id, invoice_number=invoice.invoice_number, status=invoice.status,
            period_start=invoice.period_start, period_end=invoice.period_end,
            subtotal=m(invoice.subtotal), tax=m(invoice.tax), total=m(invoice.total),
            amount_due=m(invoice.amount_due), due_on=invoice.due_on,
            hosted_invoice_url=invoice.hosted_invoice_url,
            invoice_pdf_url=invoice.invoice_pdf_url, version=invoice.version,
            lines=[InvoiceLineOut(
                line_type=line.line_type, description=line.description, metric=line.metric,
                quantity=str(line.quantity.normalize()),
                unit_price=None if line.unit_price is None else str(line.unit_price),
                amount=m(line.amount)) for line in lines or []])


class UsageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "metric": "trips", "period_start": "2026-11-01T00:00:00Z",
        "period_end": "2026-12-01T00:00:00Z", "value": "5120", "computed_at":
        "2026-12-01T00:05:00Z", "reported_at": None}]})

    metric: str
    period_start: datetime
    period_end: datetime
    value: str
    computed_at: datetime
    reported_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> UsageOut:
        return cls(metric=row.metric, period_start=row.period_start, period_end=row.period_end,
                   value=str(row.value.normalize()), computed_at=row.computed_at,
                   reported_at=row.reported_at)
