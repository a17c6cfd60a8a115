"""Read-only queries of tickets the support pages show beside the service's reads.

Reads only (no writes, no business rule), like the other domains' ``queries.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def ticket_feedback(session: Session, tenant_id: uuid.UUID, ticket_id: uuid.UUID) -> list[Any]:
    """The ticket's ratings (``kind``, ``rating``, ``comment``), by kind."""
    return list(session.execute(text(
        "SELECT kind, rating, comment FROM sup_customer_feedback WHERE tenant_id = :t"
        " AND ticket_id = :id ORDER BY kind"), {"t": tenant_id, "id": ticket_id}).all())


def ticket_tenant(session: Session, ticket_id: uuid.UUID) -> uuid.UUID | None:
    """The fleet of a live ticket (provider context), or None."""
    found: uuid.UUID | None = session.execute(text(
        "SELECT tenant_id FROM sup_tickets WHERE id = :id AND deleted_at IS NULL"),
        {"id": ticket_id}).scalar()
    return found
