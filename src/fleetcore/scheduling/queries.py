"""Read-only queries of shifts the console shows beside the service's reads (the driver
portal's week).

Reads only (no writes, no business rule), like the other domains' ``queries.py``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def driver_shifts_between(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID,
                          start: datetime, end: datetime) -> list[Any]:
    """The driver's shifts overlapping ``[start, end)``, with the car's plate."""
    return list(session.execute(text("""
        SELECT s.starts_at, s.ends_at, s.status, v.licence_plate FROM sch_shifts s
          LEFT JOIN flt_vehicles v ON v.tenant_id = s.tenant_id AND v.id = s.vehicle_id
         WHERE s.tenant_id = :t AND s.driver_id = :d AND s.deleted_at IS NULL
           AND s.starts_at < :end AND s.ends_at > :start
         ORDER BY s.starts_at"""),
        {"t": tenant_id, "d": driver_id, "start": start, "end": end}).all())
