"""Read-only label queries of the reference catalogue (car makes and models, platforms)
the console shows next to rows of other domains.

Reads only (no writes, no business rule), like ``filters.py``: each runs under the request's
row-level security and names the tenant as well, and answers for a whole page at once (one
statement for any number of rows), so no page runs a query per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetcore.reference.models import CarMake, CarModel, Platform


def catalogue_names(session: Session, make_ids: Collection[uuid.UUID],
                    model_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Names of car makes and models (global or the tenant's own, as RLS shows them)."""
    names: dict[uuid.UUID, str] = {}
    if make_ids:
        names.update(session.execute(
            select(CarMake.id, CarMake.name).where(CarMake.id.in_(list(make_ids)))).all())
    if model_ids:
        names.update(session.execute(
            select(CarModel.id, CarModel.name).where(CarModel.id.in_(list(model_ids)))
        ).all())
    return names


@dataclass(frozen=True, slots=True)
class PlatformLabel:
    """A ride-hailing platform as the revenue pages name and pick it."""

    id: uuid.UUID
    code: str
    name: str


def platform_labels(session: Session, *, ids: Collection[uuid.UUID] | None = None,
                    codes: Collection[str] | None = None) -> list[PlatformLabel]:
    """The platforms of ``ids`` (labels of a page's rows) or of ``codes`` (the platforms the
    report reader knows, for the selects), by name: one query on the global catalogue.
    """
    stmt = select(Platform.id, Platform.code, Platform.name).order_by(Platform.name,
                                                                      Platform.code)
    if ids is not None:
        if not ids:
            return []
        stmt = stmt.where(Platform.id.in_(list(ids)))
    if codes is not None:
        if not codes:
            return []
        stmt = stmt.where(Platform.code.in_(list(codes)))
    return [PlatformLabel(*row) for row in session.execute(stmt)]
