"""``/v1`` reference data: platforms, vehicle classes, country regulations, and the car
catalogue with the fleet's private makes and models."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from fleetcore.core.export import (
    Column,
    CsvColumn,
    MoneyColumns,
    attribute_columns,
)
from fleetcore.core.money import Money
from fleetcore.core.resource import ResourceRoutes
from fleetcore.reference import service
from fleetcore.reference.models import CarMake, CarModel
from fleetcore.reference.permissions import ReferenceRead, ReferenceWrite
from fleetcore.reference.schemas import (
    CarMakeCreate,
    CarMakeOut,
    CarMakeUpdate,
    CarModelCreate,
    CarModelOut,
    CarModelUpdate,
    CatalogueScope,
    CountryRegulationOut,
    PlatformOut,
    VehicleClassOut,
    catalogue_scope,
)

router = APIRouter(prefix="/v1")


def _country(value: str) -> str:
    code = value.upper()
    if not service._is_country(code):
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return code


CountryQuery = Annotated[
    str | None,
    Query(min_length=2, max_length=2, description="ISO 3166-1 alpha-2 code (FR, GB…)."),
    AfterValidator(lambda v: _country(v) if v is not None else None),
]
SearchQuery = Annotated[str | None, Query(min_length=1, max_length=100,
                                          description="Part of the name, any case.")]
ScopeQuery = Annotated[CatalogueScope | None,
                       Query(description="Only global rows, or only the fleet's own.")]


@dataclass(frozen=True, slots=True)
class PlatformFilter:
    country: str | None = None
    active: bool | None = None


def _platform_filter(country: CountryQuery = None, active: bool | None = None) -> PlatformFilter:
    return PlatformFilter(country=country, active=active)


PlatformFilterQuery = Annotated[PlatformFilter, Depends(_platform_filter)]
_PLATFORM_CSV: list[Column] = [
    *attribute_columns("id", "code", "name", "website"),
    CsvColumn("countries", lambda p: " ".join(p.countries)),
    *attribute_columns("active"),
]
_platforms = ResourceRoutes(router, "platforms", "platform_id", "platform", ["reference"],
                            PlatformOut, PlatformOut.model_validate, ReferenceRead, ReferenceRead)
_platforms.listing("List ride-hailing platforms", PlatformFilterQuery,
                   lambda session, actor, page, filters: service.list_platforms(
                       session, page, active=filters.active, country=filters.country),
                   page_first=True)
_platforms.export("Export the ride-hailing platforms as CSV (same filters)", PlatformFilterQuery,
                  lambda actor, filters: service.platforms_query(
                      active=filters.active, country=filters.country).order_by(
                      *service.PLATFORM_KEYS), _PLATFORM_CSV, "platforms.csv")


def _class_filter(country: CountryQuery = None) -> str | None:
    return country


ClassFilterQuery = Annotated[str | None, Depends(_class_filter)]
_VEHICLE_CLASS_CSV = attribute_columns(
    "id", "country", "code", "name", "description", "max_age_years", "min_seats")
_classes = ResourceRoutes(router, "vehicle-classes", "class_id", "vehicle_class", ["reference"],
                          VehicleClassOut, VehicleClassOut.model_validate, ReferenceRead,
                          ReferenceRead, plural="vehicle_classes")
_classes.listing("List vehicle classes", ClassFilterQuery,
                 lambda session, actor, page, country: service.list_vehicle_classes(
                     session, page, country=country))
_classes.export("Export the vehicle classes as CSV (same filters)", ClassFilterQuery,
                lambda actor, country: service.vehicle_classes_query(country=country).order_by(
                    *service.VEHICLE_CLASS_KEYS), _VEHICLE_CLASS_CSV, "vehicle-classes.csv")


@dataclass(frozen=True, slots=True)
class RegulationFilter:
    country: str | None = None
    at: date | None = None


def _regulation_filter(
    country: CountryQuery = None,
    at: Annotated[date | None, Query(description="Only the rules in force that day.")] = None,
) -> RegulationFilter:
    return RegulationFilter(country=country, at=at)


RegulationFilterQuery = Annotated[RegulationFilter, Depends(_regulation_filter)]
_REGULATION_CSV: list[Column] = [
    *attribute_columns("id", "country", "effective_from", "effective_to",
                       "max_vehicle_age_years"),
    MoneyColumns("min_fare", lambda r: Money(r.min_fare, r.currency)
                 if r.min_fare is not None else None),
    *attribute_columns("currency", "vat_rate_pct", "professional_card_required",
                       "professional_card_name", "vehicle_permit_required",
                       "vehicle_permit_name", "min_driver_age", "min_licence_years",
                       "max_daily_driving_hours", "source", "notes"),
]
_regulations = ResourceRoutes(
    router, "country-regulations", "regulation_id", "country_regulation", ["reference"],
    CountryRegulationOut, CountryRegulationOut.of, ReferenceRead, ReferenceRead)
_regulations.listing("List country regulations (those in force on a day with `at`)",
                     RegulationFilterQuery,
                     lambda session, actor, page, filters: service.list_country_regulations(
                         session, page, country=filters.country, at=filters.at),
                     page_first=True)
_regulations.export("Export the country regulations as CSV (same filters)",
                    RegulationFilterQuery, lambda actor, filters:
                    service.country_regulations_query(country=filters.country, at=filters.at)
                    .order_by(*service.REGULATION_KEYS),
                    _REGULATION_CSV, "country-regulations.csv")


# --- car makes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CarMakeFilter:
    q: str | None = None
    scope: str | None = None


def _car_make_filter(q: SearchQuery = None, scope: ScopeQuery = None) -> CarMakeFilter:
    return CarMakeFilter(q=q, scope=scope.value if scope else None)


CarMakeFilterQuery = Annotated[CarMakeFilter, Depends(_car_make_filter)]


_CAR_MAKE_CSV: list[Column] = [
    *attribute_columns("id", "name"),
    CsvColumn("scope", catalogue_scope),
    *attribute_columns("created_at", "updated_at"),
]
_makes = ResourceRoutes(router, "car-makes", "make_id", "car_make", ["car catalogue"],
                        CarMakeOut, CarMakeOut.of, ReferenceRead, ReferenceWrite)
_makes.listing("List car makes (global catalogue and the fleet's own)", CarMakeFilterQuery,
               lambda session, actor, page, filters: service.list_car_makes(
                   session, actor, page, q=filters.q, scope=filters.scope))
_makes.export("Export the car makes as CSV (same filters)", CarMakeFilterQuery,
              lambda actor, filters: service.car_makes_query(
                  actor, q=filters.q, scope=filters.scope).order_by(CarMake.name, CarMake.id),
              _CAR_MAKE_CSV, "car-makes.csv")
_makes.create("Add a private car make", CarMakeCreate, service.create_car_make)
_makes.get("Get a car make", service.get_car_make, include_deleted=False)
_makes.update("Rename a private car make (global ones are read-only)", CarMakeUpdate,
              service.update_car_make)
_makes.delete("Delete a private car make", service.delete_car_make, reason=None)


# --- car models ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CarModelFilter:
    make_id: uuid.UUID | None = None
    q: str | None = None
    scope: str | None = None


def _car_model_filter(make_id: uuid.UUID | None = None, q: SearchQuery = None,
                      scope: ScopeQuery = None) -> CarModelFilter:
    return CarModelFilter(make_id=make_id, q=q, scope=scope.value if scope else None)


CarModelFilterQuery = Annotated[CarModelFilter, Depends(_car_model_filter)]
_CAR_MODEL_CSV: list[Column] = [
    *attribute_columns("id", "make_id", "name"),
    CsvColumn("scope", catalogue_scope),
    *attribute_columns("default_class_code", "year_from", "year_to", "body_type", "seats"),
    CsvColumn("energy_types", lambda r: " ".join(r.energy_types)),
    *attribute_columns("created_at", "updated_at"),
]
_models = ResourceRoutes(router, "car-models", "model_id", "car_model", ["car catalogue"],
                         CarModelOut, CarModelOut.of, ReferenceRead, ReferenceWrite)
_models.listing("List car models (global catalogue and the fleet's own)", CarModelFilterQuery,
                lambda session, actor, page, filters: service.list_car_models(
                    session, actor, page, make_id=filters.make_id, q=filters.q,
                    scope=filters.scope), page_first=True)
_models.export("Export the car models as CSV (same filters)", CarModelFilterQuery,
               lambda actor, filters: service.car_models_query(
                   actor, make_id=filters.make_id, q=filters.q, scope=filters.scope).order_by(
                   CarModel.name, CarModel.id), _CAR_MODEL_CSV, "car-models.csv")
_models.create("Add a private car model", CarModelCreate, service.create_car_model)
_models.get("Get a car model", service.get_car_model, include_deleted=False)
_models.update("Change a private car model (global ones are read-only)", CarModelUpdate,
               service.update_car_model)
_models.delete("Delete a private car model", service.delete_car_model, reason=None)
