"""Sign-in and sign-out.

Production: ``/app/sign-in`` sends people to Clerk's hosted sign-in (``CLERK_SIGN_IN_URL``),
which brings them back with Clerk's ``__session`` cookie. Development without a Clerk key: the
page lists the members of a tenant; picking one mints a session token with the local
development key — what ``fleetcore token`` does — and sets it as ``__session``. Either way
every later request is verified by ``current_actor``, like an API call.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response

from fleetcore.admin import queries as admin_queries
from fleetcore.admin.service import demo_staff_subject, token_subject
from fleetcore.core.auth import (
    DEV_AUTHORIZED_PARTY,
    dev_key_path,
    ensure_dev_private_key,
    mint_session_token,
)
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.errors import NotFound, Problem
from fleetcore.demo.presence import MAIN_SLUG
from fleetcore.settings import Settings
from fleetcore.web.deps import Form
from fleetcore.web.errors import SIGN_IN_PATH
from fleetcore.web.i18n import gettext
from fleetcore.web.rendering import redirect, render
from fleetcore.web.routes.base import page_router
from fleetcore.web.security import (
    DEMO_SESSION_TTL,
    SignInMode,
    clear_session_cookie,
    clerk_sign_in_redirect,
    rotate_csrf_nonce,
    safe_next,
    set_console_cookies,
    set_session_cookie,
    sign_in_mode,
)

router = page_router()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/sign-in")
def sign_in_page(
    request: Request,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
    tenant: Annotated[str | None, Query(max_length=100)] = None,
    expired: bool = False,
    signed_out: bool = False,
) -> Response:
    """Clerk's hosted sign-in, or the demo member picker in development."""
    settings = _settings(request)
    target = safe_next(next_path)
    mode = sign_in_mode(settings)
    if mode is SignInMode.CLERK and not signed_out:
        return RedirectResponse(clerk_sign_in_redirect(settings, request, target),
                                status_code=303)
    tenants: list[tuple[str, str]] = []
    members: list[admin_queries.DemoMember] = []
    chosen = None
    if mode is SignInMode.DEMO:
        with context_session(request.app.state.sessions, DbContext.system()) as session:
            tenants = admin_queries.demo_tenants(session)
            slugs = [slug for slug, _ in tenants]
            chosen = tenant if tenant in slugs else (
                MAIN_SLUG if MAIN_SLUG in slugs else (slugs[0] if slugs else None))
            members = admin_queries.demo_members(session, chosen) if chosen else []
    return render(request, "auth/sign_in.html", mode=mode.value, next_path=target,
                  tenants=tenants, chosen=chosen, members=members, expired=expired,
                  signed_out=signed_out, clerk_url=settings.clerk_sign_in_url, error=None)


@router.post("/sign-in")
def demo_sign_in(request: Request, form: Form) -> Response:
    """Sign in as a demo member (development only): mint a token, set ``__session``."""
    settings = _settings(request)
    if sign_in_mode(settings) is not SignInMode.DEMO:
        raise NotFound(gettext("The demo sign-in exists only in development without a Clerk key."))
    tenant = str(form.get("tenant") or "")
    email = str(form.get("email") or "")
    target = safe_next(str(form.get("next") or ""))
    staff_org = settings.provider_org_id if form.get("staff") else None
    try:
        with context_session(request.app.state.sessions, DbContext.system()) as session:
            subject = (demo_staff_subject(session, staff_org) if staff_org else
                       token_subject(session, tenant_slug=tenant, email=email or None))
    except Problem as problem:
        return render(request, "auth/sign_in.html", status_code=problem.status,
                      mode=SignInMode.DEMO.value, next_path=target, tenants=[], chosen=None,
                      members=[], expired=False, signed_out=False, clerk_url=None,
                      error=problem.detail)
    parties = settings.clerk_authorized_parties
    token = mint_session_token(
        ensure_dev_private_key(dev_key_path(settings)), user_id=subject.clerk_user_id,
        org_id=subject.clerk_organization_id, org_slug=subject.tenant_slug or None,
        org_role=subject.roles[0] if subject.roles else "member", ttl=DEMO_SESSION_TTL,
        authorized_party=parties[0] if parties else DEV_AUTHORIZED_PARTY,
    )
    rotate_csrf_nonce(request)
    response = redirect(request, target, flash=gettext("Signed in as %(email)s.",
                                                       email=subject.email))
    set_session_cookie(request, response, token, DEMO_SESSION_TTL)
    return response


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    """Forget the session cookie and the page's CSRF nonce."""
    rotate_csrf_nonce(request)
    response = RedirectResponse(f"{SIGN_IN_PATH}?signed_out=1", status_code=303)
    clear_session_cookie(request, response)
    set_console_cookies(request, response)
    return response
