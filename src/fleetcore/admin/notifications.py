"""Notifications: render one in its recipient's language, send it once, record bounces.

``adm_notifications`` is the exactly-once key: a row is created once per item, reason,
threshold and recipient (``admin.reminders``), and its ``idempotency_key`` goes to the e-mail
provider as ``Idempotency-Key``, so a job retried after a crash (the e-mail left, the commit
did not) cannot deliver twice. Addresses in ``adm_email_suppressions`` (bounced, complained,
blocked by hand) are never mailed.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.admin.models import WebhookDeliveryStatus
from fleetcore.admin.service import claim_webhook_delivery, finish_webhook_delivery
from fleetcore.core.db import DbContext, apply_context
from fleetcore.core.email import (
    EmailRateLimited,
    EmailRejected,
    EmailSender,
    EmailSendError,
    OutgoingEmail,
)
from fleetcore.core.observability import EMAILS_TOTAL

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"
LANGUAGES = ("en", "fr")
_FRENCH_COUNTRIES = frozenset({"FR", "BE", "LU", "MC", "CH", "CA", "SN", "CI", "MA", "TN"})


@lru_cache(maxsize=2)
def _environment(html: bool) -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        # The text part is plain text, never HTML: escaping would corrupt it.
        autoescape=select_autoescape(default=True, default_for_string=True) if html else False,  # noqa: S701
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def language_for(tag: str | None, country: str | None = None) -> str:
    """The template language for a BCP 47 tag (``fr-FR`` → ``fr``); else by country; else en."""
    if tag:
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    if country and country.upper() in _FRENCH_COUNTRIES:
        return "fr"
    return "en"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """Subject, HTML and text of one notification."""

    subject: str
    html: str
    text: str


def render_notification(
    reason: str, variables: dict[str, Any], *, language: str, tenant_name: str
) -> RenderedEmail:
    """Render the e-mail for ``reason`` in ``language`` (en, fr) from the email templates."""
    language = language if language in LANGUAGES else "en"
    context = {"reason": reason, "v": variables, "lang": language, "tenant_name": tenant_name}
    text_env = _environment(False)
    messages = text_env.get_template(f"messages.{language}.j2").make_module(context)
    subject = " ".join(str(getattr(messages, "subject")(reason, variables)).split())  # noqa: B009
    return RenderedEmail(
        subject=subject,
        html=_environment(True).get_template("layout.html.j2").render(context),
        text=text_env.get_template("layout.txt.j2").render(context),
    )


# -- the variables of each reason --------------------------------------------------------------

_VARIABLES: dict[str, str] = {
    "document_expiring": """
        SELECT d.document_type, d.expires_on AS due_on,
               CASE d.entity_type
                 WHEN 'driver' THEN (SELECT r.first_name || ' ' || r.last_name FROM rid_drivers r
                                      WHERE r.tenant_id = d.tenant_id AND r.id = d.entity_id)
                 WHEN 'vehicle' THEN (SELECT v.licence_plate FROM flt_vehicles v
                                       WHERE v.tenant_id = d.tenant_id AND v.id = d.entity_id)
               END AS about
          FROM doc_documents d WHERE d.id = :id AND d.deleted_at IS NULL""",
    "insurance_renewal": """
        SELECT v.licence_plate AS plate, i.provider, i.policy_number, i.ends_on AS due_on
          FROM flt_vehicle_insurances i
          JOIN flt_vehicles v ON v.tenant_id = i.tenant_id AND v.id = i.vehicle_id
         WHERE i.id = :id AND i.deleted_at IS NULL AND i.active""",
    "maintenance_due": """
        SELECT v.licence_plate AS plate, s.maintenance_type, s.next_due_on AS due_on,
               s.next_due_km AS due_km
          FROM sch_maintenance_schedules s
          JOIN flt_vehicles v ON v.tenant_id = s.tenant_id AND v.id = s.vehicle_id
         WHERE s.id = :id AND s.deleted_at IS NULL AND s.active""",
    "training_due": """
        SELECT t.training_name, d.first_name || ' ' || d.last_name AS driver_name,
               CASE WHEN t.status = 'completed' THEN t.expires_on ELSE t.scheduled_on END AS due_on
          FROM rid_driver_training t
          JOIN rid_drivers d ON d.tenant_id = t.tenant_id AND d.id = t.driver_id
         WHERE t.id = :id AND t.deleted_at IS NULL""",
    "shift_tomorrow": """
        SELECT s.starts_at, s.ends_at, v.licence_plate AS plate,
               (s.starts_at AT TIME ZONE :tz)::date AS due_on
          FROM sch_shifts s
          LEFT JOIN flt_vehicles v ON v.tenant_id = s.tenant_id AND v.id = s.vehicle_id
         WHERE s.id = :id AND s.deleted_at IS NULL AND s.status = 'scheduled'""",
    "fine_designation_deadline": """
        SELECT f.fine_reference, coalesce(v.licence_plate, f.plate) AS plate, f.amount,
               f.currency, f.designation_deadline_on AS due_on
          FROM fin_traffic_fines f
          LEFT JOIN flt_vehicles v ON v.tenant_id = f.tenant_id AND v.id = f.vehicle_id
         WHERE f.id = :id AND f.deleted_at IS NULL AND f.status = 'received'""",
    # Still to send only while the invitation is pending (accepted or removed: cancelled).
    "member_invitation": """
        SELECT m.email,
               coalesce((SELECT min(r.name) FROM adm_member_roles mr
                           JOIN adm_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id
                          WHERE mr.tenant_id = m.tenant_id AND mr.member_id = m.id
                            AND r.deleted_at IS NULL), 'member') AS role_name
          FROM adm_members m
         WHERE m.id = :id AND m.deleted_at IS NULL AND m.status = 'invited'""",
}


def _variables(
    session: Session, reason: str, entity_id: uuid.UUID, *, language: str, timezone: str,
    today: date, threshold: str | None,
) -> dict[str, Any] | None:
    query = _VARIABLES.get(reason)
    if query is None:
        return None
    row = session.execute(text(query), {"id": entity_id, "tz": timezone}).mappings().one_or_none()
    if row is None:
        return None
    values: dict[str, Any] = dict(row)
    due = values.get("due_on")
    if isinstance(due, date):
        values["days"] = (due - today).days
        values["date_text"] = format_date(due, "long", locale=language)
    else:
        values["days"] = 0
        values["date_text"] = ""
    zone = ZoneInfo(timezone)
    for key in ("starts_at", "ends_at"):
        moment = values.get(key)
        if isinstance(moment, datetime):
            values[key.replace("_at", "_text")] = format_time(
                moment.astimezone(zone), "short", locale=language
            )
    if isinstance(values.get("amount"), Decimal):
        values["amount_text"] = format_currency(values["amount"], values["currency"],
                                                locale=language)
    if isinstance(values.get("due_km"), Decimal):
        values["due_km"] = f"{values['due_km']:,.0f}".replace(",", "\u202f")
    values["overdue"] = bool(threshold and threshold.startswith("overdue"))
    values.setdefault("about", None)
    values.setdefault("plate", None)
    values.setdefault("driver_name", None)
    return values


# -- delivery ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What happened to one notification; ``error`` is set when the job should retry."""

    status: str
    error: EmailSendError | None = None


def deliver_notification(
    session: Session,
    sender: EmailSender,
    notification_id: uuid.UUID,
    *,
    email_from: str,
    final_attempt: bool = False,
) -> DeliveryOutcome:
    """Send one pending e-mail notification, at most once, and record the outcome.

    A failure is recorded (attempts, last error) and returned, not raised, so the caller's
    transaction keeps the record and the job is retried afterwards; on the final attempt the
    notification becomes ``failed``.
    """
    row = session.execute(
        text(
            "SELECT n.tenant_id, n.entity_type, n.entity_id, n.reason, n.threshold, n.channel,"
            " n.recipient_type, n.recipient_id, n.recipient_email, n.status, n.idempotency_key,"
            " t.name AS tenant_name, t.timezone, t.country, t.settings,"
            " (now() AT TIME ZONE t.timezone)::date AS today,"
            " CASE n.recipient_type"
            "   WHEN 'driver' THEN (SELECT d.preferred_language || '|' || d.first_name"
            "     FROM rid_drivers d WHERE d.tenant_id = n.tenant_id AND d.id = n.recipient_id)"
            "   WHEN 'member' THEN (SELECT m.preferred_language || '|'"
            "     || coalesce(m.first_name, '')"
            "     FROM adm_members m WHERE m.tenant_id = n.tenant_id AND m.id = n.recipient_id)"
            " END AS person"
            " FROM adm_notifications n JOIN adm_tenants t ON t.id = n.tenant_id"
            " WHERE n.id = :id FOR UPDATE OF n"
        ),
        {"id": notification_id},
    ).mappings().one_or_none()
    if row is None or row["status"] != "pending" or row["channel"] != "email":
        return DeliveryOutcome(row["status"] if row else "missing")

    def finish(status: str, **values: Any) -> None:
        assignments = ", ".join(f"{k} = :{k}" for k in values)
        session.execute(
            text(
                f"UPDATE adm_notifications SET status = :status, attempts = attempts + 1"
                f"{', ' + assignments if assignments else ''} WHERE id = :id"
            ),
            {"status": status, "id": notification_id, **values},
        )

    address = row["recipient_email"]
    suppressed = address is None or session.execute(
        text("SELECT 1 FROM adm_email_suppressions WHERE lower(email) = lower(:email)"),
        {"email": address},
    ).first() is not None
    if suppressed:
        finish("suppressed", last_error="address suppressed" if address else "no address")
        EMAILS_TOTAL.labels("suppressed").inc()
        return DeliveryOutcome("suppressed")

    tag, _, first_name = (row["person"] or "").partition("|")
    tenant_settings = row["settings"] or {}
    language = language_for(
        tag or (tenant_settings.get("language") if isinstance(tenant_settings, dict) else None),
        row["country"],
    )
    variables = _variables(
        session, row["reason"], row["entity_id"], language=language, timezone=row["timezone"],
        today=row["today"], threshold=row["threshold"],
    )
    if variables is None:
        # The item is gone (deleted, renewed, cancelled) since the reminder was created.
        finish("cancelled", last_error="the item no longer needs this notification")
        return DeliveryOutcome("cancelled")
    variables["recipient_name"] = first_name or None
    variables["tenant_name"] = row["tenant_name"]
    rendered = render_notification(
        row["reason"], variables, language=language, tenant_name=row["tenant_name"]
    )
    message = OutgoingEmail(
        sender=email_from,
        to=address,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        idempotency_key=row["idempotency_key"],
        tags={"tenant_id": str(row["tenant_id"]), "notification_id": str(notification_id),
              "reason": row["reason"]},
    )
    try:
        message_id = sender.send(message)
    except EmailSendError as error:
        permanent = isinstance(error, EmailRejected)
        status = "failed" if (final_attempt or permanent) else "pending"
        finish(status, last_error=str(error)[:1000])
        EMAILS_TOTAL.labels(
            "rate_limited" if isinstance(error, EmailRateLimited) else "failed"
        ).inc()
        return DeliveryOutcome(status, None if permanent else error)
    finish("sent", sent_at=datetime.now(ZoneInfo("UTC")), provider_message_id=message_id,
           last_error=None)
    EMAILS_TOTAL.labels("sent").inc()
    return DeliveryOutcome("sent")


# -- provider events (bounces, complaints) -----------------------------------------------------

SUPPRESSING_EVENTS = {"email.bounced": "bounce", "email.complained": "complaint"}


@dataclass(frozen=True, slots=True)
class EmailEvent:
    """A provider's delivery event, as the webhook receiver parsed it."""

    provider: str
    delivery_id: str
    event_type: str
    raw_body: bytes
    message_id: str | None
    recipients: list[str]
    tags: dict[str, str]
    detail: str | None = None
    transient: bool = False


def record_email_event(session: Session, event: EmailEvent) -> str:
    """Record a delivery event exactly once; a bounce or complaint suppresses the address for
    the tenant that sent the message. Returns ``processed``, ``ignored`` or ``duplicate``.

    The session must be fresh (no context bound): the delivery log is a provider table, so
    the event is recorded in the provider context, then the tenant is found from the message
    and the suppression is written in that tenant's context, in one transaction.
    """
    apply_context(session.connection(), DbContext.system(request_id=event.delivery_id[:128]))
    delivery = claim_webhook_delivery(
        session, provider=event.provider, delivery_id=event.delivery_id,
        event_type=event.event_type, payload_sha256=hashlib.sha256(event.raw_body).hexdigest())
    if delivery is None:
        return "duplicate"
    tenant_id = _sending_tenant(session, event)
    status = WebhookDeliveryStatus.IGNORED
    reason = SUPPRESSING_EVENTS.get(event.event_type)
    if tenant_id is not None and reason is not None and not event.transient:
        apply_context(session.connection(), DbContext.for_tenant(
            tenant_id, request_id=event.delivery_id[:128]))
        for address in event.recipients:
            session.execute(
                text(
                    "INSERT INTO adm_email_suppressions (tenant_id, id, email, reason,"
                    " source_event_id, detail) VALUES (:tenant_id, gen_random_uuid(), :email,"
                    " :reason, :event_id, :detail) ON CONFLICT DO NOTHING"
                ),
                {"tenant_id": tenant_id, "email": address, "reason": reason,
                 "event_id": event.delivery_id, "detail": (event.detail or "")[:1000] or None},
            )
        apply_context(session.connection(), DbContext.system(request_id=event.delivery_id[:128]))
        status = WebhookDeliveryStatus.PROCESSED
    elif tenant_id is not None:
        status = WebhookDeliveryStatus.PROCESSED
    finish_webhook_delivery(session, delivery, status=status, tenant_id=tenant_id)
    return status.value


def _sending_tenant(session: Session, event: EmailEvent) -> uuid.UUID | None:
    """The tenant whose notification the provider's message id belongs to (provider context)."""
    if not event.message_id:
        return None
    hinted = event.tags.get("tenant_id")
    try:
        hinted_tenant = uuid.UUID(hinted) if hinted else None
    except ValueError:
        hinted_tenant = None
    if hinted_tenant is not None:
        # The tag only narrows the lookup (index on tenant_id, provider_message_id); the
        # message id must still match a notification of that tenant.
        found = session.execute(
            text(
                "SELECT tenant_id FROM adm_notifications"
                " WHERE tenant_id = :tenant_id AND provider_message_id = :message_id"
            ),
            {"tenant_id": hinted_tenant, "message_id": event.message_id},
        ).scalar_one_or_none()
        if found is not None:
            return uuid.UUID(str(found))
    routed = session.execute(
        text(
            "SELECT min(tenant_id::text)::uuid FROM adm_notifications"
            " WHERE provider_message_id = :message_id HAVING count(DISTINCT tenant_id) = 1"
        ),
        {"message_id": event.message_id},
    ).scalar_one_or_none()
    return uuid.UUID(str(routed)) if routed is not None else None
