"""Global search (the box in the top bar): vehicles by plate or VIN, drivers by name, e-mail or
phone, platform accounts by their identifier on the platform — each kind only for members who
may read it, at most a few rows of each, each row linking to its page.

Every kind is the domain's own list query with the domain's own matching rule (one statement
per kind, under the request's row-level security, so another fleet's rows never appear):

* vehicles: ``fleet.service.list_vehicles`` with ``VehicleFilter.q`` (plate, with or without
  its separators, or VIN);
* drivers: ``drivers.service.list_drivers`` with ``DriverFilter.q`` (names, e-mail, and the
  phone's significant digits — so ``06 39 98 00 01`` finds ``+33639980001``);
* platform accounts: the text read as the platform identifier it looks like (UUID, e-mail,
  phone in the fleet's country: ``trips.service.normalise_account_id``, as imports store it)
  and matched exactly, the platform's and the driver's names joined in.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import HTMLResponse

from fleetcore.core.pagination import PageParams
from fleetcore.drivers import service as drivers_service
from fleetcore.drivers.filters import DriverFilter, DriverSort
from fleetcore.fleet import service as fleet_service
from fleetcore.fleet.filters import VehicleFilter, VehicleSort
from fleetcore.trips import queries as trips_queries
from fleetcore.trips import service as trips_service
from fleetcore.web.deps import Ctx
from fleetcore.web.rendering import Console
from fleetcore.web.routes.base import page_router

router = page_router()

SHOWN = 10
"""Rows of each kind on the results page (a "more" link opens the kind's own list)."""
MIN_CHARS = 2


def _accounts(c: Console, text: str) -> list[trips_queries.AccountHit]:
    """The live accounts whose identifier is ``text`` read as the platform identifier it looks
    like — one statement: the service's account query with the two names joined."""
    kind = trips_service.detect_account_kind(text)
    try:
        ref = trips_service.normalise_account_id(text, kind, c.tenant.country)
    except ValueError:
        return []
    return trips_queries.account_hits(c.session, c.actor, ref, limit=SHOWN)


@router.get("/search")
def search(c: Ctx, q: Annotated[str | None, Query(max_length=100)] = None) -> HTMLResponse:
    """Vehicles, drivers and platform accounts matching ``q`` (those the member may read)."""
    text = (q or "").strip()
    context: dict[str, Any] = {"q": text, "too_short": 0 < len(text) < MIN_CHARS,
                               "vehicles": None, "drivers": None, "accounts": None,
                               "more_vehicles": False, "more_drivers": False}
    if len(text) >= MIN_CHARS:
        if c.can("vehicles:read"):
            context["vehicles"], more = fleet_service.list_vehicles(
                c.session, c.actor, PageParams(limit=SHOWN),
                VehicleFilter(q=text, sort=VehicleSort.PLATE))
            context["more_vehicles"] = more is not None
        if c.can("drivers:read"):
            context["drivers"], more = drivers_service.list_drivers(
                c.session, c.actor, PageParams(limit=SHOWN),
                DriverFilter(q=text, sort=DriverSort.NAME))
            context["more_drivers"] = more is not None
        if c.can("trips:read"):
            context["accounts"] = _accounts(c, text)
    return c.render("search.html", **context)
