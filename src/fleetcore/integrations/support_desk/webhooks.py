"""``POST /webhooks/chatwoot`` and ``POST /webhooks/freescout``: help-desk conversations in.

Each delivery (at most 1 MB) is verified before anything is read or stored — a bad or missing
signature, or a stale Chatwoot timestamp, is a 401 problem; a body that is not JSON a 400 —
then recorded once in ``adm_webhook_deliveries`` by its delivery id, in the same transaction as
its effect (a redelivery is acknowledged as ``duplicate``). The effect itself is idempotent on
the desk's conversation and message ids (``support.service.apply_inbound``), so the same
conversation delivered again under another delivery id, or deliveries out of order, change
nothing twice. Unknown events are acknowledged (2xx), recorded as ``ignored``.

The receivers verify with the deployment's credentials whatever ``SUPPORT_DESK`` says, so a
desk can be switched without losing the other's late deliveries.
"""

from __future__ import annotations

import hashlib
import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from fleetcore.admin import service as admin_service
from fleetcore.admin.models import WebhookDeliveryStatus
from fleetcore.core.db import DbContext, apply_context
from fleetcore.core.deps import bounded_body
from fleetcore.integrations.support_desk import chatwoot_desk, freescout_desk
from fleetcore.settings import Settings
from fleetcore.support import service
from fleetcore.support.desk import Delivery, SupportDesk

logger = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])


def record_delivery(session: Session, system: str, delivery: Delivery, body: bytes,
                    sla: service.SlaPolicy) -> str:
    """Record ``delivery`` once and apply it: ``processed``, ``ignored`` or ``duplicate``."""
    request_id = f"{system}:{delivery.delivery_id}"[:128]
    apply_context(session.connection(), DbContext.system(request_id=request_id))
    recorded = admin_service.claim_webhook_delivery(
        session, provider=system, delivery_id=delivery.delivery_id, event_type=delivery.event,
        payload_sha256=hashlib.sha256(body).hexdigest())
    if recorded is None:
        return "duplicate"
    applied = (service.apply_inbound(session, delivery.conversation, sla=sla,
                                     request_id=request_id)
               if delivery.conversation is not None else service.Applied("ignored"))
    apply_context(session.connection(), DbContext.system(request_id=request_id))
    admin_service.finish_webhook_delivery(
        session, recorded, status=WebhookDeliveryStatus(applied.outcome),
        tenant_id=applied.tenant_id,
        error=None if applied.tenant_id or applied.outcome == "ignored"
        else "no fleet for this contact: kept for Fleetcore staff")
    return applied.outcome


def _record(sessions: sessionmaker[Session], system: str, delivery: Delivery, body: bytes,
            sla: service.SlaPolicy) -> str:
    with sessions() as session, session.begin():
        return record_delivery(session, system, delivery, body, sla)


def _sla(settings: Settings) -> service.SlaPolicy:
    return service.SlaPolicy.of(settings.support_first_response_hours,
                                settings.support_resolution_hours)


async def _receive(request: Request, desk: SupportDesk) -> JSONResponse:
    body = await bounded_body(request)
    desk.verify(request.headers, body, now=time.time())
    delivery = desk.read(request.headers, body)
    outcome = await run_in_threadpool(_record, request.app.state.sessions, desk.system,
                                      delivery, body, _sla(request.app.state.settings))
    logger.info("%s webhook %s: %s", desk.system, delivery.event, outcome)
    return JSONResponse({"status": outcome})


@router.post("/webhooks/chatwoot", summary="Chatwoot conversation and message events")
async def chatwoot_webhook(request: Request) -> JSONResponse:
    """Signed with ``CHATWOOT_WEBHOOK_SECRET`` (X-Chatwoot-Signature, X-Chatwoot-Timestamp)."""
    return await _receive(request, chatwoot_desk(request.app.state.settings))


@router.post("/webhooks/freescout", summary="FreeScout conversation events")
async def freescout_webhook(request: Request) -> JSONResponse:
    """Signed with ``FREESCOUT_WEBHOOK_SECRET`` (X-FreeScout-Signature)."""
    return await _receive(request, freescout_desk(request.app.state.settings))
