"""Read-only queries of documents the console shows beside the service's reads (the driver
portal's documents).

Reads only (no writes, no business rule), like the other domains' ``queries.py``.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def expiring_driver_documents(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID,
                              limit: date) -> list[Any]:
    """The driver's live documents that expire by ``limit`` (type, expiry), soonest first."""
    return list(session.execute(text("""
        SELECT document_type, expires_on FROM doc_documents
         WHERE tenant_id = :t AND entity_type = 'driver' AND entity_id = :d
           AND deleted_at IS NULL AND expires_on IS NOT NULL AND expires_on <= :limit
         ORDER BY expires_on"""),
        {"t": tenant_id, "d": driver_id, "limit": limit}).all())


def driver_documents(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID
                     ) -> list[Any]:
    """The driver's live documents with their verification state, by expiry."""
    return list(session.execute(text("""
        SELECT id, document_type, file_name, expires_on, verified, rejected_at, rejection_reason
          FROM doc_documents
         WHERE tenant_id = :t AND entity_type = 'driver' AND entity_id = :d
           AND deleted_at IS NULL
         ORDER BY expires_on NULLS LAST, created_at DESC"""),
        {"t": tenant_id, "d": driver_id}).all())
