"""A rolled-back tenant for the scheduling service tests: a vehicle, drivers, a member."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, bind_context
from fleetcore.core.orm import new_id


def insert(session: Session, table: str, **values: Any) -> uuid.UUID:
    """Insert one row with plain SQL; its id."""
    values.setdefault("id", new_id())
    columns = ", ".join(values)
    params = ", ".join(f":{c}" for c in values)
    session.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)
    return values["id"]  # type: ignore[no-any-return]


@dataclass
class World:
    session: Session
    tenant_id: uuid.UUID
    actor: Actor
    make_id: uuid.UUID
    member_id: uuid.UUID

    def vehicle(self, plate: str | None = None) -> uuid.UUID:
        return insert(self.session, "flt_vehicles", tenant_id=self.tenant_id,
                      make_id=self.make_id, licence_plate=plate or uuid.uuid4().hex[:8].upper(),
                      country="FR", year=2023, fuel_type="hybrid", ownership_type="owned")

    def driver(self, **values: Any) -> uuid.UUID:
        return insert(self.session, "rid_drivers", tenant_id=self.tenant_id,
                      **{"first_name": "Ana", "last_name": "Borg", "status": "active", **values})

    def leave(self, driver_id: uuid.UUID, start: datetime, end: datetime,
              status: str = "approved") -> uuid.UUID:
        return insert(self.session, "rid_driver_requests", tenant_id=self.tenant_id,
                      driver_id=driver_id, request_type="leave", status=status,
                      period_start=start, period_end=end,
                      reviewed_at=start if status in ("approved", "rejected") else None)

    def blacklist(self, driver_id: uuid.UUID, start: datetime,
                  end: datetime | None = None) -> uuid.UUID:
        return insert(self.session, "rid_driver_blacklists", tenant_id=self.tenant_id,
                      driver_id=driver_id, reason="Unpaid fines", category="payment",
                      starts_at=start, ends_at=end)


def make_world(db: Session) -> World:
    """A tenant in Europe/Paris with a member; the session bound to it."""
    bind_context(db, DbContext.system())
    tag = uuid.uuid4().hex[:10]
    tenant = insert(db, "adm_tenants", name="Scheduling test", slug=f"s-{tag}", country="FR",
                    default_currency="EUR", timezone="Europe/Paris")
    bind_context(db, DbContext.for_tenant(tenant))
    make = insert(db, "dir_car_makes", tenant_id=tenant, name=f"Make {tag}")
    member = insert(db, "adm_members", tenant_id=tenant, email=f"m-{tag}@example.com",
                    status="active")
    actor = Actor(type=ActorType.MEMBER, id=member, clerk_user_id=f"user_{tag}",
                  tenant_id=tenant, tenant_status="active", permissions=frozenset({"*"}))
    return World(db, tenant, actor, make, member)
