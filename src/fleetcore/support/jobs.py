"""Jobs that push Fleetcore's side of a ticket to the help desk (``SUPPORT_DESK``).

Enqueued in the transaction of the change (``defer_push``), carrying ids only. Each job is
idempotent on what the database records: a ticket that already has its conversation id, or a
message that already has the desk's message id, is not sent again (a retried job, or a webhook
that echoed our message back first and linked it). The message's own id goes to the desk with
it (Chatwoot ``content_attributes.fleetcore_message_id``; FreeScout: the thread's hidden
marker), which is how the webhook recognises the echo (``service._link_echo``). The queueing
lock ``support:<kind>:<id>`` keeps one waiting job per change.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.jobs import Backoff, JobRun, defer_many_in_transaction, tenant_task
from fleetcore.support import desk as desks
from fleetcore.support.desk import DeskUnavailable, OutboundMessage, OutboundTicket

logger = logging.getLogger(__name__)

PUSH_RETRY = Backoff(max_attempts=12, base=30.0, cap=3600.0)


def defer_push(session: Session, tenant_id: uuid.UUID, kind: str, *, ticket_id: uuid.UUID,
               message_id: uuid.UUID | None = None, status: str | None = None) -> None:
    """Enqueue one push (``ticket``, ``message`` or ``status``) in ``session``'s transaction."""
    payload: dict[str, Any] = {"tenant_id": tenant_id, "kind": kind, "ticket_id": ticket_id}
    if message_id is not None:
        payload["message_id"] = message_id
    if status is not None:
        payload["status"] = status
    defer_many_in_transaction(session, push, [payload])


@tenant_task(name="fleetcore.support.push", queue_name="default", retry=PUSH_RETRY)
def push(run: JobRun, *, kind: str, ticket_id: str, message_id: str | None = None,
         status: str | None = None) -> None:
    """Send one ticket, message or status change to the help desk, at most once."""
    assert run.tenant_id is not None
    desk = desks.current_desk()
    if desk is None:
        logger.warning("support push %s of ticket %s: no help desk configured", kind, ticket_id)
        return
    push_now(run.session, desk, run.tenant_id, kind=kind, ticket_id=uuid.UUID(ticket_id),
             message_id=uuid.UUID(message_id) if message_id else None, status=status)


def push_now(session: Session, desk: desks.SupportDesk, tenant_id: uuid.UUID, *, kind: str,
             ticket_id: uuid.UUID, message_id: uuid.UUID | None = None,
             status: str | None = None) -> str:
    """The push itself (the job's body; tests call it with a desk on a local fake):
    ``sent`` or ``skipped`` (already there)."""
    ticket = session.execute(text(
        "SELECT id, subject, description, reporter_type, reporter_id, external_system,"
        " external_id FROM sup_tickets WHERE tenant_id = :t AND id = :id FOR UPDATE"),
        {"t": tenant_id, "id": ticket_id}).one_or_none()
    if ticket is None:
        return "skipped"
    if kind == "ticket":
        if ticket.external_id is not None:
            return "skipped"
        email, name = _contact(session, tenant_id, ticket.reporter_type, ticket.reporter_id)
        if email is None:
            raise DeskUnavailable("the reporter has no e-mail address", permanent=True)
        external = desk.open_conversation(OutboundTicket(
            ticket_id=ticket.id, subject=ticket.subject,
            body=ticket.description or ticket.subject, contact_email=email,
            contact_name=name or email))
        session.execute(text(
            "UPDATE sup_tickets SET external_system = :s, external_id = :e"
            " WHERE tenant_id = :t AND id = :id"),
            {"s": desk.system, "e": external, "t": tenant_id, "id": ticket_id})
        return "sent"
    if ticket.external_id is None:
        raise DeskUnavailable("the ticket's conversation is not open in the desk yet")
    if kind == "status":
        desk.set_status(ticket.external_id, status or "open")
        return "sent"
    message = session.execute(text(
        "SELECT m.id, m.body, m.sender_type, m.is_internal_note, m.external_id, m.attachments,"
        " coalesce(mem.email, d.email) AS author_email FROM sup_ticket_messages m"
        " LEFT JOIN adm_members mem ON mem.tenant_id = m.tenant_id AND mem.id = m.sender_id"
        "  AND m.sender_type = 'member'"
        " LEFT JOIN rid_drivers d ON d.tenant_id = m.tenant_id AND d.id = m.sender_id"
        "  AND m.sender_type = 'driver'"
        " WHERE m.tenant_id = :t AND m.id = :id FOR UPDATE OF m"),
        {"t": tenant_id, "id": message_id}).one_or_none()
    if message is None or message.external_id is not None:
        return "skipped"
    external = desk.post_message(ticket.external_id, OutboundMessage(
        message_id=message.id, body=message.body,
        from_customer=message.sender_type in ("member", "driver"),
        is_internal_note=message.is_internal_note, author_email=message.author_email,
        attachment_names=tuple(str(a.get("file_name")) for a in message.attachments or ())))
    # A copy imported from a webhook that raced us (no marker matched) gives way to ours.
    session.execute(text(
        "DELETE FROM sup_ticket_messages WHERE tenant_id = :t AND external_system = :s"
        " AND external_id = :e AND id <> :id"),
        {"t": tenant_id, "s": desk.system, "e": external, "id": message.id})
    session.execute(text(
        "UPDATE sup_ticket_messages SET external_system = :s, external_id = :e"
        " WHERE tenant_id = :t AND id = :id"),
        {"s": desk.system, "e": external, "t": tenant_id, "id": message.id})
    return "sent"


def _contact(session: Session, tenant_id: uuid.UUID, reporter_type: str | None,
             reporter_id: uuid.UUID | None) -> tuple[str | None, str | None]:
    if reporter_type == "driver":
        row = session.execute(text(
            "SELECT email, first_name || ' ' || last_name AS name FROM rid_drivers"
            " WHERE tenant_id = :t AND id = :id"),
            {"t": tenant_id, "id": reporter_id}).one_or_none()
    elif reporter_type == "member":
        row = session.execute(text(
            "SELECT email, coalesce(nullif(trim(concat_ws(' ', first_name, last_name)), ''), email)"
            " AS name FROM adm_members"
            " WHERE tenant_id = :t AND id = :id"),
            {"t": tenant_id, "id": reporter_id}).one_or_none()
    else:
        row = None
    return (row.email, row.name) if row is not None else (None, None)
