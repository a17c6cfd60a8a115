"""Dependencies of console pages: the signed-in member, the console context, the form, CSRF.

Pages take the API's own permission types (``VehiclesRead``…) for the permission check and
:data:`Ctx` for the rest; FastAPI resolves ``current_actor`` once per request for both.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from fleetcore.core.auth import PermissionDenied, TenantRequired
from fleetcore.core.deps import (
    CONSOLE_TENANT_STATE,
    CurrentActor,
    DbSession,
    accept_session_cookie,
)
from fleetcore.web.rendering import Console, console_context, staff_console_context
from fleetcore.web.security import UNSAFE_METHODS, check_csrf, staff_tenant


def console_member(request: Request, session: DbSession, actor: CurrentActor) -> Console:
    """The console of a member working in a tenant (no particular permission)."""
    if actor.tenant_id is None:
        raise TenantRequired(
            "The console works inside a fleet: open one from the Fleetcore staff pages.")
    return console_context(request, session, actor)


Ctx = Annotated[Console, Depends(console_member)]
"""The console of the request (signed-in member, tenant, layout)."""


def console_staff(request: Request, session: DbSession, actor: CurrentActor) -> Console:
    """The console of a Fleetcore staff member on the staff pages (no fleet open there)."""
    if not actor.is_provider:
        raise PermissionDenied("These pages are for Fleetcore staff.")
    return staff_console_context(request, session, actor)


StaffCtx = Annotated[Console, Depends(console_staff)]
"""The console of a staff page (``/app/provider``): staff member, no tenant, staff menu.
Each page still checks its own permission (a ``Require(..., scope="any")`` marker)."""


async def form_data(request: Request) -> FormData:
    """The submitted form (urlencoded or multipart), read once per request."""
    return await request.form()


Form = Annotated[FormData, Depends(form_data)]
"""The request's form fields and files."""


async def csrf_protect(request: Request) -> None:
    """Refuse an unsafe console request without the page's CSRF token (before anything); a
    request that passes may then sign in with the ``__session`` cookie (the API may not)."""
    if request.method.upper() in UNSAFE_METHODS:
        content_type = request.headers.get("content-type", "")
        form = await request.form() if content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")) else None
        check_csrf(request, form)
    accept_session_cookie(request)
    # A staff member's opened fleet rides in a cookie: only a CSRF-checked console request
    # may use it, like the session cookie itself.
    setattr(request.state, CONSOLE_TENANT_STATE, staff_tenant(request))

