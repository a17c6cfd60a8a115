"""A committed tenant with vehicles, drivers and custody history for the toll and fine tests,
written directly in SQL (what the fleet API would have stored)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import text

from api_support import TenantWorld
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.orm import new_id

PARIS = ZoneInfo("Europe/Paris")


def paris(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A Paris wall-clock time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


@dataclass
class Books:
    world: TenantWorld
    client: TestClient
    auth: Callable[..., dict[str, str]]
    sessions: Any

    def headers(self, role: str = "owner") -> dict[str, str]:
        return self.auth(self.world, role)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        with context_session(self.sessions, DbContext.for_tenant(self.world.id)) as session:
            result = session.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []

    def insert(self, table: str, **values: Any) -> uuid.UUID:
        values.setdefault("id", new_id())
        values.setdefault("tenant_id", self.world.id)
        columns = ", ".join(values)
        marks = ", ".join(f":{c}" for c in values)
        self.sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", **values)
        return values["id"]  # type: ignore[no-any-return]

    def vehicle(self, plate: str) -> uuid.UUID:
        make = self.insert("dir_car_makes", name=f"Make {uuid.uuid4().hex[:6]}")
        return self.insert("flt_vehicles", make_id=make, licence_plate=plate, country="FR",
                           year=2022, fuel_type="hybrid", ownership_type="owned")

    def driver(self, first_name: str = "Ana") -> uuid.UUID:
        return self.insert("rid_drivers", first_name=first_name, last_name="Borg",
                           status="active")

    def assign(self, vehicle: uuid.UUID, driver: uuid.UUID, starts_at: datetime,
               ends_at: datetime | None = None) -> uuid.UUID:
        return self.insert("flt_vehicle_assignments", vehicle_id=vehicle, driver_id=driver,
                           starts_at=starts_at, ends_at=ends_at, assignment_type="permanent",
                           status="ended" if ends_at else "active")

    def terms(self, driver: uuid.UUID, start: datetime, **options: Any) -> uuid.UUID:
        return self.insert(
            "rid_driver_cooperation_terms", driver_id=driver, terms_version="v1",
            status="active", accepted_at=start - timedelta(days=1), effective_from=start,
            settlement_model="revenue_share", fleet_share_pct=Decimal("25"), currency="EUR",
            **options)

    def document(self) -> uuid.UUID:
        return self.insert(
            "doc_documents", entity_type="tenant", entity_id=self.world.id,
            document_type="other", file_name="avis.pdf", storage_backend="local",
            storage_key=f"k/{new_id()}", mime_type="application/pdf", size_bytes=10,
            sha256="0" * 64)
