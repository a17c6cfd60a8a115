"""Request and response models of the GPS (Traccar) endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class TraccarTokenOut(BaseModel):
    """A new forwarding token: shown once, stored only as its hash."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "token": "fct_3q2v…", "created_at": "2026-12-07T11:40:00Z",
        "positions_url": "/webhooks/traccar/positions", "events_url": "/webhooks/traccar/events",
    }]})

    token: str = Field(description="Put it in traccar.xml as 'Authorization: Bearer <token>'; "
                       "it is not shown again. Issuing a new one revokes this one.")
    created_at: datetime
    positions_url: str = Field(description="Path for forward.url (forward.type=json).")
    events_url: str = Field(description="Path for event.forward.url.")


class TraccarIntegrationOut(BaseModel):
    """Whether the fleet has a forwarding token (never the token itself)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"token_created_at": "2026-12-07T11:40:00Z"}]})

    token_created_at: datetime | None = Field(
        description="When the current token was issued; null when there is none.")


class GpsDeviceOut(BaseModel):
    """A Traccar device that forwarded to this fleet, and the vehicle it reports for."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000901", "unique_id": "359881234567890",
        "traccar_id": 3, "name": "B-FC 101", "status": "online",
        "status_at": "2026-12-07T08:00:05Z", "first_seen_at": "2026-12-01T07:12:00Z",
        "last_seen_at": "2026-12-07T08:02:00Z", "vehicle_id": None,
    }]})

    id: uuid.UUID
    unique_id: str = Field(description="Traccar's uniqueId (usually the IMEI).")
    traccar_id: int | None = Field(description="Traccar's numeric device id.")
    name: str | None
    status: str | None = Field(description="Last status event: online, offline, unknown…")
    status_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime
    vehicle_id: uuid.UUID | None = Field(
        default=None, description="The vehicle whose traccar_device_id names this device; null "
        "until one does (set it on the vehicle to link).")


class MapEventOut(BaseModel):
    """A recent vehicle event (last 24 h) shown on the live map."""

    model_config = ConfigDict(from_attributes=True)

    event_type: str
    severity: str
    occurred_at: datetime
    description: str | None


class VehiclePositionOut(BaseModel):
    """A tracked vehicle's last GPS position (null: none kept yet), its driver now, and its
    recent events."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "vehicle_id": "0193f0c2-6c1e-7a51-9d1a-3f8a2f6c1b11", "licence_plate": "GF-482-KT",
        "fix_time": "2026-12-07T11:40:07Z", "latitude": "48.856600", "longitude": "2.352200",
        "speed_kmh": "31.5", "driver_id": "0193f0c2-6c1e-7a51-9d1a-3f8a2f6c1b12",
        "driver_name": "Amine Benali",
        "events": [{"event_type": "overspeed", "severity": "medium",
                    "occurred_at": "2026-12-07T10:02:00Z",
                    "description": "Overspeed: 104 km/h (limit 90 km/h)"}]}]})

    vehicle_id: uuid.UUID
    licence_plate: str
    fix_time: datetime | None = Field(description="When the last kept point was fixed.")
    latitude: Decimal | None
    longitude: Decimal | None
    speed_kmh: Decimal | None
    driver_id: uuid.UUID | None = Field(description="The driver the vehicle is assigned to now.")
    driver_name: str | None = Field(
        description="Only for members who may read drivers (drivers:read).")
    events: list[MapEventOut]


_POSITION_EXAMPLE = VehiclePositionOut.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]


class VehiclePositionsOut(BaseModel):
    """The fleet's tracked vehicles, the most recently seen first (at most 2,000)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_POSITION_EXAMPLE]}]})

    items: list[VehiclePositionOut]
