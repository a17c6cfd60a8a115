"""The assignment calendar: vehicles as rows, the days of one or two weeks (in the fleet's time
zone) as columns, each day showing who has the car — or that it is free.

A page of vehicles (by plate, ``fleet.service.list_vehicles``) and one query for every
assignment of those vehicles overlapping the window (``fleet.service.assignments_query``, the
API's list query), whatever the number of vehicles: the grid is laid out in memory.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import HTMLResponse

from fleetcore.drivers import queries as drivers_queries
from fleetcore.fleet import queries as fleet_queries
from fleetcore.fleet import service as fleet_service
from fleetcore.fleet.filters import VehicleFilter, VehicleSort
from fleetcore.fleet.models import VehicleAssignment
from fleetcore.fleet.permissions import AssignmentsRead
from fleetcore.web.deps import Ctx
from fleetcore.web.i18n import gettext
from fleetcore.web.routes.base import BadLink, day_start, day_value, page, page_router

router = page_router()

SPANS = (7, 14)
"""How many days the calendar shows (one or two weeks)."""
ROWS = 50
"""Vehicles per page of the calendar."""


@dataclass(frozen=True, slots=True)
class Cell:
    """One vehicle's day: the assignments overlapping it (empty: the car is free), and whether
    the first of them began before this day / runs on after it (drawn as a continuing bar)."""

    day: date
    assignments: tuple[VehicleAssignment, ...]
    continues_from: bool
    continues_to: bool


def lay_out(assignments: list[VehicleAssignment], days: list[date],
            bounds: list[datetime]) -> dict[uuid.UUID, list[Cell]]:
    """The cells of each vehicle that has assignments in the window (``bounds``: the instants
    the days start, plus the end of the last one)."""
    by_vehicle: dict[uuid.UUID, list[VehicleAssignment]] = {}
    for a in sorted(assignments, key=lambda a: a.starts_at):
        by_vehicle.setdefault(a.vehicle_id, []).append(a)
    grid: dict[uuid.UUID, list[Cell]] = {}
    for vehicle_id, rows in by_vehicle.items():
        cells = []
        for i, day in enumerate(days):
            start, end = bounds[i], bounds[i + 1]
            found = tuple(a for a in rows
                          if a.starts_at < end and (a.ends_at is None or a.ends_at > start))
            first = found[0] if found else None
            cells.append(Cell(
                day, found,
                continues_from=first is not None and first.starts_at < start and i > 0,
                continues_to=first is not None and (first.ends_at is None
                                                    or first.ends_at > end)
                and i < len(days) - 1))
        grid[vehicle_id] = cells
    return grid


@router.get("/assignments/calendar")
def assignment_calendar(
    c: Ctx, _: AssignmentsRead, start: str | None = None, days: int = 14,
    q: Annotated[str | None, Query(max_length=100)] = None, cursor: str | None = None,
) -> HTMLResponse:
    """Who has which car on each day of the window."""
    if days not in SPANS:
        raise BadLink(gettext("The calendar shows 7 or 14 days."))
    first = day_value(start, "Start") or c.today - timedelta(days=c.today.weekday())
    window = [first + timedelta(days=i) for i in range(days)]
    zone = c.tenant.zone
    bounds = [day_start(d, zone) for d in [*window, first + timedelta(days=days)]]
    filters = VehicleFilter(q=q.strip() if q and q.strip() else None, sort=VehicleSort.PLATE)
    views, next_cursor = fleet_service.list_vehicles(c.session, c.actor, page(cursor, ROWS),
                                                     filters)
    ids = [v.vehicle.id for v in views]
    assignments = fleet_queries.assignments_between(c.session, c.actor, ids, bounds[0],
                                                    bounds[-1])
    params: dict[str, Any] = {"start": first.isoformat(), "days": days, "q": filters.q}
    return c.render(
        "assignments/calendar.html", views=views, window=window,
        grid=lay_out(assignments, window, bounds), params=params, next_cursor=next_cursor,
        drivers=drivers_queries.driver_names(c.session, c.tenant.id,
                                             {a.driver_id for a in assignments}),
        previous=(first - timedelta(days=days)).isoformat(),
        following=(first + timedelta(days=days)).isoformat(),
        this_week=(c.today - timedelta(days=c.today.weekday())).isoformat())
