"""``/v1`` reference data: platforms, vehicle classes, country regulations, and the car
catalogue with the fleet's private makes and models."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator

from fleetcore.core.deps import DbSession
from fleetcore.core.export import (
    Column,
    CsvColumn,
    MoneyColumns,
    attribute_columns,
    csv_response,
    csv_responses,
)
from fleetcore.core.money import Money
from fleetcore.core.pagination import Page, Pagination
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


@router.get("/platforms", tags=["reference"], summary="List ride-hailing platforms")
def list_platforms(
    actor: ReferenceRead, session: DbSession, page: Pagination,
    filters: Annotated[PlatformFilter, Depends(_platform_filter)],
) -> Page[PlatformOut]:
    rows, cursor = service.list_platforms(session, page, active=filters.active,
                                          country=filters.country)
    return Page(items=[PlatformOut.model_validate(r) for r in rows], next_cursor=cursor)


_PLATFORM_CSV: list[Column] = [
    *attribute_columns("id", "code", "name", "website"),
    CsvColumn("countries", lambda p: " ".join(p.countries)),
    *attribute_columns("active"),
]


@router.get("/platforms/export.csv", tags=["reference"],
            summary="Export the ride-hailing platforms as CSV (same filters)",
            response_class=StreamingResponse, responses=csv_responses(_PLATFORM_CSV))
def export_platforms(
    actor: ReferenceRead, session: DbSession,
    filters: Annotated[PlatformFilter, Depends(_platform_filter)],
) -> StreamingResponse:
    stmt = service.platforms_query(active=filters.active, country=filters.country)
    return csv_response(session, stmt.order_by(*service.PLATFORM_KEYS), _PLATFORM_CSV,
                        filename="platforms.csv")


@router.get("/vehicle-classes", tags=["reference"], summary="List vehicle classes")
def list_vehicle_classes(
    actor: ReferenceRead, session: DbSession, page: Pagination, country: CountryQuery = None,
) -> Page[VehicleClassOut]:
    rows, cursor = service.list_vehicle_classes(session, page, country=country)
    return Page(items=[VehicleClassOut.model_validate(r) for r in rows], next_cursor=cursor)


_VEHICLE_CLASS_CSV = attribute_columns(
    "id", "country", "code", "name", "description", "max_age_years", "min_seats")


@router.get("/vehicle-classes/export.csv", tags=["reference"],
            summary="Export the vehicle classes as CSV (same filters)",
            response_class=StreamingResponse, responses=csv_responses(_VEHICLE_CLASS_CSV))
def export_vehicle_classes(
    actor: ReferenceRead, session: DbSession, country: CountryQuery = None,
) -> StreamingResponse:
    stmt = service.vehicle_classes_query(country=country)
    return csv_response(session, stmt.order_by(*service.VEHICLE_CLASS_KEYS), _VEHICLE_CLASS_CSV,
                        filename="vehicle-classes.csv")


@dataclass(frozen=True, slots=True)
class RegulationFilter:
    country: str | None = None
    at: date | None = None


def _regulation_filter(
    country: CountryQuery = None,
    at: Annotated[date | None, Query(description="Only the rules in force that day.")] = None,
) -> RegulationFilter:
    return RegulationFilter(country=country, at=at)


@router.get("/country-regulations", tags=["reference"],
            summary="List country regulations (those in force on a day with `at`)")
def list_country_regulations(
    actor: ReferenceRead, session: DbSession, page: Pagination,
    filters: Annotated[RegulationFilter, Depends(_regulation_filter)],
) -> Page[CountryRegulationOut]:
    rows, cursor = service.list_country_regulations(session, page, country=filters.country,
                                                    at=filters.at)
    return Page(items=[CountryRegulationOut.of(r) for r in rows], next_cursor=cursor)


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


@router.get("/country-regulations/export.csv", tags=["reference"],
            summary="Export the country regulations as CSV (same filters)",
            response_class=StreamingResponse, responses=csv_responses(_REGULATION_CSV))
def export_country_regulations(
    actor: ReferenceRead, session: DbSession,
    filters: Annotated[RegulationFilter, Depends(_regulation_filter)],
) -> StreamingResponse:
    stmt = service.country_regulations_query(country=filters.country, at=filters.at)
    return csv_response(session, stmt.order_by(*service.REGULATION_KEYS), _REGULATION_CSV,
                        filename="country-regulations.csv")


# --- car makes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CarMakeFilter:
    q: str | None = None
    scope: str | None = None


def _car_make_filter(q: SearchQuery = None, scope: ScopeQuery = None) -> CarMakeFilter:
    return CarMakeFilter(q=q, scope=scope.value if scope else None)


CarMakeFilterQuery = Annotated[CarMakeFilter, Depends(_car_make_filter)]


@router.get("/car-makes", tags=["car catalogue"],
            summary="List car makes (global catalogue and the fleet's own)")
def list_car_makes(
    actor: ReferenceRead, session: DbSession, filters: CarMakeFilterQuery, page: Pagination,
) -> Page[CarMakeOut]:
    rows, cursor = service.list_car_makes(session, actor, page, q=filters.q,
                                          scope=filters.scope)
    return Page(items=[CarMakeOut.of(r) for r in rows], next_cursor=cursor)


_CAR_MAKE_CSV: list[Column] = [
    *attribute_columns("id", "name"),
    CsvColumn("scope", catalogue_scope),
    *attribute_columns("created_at", "updated_at"),
]


@router.get("/car-makes/export.csv", tags=["car catalogue"],
            summary="Export the car makes as CSV (same filters)",
            response_class=StreamingResponse, responses=csv_responses(_CAR_MAKE_CSV))
def export_car_makes(
    actor: ReferenceRead, session: DbSession, filters: CarMakeFilterQuery,
) -> StreamingResponse:
    stmt = service.car_makes_query(actor, q=filters.q, scope=filters.scope)
    return csv_response(session, stmt.order_by(CarMake.name, CarMake.id), _CAR_MAKE_CSV,
                        filename="car-makes.csv")


_makes = ResourceRoutes(router, "car-makes", "make_id", "car_make", ["car catalogue"],
                        CarMakeOut, CarMakeOut.of, ReferenceRead, ReferenceWrite)
_makes.create("Add a private car make", CarMakeCreate,
              lambda s, a, d: service.create_car_make(s, a, data=d))
_makes.get("Get a car make", service.get_car_make, include_deleted=False)
_makes.update("Rename a private car make (global ones are read-only)", CarMakeUpdate,
              lambda s, a, i, d, m: service.update_car_make(s, a, i, data=d, if_match=m))
_makes.delete("Delete a private car make", lambda s, a, i, r, m:
              service.delete_car_make(s, a, i, if_match=m), reason=None)


# --- car models ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CarModelFilter:
    make_id: uuid.UUID | None = None
    q: str | None = None
    scope: str | None = None


def _car_model_filter(make_id: uuid.UUID | None = None, q: SearchQuery = None,
                      scope: ScopeQuery = None) -> CarModelFilter:
    return CarModelFilter(make_id=make_id, q=q, scope=scope.value if scope else None)


@router.get("/car-models", tags=["car catalogue"],
            summary="List car models (global catalogue and the fleet's own)")
def list_car_models(
    actor: ReferenceRead, session: DbSession, page: Pagination,
    filters: Annotated[CarModelFilter, Depends(_car_model_filter)],
) -> Page[CarModelOut]:
    rows, cursor = service.list_car_models(session, actor, page, make_id=filters.make_id,
                                           q=filters.q, scope=filters.scope)
    return Page(items=[CarModelOut.of(r) for r in rows], next_cursor=cursor)


_CAR_MODEL_CSV: list[Column] = [
    *attribute_columns("id", "make_id", "name"),
    CsvColumn("scope", catalogue_scope),
    *attribute_columns("default_class_code", "year_from", "year_to", "body_type", "seats"),
    CsvColumn("energy_types", lambda r: " ".join(r.energy_types)),
    *attribute_columns("created_at", "updated_at"),
]


@router.get("/car-models/export.csv", tags=["car catalogue"],
            summary="Export the car models as CSV (same filters)",
            response_class=StreamingResponse, responses=csv_responses(_CAR_MODEL_CSV))
def export_car_models(
    actor: ReferenceRead, session: DbSession,
    filters: Annotated[CarModelFilter, Depends(_car_model_filter)],
) -> StreamingResponse:
    stmt = service.car_models_query(actor, make_id=filters.make_id, q=filters.q,
                                    scope=filters.scope)
    return csv_response(session, stmt.order_by(CarModel.name, CarModel.id), _CAR_MODEL_CSV,
                        filename="car-models.csv")


_models = ResourceRoutes(router, "car-models", "model_id", "car_model", ["car catalogue"],
                         CarModelOut, CarModelOut.of, ReferenceRead, ReferenceWrite)
_models.create("Add a private car model", CarModelCreate,
               lambda s, a, d: service.create_car_model(s, a, data=d))
_models.get("Get a car model", service.get_car_model, include_deleted=False)
_models.update("Change a private car model (global ones are read-only)", CarModelUpdate,
               lambda s, a, i, d, m: service.update_car_model(s, a, i, data=d, if_match=m))
_models.delete("Delete a private car model", lambda s, a, i, r, m:
               service.delete_car_model(s, a, i, if_match=m), reason=None)
