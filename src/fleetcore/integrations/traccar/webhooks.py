"""``POST /webhooks/traccar/positions`` and ``/webhooks/traccar/events``: Traccar forwarding.

Both authenticate with the tenant's forwarding token in ``Authorization: Bearer …`` (Traccar's
``forward.header`` / ``event.forward.header``): a missing or unknown token is a 401 problem and
writes nothing. A body that is not a Traccar forward is a 400. Everything else is acknowledged
with 200 — duplicates, unknown event types, devices no vehicle names yet — because Traccar
counts any other answer as a failure (and event forwarding never retries). Effects are
idempotent (``fleet/gps_service.py``), so redeliveries and reordering change nothing twice.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from fleetcore.core.db import ActorType, DbContext, bind_context
from fleetcore.core.errors import Problem, Unauthorized
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
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        route = gps_service.route_position(conn, token=token, request_id=request_id,
                                           device=device, fix=fix)
    if route is None:
        return None
    if route.vehicle_id is None:
        return "unlinked"
    if not route.reading_due:
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


@router.post("/webhooks/traccar/positions",
             summary="Traccar position forwarding (forward.type=json, Bearer token)")
async def receive_traccar_position(request: Request) -> JSONResponse:
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


@router.post("/webhooks/traccar/events",
             summary="Traccar event forwarding (event.forward.url, Bearer token)")
async def receive_traccar_event(request: Request) -> JSONResponse:
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
