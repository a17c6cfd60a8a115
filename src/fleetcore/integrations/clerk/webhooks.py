"""``POST /webhooks/clerk``: Svix-verified Clerk events keep members and tenants in sync.

Nothing is stored for a delivery whose signature or timestamp does not verify (400). A
verified delivery is recorded in ``adm_webhook_deliveries`` by its ``svix-id`` in the same
transaction as its effect, so a redelivery is acknowledged without a second effect. Unknown
event types are acknowledged and recorded as ``ignored``. An error rolls everything back and
answers 500, so Svix retries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from fleetcore.admin import identity_sync, service
from fleetcore.admin.identity_sync import SyncOutcome
from fleetcore.admin.models import WebhookDeliveryStatus, WebhookProvider
from fleetcore.core.bounded_json import JsonTooDeep, load_json
from fleetcore.core.db import ActorType, DbContext, context_session
from fleetcore.core.deps import bounded_body
from fleetcore.core.errors import Problem, ServiceUnavailable
from fleetcore.integrations.clerk import mapping
from fleetcore.settings import Settings

router = APIRouter()


class InvalidWebhook(Problem):
    status, slug, title = 400, "invalid-webhook", "The webhook delivery is not valid"


Handler = Callable[[Session, dict[str, Any], int], SyncOutcome]

HANDLERS: dict[str, Handler] = {
    "user.created": lambda s, d, t: identity_sync.sync_user(s, mapping.user(d, t)),
    "user.updated": lambda s, d, t: identity_sync.sync_user(s, mapping.user(d, t)),
    "user.deleted": lambda s, d, t: identity_sync.delete_user(s, mapping.required_str(d, "id"), t),
    "organization.created": lambda s, d, t: identity_sync.sync_organization(
        s, mapping.organization(d, t)),
    "organization.updated": lambda s, d, t: identity_sync.sync_organization(
        s, mapping.organization(d, t)),
    "organization.deleted": lambda s, d, t: identity_sync.delete_organization(
        s, mapping.required_str(d, "id"), t),
    "organizationMembership.created": lambda s, d, t: identity_sync.sync_membership(
        s, mapping.membership(d, t)),
    "organizationMembership.updated": lambda s, d, t: identity_sync.sync_membership(
        s, mapping.membership(d, t)),
    # A deletion's own time is the event's: the object still shows its last update.
    "organizationMembership.deleted": lambda s, d, t: identity_sync.delete_membership(
        s, _at(mapping.membership(d, t), t)),
}


def _at(m: identity_sync.DirectoryMembership, event_time: int) -> identity_sync.DirectoryMembership:
    return identity_sync.DirectoryMembership(
        id=m.id, organization_id=m.organization_id, user_id=m.user_id,
        updated_at=max(m.updated_at, event_time), role=m.role, email=m.email,
        first_name=m.first_name, last_name=m.last_name,
    )


def verify(secret: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The verified event, or :class:`InvalidWebhook` (bad signature, stale timestamp, JSON)."""
    # Imported on the first delivery, not at start-up: importing ``svix`` loads its whole API
    # client and models (≈ 0.4 s of every start).
    from svix.webhooks import Webhook, WebhookVerificationError

    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError as exc:
        raise InvalidWebhook(f"The signature does not verify: {exc}.") from exc
    try:
        event = load_json(body)
    except JsonTooDeep as exc:
        raise InvalidWebhook(f"The body is not a Clerk event: {exc}.") from exc
    except ValueError as exc:
        raise InvalidWebhook("The body is not JSON.") from exc
    if not isinstance(event, dict) or not isinstance(event.get("type"), str) \
            or not isinstance(event.get("data"), dict):
        raise InvalidWebhook("The body is not a Clerk event ({type, data, ...}).")
    return event


@router.post("/webhooks/clerk", tags=["webhooks"], summary="Clerk events (Svix-signed)")
async def receive_clerk_event(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    if not settings.clerk_webhook_secret:
        raise ServiceUnavailable("CLERK_WEBHOOK_SECRET is not configured.")
    body = await bounded_body(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    event = verify(settings.clerk_webhook_secret, body, headers)
    delivery_id = headers.get("svix-id") or headers.get("webhook-id") or ""
    factory: sessionmaker[Session] = request.app.state.sessions
    context = DbContext(actor_type=ActorType.INTEGRATION, provider=True,
                        request_id=getattr(request.state, "request_id", None))
    result = await run_in_threadpool(
        apply_event, factory, context, delivery_id, event, hashlib.sha256(body).hexdigest()
    )
    return JSONResponse(result)


def apply_event(
    factory: sessionmaker[Session], context: DbContext, delivery_id: str,
    event: dict[str, Any], payload_sha256: str,
) -> dict[str, str]:
    """Record the delivery and apply its event, once, in one transaction."""
    event_type = str(event["type"])
    event_time = event.get("timestamp")
    event_ms = event_time if isinstance(event_time, int) else 0
    with context_session(factory, context) as session:
        delivery = service.claim_webhook_delivery(
            session, provider=WebhookProvider.CLERK.value, delivery_id=delivery_id,
            event_type=event_type, payload_sha256=payload_sha256,
        )
        if delivery is None:
            return {"status": "duplicate"}
        handler = HANDLERS.get(event_type)
        if handler is None:
            service.finish_webhook_delivery(session, delivery, status=WebhookDeliveryStatus.IGNORED,
                                            error=f"unhandled event type {event_type}")
            return {"status": "ignored"}
        try:
            outcome = handler(session, event["data"], event_ms)
        except mapping.PayloadError as exc:
            outcome = SyncOutcome(False, None, f"malformed payload: {exc}")
        service.finish_webhook_delivery(
            session, delivery,
            status=WebhookDeliveryStatus.PROCESSED if outcome.applied
            else WebhookDeliveryStatus.IGNORED,
            tenant_id=outcome.tenant_id, error=outcome.detail,
        )
        return {"status": "processed" if outcome.applied else "ignored"}
