"""``/v1`` endpoints of odometer readings, maintenance schedules, records and the due list."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import StreamingResponse

from fleetcore.core.deps import DbSession
from fleetcore.core.export import (
    Column,
    CsvColumn,
    DerivedColumns,
    MoneyColumns,
    csv_response,
    csv_responses,
)
from fleetcore.core.money import Money
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.versioning import RequiredIfMatch, etag, lock_and_check_if_match
from fleetcore.fleet import maintenance_service as service
from fleetcore.fleet.maintenance_schemas import (
    DueStatus,
    MaintenanceComplete,
    MaintenanceCreate,
    MaintenanceOut,
    MaintenanceUpdate,
    OdometerConfirm,
    OdometerReadingCreate,
    OdometerReadingOut,
    ScheduleCreate,
    ScheduleOut,
    ScheduleUpdate,
)
from fleetcore.fleet.models import (
    MaintenanceStatus,
    MaintenanceType,
    OdometerReading,
    OdometerSource,
    VehicleMaintenance,
)
from fleetcore.fleet.permissions import (
    MaintenanceRead,
    MaintenanceWrite,
    OdometerRead,
    OdometerWrite,
)

router = APIRouter(prefix="/v1")

Reason = Annotated[str | None, Query(max_length=1000, description="Why it is deleted.")]


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


# --- odometer readings ---------------------------------------------------------------------


def _reading_out(
    reading: OdometerReading, corrected_by: uuid.UUID | None = None
) -> OdometerReadingOut:
    out = OdometerReadingOut.model_validate(reading)
    if reading.corrects_reading_id is not None:
        out.correction_reason, out.anomaly_reason = reading.anomaly_reason, None
    elif not reading.is_anomaly:
        out.anomaly_reason = None
    out.corrected_by_id = corrected_by
    out.trusted = corrected_by is None and (not reading.is_anomaly
                                            or reading.confirmed_at is not None)
    return out


@dataclass(frozen=True, slots=True)
class ReadingFilter:
    source: str | None = None
    anomalies: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


def _reading_filter(
    source: OdometerSource | None = None,
    anomaly: Annotated[bool | None, Query(description="Only flagged (or unflagged).")] = None,
    since: datetime | None = None, until: datetime | None = None,
) -> ReadingFilter:
    return ReadingFilter(source=source.value if source else None, anomalies=anomaly,
                         since=since, until=until)


ReadingFilterQuery = Annotated[ReadingFilter, Depends(_reading_filter)]


@router.get("/vehicles/{vehicle_id}/odometer-readings", tags=["odometer"],
            summary="A vehicle's odometer readings, newest first")
def list_odometer_readings(
    actor: OdometerRead, session: DbSession, page: Pagination, vehicle_id: uuid.UUID,
    filters: ReadingFilterQuery,
) -> Page[OdometerReadingOut]:
    rows, cursor = service.list_odometer_readings(
        session, actor, page, vehicle_id=vehicle_id, **asdict(filters))
    corrected = service.corrections_of(session, actor.tenant_id, [r.id for r in rows]) \
        if actor.tenant_id else {}
    return Page(items=[_reading_out(r, corrected.get(r.id)) for r in rows], next_cursor=cursor)


_READING_CSV: list[Column] = [DerivedColumns((
    "id", "vehicle_id", "read_at", "odometer_km", "source", "is_anomaly", "anomaly_reason",
    "corrects_reading_id", "correction_reason", "corrected_by_id", "trusted", "confirmed_at",
    "confirmed_by", "recorded_by", "created_at",
    # A row is (reading, id of the reading correcting it): read as the list shows it.
), lambda row: _reading_out(row[0], row[1]))]


@router.get("/vehicles/{vehicle_id}/odometer-readings/export.csv", tags=["odometer"],
            summary="Export a vehicle's odometer readings as CSV, newest first (same filters)",
            response_class=StreamingResponse, responses=csv_responses(_READING_CSV))
def export_odometer_readings(
    actor: OdometerRead, session: DbSession, vehicle_id: uuid.UUID, filters: ReadingFilterQuery,
) -> StreamingResponse:
    stmt = service.odometer_readings_query(session, actor, vehicle_id=vehicle_id,
                                           **asdict(filters))
    stmt = stmt.add_columns(service.correction_id_of_reading()).order_by(
        OdometerReading.read_at.desc(), OdometerReading.id.desc())
    return csv_response(session, stmt, _READING_CSV, filename="odometer-readings.csv")


@router.post("/vehicles/{vehicle_id}/odometer-readings", tags=["odometer"],
             status_code=status.HTTP_201_CREATED,
             summary="Record an odometer reading (or correct one)")
def record_odometer_reading(
    actor: OdometerWrite, session: DbSession, vehicle_id: uuid.UUID,
    data: OdometerReadingCreate, response: Response,
) -> OdometerReadingOut:
    reading = service.record_odometer_reading(session, actor, vehicle_id=vehicle_id, data=data)
    session.refresh(reading)
    _with_etag(response, reading.version)
    response.headers["Location"] = f"/v1/vehicles/{vehicle_id}/odometer-readings/{reading.id}"
    return _reading_out(reading)


@router.get("/vehicles/{vehicle_id}/odometer-readings/{reading_id}", tags=["odometer"],
            summary="Get an odometer reading")
def get_odometer_reading(
    actor: OdometerRead, session: DbSession, vehicle_id: uuid.UUID, reading_id: uuid.UUID,
    response: Response,
) -> OdometerReadingOut:
    reading = service.get_odometer_reading(session, actor, vehicle_id=vehicle_id,
                                           reading_id=reading_id)
    corrected = service.corrections_of(session, reading.tenant_id, [reading.id])
    _with_etag(response, reading.version)
    return _reading_out(reading, corrected.get(reading.id))


@router.post("/vehicles/{vehicle_id}/odometer-readings/{reading_id}/confirm", tags=["odometer"],
             summary="Confirm a reading flagged as implausible")
def confirm_odometer_reading(
    actor: OdometerWrite, session: DbSession, if_match: RequiredIfMatch, vehicle_id: uuid.UUID,
    reading_id: uuid.UUID, response: Response, data: OdometerConfirm | None = None,
) -> OdometerReadingOut:
    lock_and_check_if_match(session, OdometerReading, if_match, OdometerReading.id == reading_id,
                            OdometerReading.vehicle_id == vehicle_id)
    reading = service.confirm_odometer_reading(session, actor, vehicle_id=vehicle_id,
                                               reading_id=reading_id)
    corrected = service.corrections_of(session, reading.tenant_id, [reading.id])
    _with_etag(response, reading.version)
    return _reading_out(reading, corrected.get(reading.id))


# --- maintenance schedules -----------------------------------------------------------------


def _schedule_out(view: service.ScheduleView) -> ScheduleOut:
    out = ScheduleOut.model_validate(view.schedule)
    out.current_odometer_km = view.current_odometer_km
    out.due_status = view.due_status
    return out


_SCHEDULE_CSV = [
    CsvColumn("id", lambda r: r[0].id),
    CsvColumn("vehicle_id", lambda r: r[0].vehicle_id),
    CsvColumn("maintenance_type", lambda r: r[0].maintenance_type),
    CsvColumn("interval_km", lambda r: r[0].interval_km),
    CsvColumn("interval_days", lambda r: r[0].interval_days),
    CsvColumn("last_done_km", lambda r: r[0].last_done_km),
    CsvColumn("last_done_on", lambda r: r[0].last_done_on),
    CsvColumn("next_due_km", lambda r: r[0].next_due_km),
    CsvColumn("next_due_on", lambda r: r[0].next_due_on),
    CsvColumn("current_odometer_km", lambda r: r[1]),
    CsvColumn("due_status", lambda r: r[2]),
]

DueStatuses = Annotated[list[DueStatus] | None, Query(
    alias="due_status", description="Repeat to combine (due_soon, overdue).")]


@dataclass(frozen=True, slots=True)
class DueFilter:
    due_status: list[str] | None = None
    vehicle_id: uuid.UUID | None = None


def _due_filter(due_status: DueStatuses = None,
                vehicle_id: uuid.UUID | None = None) -> DueFilter:
    return DueFilter(due_status=[s.value for s in due_status] if due_status else None,
                     vehicle_id=vehicle_id)


DueFilterQuery = Annotated[DueFilter, Depends(_due_filter)]


@router.get("/maintenance/due", tags=["maintenance-schedules"],
            summary="Fleet-wide maintenance due soon or overdue (one query)")
def maintenance_due(
    actor: MaintenanceRead, session: DbSession, page: Pagination, filters: DueFilterQuery,
) -> Page[ScheduleOut]:
    views, cursor = service.maintenance_due(
        session, actor, page, due_status=filters.due_status, vehicle_id=filters.vehicle_id)
    return Page(items=[_schedule_out(v) for v in views], next_cursor=cursor)


@router.get("/maintenance/due/export.csv", tags=["maintenance-schedules"],
            summary="The due list as CSV (same filters)", response_class=StreamingResponse,
            responses=csv_responses(_SCHEDULE_CSV))
def export_maintenance_due(
    actor: MaintenanceRead, session: DbSession, filters: DueFilterQuery,
) -> StreamingResponse:
    stmt = service.due_query(session, actor, due_status=filters.due_status,
                             vehicle_id=filters.vehicle_id)
    return csv_response(session, stmt, _SCHEDULE_CSV, filename="maintenance-due.csv")


@dataclass(frozen=True, slots=True)
class ScheduleFilter:
    vehicle_id: uuid.UUID | None = None
    maintenance_type: str | None = None
    active: bool | None = None
    due_status: list[str] | None = None
    include_deleted: bool = False


def _schedule_filter(
    vehicle_id: uuid.UUID | None = None, maintenance_type: MaintenanceType | None = None,
    active: bool | None = None, due_status: DueStatuses = None, include_deleted: bool = False,
) -> ScheduleFilter:
    return ScheduleFilter(
        vehicle_id=vehicle_id, maintenance_type=maintenance_type.value if maintenance_type
        else None, active=active,
        due_status=[s.value for s in due_status] if due_status else None,
        include_deleted=include_deleted)


ScheduleFilterQuery = Annotated[ScheduleFilter, Depends(_schedule_filter)]


@router.get("/maintenance-schedules", tags=["maintenance-schedules"],
            summary="List maintenance schedules with their due status")
def list_schedules(
    actor: MaintenanceRead, session: DbSession, page: Pagination, filters: ScheduleFilterQuery,
) -> Page[ScheduleOut]:
    views, cursor = service.list_schedules(session, actor, page, **asdict(filters))
    return Page(items=[_schedule_out(v) for v in views], next_cursor=cursor)


@router.get("/maintenance-schedules/export.csv", tags=["maintenance-schedules"],
            summary="Maintenance schedules with their due status as CSV (same filters)",
            response_class=StreamingResponse, responses=csv_responses(_SCHEDULE_CSV))
def export_schedules(
    actor: MaintenanceRead, session: DbSession, filters: ScheduleFilterQuery,
) -> StreamingResponse:
    stmt = service.schedules_query(session, actor, **asdict(filters))
    return csv_response(session, stmt, _SCHEDULE_CSV, filename="maintenance-schedules.csv")


@router.post("/maintenance-schedules", tags=["maintenance-schedules"],
             status_code=status.HTTP_201_CREATED, summary="Create a maintenance schedule")
def create_schedule(
    actor: MaintenanceWrite, session: DbSession, data: ScheduleCreate, response: Response
) -> ScheduleOut:
    schedule = service.create_schedule(session, actor, data=data)
    view = service.schedule_view(session, actor, schedule.id)
    _with_etag(response, view.schedule.version)
    response.headers["Location"] = f"/v1/maintenance-schedules/{schedule.id}"
    return _schedule_out(view)


@router.get("/maintenance-schedules/{schedule_id}", tags=["maintenance-schedules"],
            summary="Get a maintenance schedule with its due status")
def get_schedule(
    actor: MaintenanceRead, session: DbSession, schedule_id: uuid.UUID, response: Response
) -> ScheduleOut:
    view = service.schedule_view(session, actor, schedule_id)
    _with_etag(response, view.schedule.version)
    return _schedule_out(view)


@router.patch("/maintenance-schedules/{schedule_id}", tags=["maintenance-schedules"],
              summary="Update a maintenance schedule")
def update_schedule(
    actor: MaintenanceWrite, session: DbSession, if_match: RequiredIfMatch,
    schedule_id: uuid.UUID, data: ScheduleUpdate,
    response: Response,
) -> ScheduleOut:
    service.update_schedule(session, actor, schedule_id, data=data, if_match=if_match)
    view = service.schedule_view(session, actor, schedule_id)
    _with_etag(response, view.schedule.version)
    return _schedule_out(view)


@router.delete("/maintenance-schedules/{schedule_id}", tags=["maintenance-schedules"],
               status_code=status.HTTP_204_NO_CONTENT, summary="Delete a maintenance schedule")
def delete_schedule(
    actor: MaintenanceWrite, session: DbSession, if_match: RequiredIfMatch, schedule_id: uuid.UUID,
    reason: Reason = None,
) -> Response:
    service.delete_schedule(session, actor, schedule_id, reason=reason, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/maintenance-schedules/{schedule_id}/restore", tags=["maintenance-schedules"],
             summary="Restore a deleted maintenance schedule")
def restore_schedule(
    actor: MaintenanceWrite, session: DbSession, schedule_id: uuid.UUID, response: Response
) -> ScheduleOut:
    service.restore_schedule(session, actor, schedule_id)
    view = service.schedule_view(session, actor, schedule_id)
    _with_etag(response, view.schedule.version)
    return _schedule_out(view)


# --- maintenance records -------------------------------------------------------------------

_MAINTENANCE_CSV: list[Column] = [
    CsvColumn("id", lambda m: m.id),
    CsvColumn("vehicle_id", lambda m: m.vehicle_id),
    CsvColumn("schedule_id", lambda m: m.schedule_id),
    CsvColumn("maintenance_type", lambda m: m.maintenance_type),
    CsvColumn("status", lambda m: m.status),
    CsvColumn("scheduled_on", lambda m: m.scheduled_on),
    CsvColumn("completed_on", lambda m: m.completed_on),
    CsvColumn("odometer_km", lambda m: m.odometer_km),
    CsvColumn("provider", lambda m: m.provider),
    MoneyColumns("cost", lambda m: Money(m.cost, m.currency) if m.cost is not None else None),
]


@dataclass(frozen=True, slots=True)
class MaintenanceFilter:
    vehicle_id: uuid.UUID | None = None
    schedule_id: uuid.UUID | None = None
    status: str | None = None
    maintenance_type: str | None = None
    scheduled_from: date | None = None
    scheduled_to: date | None = None
    include_deleted: bool = False


def _maintenance_filter(
    vehicle_id: uuid.UUID | None = None, schedule_id: uuid.UUID | None = None,
    maintenance_status: Annotated[MaintenanceStatus | None, Query(alias="status")] = None,
    maintenance_type: MaintenanceType | None = None,
    scheduled_from: date | None = None, scheduled_to: date | None = None,
    include_deleted: bool = False,
) -> MaintenanceFilter:
    return MaintenanceFilter(
        vehicle_id=vehicle_id, schedule_id=schedule_id,
        status=maintenance_status.value if maintenance_status else None,
        maintenance_type=maintenance_type.value if maintenance_type else None,
        scheduled_from=scheduled_from, scheduled_to=scheduled_to,
        include_deleted=include_deleted)


MaintenanceFilterQuery = Annotated[MaintenanceFilter, Depends(_maintenance_filter)]


@router.get("/vehicle-maintenance", tags=["vehicle-maintenance"],
            summary="List maintenance records")
def list_maintenance(
    actor: MaintenanceRead, session: DbSession, page: Pagination,
    filters: MaintenanceFilterQuery,
) -> Page[MaintenanceOut]:
    rows, cursor = service.list_maintenance(session, actor, page, **asdict(filters))
    return Page(items=[MaintenanceOut.of(r) for r in rows], next_cursor=cursor)


@router.get("/vehicle-maintenance/export.csv", tags=["vehicle-maintenance"],
            summary="Maintenance records as CSV (same filters)", response_class=StreamingResponse,
            responses=csv_responses(_MAINTENANCE_CSV))
def export_maintenance(
    actor: MaintenanceRead, session: DbSession, filters: MaintenanceFilterQuery,
) -> StreamingResponse:
    stmt = service.maintenance_query(actor, **asdict(filters)).order_by(VehicleMaintenance.id)
    return csv_response(session, stmt, _MAINTENANCE_CSV, filename="vehicle-maintenance.csv")


@router.post("/vehicle-maintenance", tags=["vehicle-maintenance"],
             status_code=status.HTTP_201_CREATED, summary="Plan a maintenance job")
def create_maintenance(
    actor: MaintenanceWrite, session: DbSession, data: MaintenanceCreate, response: Response
) -> MaintenanceOut:
    record = service.create_maintenance(session, actor, data=data)
    session.refresh(record)
    _with_etag(response, record.version)
    response.headers["Location"] = f"/v1/vehicle-maintenance/{record.id}"
    return MaintenanceOut.of(record)


@router.get("/vehicle-maintenance/{record_id}", tags=["vehicle-maintenance"],
            summary="Get a maintenance record")
def get_maintenance(
    actor: MaintenanceRead, session: DbSession, record_id: uuid.UUID, response: Response
) -> MaintenanceOut:
    record = service.get_maintenance(session, actor, record_id)
    _with_etag(response, record.version)
    return MaintenanceOut.of(record)


@router.patch("/vehicle-maintenance/{record_id}", tags=["vehicle-maintenance"],
              summary="Update a maintenance record")
def update_maintenance(
    actor: MaintenanceWrite, session: DbSession, if_match: RequiredIfMatch,
    record_id: uuid.UUID, data: MaintenanceUpdate,
    response: Response,
) -> MaintenanceOut:
    record = service.update_maintenance(session, actor, record_id, data=data, if_match=if_match)
    _with_etag(response, record.version)
    return MaintenanceOut.of(record)


@router.post("/vehicle-maintenance/{record_id}/complete", tags=["vehicle-maintenance"],
             summary="Complete a job: odometer reading recorded, schedule advanced")
def complete_maintenance(
    actor: MaintenanceWrite, session: DbSession, if_match: RequiredIfMatch, record_id: uuid.UUID,
    data: MaintenanceComplete, response: Response,
) -> MaintenanceOut:
    record = service.complete_maintenance(session, actor, record_id, data=data,
                                          if_match=if_match)
    _with_etag(response, record.version)
    return MaintenanceOut.of(record)


@router.delete("/vehicle-maintenance/{record_id}", tags=["vehicle-maintenance"],
               status_code=status.HTTP_204_NO_CONTENT, summary="Delete a maintenance record")
def delete_maintenance(
    actor: MaintenanceWrite, session: DbSession, if_match: RequiredIfMatch,
    record_id: uuid.UUID, reason: Reason = None,
) -> Response:
    service.delete_maintenance(session, actor, record_id, reason=reason, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/vehicle-maintenance/{record_id}/restore", tags=["vehicle-maintenance"],
             summary="Restore a deleted maintenance record")
def restore_maintenance(
    actor: MaintenanceWrite, session: DbSession, record_id: uuid.UUID, response: Response
) -> MaintenanceOut:
    service.restore_maintenance(session, actor, record_id)
    record = service.get_maintenance(session, actor, record_id)
    session.refresh(record)
    _with_etag(response, record.version)
    return MaintenanceOut.of(record)
