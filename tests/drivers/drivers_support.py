"""Helpers of the drivers service tests: a tenant in a country with a known regulation."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.db import DbContext, bind_context
from fleetcore.core.orm import new_id

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TODAY = AT.date()
# Malta: no committed regulation exists for it in the test database, so the rolled-back row
# below cannot clash with anything.
COUNTRY = "MT"


def insert(session: Session, table: str, **values: Any) -> uuid.UUID:
    """Insert one row with plain SQL; its id."""
    values.setdefault("id", new_id())
    columns = ", ".join(values)
    params = ", ".join(f":{c}" for c in values)
    session.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)
    return values["id"]  # type: ignore[no-any-return]


@dataclass
class World:
    """One tenant (country MT, regulation: card required, age 21, 3 licence years)."""

    session: Session
    tenant_id: uuid.UUID
    actor: Actor
    other_tenant_id: uuid.UUID
    drivers: list[uuid.UUID] = field(default_factory=list)

    def as_tenant(self, tenant_id: uuid.UUID | None = None) -> None:
        bind_context(self.session, DbContext.for_tenant(tenant_id or self.tenant_id))

    def driver(self, **values: Any) -> uuid.UUID:
        """A driver compliant with every rule unless ``values`` say otherwise."""
        defaults: dict[str, Any] = {
            "first_name": "Ana", "last_name": "Borg", "date_of_birth": date(1990, 5, 1),
            "licence_number": "L-1", "licence_country": COUNTRY,
            "licence_issued_on": date(2010, 1, 1), "licence_expires_on": date(2030, 1, 1),
            "professional_card_type": "other", "professional_card_number": "C-1",
            "professional_card_expires_on": date(2029, 1, 1), "status": "active",
        }
        driver_id = insert(self.session, "rid_drivers", tenant_id=self.tenant_id,
                           **{**defaults, **values})
        self.drivers.append(driver_id)
        return driver_id

    def document(self, driver_id: uuid.UUID, *, expires_on: date | None = date(2030, 1, 1),
                 requirement: str = "required", status: str = "verified",
                 reason: str | None = None) -> uuid.UUID:
        doc = insert(
            self.session, "doc_documents", tenant_id=self.tenant_id, entity_type="driver",
            entity_id=driver_id, document_type="id_card", file_name="id.pdf",
            storage_backend="local", storage_key=f"k/{new_id()}", mime_type="application/pdf",
            size_bytes=10, sha256=hashlib.sha256(b"x").hexdigest(), expires_on=expires_on,
        )
        reviewed = AT if status in ("verified", "rejected") else None
        insert(self.session, "rid_driver_documents", tenant_id=self.tenant_id,
               driver_id=driver_id, document_id=doc, requirement=requirement,
               verification_status=status, verified_at=reviewed, rejection_reason=reason)
        return doc

    def training(self, driver_id: uuid.UUID, **values: Any) -> uuid.UUID:
        defaults: dict[str, Any] = {"training_name": "Safety", "training_type": "mandatory",
                                    "status": "completed", "completed_on": date(2026, 1, 1)}
        return insert(self.session, "rid_driver_training", tenant_id=self.tenant_id,
                      driver_id=driver_id, **{**defaults, **values})

    def blacklist(self, driver_id: uuid.UUID, **values: Any) -> uuid.UUID:
        defaults: dict[str, Any] = {"reason": "Fraudulent trips", "category": "fraud",
                                    "starts_at": datetime(2026, 11, 1, tzinfo=UTC)}
        return insert(self.session, "rid_driver_blacklists", tenant_id=self.tenant_id,
                      driver_id=driver_id, **{**defaults, **values})

    def leave(self, driver_id: uuid.UUID, start: datetime, end: datetime,
              status: str = "approved") -> uuid.UUID:
        return insert(self.session, "rid_driver_requests", tenant_id=self.tenant_id,
                      driver_id=driver_id, request_type="leave", status=status,
                      period_start=start, period_end=end, details="{}",
                      reviewed_at=AT if status in ("approved", "rejected") else None)




DRIVER = {
    "first_name": "Karim", "last_name": "Benali", "phone": "06 12 34 56 78",
    "email": "karim@example.com", "date_of_birth": "1990-04-12",
    "licence_number": "L-120475", "licence_country": "FR", "licence_issued_on": "2010-06-01",
    "licence_expires_on": "2033-06-01", "professional_card_type": "vtc",
    "professional_card_number": "VTC-1", "professional_card_expires_on": "2029-03-31",
    "hired_on": "2026-01-05", "status": "active",
}
"""A valid driver body (French national phone format: the test tenants are French)."""


def driver_body(n: int = 0, **values: Any) -> dict[str, Any]:
    """A valid driver body whose e-mail and phone are unique by ``n``."""
    phone = f"06 12 34 {n // 100:02d} {n % 100:02d}"
    return {**DRIVER, "email": f"driver{n}@example.com", "phone": phone, **values}


def committed_insert(sessions: Any, tenant_id: uuid.UUID, table: str, **values: Any) -> uuid.UUID:
    """Insert one row of ``tenant_id`` in its own committed transaction; its id."""
    from fleetcore.core.db import context_session

    with context_session(sessions, DbContext.for_tenant(tenant_id)) as session:
        return insert(session, table, tenant_id=tenant_id, **values)


def document_values(driver_id: uuid.UUID, *, expires_on: date | None = date(2030, 1, 1),
                    entity_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Column values of a document about ``driver_id``."""
    return {"entity_type": "driver", "entity_id": entity_id or driver_id,
            "document_type": "id_card", "file_name": "id.pdf", "storage_backend": "local",
            "storage_key": f"k/{new_id()}", "mime_type": "application/pdf", "size_bytes": 10,
            "sha256": hashlib.sha256(b"x").hexdigest(), "expires_on": expires_on}
