"""Read-only, set-based queries of revenue the console shows: the dashboard's weekly revenue
per platform and where a settlement line's report row comes from.

Reads only (no writes, no business rule), like ``filters.py``: each runs under the request's
row-level security and names the tenant as well, and answers for a whole page at once (one
statement for any number of rows), so no page runs a query per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, select, text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.revenue.models import ImportRow, ReconciliationItem, RevenueImport
from fleetcore.revenue.reconciliation_service import ItemFilter, items_query


@dataclass(frozen=True, slots=True)
class WeeklyRevenue:
    """What the drivers earned on one platform in one week (the tenant's weeks)."""

    platform: str
    week: date
    currency: str
    gross: Decimal
    net: Decimal
    trips: int


_WEEKLY_REVENUE = text(
    """
    SELECT p.name AS platform,
           (d.period_start AT TIME ZONE :tz)::date AS week,
           d.currency,
           COALESCE(sum(d.gross), 0) AS gross,
           COALESCE(sum(d.net), 0) AS net,
           COALESCE(sum(d.trip_count), 0) AS trips
      FROM rev_driver_revenues d
      JOIN dir_platforms p ON p.id = d.platform_id
     WHERE d.tenant_id = :tenant_id
       AND d.period_start >= :since AND d.period_start < :until
     GROUP BY 1, 2, 3
     ORDER BY 2, 1
    """
)


def weekly_revenue(session: Session, tenant_id: uuid.UUID, timezone: str, since: datetime,
                   until: datetime) -> list[WeeklyRevenue]:
    """Gross fares, driver net and trips per platform and week, summed over the drivers'
    revenues (``rev_driver_revenues``: one row per driver, platform and tenant week, computed
    from the committed platform reports — the figures settlements start from): one aggregate
    query. A week is keyed by its local Monday, as ``period_start`` is that Monday's local
    midnight.
    """
    rows = session.execute(_WEEKLY_REVENUE, {"tenant_id": tenant_id, "tz": timezone,
                                             "since": since, "until": until})
    return [WeeklyRevenue(r.platform, r.week, r.currency, Decimal(r.gross), Decimal(r.net),
                          int(r.trips)) for r in rows]


@dataclass(frozen=True, slots=True)
class ImportRowSource:
    """Where a settlement line's report row comes from: the import, its file and line."""

    row_id: uuid.UUID
    import_id: uuid.UUID
    file_name: str
    row_number: int
    external_trip_id: str | None
    description: str | None


def import_row_sources(session: Session, tenant_id: uuid.UUID,
                       row_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, ImportRowSource]:
    """The import, file and line number of each committed report row, in one query (a
    settlement line consumed as ``import_row:<id>`` links back to what the platform said).
    """
    if not row_ids:
        return {}
    rows = session.execute(
        select(ImportRow.id, ImportRow.import_id, RevenueImport.file_name, ImportRow.row_number,
               ImportRow.external_trip_id, ImportRow.description)
        .join(RevenueImport, and_(RevenueImport.tenant_id == ImportRow.tenant_id,
                                  RevenueImport.id == ImportRow.import_id))
        .where(ImportRow.tenant_id == tenant_id, ImportRow.id.in_(list(row_ids))))
    return {row[0]: ImportRowSource(*row) for row in rows}


def reconciliation_items_export(actor: Actor, reconciliation_id: uuid.UUID,
                                spec: ItemFilter) -> Select[Any]:
    """A run's items, filtered, by kind then id: the statement of its CSV download."""
    return items_query(actor, reconciliation_id, spec).order_by(ReconciliationItem.kind,
                                                                 ReconciliationItem.id)
