"""Maintenance due: every active schedule that is overdue or due soon, by date or by km."""

from __future__ import annotations

from fastapi.responses import HTMLResponse

from fleetcore.fleet import maintenance_service
from fleetcore.fleet import queries as fleet_queries
from fleetcore.fleet.maintenance_schemas import DueStatus
from fleetcore.fleet.permissions import MaintenanceRead
from fleetcore.web.deps import Ctx
from fleetcore.web.i18n import gettext
from fleetcore.web.routes.base import enum_value, page, page_router

router = page_router()


@router.get("/maintenance")
def maintenance_due(c: Ctx, _: MaintenanceRead, status: str | None = None,
                    cursor: str | None = None) -> HTMLResponse:
    """The due list (the service computes the status from dates and current odometers)."""
    wanted = enum_value(DueStatus, status, "due status")
    rows, next_cursor = maintenance_service.maintenance_due(
        c.session, c.actor, page(cursor), due_status=[wanted] if wanted else None)
    labels = fleet_queries.vehicle_labels(c.session, c.tenant.id,
                                          {v.schedule.vehicle_id for v in rows})
    return c.render("maintenance/due.html", rows=rows, labels=labels, next_cursor=next_cursor,
                    params={"status": wanted},
                    statuses=[(DueStatus.OVERDUE.value, "Overdue"),
                              (DueStatus.DUE_SOON.value, gettext("Due soon"))])
