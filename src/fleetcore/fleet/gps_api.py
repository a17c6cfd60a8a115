"""``/v1`` endpoints of GPS telemetry: the Traccar forwarding token and the devices seen."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, status
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRouter

from fleetcore.core.deps import DbSession
from fleetcore.core.export import CsvColumn, csv_response, csv_responses
from fleetcore.core.pagination import Page, Pagination
from fleetcore.fleet import gps_service as service
from fleetcore.fleet.gps_schemas import (
    GpsDeviceOut,
    TraccarIntegrationOut,
    TraccarTokenOut,
    VehiclePositionOut,
    VehiclePositionsOut,
)
from fleetcore.fleet.permissions import IntegrationsRead, IntegrationsWrite, VehiclesRead

router = APIRouter(prefix="/v1")


@router.post("/integrations/traccar/token", tags=["gps"], status_code=status.HTTP_201_CREATED,
             summary="Issue the fleet's Traccar forwarding token (revokes the previous one)")
def issue_traccar_token(actor: IntegrationsWrite, session: DbSession) -> TraccarTokenOut:
    issued = service.rotate_traccar_token(session, actor)
    return TraccarTokenOut(token=issued.token, created_at=issued.created_at,
                           positions_url="/webhooks/traccar/positions",
                           events_url="/webhooks/traccar/events")


@router.get("/integrations/traccar", tags=["gps"],
            summary="Whether the fleet has a Traccar forwarding token")
def get_traccar_integration(actor: IntegrationsRead, session: DbSession) -> TraccarIntegrationOut:
    return TraccarIntegrationOut(token_created_at=service.traccar_token_created_at(session, actor))


_DEVICE_CSV = [
    CsvColumn("id", lambda r: r[0].id),
    CsvColumn("unique_id", lambda r: r[0].unique_id),
    CsvColumn("traccar_id", lambda r: r[0].traccar_id),
    CsvColumn("name", lambda r: r[0].name),
    CsvColumn("status", lambda r: r[0].status),
    CsvColumn("status_at", lambda r: r[0].status_at),
    CsvColumn("first_seen_at", lambda r: r[0].first_seen_at),
    CsvColumn("last_seen_at", lambda r: r[0].last_seen_at),
    CsvColumn("vehicle_id", lambda r: r[1]),
]


@router.get("/gps-devices/export.csv", tags=["gps"],
            summary="Export the GPS devices as CSV", response_class=StreamingResponse,
            responses=csv_responses(_DEVICE_CSV))
def export_gps_devices(
    actor: VehiclesRead, session: DbSession,
    linked: Annotated[bool | None, Query(
        description="Only devices some vehicle names (true) or none does (false).")] = None,
) -> StreamingResponse:
    stmt = service.devices_export_query(actor, linked=linked)
    return csv_response(session, stmt, _DEVICE_CSV, filename="gps-devices.csv")


@router.get("/gps-devices", tags=["gps"],
            summary="Traccar devices that forwarded to this fleet (linked=false: to link)")
def list_gps_devices(
    actor: VehiclesRead, session: DbSession, page: Pagination,
    linked: Annotated[bool | None, Query(
        description="Only devices some vehicle names (true) or none does (false).")] = None,
) -> Page[GpsDeviceOut]:
    rows, cursor = service.list_devices(session, actor, page, linked=linked)
    items = []
    for device, vehicle_id in rows:
        out = GpsDeviceOut.model_validate(device)
        out.vehicle_id = vehicle_id
        items.append(out)
    return Page(items=items, next_cursor=cursor)


@router.get("/vehicle-positions", tags=["gps"],
            summary="Tracked vehicles' last GPS positions, current drivers and recent events")
def list_vehicle_positions(actor: VehiclesRead, session: DbSession) -> VehiclePositionsOut:
    return VehiclePositionsOut(items=[VehiclePositionOut.model_validate(p)
                                      for p in service.vehicle_positions(session, actor)])
