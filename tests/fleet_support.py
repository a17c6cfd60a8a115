"""Small builders for fleet test data shared by the fleet tests and other domains' tests:
valid French plates, VINs with a correct check digit, a tenant's private car make/model."""

from __future__ import annotations

import hashlib
import itertools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from api_support import TenantWorld
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.identifiers import vin_check_digit
from fleetcore.core.orm import new_id

_SIV = "ABCDEFGHJKLMNPQRTVWXYZ"  # no I, O, U; no S, so never "SS"
_VIN = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
_counter = itertools.count(random.randint(0, 10**6))
_makes: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]] = {}


def fr_plate() -> str:
    """A new valid French SIV plate (unique within a test session)."""
    n = next(_counter)
    left = _SIV[n % 22] + _SIV[(n // 22) % 22]
    right = _SIV[(n // 484) % 22] + _SIV[(n // 10648) % 22]
    return f"{left}-{(n // 234256) % 999 + 1:03d}-{right}"


def vin(wmi: str = "VF1") -> str:
    """A new 17-character VIN with a correct check digit."""
    body = wmi + "".join(random.choice(_VIN) for _ in range(14))
    return body[:8] + vin_check_digit(body) + body[9:]


def private_make(client: TestClient, tenant_id: uuid.UUID,
                 headers: dict[str, str]) -> tuple[uuid.UUID, uuid.UUID]:
    """The tenant's private car make and model (made once per tenant, through the API)."""
    if tenant_id not in _makes:
        make = client.post("/v1/car-makes", json={"name": f"Make {uuid.uuid4().hex[:8]}"},
                           headers=headers)
        assert make.status_code == 201, make.text
        model = client.post("/v1/car-models", json={"make_id": make.json()["id"],
                                                    "name": "Model"}, headers=headers)
        assert model.status_code == 201, model.text
        _makes[tenant_id] = (uuid.UUID(make.json()["id"]), uuid.UUID(model.json()["id"]))
    return _makes[tenant_id]


@dataclass
class Fleet:
    """A committed tenant with a private make/model, and helpers to add rows."""

    world: TenantWorld
    client: TestClient
    auth: Callable[..., dict[str, str]]
    sessions: Any
    make_id: uuid.UUID
    model_id: uuid.UUID
    vehicles: list[dict[str, Any]] = field(default_factory=list)

    def headers(self, role: str = "owner", **extra: str) -> dict[str, str]:
        return self.auth(self.world, role, **extra)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run SQL as the tenant (committed)."""
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

    def vehicle_body(self, **values: Any) -> dict[str, Any]:
        return {"make_id": str(self.make_id), "model_id": str(self.model_id),
                "licence_plate": fr_plate(), "vin": vin(), "country": "FR", "year": 2024,
                "first_registration_on": "2024-03-01", "fuel_type": "diesel",
                "ownership_type": "leased", **values}

    def vehicle(self, **values: Any) -> dict[str, Any]:
        """A vehicle created through the API."""
        response = self.client.post("/v1/vehicles", json=self.vehicle_body(**values),
                                    headers=self.headers())
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def driver(self, **values: Any) -> uuid.UUID:
        """An active driver with a valid licence (compliant when no regulation applies)."""
        defaults: dict[str, Any] = {
            "first_name": "Ana", "last_name": "Martin", "status": "active",
            "date_of_birth": date(1990, 5, 1), "licence_number": "L-1",
            "licence_country": "FR", "licence_issued_on": date(2010, 1, 1),
            "licence_expires_on": date(2035, 1, 1), "professional_card_type": "vtc",
            "professional_card_number": "VTC-1", "professional_card_expires_on": date(2031, 1, 1),
        }
        return self.insert("rid_drivers", **{**defaults, **values})

    def document(self, vehicle_id: str | uuid.UUID, document_type: str, *,
                 expires_on: date | None = date(2030, 1, 1), verified: bool = True,
                 file_name: str = "doc.pdf", notes: str | None = None) -> uuid.UUID:
        return self.insert(
            "doc_documents", entity_type="vehicle", entity_id=uuid.UUID(str(vehicle_id)),
            document_type=document_type, file_name=file_name, storage_backend="local",
            storage_key=f"k/{new_id()}", mime_type="application/pdf", size_bytes=10,
            sha256=hashlib.sha256(b"x").hexdigest(), expires_on=expires_on, notes=notes,
            verified=verified, verified_at=datetime.now(UTC) if verified else None,
        )

    def insurance(self, vehicle_id: str, **values: Any) -> dict[str, Any]:
        today = datetime.now(UTC).date()
        body = {"vehicle_id": vehicle_id, "provider": "AXA", "policy_number": f"P-{new_id()}",
                "coverage_type": "comprehensive", "currency": "EUR",
                "starts_on": (today - timedelta(days=100)).isoformat(),
                "ends_on": (today + timedelta(days=200)).isoformat(), **values}
        response = self.client.post("/v1/vehicle-insurances", json=body, headers=self.headers())
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def compliant_vehicle(self, **values: Any) -> dict[str, Any]:
        """A vehicle with insurance, verified registration and inspection."""
        vehicle = self.vehicle(**values)
        self.insurance(vehicle["id"])
        self.document(vehicle["id"], "registration", expires_on=None)
        self.document(vehicle["id"], "inspection_report")
        return vehicle
