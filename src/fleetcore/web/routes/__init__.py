"""The console's routes, one module per page group, under ``/app``.

Every route is a :class:`~fleetcore.web.errors.ConsoleRoute` (problems become pages), stays out
of the OpenAPI document, and checks the CSRF token of unsafe requests before anything else. A
new page group: a module with ``router = page_router()``, added to :data:`PAGE_GROUPS`, and a
menu entry in :mod:`fleetcore.web.navigation`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from fleetcore.core.errors import NotFound
from fleetcore.web.deps import csrf_protect
from fleetcore.web.errors import ConsoleRoute
from fleetcore.web.i18n import gettext
from fleetcore.web.routes import (
    assignments,
    audit,
    auth,
    billing,
    calendar,
    dashboard,
    documents,
    drivers,
    fines,
    imports,
    invoices,
    ledger,
    live_map,
    maintenance,
    members,
    payouts,
    provider,
    provider_billing,
    provider_crm,
    provider_support,
    reconciliations,
    search,
    settings,
    settlements,
    shifts,
    statements,
    support,
    tasks,
    tolls,
    trips,
    vehicle_records,
    vehicles,
)
from fleetcore.web.routes.base import page_router

# vehicle_records after vehicles: its /vehicles/{id}/{kind} routes come after the fixed ones;
# calendar before assignments (its fixed path before their /assignments/{id}).
PAGE_GROUPS = (auth, dashboard, search, vehicles, vehicle_records, drivers, calendar,
               assignments, shifts, documents, maintenance, tasks, live_map, trips, imports,
               reconciliations, settlements, statements, ledger, payouts, invoices, tolls, fines,
               members, settings, audit, billing, support, provider, provider_billing,
               provider_crm, provider_support)


def console_router() -> APIRouter:
    """All console pages under ``/app``, then a not-found page for any other ``/app`` path."""
    router = APIRouter(prefix="/app", route_class=ConsoleRoute, include_in_schema=False,
                       dependencies=[Depends(csrf_protect)])
    router.add_api_route("", dashboard.dashboard, methods=["GET"])
    for group in PAGE_GROUPS:
        router.include_router(group.router)
    fallback = page_router()

    @fallback.api_route("/{rest:path}", methods=["GET", "POST"])
    def not_found(rest: str) -> None:
        raise NotFound(gettext("There is no such page in the console."))

    router.include_router(fallback)
    return router


__all__ = ["console_router", "page_router"]
