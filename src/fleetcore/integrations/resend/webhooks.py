"""``POST /webhooks/resend``: Svix-signed delivery events from Resend.

The signature is checked with ``svix`` against ``RESEND_WEBHOOK_SECRET`` before anything is
read or stored; a bad or missing signature is a 400 and leaves no trace. Each delivery is
recorded once per ``svix-id`` (``adm_webhook_deliveries``); ``email.bounced`` and
``email.complained`` suppress the address for the tenant that sent the message.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from fleetcore.admin.notifications import EmailEvent, record_email_event
from fleetcore.core.bounded_json import JsonTooDeep, load_json
from fleetcore.core.deps import bounded_body
from fleetcore.core.errors import Problem, ServiceUnavailable

logger = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])


class InvalidSignature(Problem):
    status, slug, title = 400, "invalid-signature", "The webhook signature is not valid"


def _tags(value: Any) -> dict[str, str]:
    # Resend documents tags as an object; an older page shows [{name, value}]: accept both.
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {
            str(t["name"]): str(t.get("value", ""))
            for t in value
            if isinstance(t, dict) and "name" in t
        }
    return {}


def parse_event(delivery_id: str, body: bytes) -> EmailEvent:
    """The parts of a Resend event that Fleetcore acts on."""
    document = load_json(body)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    raw_data = document.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    recipients = data.get("to") or []
    if isinstance(recipients, str):
        recipients = [recipients]
    raw_bounce = data.get("bounce")
    bounce: dict[str, Any] = raw_bounce if isinstance(raw_bounce, dict) else {}
    detail = " ".join(
        str(bounce[k]) for k in ("type", "subType", "message") if bounce.get(k)
    ) or None
    return EmailEvent(
        provider="resend",
        delivery_id=delivery_id,
        event_type=str(document.get("type", "unknown")),
        raw_body=body,
        message_id=data.get("email_id"),
        recipients=[str(r) for r in recipients if isinstance(r, str) and "@" in r],
        tags=_tags(data.get("tags")),
        detail=detail,
        transient=str(bounce.get("type", "")).lower() == "transient",
    )


def _record(sessions: sessionmaker[Session], event: EmailEvent) -> str:
    with sessions() as session, session.begin():
        return record_email_event(session, event)


@router.post("/webhooks/resend", summary="Resend delivery events (Svix-signed)",
             include_in_schema=True)
async def resend_webhook(request: Request) -> JSONResponse:
    """Verify, record once, and suppress bounced or complaining addresses."""
    secret = request.app.state.settings.resend_webhook_secret
    if not secret:
        raise ServiceUnavailable("RESEND_WEBHOOK_SECRET is not configured.")
    body = await bounded_body(request)
    # Imported on the first delivery: ``svix`` loads its whole API client (≈ 0.4 s a start).
    from svix.webhooks import Webhook, WebhookVerificationError

    try:
        Webhook(secret).verify(body, dict(request.headers))
    except WebhookVerificationError as error:
        raise InvalidSignature("The Svix signature does not match this body.") from error
    delivery_id = request.headers.get("svix-id") or request.headers.get("webhook-id") or ""
    try:
        event = parse_event(delivery_id, body)
    except JsonTooDeep as error:
        raise Problem(f"The body is not a Resend event: {error}.") from error
    except (ValueError, TypeError) as error:
        raise Problem("The body is not a Resend event.") from error
    outcome = await run_in_threadpool(_record, request.app.state.sessions, event)
    logger.info("resend webhook %s: %s", event.event_type, outcome)
    return JSONResponse({"status": outcome})
