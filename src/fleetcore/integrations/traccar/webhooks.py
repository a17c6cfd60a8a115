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

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from fleetcore.core.db import ActorType, DbContext, bind_context
from fleetcore.core.errors import (
    DATABASE_UNAVAILABLE,
    Problem,
    ServiceUnavailable,
    Unauthorized,
    database_unavailable,
    problem_response,
)
from fleetcore.core.lane import LifespanPool
from fleetcore.fleet import gps_service
from fleetcore.integrations.traccar import mapping

logger = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])


class InvalidDelivery(Problem):
    status, slug, title = 400, "invalid-webhook", "The webhook delivery is not valid"


def _bearer(request: Request) -> str:
    return _bearer_token(request.headers.get("authorization", ""))


def _bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
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


def _check_token(sessions: sessionmaker[Session], token: str) -> bool:
    with sessions() as session, session.begin():
        return gps_service.tenant_for_token(session, token) is not None


def _invalid(sessions: sessionmaker[Session], token: str, exc: Exception) -> Problem:
    """A bad body from a known sender is a 400; from anyone else a 401 (say nothing more)."""
    return InvalidDelivery(str(exc)) if _check_token(sessions, token) else _unknown_token()


def _reading_due(route: gps_service.PositionRoute, fix: gps_service.GpsFix) -> bool:
    """A due reading the statement left to the ORM: a device to calibrate first, or a
    reading to flag with its reason (rare; a plausible one was kept by the statement)."""
    return route.vehicle_id is not None and route.reading_due and (
        fix.odometer_km is not None or fix.total_distance_km is not None)


def _record_reading(sessions: sessionmaker[Session], route: gps_service.PositionRoute,
                    fix: gps_service.GpsFix, request_id: str | None) -> None:
    """A fix due as an odometer reading: its own transaction (vehicle locked, rule checked
    again, cross-checks)."""
    assert route.vehicle_id is not None
    ctx = DbContext.for_tenant(route.tenant_id, actor_type=ActorType.INTEGRATION,
                               request_id=request_id)
    with sessions() as session:
        bind_context(session, ctx)
        with session.begin():
            gps_service.record_fix(session, tenant_id=route.tenant_id,
                                   device_id=route.device_id, vehicle_id=route.vehicle_id,
                                   fix=fix)


def _take_position(
    engine: Engine, sessions: sessionmaker[Session], token: str, request_id: str | None,
    device: gps_service.DeviceReport, fix: gps_service.GpsFix,
) -> gps_service.PositionRoute | None:
    # The common case is one autocommit statement (fc_traccar_position, migrations 0011,
    # 0018 and 0021: a plausible due reading included); only a due reading it left (a device
    # to calibrate, a reading to flag) opens a transaction of its own.
    route = gps_service.route_position(engine, token=token, request_id=request_id,
                                       device=device, fix=fix)
    if route is not None and _reading_due(route, fix):
        _record_reading(sessions, route, fix, request_id)
    return route


POSITIONS_PATH = "/webhooks/traccar/positions"
_ACCEPTED = b'{"status":"accepted"}'
_UNLINKED = b'{"status":"unlinked"}'


async def _position_response(request: Request) -> Response:
    token = _bearer(request)
    payload = await _position_outcome(request.app, request.scope.get(_POOL_KEY), token,
                                      await request.body(),
                                      getattr(request.state, "request_id", None))
    return Response(payload, media_type="application/json")


async def _position_outcome(app: Any, pool: _Pool | None, token: str, body: bytes,
                            request_id: str | None) -> bytes:
    """What a position forward is answered (200 body), or the problem it raises."""
    sessions: sessionmaker[Session] = app.state.sessions
    try:
        device, fix = mapping.position_delivery(_document(body))
    except mapping.PayloadError as exc:
        raise await run_in_threadpool(_invalid, sessions, token, exc) from exc
    route: gps_service.PositionRoute | None
    if pool is not None:
        # The lane's own async pool: no hop into a worker thread for the common case.
        try:
            route = await gps_service.route_position_async(
                pool, token=token, request_id=request_id, device=device, fix=fix)
        except DATABASE_UNAVAILABLE as exc:
            raise database_unavailable(exc) or ServiceUnavailable(str(exc)) from exc
        if route is not None and _reading_due(route, fix):
            await run_in_threadpool(_record_reading, sessions, route, fix, request_id)
    else:
        route = await run_in_threadpool(_take_position, app.state.engine, sessions, token,
                                        request_id, device, fix)
    if route is None:
        raise _unknown_token()
    return _UNLINKED if route.vehicle_id is None else _ACCEPTED


@router.post(POSITIONS_PATH, response_class=JSONResponse,
             summary="Traccar position forwarding (forward.type=json, Bearer token)")
async def receive_traccar_position(request: Request) -> Response:
    return await _position_response(request)


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _as_problem(exc: Exception) -> Problem:
    """What the lane answers for ``exc``: the problem it is, or a 503 when the database is
    away (the lane is outside the app's exception handlers, so it maps them itself, on the
    pool's path and the worker threads' alike); anything else is re-raised for the
    server-error middleware (500, Sentry)."""
    if isinstance(exc, Problem):
        return exc
    unavailable = database_unavailable(exc)
    if unavailable is None:
        raise exc
    return unavailable


LANE_APPLICATION = "fleetcore-traccar-lane"
"""``application_name`` of the lane's connections (``pg_stat_activity``)."""


class ForwardingLane(LifespanPool):
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

    application_name = LANE_APPLICATION
    pool_name = "traccar-lane"

    def __init__(self, app: ASGIApp) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan(scope, receive), send)
            return
        lane = _LANES.get(scope["path"]) if scope["type"] == "http" else None
        if lane is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if self.pool is not None and asyncio.get_running_loop() is self.loop:
            # Plain ASGI on the lane's pool: no Request or Response objects (their header
            # parsing and copying cost as much as the rest of a forward).
            await _plain_lane(scope, receive, send, self.pool, _OUTCOMES[scope["path"]])
            return
        request = Request(scope, receive)
        incoming = request.headers.get("x-request-id", "")
        request.state.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response: Response
        try:
            response = await lane(request)
        except Exception as exc:  # re-raised unless a problem to answer
            response = problem_response(_as_problem(exc), request)
        response.headers["X-Request-Id"] = request.state.request_id
        await response(scope, receive, send)


async def _plain_lane(scope: Scope, receive: Receive, send: Send, pool: _Pool,
                      outcome: _Outcome) -> None:
    """A forward on the lane's pool, in plain ASGI: the same answers as the routes'
    (:func:`_position_response`, :func:`_event_response`; problems through
    :func:`problem_response`)."""
    authorization = incoming = ""
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"x-request-id":
            incoming = value.decode("latin-1")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    try:
        payload = await outcome(scope["app"], pool, _bearer_token(authorization),
                                b"".join(chunks), request_id)
    except Exception as exc:  # re-raised unless a problem to answer
        problem = _as_problem(exc)
        request = Request(scope, receive)
        request.state.request_id = request_id
        response = problem_response(problem, request)
        response.headers["X-Request-Id"] = request_id
        await response(scope, receive, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload)),
        (b"x-request-id", request_id.encode())]})
    await send({"type": "http.response.body", "body": payload})


_POOL_KEY = "fleetcore.traccar_pool"
_Pool = AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]]


def _finish_event(sessions: sessionmaker[Session], route: gps_service.EventRoute,
                  delivery: _EventDelivery, request_id: str | None) -> str:
    """What ``fc_traccar_event`` leaves to the ORM: a due odometer reading its statement did
    not keep (one to flag; its own transaction, like a position's), or the whole event when its
    fix must first calibrate the device's ``totalDistance`` (``calibrate``: the function wrote
    none of the event)."""
    device, event, fix = delivery
    if route.outcome == "calibrate":
        ctx = DbContext.for_tenant(route.position.tenant_id, actor_type=ActorType.INTEGRATION,
                                   request_id=request_id)
        with sessions() as session:
            bind_context(session, ctx)
            with session.begin():
                return gps_service.record_event(session, tenant_id=route.position.tenant_id,
                                                device=device, event=event, fix=fix)
    if fix is not None and _reading_due(route.position, fix):
        _record_reading(sessions, route.position, fix, request_id)
    return route.outcome


def _needs_orm(route: gps_service.EventRoute, fix: gps_service.GpsFix | None) -> bool:
    return route.outcome == "calibrate" or (fix is not None and _reading_due(route.position,
                                                                             fix))


def _take_event(engine: Engine, sessions: sessionmaker[Session], token: str,
                request_id: str | None, delivery: _EventDelivery) -> str | None:
    device, event, fix = delivery
    route = gps_service.route_event(engine, token=token, request_id=request_id, device=device,
                                    event=event, fix=fix)
    if route is None:
        return None
    return _finish_event(sessions, route, delivery, request_id)


EVENTS_PATH = "/webhooks/traccar/events"


async def _event_outcome(app: Any, pool: _Pool | None, token: str, body: bytes,
                         request_id: str | None) -> bytes:
    """What an event forward is answered (200 body), or the problem it raises: one statement
    (``fc_traccar_event``, migration 0019) on the lane's pool when it has one."""
    sessions: sessionmaker[Session] = app.state.sessions
    try:
        delivery = mapping.event_delivery(_document(body))
    except mapping.PayloadError as exc:
        raise await run_in_threadpool(_invalid, sessions, token, exc) from exc
    outcome: str | None
    if pool is not None:
        device, event, fix = delivery
        try:
            route = await gps_service.route_event_async(
                pool, token=token, request_id=request_id, device=device, event=event, fix=fix)
        except DATABASE_UNAVAILABLE as exc:
            raise database_unavailable(exc) or ServiceUnavailable(str(exc)) from exc
        outcome = None if route is None else route.outcome
        if route is not None and _needs_orm(route, fix):
            outcome = await run_in_threadpool(_finish_event, sessions, route, delivery,
                                              request_id)
    else:
        outcome = await run_in_threadpool(_take_event, app.state.engine, sessions, token,
                                          request_id, delivery)
    if outcome is None:
        raise _unknown_token()
    return b'{"status":"%s"}' % outcome.encode()


async def _event_response(request: Request) -> Response:
    token = _bearer(request)
    payload = await _event_outcome(request.app, request.scope.get(_POOL_KEY), token,
                                   await request.body(),
                                   getattr(request.state, "request_id", None))
    return Response(payload, media_type="application/json")


@router.post(EVENTS_PATH, response_class=JSONResponse,
             summary="Traccar event forwarding (event.forward.url, Bearer token)")
async def receive_traccar_event(request: Request) -> Response:
    return await _event_response(request)


_Outcome = Callable[[Any, "_Pool | None", str, bytes, "str | None"], Awaitable[bytes]]
_EventDelivery = tuple[gps_service.DeviceReport, gps_service.GpsEvent,
                       gps_service.GpsFix | None]
_LANES = {POSITIONS_PATH: _position_response, EVENTS_PATH: _event_response}
_OUTCOMES: dict[str, _Outcome] = {POSITIONS_PATH: _position_outcome,
                                  EVENTS_PATH: _event_outcome}
