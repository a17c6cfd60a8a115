"""``/v1`` reference data: platforms, vehicle classes, country regulations, and the car
catalogue with the fleet's private makes and models."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from fleetcore.core.export import Column, CsvColumn, attribute_columns, money_columns
from fleetcore.core.resource import ResourceRoutes, value_of
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
    if not service.is_country(code):
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


def _platform_filter(country: CountryQuery = None,
                     active: bool | None = None) -> service.PlatformFilter:
    return service.PlatformFilter(country=country, active=active)


PlatformFilterQuery = Annotated[service.PlatformFilter, Depends(_platform_filter)]
_PLATFORM_CSV: list[Column] = [
    *attribute_columns("id", "code", "name", "website"),
    CsvColumn("countries", lambda p: " ".join(p.countries)),
    *attribute_columns("active"),
]
_platforms = ResourceRoutes(router, "platforms", "platform_id", "platform", ["reference"],
                            PlatformOut, PlatformOut.model_validate, ReferenceRead, ReferenceRead)
_platforms.listing("List ride-hailing platforms", PlatformFilterQuery, service.list_platforms,
                   page_first=True)
_platforms.export("Export the ride-hailing platforms as CSV (same filters)", PlatformFilterQuery,
                  service.platforms_query, _PLATFORM_CSV, "platforms.csv",
                  order_by=service.PLATFORM_KEYS)


def _class_filter(country: CountryQuery = None) -> service.VehicleClassFilter:
    return service.VehicleClassFilter(country=country)


ClassFilterQuery = Annotated[service.VehicleClassFilter, Depends(_class_filter)]
_VEHICLE_CLASS_CSV = attribute_columns(
    "id", "country", "code", "name", "description", "max_age_years", "min_seats")
_classes = ResourceRoutes(router, "vehicle-classes", "class_id", "vehicle_class", ["reference"],
                          VehicleClassOut, VehicleClassOut.model_validate, ReferenceRead,
                          ReferenceRead, plural="vehicle_classes")
_classes.listing("List vehicle classes", ClassFilterQuery, service.list_vehicle_classes)
_classes.export("Export the vehicle classes as CSV (same filters)", ClassFilterQuery,
                service.vehicle_classes_query, _VEHICLE_CLASS_CSV, "vehicle-classes.csv",
                order_by=service.VEHICLE_CLASS_KEYS)


def _regulation_filter(
    country: CountryQuery = None,
    at: Annotated[date | None, Query(description="Only the rules in force that day.")] = None,
) -> service.RegulationFilter:
    return service.RegulationFilter(country=country, at=at)


RegulationFilterQuery = Annotated[service.RegulationFilter, Depends(_regulation_filter)]
_REGULATION_CSV: list[Column] = [
    *attribute_columns("id", "country", "effective_from", "effective_to",
                       "max_vehicle_age_years"),
    money_columns("min_fare"),
    *attribute_columns("currency", "vat_rate_pct", "professional_card_required",
                       "professional_card_name", "vehicle_permit_required",
                       "vehicle_permit_name", "min_driver_age", "min_licence_years",
                       "max_daily_driving_hours", "source", "notes"),
]
_regulations = ResourceRoutes(
    router, "country-regulations", "regulation_id", "country_regulation", ["reference"],
    CountryRegulationOut, CountryRegulationOut.of, ReferenceRead, ReferenceRead)
_regulations.listing("List country regulations (those in force on a day with `at`)",
                     RegulationFilterQuery, service.list_country_regulations, page_first=True)
_regulations.export("Export the country regulations as CSV (same filters)",
                    RegulationFilterQuery, service.country_regulations_query, _REGULATION_CSV,
                    "country-regulations.csv", order_by=service.REGULATION_KEYS)


# --- car makes -----------------------------------------------------------------------------


def _car_make_filter(q: SearchQuery = None,
                     scope: ScopeQuery = None) -> service.CatalogueFilter:
    return service.CatalogueFilter(q=q, scope=value_of(scope))


CarMakeFilterQuery = Annotated[service.CatalogueFilter, Depends(_car_make_filter)]


_CAR_MAKE_CSV: list[Column] = [
    *attribute_columns("id", "name"),
    CsvColumn("scope", catalogue_scope),
    *attribute_columns("created_at", "updated_at"),
]
_makes = ResourceRoutes(router, "car-makes", "make_id", "car_make", ["car catalogue"],
                        CarMakeOut, CarMakeOut.of, ReferenceRead, ReferenceWrite)
_makes.listing("List car makes (global catalogue and the fleet's own)", CarMakeFilterQuery,
               service.list_car_makes)
_makes.export("Export the car makes as CSV (same filters)", CarMakeFilterQuery,
              service.car_makes_query, _CAR_MAKE_CSV, "car-makes.csv",
              order_by=(CarMake.name, CarMake.id))
_makes.create("Add a private car make", CarMakeCreate, service.create_car_make)
_makes.get("Get a car make", service.get_car_make, include_deleted=False)
_makes.update("Rename a private car make (global ones are read-only)", CarMakeUpdate,
              service.update_car_make)
_makes.delete("Delete a private car make", service.delete_car_make, reason=None)


# --- car models ----------------------------------------------------------------------------


def _car_model_filter(make_id: uuid.UUID | None = None, q: SearchQuery = None,
                      scope: ScopeQuery = None) -> service.CatalogueFilter:
    return service.CatalogueFilter(make_id=make_id, q=q, scope=value_of(scope))


CarModelFilterQuery = Annotated[service.CatalogueFilter, Depends(_car_model_filter)]
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
                service.list_car_models, page_first=True)
_models.export("Export the car models as CSV (same filters)", CarModelFilterQuery,
               service.car_models_query, _CAR_MODEL_CSV, "car-models.csv",
               order_by=(CarModel.name, CarModel.id))
_models.create("Add a private car model", CarModelCreate, service.create_car_model)
_models.get("Get a car model", service.get_car_model, include_deleted=False)
_models.update("Change a private car model (global ones are read-only)", CarModelUpdate,
               service.update_car_model)
_models.delete("Delete a private car model", service.delete_car_model, reason=None)
