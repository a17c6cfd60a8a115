"""Fleetcore staff pages (``/app/provider``): the fleets (tenants) list and the switcher.

Staff sign in through Fleetcore's own Clerk organisation and work on no fleet until they open
one: opening sets a cookie that stands for the API's ``X-Fleetcore-Tenant`` header (only
CSRF-checked console requests read it), and each opening is audited by the database function
that resolves staff, as the header's is. The staff's other pages (billing, CRM, support) are
their own modules under the same path, on :data:`~fleetcore.web.deps.StaffCtx`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.responses import HTMLResponse, Response

from fleetcore.admin import service as admin_service
from fleetcore.admin.models import Tenant, TenantStatus
from fleetcore.admin.permissions import TenantsRead
from fleetcore.core.errors import NotFound
from fleetcore.web.deps import Form, StaffCtx
from fleetcore.web.i18n import gettext
from fleetcore.web.rendering import redirect
from fleetcore.web.routes.base import enum_value, options, page, page_router
from fleetcore.web.security import (
    CONSOLE_PATH,
    STAFF_PATH,
    STAFF_TENANT_COOKIE,
    set_staff_tenant,
)

router = page_router()


@router.get("/provider")
def fleets(c: StaffCtx, _: TenantsRead,
           status: Annotated[str | None, Query(max_length=20)] = None,
           slug: Annotated[str | None, Query(max_length=100)] = None,
           cursor: Annotated[str | None, Query(max_length=500)] = None) -> HTMLResponse:
    """Every fleet on Fleetcore, to open one (the tenant switcher's full list)."""
    wanted = enum_value(TenantStatus, status, "fleet status")
    spec = admin_service.TenantFilter(status=wanted, slug=(slug or "").strip() or None)
    tenants, next_cursor = admin_service.list_tenants(c.session, c.actor, page(cursor), spec)
    return c.render("provider/fleets.html", tenants=tenants, next_cursor=next_cursor,
                    statuses=options(TenantStatus),
                    params={"status": wanted, "slug": slug or None},
                    opened=c.request.cookies.get(STAFF_TENANT_COOKIE))


@router.post("/provider/open")
def open_fleet(c: StaffCtx, _: TenantsRead, form: Form) -> Response:
    """Open a fleet (by slug) in this browser's console; its pages then work on that fleet."""
    slug = str(form.get("tenant") or "").strip()
    tenant = c.session.scalar(admin_service.tenants_query(
        c.actor, admin_service.TenantFilter(slug=slug))) if slug else None
    if not isinstance(tenant, Tenant):
        raise NotFound(gettext("There is no fleet %(slug)s.", slug=repr(slug)) if slug
                       else gettext("Choose a fleet to open."))
    response = redirect(c.request, CONSOLE_PATH, flash=gettext("You are working in %(name)s.",
                                                               name=tenant.name))
    set_staff_tenant(c.request, response, tenant.slug)
    return response


@router.post("/provider/leave")
def leave_fleet(c: StaffCtx) -> Response:
    """Close the opened fleet: back to the staff pages."""
    response = redirect(c.request, STAFF_PATH, flash=gettext("No fleet is open."))
    set_staff_tenant(c.request, response, None)
    return response
