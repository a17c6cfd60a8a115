"""Dependencies of console pages: the signed-in member, the console context, the form, CSRF.

Pages take the API's own permission types (``VehiclesRead``…) for the permission check and
:data:`Ctx` for the rest; FastAPI resolves ``current_actor`` once per request for both.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from fleetcore.core.auth import TENANT_HEADER, TenantRequired
from fleetcore.core.deps import CurrentActor, DbSession, accept_session_cookie
from fleetcore.web.rendering import Console, console_context
from fleetcore.web.security import UNSAFE_METHODS, check_csrf


def console_member(request: Request, session: DbSession, actor: CurrentActor) -> Console:
    """The console of a member working in a tenant (no particular permission)."""
    if actor.tenant_id is None:
        raise TenantRequired(
            f"The console works inside a fleet: Fleetcore staff open one with {TENANT_HEADER}.")
    return console_context(request, session, actor)


Ctx = Annotated[Console, Depends(console_member)]
"""The console of the request (signed-in member, tenant, layout)."""


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

