"""``/v1/support``: tickets, their messages and notes, and customer feedback."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from fleetcore.core.deps import DbSession
from fleetcore.core.export import attribute_columns, csv_response, csv_responses
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.resource import ResourceRoutes
from fleetcore.core.versioning import RequiredIfMatch, etag
from fleetcore.support import service
from fleetcore.support.models import (
    CustomerFeedback,
    ExternalSupportSystem,
    FeedbackKind,
    SupportUserType,
    Ticket,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from fleetcore.support.permissions import SupportRead, SupportWrite
from fleetcore.support.schemas import (
    FeedbackCreate,
    FeedbackOut,
    MessageCreate,
    MessageOut,
    TicketCreate,
    TicketOut,
    TicketUpdate,
)

router = APIRouter(prefix="/v1/support", tags=["support"])


def sla_policy(request: Request) -> service.SlaPolicy:
    """The deployment's SLA hours (``SUPPORT_FIRST_RESPONSE_HOURS``/``…_RESOLUTION_HOURS``)."""
    settings = request.app.state.settings
    return service.SlaPolicy.of(settings.support_first_response_hours,
                                settings.support_resolution_hours)


def mirror(request: Request) -> service.Mirror:
    """Whether changes are pushed to a help desk (``SUPPORT_DESK``)."""
    return service.Mirror(enabled=request.app.state.settings.support_desk != "none")


Sla = Annotated[service.SlaPolicy, Depends(sla_policy)]
MirrorTo = Annotated[service.Mirror, Depends(mirror)]


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


# --- tickets -------------------------------------------------------------------------------

_TICKET_CSV = attribute_columns(
    "id", "subject", "category", "status", "priority", "reporter_type", "reporter_id",
    "assignee_id", "external_system", "external_id", "first_response_due_at",
    "first_response_at", "sla_due_at", "resolved_at", "closed_at", "created_at")


def _ticket_filter(
    ticket_status: Annotated[TicketStatus | None, Query(alias="status")] = None,
    priority: TicketPriority | None = None, assignee_id: uuid.UUID | None = None,
    reporter_type: SupportUserType | None = None, reporter_id: uuid.UUID | None = None,
    external_system: ExternalSupportSystem | None = None, overdue: bool | None = None,
) -> service.TicketFilter:
    return service.TicketFilter(
        status=ticket_status.value if ticket_status else None,
        priority=priority.value if priority else None, assignee_id=assignee_id,
        reporter_type=reporter_type.value if reporter_type else None, reporter_id=reporter_id,
        external_system=external_system.value if external_system else None, overdue=overdue)


TicketFilterQuery = Annotated[service.TicketFilter, Depends(_ticket_filter)]


_tickets = ResourceRoutes(router, "tickets", "ticket_id", "ticket", [], TicketOut,
                          TicketOut.model_validate, SupportRead, SupportWrite)
_tickets.listing("List tickets (newest first)", TicketFilterQuery, service.list_tickets,
                 page_first=True)
export_tickets = _tickets.export("Tickets as CSV (same filters)", TicketFilterQuery,
                                 service.tickets_query, _TICKET_CSV, "tickets.csv",
                                 order_by=[Ticket.id])


@router.post("/tickets", status_code=status.HTTP_201_CREATED, summary="Open a ticket")
def create_ticket(actor: SupportWrite, session: DbSession, data: TicketCreate, sla: Sla,
                  to_desk: MirrorTo, response: Response) -> TicketOut:
    ticket = service.create_ticket(session, actor, data=data, sla=sla, mirror=to_desk)
    _with_etag(response, ticket.version)
    response.headers["Location"] = f"/v1/support/tickets/{ticket.id}"
    return TicketOut.model_validate(ticket)


_tickets.get("Get a ticket", service.get_ticket, include_deleted=False)


@router.patch("/tickets/{ticket_id}",
              summary="Change a ticket's status, priority (SLA), subject or assignee (staff)")
def update_ticket(actor: SupportWrite, session: DbSession, if_match: RequiredIfMatch,
                  ticket_id: uuid.UUID, data: TicketUpdate, sla: Sla, to_desk: MirrorTo,
                  response: Response) -> TicketOut:
    ticket = service.update_ticket(session, actor, ticket_id, data=data, if_match=if_match,
                                   sla=sla, mirror=to_desk)
    _with_etag(response, ticket.version)
    return TicketOut.model_validate(ticket)


_tickets.delete("Delete a ticket", service.delete_ticket, reason=None)


# --- messages ------------------------------------------------------------------------------

_MESSAGE_CSV = attribute_columns(
    "id", "ticket_id", "sender_type", "sender_id", "body", "is_internal_note",
    "external_system", "external_id", "sent_at")


@router.get("/tickets/{ticket_id}/messages",
            summary="A ticket's messages, oldest first (internal notes: staff only)")
def list_messages(actor: SupportRead, session: DbSession, ticket_id: uuid.UUID,
                  page: Pagination) -> Page[MessageOut]:
    messages, cursor = service.list_messages(session, actor, ticket_id, page)
    return Page(items=[MessageOut.model_validate(m) for m in messages], next_cursor=cursor)


@router.get("/tickets/{ticket_id}/messages/export.csv", summary="A ticket's messages as CSV",
            response_class=StreamingResponse, responses=csv_responses(_MESSAGE_CSV))
def export_messages(actor: SupportRead, session: DbSession, ticket_id: uuid.UUID
                    ) -> StreamingResponse:
    service.get_ticket(session, actor, ticket_id)
    stmt = service.messages_query(actor, ticket_id).order_by(
        TicketMessage.sent_at, TicketMessage.id)
    return csv_response(session, stmt, _MESSAGE_CSV, filename="ticket-messages.csv")


@router.post("/tickets/{ticket_id}/messages", status_code=status.HTTP_201_CREATED,
             summary="Reply on a ticket, or leave an internal note (staff)")
def add_message(actor: SupportWrite, session: DbSession, ticket_id: uuid.UUID,
                data: MessageCreate, to_desk: MirrorTo) -> MessageOut:
    message = service.add_message(session, actor, ticket_id, data=data, mirror=to_desk)
    return MessageOut.model_validate(message)


# --- feedback ------------------------------------------------------------------------------

_FEEDBACK_CSV = attribute_columns(
    "id", "ticket_id", "kind", "rating", "comment", "submitted_by_type", "submitted_by_id",
    "created_at")


def _feedback_filter(kind: FeedbackKind | None = None, ticket_id: uuid.UUID | None = None,
                     submitted_by_type: SupportUserType | None = None
                     ) -> service.FeedbackFilter:
    return service.FeedbackFilter(
        kind=kind.value if kind else None, ticket_id=ticket_id,
        submitted_by_type=submitted_by_type.value if submitted_by_type else None)


FeedbackFilterQuery = Annotated[service.FeedbackFilter, Depends(_feedback_filter)]


@router.post("/tickets/{ticket_id}/feedback", status_code=status.HTTP_201_CREATED,
             summary="Rate a resolved ticket: CSAT 1-5 or NPS 0-10, once each")
def leave_feedback(actor: SupportWrite, session: DbSession, ticket_id: uuid.UUID,
                   data: FeedbackCreate) -> FeedbackOut:
    return FeedbackOut.model_validate(
        service.leave_feedback(session, actor, ticket_id, data=data))


_feedback = ResourceRoutes(router, "feedback", "feedback_id", "feedback", [],
                           FeedbackOut, FeedbackOut.model_validate, SupportRead, SupportWrite,
                           plural="feedback")
_feedback.listing("Customer feedback (newest first)", FeedbackFilterQuery, service.list_feedback,
                  page_first=True)
_feedback.export("Customer feedback as CSV (same filters)", FeedbackFilterQuery,
                 service.feedback_query, _FEEDBACK_CSV, "feedback.csv",
                 order_by=[CustomerFeedback.id])
