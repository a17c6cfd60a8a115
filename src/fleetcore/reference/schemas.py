"""Request and response models of the reference data API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from fleetcore.core.schemas import MoneyOut, money_out

CatalogueName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                 max_length=100)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$", max_length=40)]
Year = Annotated[int, Field(ge=1900, le=2100)]


class CatalogueScope(StrEnum):
    """Whose row it is: the global catalogue's or the fleet's own addition."""

    GLOBAL = "global"
    PRIVATE = "private"


class PlatformOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000115", "code": "uber", "name": "Uber",
        "website": "https://www.uber.com", "countries": ["FR", "GB", "PT"], "active": True,
    }]})

    id: uuid.UUID
    code: str = Field(examples=["uber"])
    name: str
    website: str | None
    countries: list[str] = Field(description="ISO 3166-1 alpha-2 codes where it operates.")
    active: bool


class VehicleClassOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000103", "country": "FR", "code": "comfort",
        "name": "Comfort", "description": "Recent, spacious sedans.", "max_age_years": 6,
        "min_seats": 4,
    }]})

    id: uuid.UUID
    country: str
    code: str = Field(examples=["comfort"])
    name: str
    description: str | None
    max_age_years: int | None
    min_seats: int | None


class CountryRegulationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000116", "country": "FR",
        "effective_from": "2025-01-01", "effective_to": None, "max_vehicle_age_years": 6,
        "min_fare": {"amount": "10.00", "currency": "EUR"}, "currency": "EUR",
        "vat_rate_pct": "10.0000", "professional_card_required": True,
        "professional_card_name": "Carte professionnelle VTC", "vehicle_permit_required": True,
        "vehicle_permit_name": "Vignette VTC", "min_driver_age": 21, "min_licence_years": 3,
        "max_daily_driving_hours": "10.00", "source": "Code des transports L3120-1", "notes": None,
    }]})

    id: uuid.UUID
    country: str
    effective_from: date
    effective_to: date | None = Field(description="Exclusive end; null while in force.")
    max_vehicle_age_years: int | None
    min_fare: MoneyOut | None
    currency: str
    vat_rate_pct: str = Field(examples=["10.0000"])
    professional_card_required: bool
    professional_card_name: str | None
    vehicle_permit_required: bool
    vehicle_permit_name: str | None
    min_driver_age: int | None
    min_licence_years: int | None
    max_daily_driving_hours: str | None
    source: str
    notes: str | None

    @classmethod
    def of(cls, row: Any) -> CountryRegulationOut:
        """The API form of a ``dir_country_regulations`` row."""
        min_fare = money_out(row.min_fare, row.currency)
        hours: Decimal | None = row.max_daily_driving_hours
        return cls(
            id=row.id, country=row.country, effective_from=row.effective_from,
            effective_to=row.effective_to, max_vehicle_age_years=row.max_vehicle_age_years,
            min_fare=min_fare, currency=row.currency, vat_rate_pct=str(row.vat_rate_pct),
            professional_card_required=row.professional_card_required,
            professional_card_name=row.professional_card_name,
            vehicle_permit_required=row.vehicle_permit_required,
            vehicle_permit_name=row.vehicle_permit_name, min_driver_age=row.min_driver_age,
            min_licence_years=row.min_licence_years,
            max_daily_driving_hours=str(hours) if hours is not None else None,
            source=row.source, notes=row.notes,
        )


def catalogue_scope(row: Any) -> CatalogueScope:
    """Whose catalogue row it is: global (no tenant) or the fleet's own."""
    return CatalogueScope.GLOBAL if row.tenant_id is None else CatalogueScope.PRIVATE


class CarMakeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000008", "name": "Lynk & Co", "scope": "private",
        "created_at": "2026-11-25T09:30:00Z", "updated_at": "2026-11-25T09:30:00Z", "version": 1,
    }]})

    id: uuid.UUID
    name: str
    scope: CatalogueScope
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, row: Any) -> CarMakeOut:
        """The API form of a ``dir_car_makes`` row."""
        return cls(id=row.id, name=row.name, scope=catalogue_scope(row), created_at=row.created_at,
                   updated_at=row.updated_at, version=row.version)


class CarMakeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"name": "Lynk & Co"}]})

    name: CatalogueName


class CarMakeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"name": "Lynk & Co"}]})

    name: CatalogueName | None = None


class CarModelOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000009",
        "make_id": "0195f3c2-7a10-7000-8000-000000000008", "name": "01", "scope": "private",
        "default_class_code": "comfort", "year_from": 2017, "year_to": None, "body_type": "SUV",
        "seats": 5, "energy_types": ["plug_in_hybrid"], "created_at": "2026-11-25T09:30:00Z",
        "updated_at": "2026-11-25T09:30:00Z", "version": 1,
    }]})

    id: uuid.UUID
    make_id: uuid.UUID
    name: str
    scope: CatalogueScope
    default_class_code: str | None
    year_from: int | None
    year_to: int | None
    body_type: str | None
    seats: int | None
    energy_types: list[str]
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, row: Any) -> CarModelOut:
        """The API form of a ``dir_car_models`` row."""
        return cls(
            id=row.id, make_id=row.make_id, name=row.name, scope=catalogue_scope(row),
            default_class_code=row.default_class_code, year_from=row.year_from,
            year_to=row.year_to, body_type=row.body_type, seats=row.seats,
            energy_types=list(row.energy_types), created_at=row.created_at,
            updated_at=row.updated_at, version=row.version,
        )


def _years_in_order(year_from: int | None, year_to: int | None) -> None:
    if year_from is not None and year_to is not None and year_to < year_from:
        raise ValueError("year_to must not be before year_from")


class CarModelFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_class_code: Code | None = None
    year_from: Year | None = None
    year_to: Year | None = None
    body_type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                max_length=40)] | None = None
    seats: Annotated[int, Field(ge=1, le=99)] | None = None


class CarModelCreate(CarModelFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "make_id": "0195f2c4-7a1e-7c3b-9d1e-3f2a1b0c4d5e", "name": "01",
        "default_class_code": "comfort", "year_from": 2017, "seats": 5,
        "energy_types": ["hybrid_plugin"],
    }]})

    make_id: uuid.UUID
    name: CatalogueName
    energy_types: list[Code] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _check_years(self) -> CarModelCreate:
        _years_in_order(self.year_from, self.year_to)
        return self


class CarModelUpdate(CarModelFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"year_to": 2024, "seats": 5}]})

    name: CatalogueName | None = None
    energy_types: Annotated[list[Code], Field(max_length=10)] | None = None


__all__ = [
    "CarMakeCreate",
    "CarMakeOut",
    "CarMakeUpdate",
    "CarModelCreate",
    "CarModelOut",
    "CarModelUpdate",
    "CatalogueScope",
    "CountryRegulationOut",
    "PlatformOut",
    "VehicleClassOut",
    "catalogue_scope",
]
