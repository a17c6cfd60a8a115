"""``/v1`` trips endpoints: platform accounts (link a platform's driver id to a driver) and the
trips reports bring (read-only: trips are written by imports)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from fleetcore.core.deps import DbSession
from fleetcore.core.export import CsvColumn, MoneyColumns, csv_response, csv_responses
from fleetcore.core.money import Money
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.schemas import Deletion, money_out
from fleetcore.core.versioning import RequiredIfMatch, etag
from fleetcore.trips import service
from fleetcore.trips.filters import PlatformAccountFilter, TripFilter
from fleetcore.trips.models import PlatformAccount, PlatformAccountStatus, Trip, TripStatus
from fleetcore.trips.permissions import TripsRead, TripsWrite
from fleetcore.trips.schemas import (
    PlatformAccountCreate,
    PlatformAccountOut,
    PlatformAccountUpdate,
    TripOut,
)

router = APIRouter(prefix="/v1")
ACCOUNTS: list[Any] = ["platform accounts"]
TRIPS: list[Any] = ["trips"]

IncludeDeleted = Annotated[bool, Query(description="Also list soft-deleted rows.")]


def _attr(name: str) -> Any:
    return lambda row: getattr(row, name)


def _account_out(account: PlatformAccount, response: Response | None = None) -> PlatformAccountOut:
    if response is not None:
        response.headers["ETag"] = etag(account.version)
    return PlatformAccountOut.model_validate(account)


def _account_filter(
    platform_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    account_status: Annotated[PlatformAccountStatus | None, Query(alias="status")] = None,
    unlinked: Annotated[bool, Query(description="Only accounts linked to no driver.")] = False,
    external_account_id: Annotated[str | None, Query(max_length=255)] = None,
    include_deleted: IncludeDeleted = False,
) -> PlatformAccountFilter:
    return PlatformAccountFilter(
        platform_id=platform_id, driver_id=driver_id,
        status=account_status.value if account_status else None, unlinked=unlinked,
        external_account_id=external_account_id, include_deleted=include_deleted)


@router.get("/platform-accounts", tags=ACCOUNTS, summary="List platform accounts")
def list_platform_accounts(
    actor: TripsRead, session: DbSession, page: Pagination,
    platform_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    account_status: Annotated[PlatformAccountStatus | None, Query(alias="status")] = None,
    unlinked: Annotated[bool, Query(description="Only accounts linked to no driver.")] = False,
    external_account_id: Annotated[str | None, Query(max_length=255)] = None,
    include_deleted: IncludeDeleted = False,
) -> Page[PlatformAccountOut]:
    spec = _account_filter(platform_id, driver_id, account_status, unlinked,
                           external_account_id, include_deleted)
    rows, cursor = service.list_platform_accounts(session, actor, page, spec)
    return Page(items=[_account_out(r) for r in rows], next_cursor=cursor)


_ACCOUNT_CSV = [CsvColumn(n, _attr(n)) for n in (
    "id", "platform_id", "external_account_id", "external_account_kind", "driver_id",
    "vehicle_id", "display_name", "payout_receiver", "status", "linked_at", "created_at",
    "deleted_at")]


@router.get("/platform-accounts/export.csv", tags=ACCOUNTS,
            summary="Export the filtered platform accounts as CSV",
            response_class=StreamingResponse, responses=csv_responses(_ACCOUNT_CSV))
def export_platform_accounts(
    actor: TripsRead, session: DbSession,
    platform_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    account_status: Annotated[PlatformAccountStatus | None, Query(alias="status")] = None,
    unlinked: bool = False,
    external_account_id: Annotated[str | None, Query(max_length=255)] = None,
    include_deleted: IncludeDeleted = False,
) -> StreamingResponse:
    spec = _account_filter(platform_id, driver_id, account_status, unlinked,
                           external_account_id, include_deleted)
    stmt = service.platform_accounts_query(actor, spec).order_by(PlatformAccount.id)
    return csv_response(session, stmt, _ACCOUNT_CSV, filename="platform-accounts.csv")


@router.post("/platform-accounts", tags=ACCOUNTS, status_code=status.HTTP_201_CREATED,
             summary="Record a platform account (linking it gives waiting report rows their "
                     "driver)")
def create_platform_account(actor: TripsWrite, session: DbSession, data: PlatformAccountCreate,
                            response: Response) -> PlatformAccountOut:
    account = service.create_platform_account(session, actor, data=data)
    response.headers["Location"] = f"/v1/platform-accounts/{account.id}"
    return _account_out(account, response)


@router.get("/platform-accounts/{account_id}", tags=ACCOUNTS, summary="Get a platform account")
def get_platform_account(actor: TripsRead, session: DbSession, account_id: uuid.UUID,
                         response: Response) -> PlatformAccountOut:
    return _account_out(service.get_platform_account(session, actor, account_id), response)


@router.patch("/platform-accounts/{account_id}", tags=ACCOUNTS,
              summary="Link a platform account to a driver, or change it")
def update_platform_account(actor: TripsWrite, session: DbSession, if_match: RequiredIfMatch,
account_id: uuid.UUID,
                            data: PlatformAccountUpdate, response: Response) -> PlatformAccountOut:
    account = service.update_platform_account(session, actor, account_id, data=data,
                                              if_match=if_match)
    return _account_out(account, response)


@router.delete("/platform-accounts/{account_id}", tags=ACCOUNTS,
               status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete an account recorded by mistake (soft, with a reason)")
def delete_platform_account(actor: TripsWrite, session: DbSession, if_match: RequiredIfMatch,
account_id: uuid.UUID, data: Deletion | None = None) -> Response:
    service.delete_platform_account(session, actor, account_id,
                                    reason=data.reason if data else None, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/platform-accounts/{account_id}/restore", tags=ACCOUNTS,
             summary="Restore a deleted platform account")
def restore_platform_account(actor: TripsWrite, session: DbSession, account_id: uuid.UUID,
                             response: Response) -> PlatformAccountOut:
    return _account_out(service.restore_platform_account(session, actor, account_id), response)


# --- trips -------------------------------------------------------------------------------------


def _trip_out(trip: Trip) -> TripOut:
    cur = trip.currency
    return TripOut(
        id=trip.id, platform_id=trip.platform_id, external_trip_id=trip.external_trip_id,
        platform_account_id=trip.platform_account_id, driver_id=trip.driver_id,
        vehicle_id=trip.vehicle_id, status=TripStatus(trip.status),
        service_type=trip.service_type, requested_at=trip.requested_at,
        started_at=trip.started_at, ended_at=trip.ended_at, distance_km=trip.distance_km,
        duration_s=trip.duration_s, fare_gross=money_out(trip.fare_gross, cur),
        tip=money_out(trip.tip, cur), tolls=money_out(trip.tolls, cur),
        platform_commission=money_out(trip.platform_commission, cur),
        cash_collected=money_out(trip.cash_collected, cur),
        net_earnings=money_out(trip.net_earnings, cur), payment_method=trip.payment_method,
        import_id=trip.import_id, created_at=trip.created_at)


def _trip_filter(
    platform_id: uuid.UUID | None, driver_id: uuid.UUID | None, vehicle_id: uuid.UUID | None,
    import_id: uuid.UUID | None, trip_status: TripStatus | None,
    external_trip_id: str | None, ended_since: AwareDatetime | None,
    ended_before: AwareDatetime | None,
) -> TripFilter:
    return TripFilter(platform_id=platform_id, driver_id=driver_id, vehicle_id=vehicle_id,
                      import_id=import_id, status=trip_status.value if trip_status else None,
                      external_trip_id=external_trip_id, ended_since=ended_since,
                      ended_before=ended_before)


@router.get("/trips", tags=TRIPS, summary="List trips, newest first")
def list_trips(
    actor: TripsRead, session: DbSession, page: Pagination,
    platform_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    vehicle_id: uuid.UUID | None = None, import_id: uuid.UUID | None = None,
    trip_status: Annotated[TripStatus | None, Query(alias="status")] = None,
    external_trip_id: Annotated[str | None, Query(max_length=255)] = None,
    ended_since: AwareDatetime | None = None, ended_before: AwareDatetime | None = None,
) -> Page[TripOut]:
    spec = _trip_filter(platform_id, driver_id, vehicle_id, import_id, trip_status,
                        external_trip_id, ended_since, ended_before)
    rows, cursor = service.list_trips(session, actor, page, spec)
    return Page(items=[_trip_out(t) for t in rows], next_cursor=cursor)


def _money_columns(name: str, attribute: str) -> MoneyColumns:
    def read(trip: Trip) -> Money | None:
        value = getattr(trip, attribute)
        return None if value is None or trip.currency is None else Money(value, trip.currency)

    return MoneyColumns(name, read)


_TRIP_CSV: list[CsvColumn | MoneyColumns] = [
    *(CsvColumn(n, _attr(n)) for n in (
        "id", "platform_id", "external_trip_id", "driver_id", "vehicle_id", "status",
        "service_type", "requested_at", "started_at", "ended_at", "distance_km", "duration_s",
        "payment_method", "import_id")),
    *(_money_columns(n, n) for n in ("fare_gross", "tip", "tolls", "platform_commission",
                                     "cash_collected", "net_earnings")),
]


@router.get("/trips/export.csv", tags=TRIPS, summary="Export the filtered trips as CSV",
            response_class=StreamingResponse, responses=csv_responses(_TRIP_CSV))
def export_trips(
    actor: TripsRead, session: DbSession,
    platform_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    vehicle_id: uuid.UUID | None = None, import_id: uuid.UUID | None = None,
    trip_status: Annotated[TripStatus | None, Query(alias="status")] = None,
    external_trip_id: Annotated[str | None, Query(max_length=255)] = None,
    ended_since: AwareDatetime | None = None, ended_before: AwareDatetime | None = None,
) -> StreamingResponse:
    spec = _trip_filter(platform_id, driver_id, vehicle_id, import_id, trip_status,
                        external_trip_id, ended_since, ended_before)
    stmt = service.trips_query(actor, spec).order_by(Trip.id)
    return csv_response(session, stmt, _TRIP_CSV, filename="trips.csv")


@router.get("/trips/{trip_id}", tags=TRIPS, summary="Get a trip")
def get_trip(actor: TripsRead, session: DbSession, trip_id: uuid.UUID) -> TripOut:
    return _trip_out(service.get_trip(session, actor, trip_id))
