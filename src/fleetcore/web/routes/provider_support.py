"""The staff support inbox (``/app/provider/support``): every fleet's open tickets, soonest due
first with the overdue ones marked, and the help-desk conversations no fleet claims. Opening a
ticket opens its fleet in the console (audited like any opening) on the ticket's page."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query
from fastapi.responses import HTMLResponse, Response

from fleetcore.admin import queries as admin_queries
from fleetcore.core.errors import NotFound
from fleetcore.support import queries as support_queries
from fleetcore.support import service as support_service
from fleetcore.support.models import TicketStatus
from fleetcore.support.permissions import StaffSupportRead
from fleetcore.web.deps import Form, StaffCtx
from fleetcore.web.i18n import gettext
from fleetcore.web.rendering import redirect
from fleetcore.web.routes.base import enum_value, options, page_router
from fleetcore.web.security import set_staff_tenant

router = page_router()


@router.get("/provider/support")
def inbox(c: StaffCtx, _: StaffSupportRead,
          status: Annotated[str | None, Query(max_length=20)] = None) -> HTMLResponse:
    """Tickets of every fleet and the unrouted conversations."""
    wanted = enum_value(TicketStatus, status, "status")
    return c.render("provider/support.html",
                    tickets=support_service.staff_inbox(c.session, status=wanted),
                    unrouted=support_service.unrouted_conversations(c.session),
                    statuses=options(TicketStatus), params={"status": wanted})


@router.post("/provider/support/open")
def open_ticket(c: StaffCtx, _: StaffSupportRead, form: Form) -> Response:
    """Open the ticket's fleet and go to the ticket."""
    try:
        ticket_id = uuid.UUID(str(form.get("ticket") or ""))
    except ValueError as exc:
        raise NotFound(gettext("There is no such ticket.")) from exc
    tenant_id = support_queries.ticket_tenant(c.session, ticket_id)
    tenant = (admin_queries.tenants_by_id(c.session, {tenant_id}).get(tenant_id)
              if tenant_id is not None else None)
    if tenant is None:
        raise NotFound(gettext("There is no such ticket."))
    slug = tenant.slug
    response = redirect(c.request, f"/app/support/{ticket_id}")
    set_staff_tenant(c.request, response, slug)
    return response
