"""``/v1`` reference data: platforms, vehicle classes, country regulations, and the car
catalogue with the fleet's private makes and models."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import AfterValidator

from fleetcore.core.deps import DbSession
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.versioning import etag
from fleetcore.reference import service
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
)

router = APIRouter(prefix="/v1")

IfMatch = Annotated[
    str | None,
    Header(description="The `ETag` last read; a stale one is refused with 412."),
]


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


@router.get("/platforms", tags=["reference"], summary="List ride-hailing platforms")
def list_platforms(
    actor: ReferenceRead, session: DbSession, page: Pagination, country: CountryQuery = None,
    active: bool | None = None,
) -> Page[PlatformOut]:
    rows, cursor = service.list_platforms(session, page, active=active, country=country)
    return Page(items=[PlatformOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/vehicle-classes", tags=["reference"], summary="List vehicle classes")
def list_vehicle_classes(
    actor: ReferenceRead, session: DbSession, page: Pagination, country: CountryQuery = None,
) -> Page[VehicleClassOut]:
    rows, cursor = service.list_vehicle_classes(session, page, country=country)
    return Page(items=[VehicleClassOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/country-regulations", tags=["reference"],
            summary="List country regulations (those in force on a day with `at`)")
def list_country_regulations(
    actor: ReferenceRead, session: DbSession, page: Pagination, country: CountryQuery = None,
    at: Annotated[date | None, Query(description="Only the rules in force that day.")] = None,
) -> Page[CountryRegulationOut]:
    rows, cursor = service.list_country_regulations(session, page, country=country, at=at)
    return Page(items=[CountryRegulationOut.of(r) for r in rows], next_cursor=cursor)


# --- car makes -----------------------------------------------------------------------------


@router.get("/car-makes", tags=["car catalogue"],
            summary="List car makes (global catalogue and the fleet's own)")
def list_car_makes(
    actor: ReferenceRead, session: DbSession, page: Pagination, q: SearchQuery = None,
    scope: ScopeQuery = None,
) -> Page[CarMakeOut]:
    rows, cursor = service.list_car_makes(session, actor, page, q=q,
                                          scope=scope.value if scope else None)
    return Page(items=[CarMakeOut.of(r) for r in rows], next_cursor=cursor)


@router.post("/car-makes", tags=["car catalogue"], status_code=status.HTTP_201_CREATED,
             summary="Add a private car make")
def create_car_make(
    actor: ReferenceWrite, session: DbSession, data: CarMakeCreate, response: Response
) -> CarMakeOut:
    make = service.create_car_make(session, actor, data=data)
    response.headers["ETag"] = etag(make.version)
    response.headers["Location"] = f"/v1/car-makes/{make.id}"
    return CarMakeOut.of(make)


@router.get("/car-makes/{make_id}", tags=["car catalogue"], summary="Get a car make")
def get_car_make(
    actor: ReferenceRead, session: DbSession, make_id: uuid.UUID, response: Response
) -> CarMakeOut:
    make = service.get_car_make(session, actor, make_id)
    response.headers["ETag"] = etag(make.version)
    return CarMakeOut.of(make)


@router.patch("/car-makes/{make_id}", tags=["car catalogue"],
              summary="Rename a private car make (global ones are read-only)")
def update_car_make(
    actor: ReferenceWrite, session: DbSession, make_id: uuid.UUID, data: CarMakeUpdate,
    response: Response, if_match: IfMatch = None,
) -> CarMakeOut:
    make = service.update_car_make(session, actor, make_id, data=data, if_match=if_match)
    response.headers["ETag"] = etag(make.version)
    return CarMakeOut.of(make)


@router.delete("/car-makes/{make_id}", tags=["car catalogue"],
               status_code=status.HTTP_204_NO_CONTENT, summary="Delete a private car make")
def delete_car_make(
    actor: ReferenceWrite, session: DbSession, make_id: uuid.UUID, if_match: IfMatch = None
) -> Response:
    service.delete_car_make(session, actor, make_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- car models ----------------------------------------------------------------------------


@router.get("/car-models", tags=["car catalogue"],
            summary="List car models (global catalogue and the fleet's own)")
def list_car_models(
    actor: ReferenceRead, session: DbSession, page: Pagination,
    make_id: uuid.UUID | None = None, q: SearchQuery = None, scope: ScopeQuery = None,
) -> Page[CarModelOut]:
    rows, cursor = service.list_car_models(session, actor, page, make_id=make_id, q=q,
                                           scope=scope.value if scope else None)
    return Page(items=[CarModelOut.of(r) for r in rows], next_cursor=cursor)


@router.post("/car-models", tags=["car catalogue"], status_code=status.HTTP_201_CREATED,
             summary="Add a private car model")
def create_car_model(
    actor: ReferenceWrite, session: DbSession, data: CarModelCreate, response: Response
) -> CarModelOut:
    model = service.create_car_model(session, actor, data=data)
    response.headers["ETag"] = etag(model.version)
    response.headers["Location"] = f"/v1/car-models/{model.id}"
    return CarModelOut.of(model)


@router.get("/car-models/{model_id}", tags=["car catalogue"], summary="Get a car model")
def get_car_model(
    actor: ReferenceRead, session: DbSession, model_id: uuid.UUID, response: Response
) -> CarModelOut:
    model = service.get_car_model(session, actor, model_id)
    response.headers["ETag"] = etag(model.version)
    return CarModelOut.of(model)


@router.patch("/car-models/{model_id}", tags=["car catalogue"],
              summary="Change a private car model (global ones are read-only)")
def update_car_model(
    actor: ReferenceWrite, session: DbSession, model_id: uuid.UUID, data: CarModelUpdate,
    response: Response, if_match: IfMatch = None,
) -> CarModelOut:
    model = service.update_car_model(session, actor, model_id, data=data, if_match=if_match)
    response.headers["ETag"] = etag(model.version)
    return CarModelOut.of(model)


@router.delete("/car-models/{model_id}", tags=["car catalogue"],
               status_code=status.HTTP_204_NO_CONTENT, summary="Delete a private car model")
def delete_car_model(
    actor: ReferenceWrite, session: DbSession, model_id: uuid.UUID, if_match: IfMatch = None
) -> Response:
    service.delete_car_model(session, actor, model_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
