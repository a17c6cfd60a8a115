"""Request and response models of the trips API: platform accounts and trips.

A platform account is how a platform's reports name a driver (Uber Driver UUID; Bolt's weekly
file has only a phone or an e-mail). Identifiers arrive as people type them and are stored
normalised by the service, so report rows match by equality, never by name.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fleetcore.core.schemas import MoneyOut
from fleetcore.trips.models import (
    ExternalAccountKind,
    PayoutReceiver,
    PlatformAccountStatus,
    TripPaymentMethod,
    TripStatus,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class Input(BaseModel):
    """Requests refuse unknown fields, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class Model(BaseModel):
    """Responses read attributes of ORM rows."""

    model_config = ConfigDict(from_attributes=True)


# --- platform accounts -------------------------------------------------------------------------


class PlatformAccountCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"platform": "uber", "external_account_id": "9F8E2C1A-4B3D-4E5F-8A7B-6C5D4E3F2A1B",
         "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e"},
        {"platform": "bolt", "external_account_id": "06 12 34 56 78",
         "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e", "payout_receiver": "driver"},
    ]})

    platform: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True,
                                               min_length=1, max_length=40)] = Field(
        description="The platform's code (`uber`, `bolt`, …).", examples=["uber"])
    external_account_id: ExternalId = Field(description=(
        "How the platform's reports name the driver: Uber Driver UUID, or (Bolt) the phone "
        "number or e-mail. Stored normalised: lower-case UUID/e-mail, E.164 phone (national "
        "numbers read in the fleet's country)."))
    external_account_kind: ExternalAccountKind | None = Field(
        default=None, description="Detected from the identifier when absent.")
    driver_id: uuid.UUID | None = None
    vehicle_id: uuid.UUID | None = None
    display_name: Name | None = None
    payout_receiver: PayoutReceiver = Field(
        default=PayoutReceiver.FLEET,
        description="Who receives the platform's payout: the fleet, or the driver directly.")


class PlatformAccountUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e"}, {"payout_receiver": "driver"},
        {"status": "inactive"}]})

    driver_id: uuid.UUID | None = None
    vehicle_id: uuid.UUID | None = None
    display_name: Name | None = None
    payout_receiver: PayoutReceiver | None = None
    status: PlatformAccountStatus | None = None


class PlatformAccountOut(Model):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d01",
        "platform_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d02",
        "external_account_id": "9f8e2c1a-4b3d-4e5f-8a7b-6c5d4e3f2a1b",
        "external_account_kind": "uuid", "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e",
        "vehicle_id": None, "display_name": "Karim Benali", "payout_receiver": "fleet",
        "status": "active", "linked_at": "2026-11-20T09:00:00Z", "unlinked_at": None,
        "created_at": "2026-11-20T09:00:00Z", "deleted_at": None, "version": 1}]})

    id: uuid.UUID
    platform_id: uuid.UUID
    external_account_id: str
    external_account_kind: ExternalAccountKind
    driver_id: uuid.UUID | None
    vehicle_id: uuid.UUID | None
    display_name: str | None
    payout_receiver: PayoutReceiver
    status: PlatformAccountStatus
    linked_at: datetime | None
    unlinked_at: datetime | None
    created_at: datetime
    deleted_at: datetime | None
    version: int


# --- trips -------------------------------------------------------------------------------------


class TripOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d03",
        "platform_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d02",
        "external_trip_id": "4c7d9e2a-1b3f-4a5e-9c8d-7e6f5a4b3c2d",
        "platform_account_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d01",
        "driver_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d9e", "vehicle_id": None,
        "status": "completed", "service_type": "UberX",
        "requested_at": None, "started_at": None, "ended_at": "2026-11-17T08:15:02Z",
        "distance_km": "12.400", "duration_s": 1260,
        "fare_gross": {"amount": "24.80", "currency": "EUR"},
        "tip": {"amount": "2.00", "currency": "EUR"}, "tolls": None,
        "platform_commission": {"amount": "6.20", "currency": "EUR"},
        "cash_collected": None, "net_earnings": {"amount": "20.60", "currency": "EUR"},
        "payment_method": "card", "import_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d04",
        "created_at": "2026-11-20T09:00:00Z"}]})

    id: uuid.UUID
    platform_id: uuid.UUID
    external_trip_id: str
    platform_account_id: uuid.UUID | None
    driver_id: uuid.UUID | None
    vehicle_id: uuid.UUID | None
    status: TripStatus
    service_type: str | None
    requested_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    distance_km: Decimal | None
    duration_s: int | None
    fare_gross: MoneyOut | None
    tip: MoneyOut | None
    tolls: MoneyOut | None
    platform_commission: MoneyOut | None
    cash_collected: MoneyOut | None
    net_earnings: MoneyOut | None
    payment_method: TripPaymentMethod | None
    import_id: uuid.UUID | None
    created_at: datetime
