"""``POST /webhooks/stripe``: Stripe events about driver payouts.

The body (at most 1 MB) is verified with ``stripe.Webhook.construct_event`` against
``STRIPE_WEBHOOK_SECRET`` before anything is read or stored (400 otherwise, no trace). Each
event is recorded once by its id in ``adm_webhook_deliveries`` in the same transaction as its
effect: a redelivery is acknowledged as ``duplicate`` with no second effect.

- ``transfer.created`` / ``transfer.updated`` / ``transfer.reversed``: the transfer's payment
  (found by ``stripe_transfer_id``, else by the ``tenant_id``/``payment_id`` metadata we sent)
  is paid, or — reversed — failed with its posting reversed. A payment's states only move
  forward (pending → paid → failed), so any order of deliveries ends in the same state.
- ``payout.*`` (on a connected account): the driver's Stripe account records its latest payout
  status, only when the event is newer than the one recorded.
- ``invoice.*``, ``customer.subscription.*``, ``payment_method.*``, ``customer.*``: Fleetcore's
  own billing (:mod:`fleetcore.integrations.stripe.billing_webhooks`: mirrored invoice,
  subscription and payment-method state, dunning).
- Anything else is acknowledged as ``ignored``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from fleetcore.admin import service as admin_service
from fleetcore.admin.models import WebhookDeliveryStatus
from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, apply_context
from fleetcore.core.deps import bounded_body
from fleetcore.core.errors import Problem, ServiceUnavailable
from fleetcore.finance import payout_service
from fleetcore.integrations.stripe.billing_webhooks import BILLING_PREFIXES, apply_billing_event

logger = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])

STRIPE_ACTOR_ID = uuid.UUID("5d0c1f2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f")
"""Who the audit trail shows for changes Stripe's webhooks make."""


class InvalidSignature(Problem):
    status, slug, title = 400, "invalid-signature", "The webhook signature is not valid"


def _actor(tenant_id: uuid.UUID) -> Actor:
    return Actor(type=ActorType.INTEGRATION, id=STRIPE_ACTOR_ID, clerk_user_id="stripe",
                 tenant_id=tenant_id, tenant_status="active",
                 permissions=frozenset({"payouts:write"}))


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _transfer_tenant(session: Session, obj: dict[str, Any]) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(tenant, payment) the transfer pays, in the provider context: by transfer id, else by
    the metadata we sent (checked against the payment row, never trusted alone)."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    row = session.execute(text("""
        SELECT tenant_id, id FROM fin_driver_payments
         WHERE stripe_transfer_id = :tr
            OR (tenant_id = :t AND id = :p)
         ORDER BY (stripe_transfer_id = :tr) DESC NULLS LAST LIMIT 1"""),
        {"tr": str(obj.get("id") or ""), "t": _uuid((metadata or {}).get("tenant_id")),
         "p": _uuid((metadata or {}).get("payment_id"))}).one_or_none()
    return (row[0], row[1]) if row else None


def apply_event(session: Session, event: dict[str, Any], body: bytes) -> str:
    """Record ``event`` once and apply it; ``processed``, ``ignored`` or ``duplicate``."""
    event_id = str(event.get("id") or "")
    event_type = str(event.get("type") or "unknown")
    apply_context(session.connection(), DbContext.system(request_id=event_id[:128]))
    delivery = admin_service.claim_webhook_delivery(
        session, provider="stripe", delivery_id=event_id, event_type=event_type,
        payload_sha256=hashlib.sha256(body).hexdigest())
    if delivery is None:
        return "duplicate"
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    obj = (data or {}).get("object")
    obj = obj if isinstance(obj, dict) else {}
    outcome, tenant_id = "ignored", None
    if event_type.startswith("transfer.") and str(obj.get("id", "")).startswith("tr_"):
        found = _transfer_tenant(session, obj)
        if found is not None:
            tenant_id, payment_id = found
            apply_context(session.connection(), DbContext.for_tenant(
                tenant_id, actor_type=ActorType.INTEGRATION, actor_id=STRIPE_ACTOR_ID,
                request_id=event_id[:128]))
            reversed_ = event_type == "transfer.reversed" or obj.get("reversed") is True
            outcome = payout_service.apply_transfer_event(
                session, _actor(tenant_id), transfer_id=str(obj["id"]), payment_id=payment_id,
                reversed_=reversed_, reason="Stripe transfer reversed")
    elif event_type.startswith("payout.") and isinstance(event.get("account"), str):
        tenant_id = session.execute(text("""
            UPDATE fin_accounts
               SET metadata = metadata || jsonb_build_object('last_payout', jsonb_build_object(
                     'id', CAST(:id AS text), 'status', CAST(:status AS text),
                     'event_created', CAST(:created AS bigint)))
             WHERE stripe_account_id = :acct AND deleted_at IS NULL
               AND coalesce(CAST(metadata #>> '{last_payout,event_created}' AS bigint), 0)
                   <= CAST(:created AS bigint)
            RETURNING tenant_id"""),
            {"acct": event["account"], "id": str(obj.get("id") or ""),
             "status": str(obj.get("status") or event_type.removeprefix("payout.")),
             "created": int(event.get("created") or 0)}).scalar()
        outcome = "processed" if tenant_id is not None else "ignored"
    elif event_type.startswith(BILLING_PREFIXES):
        outcome, tenant_id = apply_billing_event(session, event, obj)
    apply_context(session.connection(), DbContext.system(request_id=event_id[:128]))
    admin_service.finish_webhook_delivery(session, delivery,
                                          status=WebhookDeliveryStatus(outcome),
                                          tenant_id=tenant_id)
    return outcome


def _record(sessions: sessionmaker[Session], event: dict[str, Any], body: bytes) -> str:
    with sessions() as session, session.begin():
        return apply_event(session, event, body)


@router.post("/webhooks/stripe",
             summary="Stripe events (driver transfers and payouts; Fleetcore's billing)")
async def stripe_webhook(request: Request) -> JSONResponse:
    """Verify with the official SDK, record once, apply."""
    secret = request.app.state.settings.stripe_webhook_secret
    if not secret:
        raise ServiceUnavailable("STRIPE_WEBHOOK_SECRET is not configured.")
    body = await bounded_body(request)
    try:
        event = stripe.Webhook.construct_event(
            body.decode("utf-8"), request.headers.get("stripe-signature"), secret)
    except stripe.SignatureVerificationError as error:
        raise InvalidSignature("The Stripe-Signature does not match this body.") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise Problem("The body is not a Stripe event.") from error
    document = event.to_dict()
    if not isinstance(document, dict) or not document.get("id"):
        raise Problem("The body is not a Stripe event.")
    outcome = await run_in_threadpool(_record, request.app.state.sessions, document, body)
    logger.info("stripe webhook %s: %s", document.get("type"), outcome)
    return JSONResponse({"status": outcome})
