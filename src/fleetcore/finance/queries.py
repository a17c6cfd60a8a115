"""Read-only queries of payments and charges the console shows beside the services' reads
(the driver portal's payments, tolls and fines).

Reads only (no writes, no business rule), like the other domains' ``queries.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def driver_payments(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID
                    ) -> list[Any]:
    """The driver's latest payments (100), newest first."""
    return list(session.execute(text("""
        SELECT gross, deductions, net, currency, status, paid_at, created_at
          FROM fin_driver_payments WHERE tenant_id = :t AND driver_id = :d
         ORDER BY created_at DESC LIMIT 100"""),
        {"t": tenant_id, "d": driver_id}).all())


def driver_tolls(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID
                 ) -> list[Any]:
    """The driver's latest tolls (100), newest first."""
    return list(session.execute(text("""
        SELECT occurred_at, operator, gate, plate, amount, currency, status
          FROM fin_toll_transactions WHERE tenant_id = :t AND driver_id = :d
         ORDER BY occurred_at DESC LIMIT 100"""),
        {"t": tenant_id, "d": driver_id}).all())


def driver_fines(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID
                 ) -> list[Any]:
    """The driver's latest live fines (100), newest first, with the scan's document."""
    return list(session.execute(text("""
        SELECT offence_at, offence_type, offence_place, plate, amount, currency, status,
               scan_document_id
          FROM fin_traffic_fines WHERE tenant_id = :t AND driver_id = :d
           AND deleted_at IS NULL
         ORDER BY offence_at DESC LIMIT 100"""),
        {"t": tenant_id, "d": driver_id}).all())
