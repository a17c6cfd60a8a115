"""Support tickets: the business rules, for the API, the console, the portal and the webhooks.

Who sees what (the database enforces it, the queries say it too)
    A fleet's members see and answer their fleet's tickets (tenant RLS); a member acting as a
    driver sees only the tickets it raised (``driver_scope``, migration 0023); Fleetcore staff
    see every ticket. Internal notes are staff-only: a member's session can neither read nor
    write them (the ``staff_notes`` policy), so no page or export can leak one.

SLA
    On creation, ``first_response_due_at`` and ``sla_due_at`` (resolution) are the creation
    time plus the hours of the ticket's priority (``SUPPORT_FIRST_RESPONSE_HOURS`` /
    ``SUPPORT_RESOLUTION_HOURS``, defaults in :data:`DEFAULT_FIRST_RESPONSE_HOURS`); changing
    the priority recomputes both from the creation time. ``first_response_at`` is the first
    public reply by staff (in Fleetcore or in the help desk).

Statuses
    open, pending, resolved, closed — any to any; resolved/closed stamp ``resolved_at`` /
    ``closed_at`` (kept while closed after resolved), reopening clears them. A customer's reply
    to a pending or resolved ticket reopens it; a staff reply to an open ticket makes it pending.

Mirroring (``support.desk``)
    With a help desk configured, every ticket, message and status change made in Fleetcore is
    pushed by a job (``support.jobs``) enqueued in the same transaction; what arrives by
    webhook is applied by :func:`apply_inbound`, idempotent on the desk's ids, and never pushed
    back (no loop).

Feedback
    After resolution, the reporter's side (a member of the fleet, or the driver who raised it)
    leaves a CSAT (1 to 5) and/or an NPS (0 to 10) rating, once per kind per ticket.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.db import ActorType, DbContext, apply_context
from fleetcore.core.errors import Conflict, Forbidden, NotFound, ValidationProblem
from fleetcore.core.orm import new_id
from fleetcore.core.pagination import PageParams, equal_filters, keyset_page
from fleetcore.core.versioning import check_if_match, refresh_version
from fleetcore.support import jobs
from fleetcore.support.desk import InboundConversation, InboundMessage
from fleetcore.support.models import (
    CustomerFeedback,
    MessageSenderType,
    SupportUserType,
    Ticket,
    TicketMessage,
    TicketPriority,
    TicketStatus,
    UnroutedConversation,
)
from fleetcore.support.schemas import (
    FeedbackCreate,
    MessageCreate,
    TicketCreate,
    TicketUpdate,
)

logger = logging.getLogger(__name__)

DEFAULT_FIRST_RESPONSE_HOURS: Mapping[str, float] = {
    "urgent": 1, "high": 4, "normal": 8, "low": 24}
DEFAULT_RESOLUTION_HOURS: Mapping[str, float] = {
    "urgent": 8, "high": 24, "normal": 72, "low": 168}

DESK_ACTOR_ID = uuid.UUID("7c4e2a90-5b1d-4f3e-9a6c-2d8b0e1f3a57")
"""Who the audit trail shows for changes the help desk's webhooks make."""

OPEN_STATES = (TicketStatus.OPEN.value, TicketStatus.PENDING.value)


class StaffOnly(Forbidden):
    slug, title = "staff-only", "Fleetcore staff only"


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Hours to the first response and to resolution, per priority."""

    first_response_hours: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_FIRST_RESPONSE_HOURS))
    resolution_hours: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_RESOLUTION_HOURS))

    @classmethod
    def of(cls, first_response: Mapping[str, float] | None,
           resolution: Mapping[str, float] | None) -> SlaPolicy:
        """Configured hours over the defaults (a partial setting keeps the other defaults)."""
        return cls({**DEFAULT_FIRST_RESPONSE_HOURS, **(first_response or {})},
                   {**DEFAULT_RESOLUTION_HOURS, **(resolution or {})})

    def due(self, priority: str, start: datetime) -> tuple[datetime, datetime]:
        """(first response due, resolution due) of a ticket of ``priority`` opened at ``start``."""
        return (start + timedelta(hours=float(self.first_response_hours[priority])),
                start + timedelta(hours=float(self.resolution_hours[priority])))


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """Filters of ``GET /v1/support/tickets`` (and its export)."""

    status: str | None = None
    priority: str | None = None
    assignee_id: uuid.UUID | None = None
    reporter_type: str | None = None
    reporter_id: uuid.UUID | None = None
    external_system: str | None = None
    overdue: bool | None = None


@dataclass(frozen=True, slots=True)
class FeedbackFilter:
    kind: str | None = None
    ticket_id: uuid.UUID | None = None
    submitted_by_type: str | None = None


@dataclass(frozen=True, slots=True)
class Mirror:
    """Whether changes go to a help desk (``SUPPORT_DESK`` is not ``none``)."""

    enabled: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def _invalid(field_name: str, message: str) -> ValidationProblem:
    return ValidationProblem(message, errors=[{"field": field_name, "message": message}])


def _reporter(actor: Actor) -> tuple[str | None, uuid.UUID | None]:
    """Who the actor is on the fleet's side (None for staff)."""
    if actor.is_provider:
        return None, None
    if actor.is_portal_driver:
        if not actor.has_linked_driver:
            raise Forbidden("Only a driver linked to this account can raise tickets.")
        return SupportUserType.DRIVER.value, actor.portal_driver_id
    return SupportUserType.MEMBER.value, actor.id


def _sender(actor: Actor) -> tuple[str, uuid.UUID]:
    if actor.is_provider:
        return MessageSenderType.PROVIDER_EMPLOYEE.value, actor.id
    kind, who = _reporter(actor)
    assert kind is not None
    assert who is not None
    return kind, who


def _set_status(ticket: Ticket, status: str, at: datetime) -> None:
    ticket.status = status
    if status == TicketStatus.RESOLVED.value:
        ticket.resolved_at = ticket.resolved_at or at
        ticket.closed_at = None
    elif status == TicketStatus.CLOSED.value:
        ticket.closed_at = ticket.closed_at or at
    else:
        ticket.resolved_at = None
        ticket.closed_at = None


def _attachments(session: Session, tenant_id: uuid.UUID,
                 document_ids: Iterable[uuid.UUID]) -> list[dict[str, Any]]:
    """The attachment entries of documents of the tenant (404 naming the first unknown)."""
    ids = list(dict.fromkeys(document_ids))
    if not ids:
        return []
    rows = {r.id: r for r in session.execute(text(
        "SELECT id, file_name, mime_type, size_bytes FROM doc_documents"
        " WHERE tenant_id = :t AND id = ANY(:ids) AND deleted_at IS NULL"),
        {"t": tenant_id, "ids": ids})}
    for document_id in ids:
        if document_id not in rows:
            raise NotFound(f"No document {document_id} in this fleet.", errors=[
                {"field": "attachment_document_ids", "message": "no such document"}])
    return [{"document_id": str(i), "file_name": rows[i].file_name,
             "mime_type": rows[i].mime_type, "size_bytes": rows[i].size_bytes} for i in ids]


# --- tickets -------------------------------------------------------------------------------


def _ticket(session: Session, tenant_id: uuid.UUID, ticket_id: uuid.UUID, *,
            lock: bool = False) -> Ticket:
    stmt = select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.id == ticket_id,
                                Ticket.deleted_at.is_(None))
    ticket = session.scalar(stmt.with_for_update() if lock else stmt)
    if ticket is None:
        raise NotFound("No such ticket.")
    return ticket


def get_ticket(session: Session, actor: Actor, ticket_id: uuid.UUID) -> Ticket:
    """One ticket the actor may see (404 otherwise: another fleet's, another driver's)."""
    return _ticket(session, tenant_of(actor), ticket_id)


def create_ticket(session: Session, actor: Actor, *, data: TicketCreate, sla: SlaPolicy,
                  mirror: Mirror) -> Ticket:
    """Open a ticket as the actor (a member, a driver, or staff on the fleet's behalf)."""
    tenant_id = tenant_of(actor)
    reporter_type, reporter_id = _reporter(actor)
    now = _now()
    first_due, resolution_due = sla.due(data.priority.value, now)
    ticket = Ticket(
        id=new_id(), tenant_id=tenant_id, subject=data.subject, description=data.description,
        category=data.category, priority=data.priority.value, status=TicketStatus.OPEN.value,
        reporter_type=reporter_type, reporter_id=reporter_id,
        first_response_due_at=first_due, sla_due_at=resolution_due,
        created_by=actor.id, updated_by=actor.id)
    session.add(ticket)
    session.flush()
    if data.attachment_document_ids:
        sender_type, sender_id = _sender(actor)
        session.add(TicketMessage(
            id=new_id(), tenant_id=tenant_id, ticket_id=ticket.id, sender_type=sender_type,
            sender_id=sender_id, body=data.description or data.subject,
            attachments=_attachments(session, tenant_id, data.attachment_document_ids),
            created_by=actor.id, updated_by=actor.id))
        session.flush()
    if mirror.enabled and reporter_id is not None:
        jobs.defer_push(session, tenant_id, "ticket", ticket_id=ticket.id)
    session.refresh(ticket)
    return ticket


def update_ticket(session: Session, actor: Actor, ticket_id: uuid.UUID, *, data: TicketUpdate,
                  if_match: str, sla: SlaPolicy, mirror: Mirror) -> Ticket:
    """Change subject, category, priority (SLA moves), status, or the staff assignee."""
    tenant_id = tenant_of(actor)
    ticket = _ticket(session, tenant_id, ticket_id, lock=True)
    check_if_match(if_match, ticket.version)
    fields = data.model_fields_set
    for name in ("subject", "priority", "status"):
        if name in fields and getattr(data, name) is None:
            raise _invalid(name, f"{name} cannot be null.")
    if "assignee_id" in fields:
        if not actor.is_provider:
            raise StaffOnly("Only Fleetcore staff assign tickets.")
        if data.assignee_id is not None and session.scalar(text(
                "SELECT count(*) FROM adm_provider_employees WHERE id = :id"
                " AND deleted_at IS NULL"), {"id": data.assignee_id}) != 1:
            raise NotFound("No such staff member.", errors=[
                {"field": "assignee_id", "message": "no such staff member"}])
        ticket.assignee_id = data.assignee_id
    if data.subject is not None:
        ticket.subject = data.subject
    if "category" in fields:
        ticket.category = data.category
    if data.priority is not None and data.priority.value != ticket.priority:
        ticket.priority = data.priority.value
        ticket.first_response_due_at, ticket.sla_due_at = sla.due(
            ticket.priority, ticket.created_at)
    status_changed = data.status is not None and data.status.value != ticket.status
    if data.status is not None and status_changed:
        _set_status(ticket, data.status.value, _now())
    ticket.updated_by = actor.id
    session.flush()
    if status_changed and mirror.enabled and ticket.external_id is not None:
        jobs.defer_push(session, tenant_id, "status", ticket_id=ticket.id, status=ticket.status)
    refresh_version(session, ticket)
    return ticket


def delete_ticket(session: Session, actor: Actor, ticket_id: uuid.UUID, *, if_match: str
                  ) -> None:
    """Soft-delete a ticket (staff, or the fleet's managers holding support:write)."""
    ticket = _ticket(session, tenant_of(actor), ticket_id, lock=True)
    check_if_match(if_match, ticket.version)
    ticket.mark_deleted(actor.id, None)
    session.flush()


def tickets_query(actor: Actor, filters: TicketFilter) -> Select[Any]:
    """The actor's tickets matching ``filters`` (unpaged; list and CSV export)."""
    t = Ticket
    stmt = equal_filters(select(t).where(t.tenant_id == tenant_of(actor), t.deleted_at.is_(None)), {
        t.status: filters.status, t.priority: filters.priority, t.assignee_id: filters.assignee_id,
        t.reporter_type: filters.reporter_type, t.reporter_id: filters.reporter_id,
        t.external_system: filters.external_system})
    if actor.is_portal_driver:
        stmt = stmt.where(t.reporter_type == SupportUserType.DRIVER.value,
                          t.reporter_id == actor.portal_driver_id)
    if filters.overdue is not None:
        late = t.status.in_(OPEN_STATES) & (t.sla_due_at < _now())
        stmt = stmt.where(late if filters.overdue else ~late)
    return stmt


def list_tickets(session: Session, actor: Actor, params: PageParams, filters: TicketFilter
                 ) -> tuple[list[Ticket], str | None]:
    """Newest first."""
    return keyset_page(session, tickets_query(actor, filters), [Ticket.id], params,
                       descending=True)


# --- messages ------------------------------------------------------------------------------


def messages_query(actor: Actor, ticket_id: uuid.UUID) -> Select[Any]:
    """A ticket's messages the actor may see (notes: staff only), oldest first."""
    m = TicketMessage
    stmt = select(m).where(m.tenant_id == tenant_of(actor), m.ticket_id == ticket_id)
    if not actor.is_provider:
        stmt = stmt.where(m.is_internal_note.is_(False))
    return stmt


def list_messages(session: Session, actor: Actor, ticket_id: uuid.UUID, params: PageParams
                  ) -> tuple[list[TicketMessage], str | None]:
    get_ticket(session, actor, ticket_id)
    return keyset_page(session, messages_query(actor, ticket_id),
                       [TicketMessage.sent_at, TicketMessage.id], params)


def add_message(session: Session, actor: Actor, ticket_id: uuid.UUID, *, data: MessageCreate,
                mirror: Mirror) -> TicketMessage:
    """Reply on a ticket (or, staff only, leave an internal note)."""
    tenant_id = tenant_of(actor)
    ticket = _ticket(session, tenant_id, ticket_id, lock=True)
    if data.is_internal_note and not actor.is_provider:
        raise StaffOnly("Internal notes are for Fleetcore staff.", errors=[
            {"field": "is_internal_note", "message": "staff only"}])
    sender_type, sender_id = _sender(actor)
    now = _now()
    message = TicketMessage(
        id=new_id(), tenant_id=tenant_id, ticket_id=ticket.id, sender_type=sender_type,
        sender_id=sender_id, body=data.body, is_internal_note=data.is_internal_note,
        attachments=_attachments(session, tenant_id, data.attachment_document_ids),
        sent_at=now, created_by=actor.id, updated_by=actor.id)
    session.add(message)
    _after_message(ticket, from_staff=actor.is_provider, note=data.is_internal_note, at=now)
    ticket.updated_by = actor.id
    session.flush()
    if mirror.enabled and ticket.external_id is not None:
        jobs.defer_push(session, tenant_id, "message", ticket_id=ticket.id,
                        message_id=message.id)
    return message


def _after_message(ticket: Ticket, *, from_staff: bool, note: bool, at: datetime) -> None:
    """First response, and the status a reply moves the ticket to."""
    if note:
        return
    if from_staff:
        if ticket.first_response_at is None:
            ticket.first_response_at = at
        if ticket.status == TicketStatus.OPEN.value:
            ticket.status = TicketStatus.PENDING.value
    elif ticket.status != TicketStatus.OPEN.value:
        _set_status(ticket, TicketStatus.OPEN.value, at)


# --- feedback ------------------------------------------------------------------------------


def leave_feedback(session: Session, actor: Actor, ticket_id: uuid.UUID, *,
                   data: FeedbackCreate) -> CustomerFeedback:
    """A CSAT or NPS rating of a resolved (or closed) ticket, once per kind (409 after)."""
    tenant_id = tenant_of(actor)
    if actor.is_provider:
        raise StaffOnly("Feedback comes from the fleet's side, not from staff.")
    ticket = _ticket(session, tenant_id, ticket_id)
    if ticket.status not in (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value):
        raise Conflict("Feedback is left once the ticket is resolved.", errors=[
            {"field": "ticket_id", "message": f"the ticket is {ticket.status}"}])
    kind, who = _reporter(actor)
    assert kind is not None
    assert who is not None
    feedback = CustomerFeedback(
        id=new_id(), tenant_id=tenant_id, ticket_id=ticket.id, kind=data.kind.value,
        rating=data.rating, comment=data.comment, submitted_by_type=kind, submitted_by_id=who,
        category=ticket.category, created_by=actor.id, updated_by=actor.id)
    session.add(feedback)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"This ticket already has {data.kind.value.upper()} feedback.", errors=[
            {"field": "kind", "message": "already given for this ticket"}]) from exc
    session.refresh(feedback)
    return feedback


def feedback_query(actor: Actor, filters: FeedbackFilter) -> Select[Any]:
    f = CustomerFeedback
    return equal_filters(select(f).where(f.tenant_id == tenant_of(actor)), {
        f.kind: filters.kind, f.ticket_id: filters.ticket_id,
        f.submitted_by_type: filters.submitted_by_type})


def list_feedback(session: Session, actor: Actor, params: PageParams, filters: FeedbackFilter
                  ) -> tuple[list[CustomerFeedback], str | None]:
    return keyset_page(session, feedback_query(actor, filters), [CustomerFeedback.id], params,
                       descending=True)


# --- staff inbox (all fleets) --------------------------------------------------------------


def staff_inbox(session: Session, *, status: str | None = None, limit: int = 200
                ) -> list[Any]:
    """Every fleet's live tickets for staff (provider context, no tenant open): soonest due
    first, with the fleet's name."""
    return list(session.execute(text("""
        SELECT t.tenant_id, a.name AS tenant_name, t.id, t.subject, t.status, t.priority,
               t.assignee_id, t.external_system, t.first_response_due_at, t.first_response_at,
               t.sla_due_at, t.created_at,
               (t.status IN ('open', 'pending') AND t.sla_due_at < now()) AS overdue
          FROM sup_tickets t JOIN adm_tenants a ON a.id = t.tenant_id
         WHERE t.deleted_at IS NULL AND (CAST(:status AS text) IS NULL OR t.status = :status)
         ORDER BY (t.status IN ('open', 'pending')) DESC, t.sla_due_at NULLS LAST, t.id
         LIMIT :limit"""), {"status": status, "limit": limit}))


def unrouted_conversations(session: Session, *, limit: int = 100) -> list[UnroutedConversation]:
    """Help-desk conversations no fleet claims (provider context), latest first."""
    return list(session.scalars(select(UnroutedConversation).order_by(
        UnroutedConversation.updated_at.desc()).limit(limit)))


# --- webhooks in ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Applied:
    """What :func:`apply_inbound` did: ``processed`` or ``ignored``, for which tenant."""

    outcome: str
    tenant_id: uuid.UUID | None = None
    ticket_id: uuid.UUID | None = None
    messages_added: int = 0


def _route(session: Session, conversation: InboundConversation
           ) -> tuple[uuid.UUID, uuid.UUID | None, str | None, uuid.UUID | None] | None:
    """(tenant, ticket or None, reporter type, reporter id) of the conversation, in the
    provider context: its ticket, else its contact's e-mail — a driver or a member of exactly
    one fleet (a driver first: the portal is where they read the answer)."""
    found = session.execute(text(
        "SELECT tenant_id, id, reporter_type, reporter_id FROM sup_tickets"
        " WHERE external_system = :s AND external_id = :e"),
        {"s": conversation.system, "e": conversation.external_id}).all()
    if len(found) == 1:
        row = found[0]
        return row.tenant_id, row.id, row.reporter_type, row.reporter_id
    if len(found) > 1 or not conversation.contact_email:
        return None
    people = session.execute(text("""
        SELECT tenant_id, 'driver' AS kind, id FROM rid_drivers
         WHERE lower(email) = lower(:email) AND deleted_at IS NULL
        UNION ALL
        SELECT tenant_id, 'member', id FROM adm_members
         WHERE lower(email) = lower(:email) AND deleted_at IS NULL
        """), {"email": conversation.contact_email}).all()
    tenants = {p.tenant_id for p in people}
    if len(tenants) != 1:
        return None
    person = sorted(people, key=lambda p: p.kind != "driver")[0]
    return person.tenant_id, None, person.kind, person.id


def _employees_by_email(session: Session, emails: set[str]) -> dict[str, uuid.UUID]:
    if not emails:
        return {}
    rows = session.execute(text(
        "SELECT lower(email) AS email, id FROM adm_provider_employees"
        " WHERE lower(email) = ANY(:emails) AND deleted_at IS NULL"),
        {"emails": sorted(emails)}).all()
    return {r.email: r.id for r in rows}


def apply_inbound(session: Session, conversation: InboundConversation, *, sla: SlaPolicy,
                  request_id: str | None = None) -> Applied:
    """Apply one delivery's conversation: route it, create or update its ticket, add the
    messages not seen yet (by the desk's id), link our own echoed messages instead of importing
    them. Runs in the provider context first, then in the routed tenant's."""
    apply_context(session.connection(), DbContext.system(request_id=request_id))
    route = _route(session, conversation)
    agents = _employees_by_email(session, {
        m.author_email.lower() for m in conversation.messages
        if not m.from_customer and m.author_email})
    if route is None:
        return _keep_unrouted(session, conversation)
    tenant_id, ticket_id, reporter_type, reporter_id = route
    apply_context(session.connection(), DbContext.for_tenant(
        tenant_id, actor_type=ActorType.INTEGRATION, actor_id=DESK_ACTOR_ID,
        request_id=request_id))
    ticket = (_ticket_for_update(session, tenant_id, ticket_id) if ticket_id else None)
    if ticket is None:
        if conversation.deleted:
            return Applied("ignored", tenant_id)
        ticket = _open_from_desk(session, conversation, tenant_id, reporter_type, reporter_id,
                                 sla)
    if conversation.deleted:
        ticket.mark_deleted(DESK_ACTOR_ID, f"deleted in {conversation.system}")
        session.flush()
        return Applied("processed", tenant_id, ticket.id)
    added = 0
    for message in conversation.messages:
        added += _import_message(session, ticket, conversation.system, message, agents)
    _apply_status(ticket, conversation)
    if conversation.subject and ticket.subject.startswith("Conversation "):
        ticket.subject = conversation.subject[:300]
    ticket.updated_by = DESK_ACTOR_ID
    session.flush()
    return Applied("processed", tenant_id, ticket.id, added)


def _ticket_for_update(session: Session, tenant_id: uuid.UUID, ticket_id: uuid.UUID
                       ) -> Ticket | None:
    return session.scalar(select(Ticket).where(
        Ticket.tenant_id == tenant_id, Ticket.id == ticket_id).with_for_update())


def _open_from_desk(session: Session, conversation: InboundConversation, tenant_id: uuid.UUID,
                    reporter_type: str | None, reporter_id: uuid.UUID | None, sla: SlaPolicy
                    ) -> Ticket:
    """The ticket of a conversation opened in the desk; concurrent deliveries create it once
    (``ON CONFLICT`` on the tenant's desk id)."""
    first = next((m for m in conversation.messages if m.from_customer), None)
    opened = (first.sent_at if first and first.sent_at else None) or _now()
    first_due, resolution_due = sla.due(TicketPriority.NORMAL.value, opened)
    subject = (conversation.subject or (first.body.splitlines()[0] if first else "")
               or f"Conversation {conversation.external_id}")[:300]
    session.execute(text("""
        INSERT INTO sup_tickets (tenant_id, id, reporter_type, reporter_id, subject, description,
                                 status, priority, external_system, external_id,
                                 first_response_due_at, sla_due_at, created_at, created_by)
        VALUES (:t, :id, :rt, :rid, :subject, :description, 'open', 'normal', :s, :e,
                :first_due, :due, :opened, :actor)
        ON CONFLICT (tenant_id, external_system, external_id) DO NOTHING"""), {
        "t": tenant_id, "id": new_id(), "rt": reporter_type, "rid": reporter_id,
        "subject": subject, "description": first.body if first else None,
        "s": conversation.system, "e": conversation.external_id, "first_due": first_due,
        "due": resolution_due, "opened": opened, "actor": DESK_ACTOR_ID})
    ticket = session.scalar(select(Ticket).where(
        Ticket.tenant_id == tenant_id, Ticket.external_system == conversation.system,
        Ticket.external_id == conversation.external_id).with_for_update()
        .execution_options(populate_existing=True))
    assert ticket is not None
    return ticket


def _import_message(session: Session, ticket: Ticket, system: str, message: InboundMessage,
                    agents: Mapping[str, uuid.UUID]) -> int:
    """1 if the message is new to the ticket, 0 if known or our own echo (then linked)."""
    if _link_echo(session, ticket, system, message):
        return 0
    if message.from_customer and ticket.reporter_type is not None:
        sender_type, sender_id = ticket.reporter_type, ticket.reporter_id
    elif message.from_customer:
        sender_type, sender_id = MessageSenderType.SYSTEM.value, None
    else:
        sender_type = MessageSenderType.PROVIDER_EMPLOYEE.value
        sender_id = agents.get((message.author_email or "").lower())
    at = message.sent_at or _now()
    inserted = session.execute(text("""
        INSERT INTO sup_ticket_messages (tenant_id, id, ticket_id, sender_type, sender_id, body,
                                         attachments, is_internal_note, external_system,
                                         external_id, sent_at, metadata, created_by)
        VALUES (:t, :id, :ticket, :st, :sid, :body, CAST(:attachments AS jsonb), :note, :s, :e,
                :at, CAST(:meta AS jsonb), :actor)
        ON CONFLICT (tenant_id, external_system, external_id) DO NOTHING RETURNING id"""), {
        "t": ticket.tenant_id, "id": new_id(), "ticket": ticket.id, "st": sender_type,
        "sid": sender_id, "body": message.body or "(no text)",
        "attachments": _json([dict(a) for a in message.attachments]),
        "note": message.is_internal_note, "s": system, "e": message.external_id, "at": at,
        "meta": _json({"author_name": message.author_name} if message.author_name else {}),
        "actor": DESK_ACTOR_ID}).scalar_one_or_none()
    if inserted is None:
        return 0
    _after_message(ticket, from_staff=not message.from_customer, note=message.is_internal_note,
                   at=at)
    return 1


def _link_echo(session: Session, ticket: Ticket, system: str, message: InboundMessage) -> bool:
    """Whether ``message`` is one of ours coming back: by the id we sent with it, else (a desk
    that drops it) an unsent message of the ticket with the same text. Linking it records the
    desk's id on our row, so neither a redelivery nor the push job duplicates it."""
    if message.fleetcore_id is not None:
        linked = session.execute(text(
            "UPDATE sup_ticket_messages SET external_system = :s, external_id = :e"
            " WHERE tenant_id = :t AND id = :id AND ticket_id = :ticket"
            " AND (external_id IS NULL OR external_id = :e) RETURNING id"),
            {"s": system, "e": message.external_id, "t": ticket.tenant_id,
             "id": message.fleetcore_id, "ticket": ticket.id}).scalar_one_or_none()
        if linked is not None:
            return True
    known = session.scalar(text(
        "SELECT count(*) FROM sup_ticket_messages WHERE tenant_id = :t"
        " AND external_system = :s AND external_id = :e"),
        {"t": ticket.tenant_id, "s": system, "e": message.external_id})
    if known:
        return True
    pending = session.execute(text(
        "UPDATE sup_ticket_messages SET external_system = :s, external_id = :e"
        " WHERE tenant_id = :t AND id = (SELECT id FROM sup_ticket_messages"
        "   WHERE tenant_id = :t AND ticket_id = :ticket AND external_id IS NULL"
        "   AND created_by IS DISTINCT FROM :desk AND body = :body ORDER BY sent_at LIMIT 1)"
        " RETURNING id"),
        {"s": system, "e": message.external_id, "t": ticket.tenant_id, "ticket": ticket.id,
         "desk": DESK_ACTOR_ID, "body": message.body}).scalar_one_or_none()
    return pending is not None


def _apply_status(ticket: Ticket, conversation: InboundConversation) -> None:
    """The desk's status, unless the ticket already holds a newer one (reordered deliveries)."""
    if conversation.status is None:
        return
    meta = dict(ticket.extra or {})
    seen = meta.get("desk_status_at")
    at = conversation.status_at
    if seen and at is not None and datetime.fromisoformat(seen) > at:
        return
    if conversation.status != ticket.status:
        _set_status(ticket, conversation.status, at or _now())
    if at is not None:
        meta["desk_status_at"] = at.isoformat()
        ticket.extra = meta


def _keep_unrouted(session: Session, conversation: InboundConversation) -> Applied:
    """No fleet claims the conversation: staff keep it (provider context), messages merged by
    the desk's id."""
    row = session.scalar(select(UnroutedConversation).where(
        UnroutedConversation.external_system == conversation.system,
        UnroutedConversation.external_id == conversation.external_id).with_for_update())
    if row is None:
        session.execute(text(
            "INSERT INTO sup_unrouted_conversations (id, external_system, external_id)"
            " VALUES (:id, :s, :e) ON CONFLICT (external_system, external_id) DO NOTHING"),
            {"id": new_id(), "s": conversation.system, "e": conversation.external_id})
        row = session.scalar(select(UnroutedConversation).where(
            UnroutedConversation.external_system == conversation.system,
            UnroutedConversation.external_id == conversation.external_id).with_for_update())
    assert row is not None
    known = {m.get("external_id") for m in row.messages}
    new = [{"external_id": m.external_id, "body": m.body,
            "from_customer": m.from_customer, "is_internal_note": m.is_internal_note,
            "author": m.author_name or m.author_email,
            "sent_at": m.sent_at.isoformat() if m.sent_at else None}
           for m in conversation.messages if m.external_id not in known]
    if new:
        row.messages = [*row.messages, *new]
    row.contact_email = conversation.contact_email or row.contact_email
    row.contact_name = conversation.contact_name or row.contact_name
    row.subject = conversation.subject or row.subject
    if conversation.status is not None:
        row.status = conversation.status
    session.flush()
    return Applied("ignored" if conversation.deleted else "processed", None,
                   messages_added=len(new))


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


# --- jobs' side ----------------------------------------------------------------------------


def mark_mirrored(session: Session, tenant_id: uuid.UUID, *, ticket_id: uuid.UUID,
                  system: str, external_id: str) -> None:
    """Record the desk's conversation id of a ticket opened from Fleetcore."""
    session.execute(update(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.id == ticket_id)
                    .values(external_system=system, external_id=external_id))
