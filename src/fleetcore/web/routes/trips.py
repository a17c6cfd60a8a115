"""Trips: the fleet's rides by platform, driver, vehicle, status and period (days in the fleet's
time zone), newest first, and the same selection as the API's CSV.

The list is ``trips.service.list_trips`` with the API's :class:`TripFilter`; the download is the
API's own export (``trips.api.export_trips``: same query, columns and file), so the console
never defines a second set of CSV columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.responses import HTMLResponse, StreamingResponse

from fleetcore.drivers import queries as drivers_queries
from fleetcore.fleet import queries as fleet_queries
from fleetcore.reference import queries as reference_queries
from fleetcore.trips import api as trips_api
from fleetcore.trips import service as trips_service
from fleetcore.trips.filters import TripFilter
from fleetcore.trips.models import TripStatus
from fleetcore.trips.permissions import TripsRead
from fleetcore.web.deps import Ctx
from fleetcore.web.i18n import gettext
from fleetcore.web.rendering import Console
from fleetcore.web.routes.base import (
    BadLink,
    day_start,
    day_value,
    enum_value,
    options,
    page,
    page_router,
    uuid_value,
)

router = page_router()


@dataclass(frozen=True, slots=True)
class TripQuery:
    """What the trips page was asked for: the filter and the link parameters that carry it."""

    spec: TripFilter
    params: dict[str, Any]


def trip_query(c: Console, *, platform: str | None, driver_id: str | None,
               vehicle_id: str | None, status: str | None, since: str | None,
               until: str | None) -> TripQuery:
    """The :class:`TripFilter` of the page's query string; ``since``/``until`` are local days
    (both included) turned into the instants the API filters ``ended_at`` with."""
    first, last = day_value(since, "From"), day_value(until, "To")
    if first and last and last < first:
        raise BadLink(gettext("The period ends before it starts."))
    zone = c.tenant.zone
    spec = TripFilter(
        platform_id=uuid_value(platform, "platform"),
        driver_id=uuid_value(driver_id, "driver"),
        vehicle_id=uuid_value(vehicle_id, "vehicle"),
        status=enum_value(TripStatus, status, "trip status"),
        ended_since=day_start(first, zone) if first else None,
        ended_before=day_start(last + timedelta(days=1), zone) if last else None,
    )
    params = {"platform": spec.platform_id, "driver_id": spec.driver_id,
              "vehicle_id": spec.vehicle_id, "status": spec.status,
              "since": first.isoformat() if first else None,
              "until": last.isoformat() if last else None}
    return TripQuery(spec, params)


@router.get("/trips")
def trip_list(
    c: Ctx, _: TripsRead, platform: str | None = None, driver_id: str | None = None,
    vehicle_id: str | None = None, status: str | None = None, since: str | None = None,
    until: str | None = None, cursor: str | None = None,
) -> HTMLResponse:
    """Trips, newest first, named by platform, driver and plate, with their money."""
    asked = trip_query(c, platform=platform, driver_id=driver_id, vehicle_id=vehicle_id,
                       status=status, since=since, until=until)
    trips, next_cursor = trips_service.list_trips(c.session, c.actor, page(cursor), asked.spec)
    platforms = reference_queries.platform_labels(c.session)
    context: dict[str, Any] = {
        "trips": trips, "next_cursor": next_cursor, "params": asked.params,
        "platforms": [(str(p.id), p.name) for p in platforms],
        "platform_names": {p.id: p.name for p in platforms},
        "drivers": drivers_queries.driver_names(c.session, c.tenant.id,
                                                {t.driver_id for t in trips if t.driver_id}),
        "vehicles": fleet_queries.vehicle_labels(c.session, c.tenant.id,
                                                 {t.vehicle_id for t in trips if t.vehicle_id}),
        "statuses": options(TripStatus),
        "driver_choices": [(str(ch.value), ch.label) for ch in
                           drivers_queries.driver_choices(c.session, c.tenant.id, status=None)],
        "vehicle_choices": [(str(ch.value), ch.label) for ch in
                            fleet_queries.vehicle_choices(c.session, c.tenant.id, status=None)],
    }
    template = "trips/_table.html" if c.is_htmx else "trips/list.html"
    return c.render(template, **context)


@router.get("/trips/export.csv")
def trip_export(
    c: Ctx, _: TripsRead, platform: str | None = None, driver_id: str | None = None,
    vehicle_id: str | None = None, status: str | None = None, since: str | None = None,
    until: str | None = None,
) -> StreamingResponse:
    """The filtered trips as the API's CSV (``GET /v1/trips/export.csv``)."""
    spec = trip_query(c, platform=platform, driver_id=driver_id, vehicle_id=vehicle_id,
                      status=status, since=since, until=until).spec
    return trips_api.export_trips(
        c.actor, c.session, platform_id=spec.platform_id, driver_id=spec.driver_id,
        vehicle_id=spec.vehicle_id, trip_status=TripStatus(spec.status) if spec.status else None,
        ended_since=spec.ended_since, ended_before=spec.ended_before)

