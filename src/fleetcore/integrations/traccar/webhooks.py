"""``POST /webhooks/traccar/positions`` and ``/webhooks/traccar/events``: Traccar forwarding.

Both authenticate with the tenant's forwarding token in ``Authorization: Bearer …`` (Traccar's
``forward.header`` / ``event.forward.header``): a missing or unknown token is a 401 problem and
writes nothing. A body that is not a Traccar forward is a 400. Everything else is acknowledged
with 200 — duplicates, unknown event types, devices no vehicle names yet — because Traccar
counts any other answer as a failure (and event forwarding never retries). Effects are
idempotent (``fleet/gps_service.py``), so redeliveries and reordering change nothing twice.

Both are served by :class:`ForwardingLane` ahead of the API's middleware stack (decision 0005);
the routes below declare them for ``/openapi.json`` and serve them if the lane is not installed.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from fleetcore.core.db import ActorType, DbContext, bind_context
from fleetcore.core.errors import Problem, Unauthorized, problem_response
from fleetcore.fleet import gps_service
from fleetcore.integrations.traccar import mapping

logger = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])


class InvalidDelivery(Problem):
    status, slug, title = 400, "invalid-webhook", "The webhook delivery is not valid"


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        raise Unauthorized("Send the tenant's Traccar token as 'Authorization: Bearer <token>' "
                           "(forward.header / event.forward.header).")
    return token


def _unknown_token() -> Unauthorized:
    return Unauthorized("This token is not a Traccar forwarding token of any fleet.")


def _document(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _context(tenant_id: Any, request: Request) -> DbContext:
    return DbContext.for_tenant(tenant_id, actor_type=ActorType.INTEGRATION,
                                request_id=getattr(request.state, "request_id", None))


def _check_token(sessions: sessionmaker[Session], token: str) -> bool:
    with sessions() as session, session.begin():
        return gps_service.tenant_for_token(session, token) is not None


def _invalid(sessions: sessionmaker[Session], token: str, exc: Exception) -> Problem:
    """A bad body from a known sender is a 400; from anyone else a 401 (say nothing more)."""
    return InvalidDelivery(str(exc)) if _check_token(sessions, token) else _unknown_token()


def _take_position(
    engine: Engine, sessions: sessionmaker[Session], token: str, request_id: str | None,
    device: gps_service.DeviceReport, fix: gps_service.GpsFix,
) -> str | None:
    # The common case is one autocommit statement (fc_traccar_position, migration 0011); only a
    # fix due as an odometer reading opens a transaction of its own.
    route = gps_service.route_position(engine, token=token, request_id=request_id,
                                       device=device, fix=fix)
    if route is None:
        return None
    if route.vehicle_id is None:
        return "unlinked"
    if not route.reading_due or (fix.odometer_km is None and fix.total_distance_km is None):
        return "accepted"
    ctx = DbContext.for_tenant(route.tenant_id, actor_type=ActorType.INTEGRATION,
                               request_id=request_id)
    with sessions() as session:
        bind_context(session, ctx)
        with session.begin():
            gps_service.record_fix(session, tenant_id=route.tenant_id,
                                   device_id=route.device_id, vehicle_id=route.vehicle_id,
                                   fix=fix)
    return "accepted"


POSITIONS_PATH = "/webhooks/traccar/positions"


async def _position_response(request: Request) -> JSONResponse:
    token = _bearer(request)
    sessions: sessionmaker[Session] = request.app.state.sessions
    try:
        device, fix = mapping.position_delivery(_document(await request.body()))
    except mapping.PayloadError as exc:
        raise await run_in_threadpool(_invalid, sessions, token, exc) from exc
    outcome = await run_in_threadpool(
        _take_position, request.app.state.engine, sessions, token,
        getattr(request.state, "request_id", None), device, fix)
    if outcome is None:
        raise _unknown_token()
    return JSONResponse({"status": outcome})


@router.post(POSITIONS_PATH,
             summary="Traccar position forwarding (forward.type=json, Bearer token)")
async def receive_traccar_position(request: Request) -> JSONResponse:
    return await _position_response(request)


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class ForwardingLane:
    """Serves Traccar's forwards (``POST /webhooks/traccar/positions`` and ``…/events``) ahead
    of the API's middleware stack.

    Forwards are nearly all of the traffic a fleet sends and need none of what that stack does
    for the API (route matching over every route, metrics per route template, log context):
    going around it is most of what separates the receiver from a bare endpoint (decision
    0005). The routes stay declared for the OpenAPI document. It keeps the API's contract:
    ``X-Request-Id`` echoed (or made), problems rendered as ``application/problem+json``,
    unexpected errors left to the server-error middleware (500, Sentry). Installed outermost
    (``app.add_middleware`` after every other middleware).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = _LANES.get(scope["path"]) if scope["type"] == "http" else None
        if lane is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        incoming = request.headers.get("x-request-id", "")
        request.state.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response: Response
        try:
            response = await lane(request)
        except Problem as problem:
            response = problem_response(problem, request)
        response.headers["X-Request-Id"] = request.state.request_id
        await response(scope, receive, send)


def _take_event(
    sessions: sessionmaker[Session], token: str, request: Request,
    delivery: tuple[gps_service.DeviceReport, gps_service.GpsEvent,
                    gps_service.GpsFix | None],
) -> str | None:
    device, event, fix = delivery
    with sessions() as session, session.begin():
        tenant_id = gps_service.tenant_for_token(session, token)
        if tenant_id is None:
            return None
        bind_context(session, _context(tenant_id, request))
        return gps_service.record_event(session, tenant_id=tenant_id, device=device,
                                        event=event, fix=fix)


EVENTS_PATH = "/webhooks/traccar/events"


async def _event_response(request: Request) -> JSONResponse:
    token = _bearer(request)
    sessions: sessionmaker[Session] = request.app.state.sessions
    try:
        delivery = mapping.event_delivery(_document(await request.body()))
    except mapping.PayloadError as exc:
        raise await run_in_threadpool(_invalid, sessions, token, exc) from exc
    outcome = await run_in_threadpool(_take_event, sessions, token, request, delivery)
    if outcome is None:
        raise _unknown_token()
    return JSONResponse({"status": outcome})


@router.post(EVENTS_PATH, summary="Traccar event forwarding (event.forward.url, Bearer token)")
async def receive_traccar_event(request: Request) -> JSONResponse:
    return await _event_response(request)


_LANES = {POSITIONS_PATH: _position_response, EVENTS_PATH: _event_response}
