"""Read-only label queries of the drivers the console shows next to rows of other domains:
names and the choices of a select.

Reads only (no writes, no business rule), like ``filters.py``: each runs under the request's
row-level security and names the tenant as well, and answers for a whole page at once (one
statement for any number of rows), so no page runs a query per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fleetcore.core.choices import Choice
from fleetcore.drivers.models import Driver, DriverStatus


def driver_names(session: Session, tenant_id: uuid.UUID,
                 ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``First Last`` of each driver id (deleted ones included)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Driver.id, Driver.first_name, Driver.last_name)
        .where(Driver.tenant_id == tenant_id, Driver.id.in_(list(ids))))
    return {did: f"{first} {last}" for did, first, last in rows}


def driver_choices(session: Session, tenant_id: uuid.UUID, *,
                   status: str | None = DriverStatus.ACTIVE.value) -> list[Choice]:
    """The live drivers (active ones by default) to pick from, by name."""
    stmt = (select(Driver.id, Driver.first_name, Driver.last_name)
            .where(Driver.tenant_id == tenant_id, Driver.deleted_at.is_(None))
            .order_by(Driver.last_name, Driver.first_name, Driver.id))
    if status is not None:
        stmt = stmt.where(Driver.status == status)
    return [Choice(did, f"{last}, {first}") for did, first, last in session.execute(stmt)]


# --- the driver portal (one driver's own rows) ----------------------------------------------


def driver_requests(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID
                    ) -> list[Any]:
    """The driver's latest requests (50), newest first."""
    return list(session.execute(text("""
        SELECT request_type, status, period_start, period_end, amount, currency, reason,
               created_at
          FROM rid_driver_requests WHERE tenant_id = :t AND driver_id = :d
         ORDER BY created_at DESC LIMIT 50"""),
        {"t": tenant_id, "d": driver_id}).all())


def portal_driver(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID) -> Any | None:
    """The live driver a portal user is linked to (``id``, names, preferred language), or
    None."""
    return session.execute(text(
        "SELECT id, first_name, last_name, preferred_language FROM rid_drivers"
        " WHERE tenant_id = :t AND id = :d AND deleted_at IS NULL"),
        {"t": tenant_id, "d": driver_id}).one_or_none()
