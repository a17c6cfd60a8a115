"""Request-scoped dependencies: one transaction per request, the caller, and permission checks.

Routes take typed ``Annotated`` dependencies::

    def list_members(actor: Annotated[Actor, require("members:read")], session: DbSession): ...

``require`` authenticates the request, binds the tenant/actor/request context on the request's
session *before any query of the route*, and checks the permission. The session commits when
the route returns and rolls back when it raises (``scope="function"``: before the response is
sent, so a failed commit is never reported as a success).
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from fleetcore.core.auth import (
    TENANT_HEADER,
    Actor,
    PermissionDenied,
    RequestInfo,
    TenantRequired,
    TokenVerifier,
    bearer_token,
    resolve_actor,
    verifier_for,
)
from fleetcore.core.errors import PayloadTooLarge, Unauthorized
from fleetcore.settings import Settings

Scope = Literal["tenant", "any"]


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session: one transaction, committed on success, rolled back on error.

    Opened on the event loop (a session takes no connection until its first statement); the
    commit, or the rollback, and the close are one trip to a worker thread.
    """
    factory: sessionmaker[Session] = request.app.state.sessions
    session = factory()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_rollback_and_close, session)
        raise
    await run_in_threadpool(_commit_and_close, session)


def _commit_and_close(session: Session) -> None:
    with session:
        try:
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _rollback_and_close(session: Session) -> None:
    with session:
        session.rollback()


DbSession = Annotated[Session, Depends(get_session, scope="function")]
"""The request's session (its context is bound once the actor is known)."""


def _verifier(request: Request) -> TokenVerifier | None:
    state = request.app.state
    if not hasattr(state, "token_verifier"):
        settings: Settings = state.settings
        state.token_verifier = verifier_for(settings)
    verifier: TokenVerifier | None = state.token_verifier
    return verifier


def _client_ip(request: Request) -> str | None:
    """The peer's IP address (the audit column is ``inet``; a test client or socket has none)."""
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


CONSOLE_TENANT_STATE = "console_tenant"
"""Where the console puts the fleet a staff member opened (its cookie, read only after the
page's CSRF check): it stands for the ``X-Fleetcore-Tenant`` header an API client sends."""


def request_info(request: Request) -> RequestInfo:
    """The audited facts of ``request``."""
    return RequestInfo(
        method=request.method,
        path=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        ip=_client_ip(request),
        user_agent=request.headers.get("user-agent"),
        tenant_header=request.headers.get(TENANT_HEADER) or getattr(
            request.state, CONSOLE_TENANT_STATE, None),
    )


SESSION_COOKIE = "__session"
"""Clerk's session cookie: it authenticates console pages, never ``/v1``."""
_COOKIE_ACCEPTED = "session_cookie_accepted"


def accept_session_cookie(request: Request) -> None:
    """Let ``request`` authenticate with the ``__session`` cookie.

    A browser attaches that cookie to any request to this host, also one another site's page
    starts, so only a route that has checked the request came from its own page (the console's
    CSRF token) may call this. ``/v1`` takes ``Authorization: Bearer`` only.
    """
    setattr(request.state, _COOKIE_ACCEPTED, True)


def _session_token(request: Request) -> str:
    authorization = request.headers.get("authorization")
    if getattr(request.state, _COOKIE_ACCEPTED, False):
        return bearer_token(authorization, request.cookies.get(SESSION_COOKIE))
    if not authorization and SESSION_COOKIE in request.cookies:
        raise Unauthorized("The API takes 'Authorization: Bearer <session token>'; the "
                           "console's session cookie is not accepted here.")
    return bearer_token(authorization, None)


def current_actor(request: Request, session: DbSession) -> Actor:
    """Authenticate the request and bind its database context."""
    token = _session_token(request)
    verifier = _verifier(request)
    if verifier is None:
        raise Unauthorized(
            "Authentication is not configured on this server (CLERK_JWT_KEY or CLERK_JWKS_URL)."
        )
    claims = verifier.verify(token)
    settings: Settings = request.app.state.settings
    actor = resolve_actor(session, claims, request_info(request), settings)
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor, scope="function")]
"""The authenticated caller, with no particular permission required."""


def require(
    permission: str, *, scope: Scope = "tenant"
) -> Callable[..., Coroutine[Any, Any, Actor]]:
    """A dependency that authenticates and checks ``permission`` (``resource:action``).

    ``scope="tenant"`` (default) also requires a tenant: provider staff must open one with the
    ``X-Fleetcore-Tenant`` header, so an all-tenant context never serves tenant endpoints.
    """

    async def check(actor: CurrentActor) -> Actor:  # async: no I/O, no thread trip
        if scope == "tenant" and actor.tenant_id is None:
            raise TenantRequired(
                f"This endpoint works inside a tenant: send the {TENANT_HEADER} header."
            )
        if not actor.can(permission):
            raise PermissionDenied(f"This needs the permission {permission!r}.",
                                   permission=permission)
        return actor

    check.__name__ = f"require_{permission.replace(':', '_')}"
    check.required_permission = permission  # type: ignore[attr-defined]
    return check


def Require(permission: str, *, scope: Scope = "tenant") -> object:  # noqa: N802 - reads as a type
    """``Annotated[Actor, Require("vehicles:write")]``: the dependency marker for a route."""
    return Depends(require(permission, scope=scope), scope="function")


MAX_WEBHOOK_BODY_BYTES = 1024 * 1024
"""A webhook delivery (Clerk, Resend, …) is a few KB; a larger body is refused before its
signature is checked, so an unsigned sender cannot make the process hold megabytes."""


async def bounded_body(request: Request, max_bytes: int = MAX_WEBHOOK_BODY_BYTES) -> bytes:
    """The request body, read no further than ``max_bytes`` (413 problem beyond)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    limit = f"{max_bytes // 1024} KB"
    return PayloadTooLarge(f"The body is larger than {limit}.",
                           errors=[{"field": "body", "message": f"larger than {limit}"}])
