"""Support: a fleet's tickets with Fleetcore — open one, read and answer the conversation, mark
it resolved, rate the answer. Staff who opened the fleet also see internal notes, write them,
and assign tickets (the service decides who may do what; the database hides notes from
members whatever a page does)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel

from fleetcore.admin import queries as admin_queries
from fleetcore.core.pagination import PageParams
from fleetcore.drivers import queries as drivers_queries
from fleetcore.support import api as support_api
from fleetcore.support import queries as support_queries
from fleetcore.support import service as support_service
from fleetcore.support.models import FeedbackKind, TicketPriority, TicketStatus
from fleetcore.support.permissions import SupportRead, SupportWrite
from fleetcore.support.schemas import FeedbackCreate, MessageCreate, TicketCreate, TicketUpdate
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormState,
    not_found_raised,
    optional,
    submit,
    text_values,
)
from fleetcore.web.i18n import gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import enum_value, form_if_match, options, page, page_router

router = page_router()
M = TypeVar("M", bound=BaseModel)

FIELDS = ("subject", "description", "category", "priority")
MESSAGE_LIMIT = 500


def _filter(status: str | None) -> support_service.TicketFilter:
    return support_service.TicketFilter(status=status)


def _people(c: Console, tickets: list[Any]) -> dict[uuid.UUID, str]:
    """Names of the tickets' reporters (members and drivers) in one query each."""
    members = {t.reporter_id for t in tickets if t.reporter_type == "member"}
    drivers = {t.reporter_id for t in tickets if t.reporter_type == "driver"}
    names = admin_queries.member_names(c.session, c.tenant.id, members)
    names.update(drivers_queries.driver_names(c.session, c.tenant.id, drivers))
    return names


def _list(c: Console, *, status: str | None, cursor: str | None, state: FormState,
          status_code: int = 200) -> HTMLResponse:
    tickets, next_cursor = support_service.list_tickets(c.session, c.actor, page(cursor),
                                                        _filter(status))
    return c.render("support/list.html", status_code=status_code, tickets=tickets,
                    next_cursor=next_cursor, params={"status": status}, state=state,
                    people=_people(c, tickets), statuses=options(TicketStatus),
                    priorities=options(TicketPriority))


@router.get("/support")
def ticket_list(c: Ctx, _: SupportRead, status: str | None = None,
                cursor: str | None = None) -> HTMLResponse:
    """The fleet's tickets, newest first, and the form to open one."""
    return _list(c, status=enum_value(TicketStatus, status, "status"), cursor=cursor,
                 state=FormState(values={"priority": "normal"}))


@router.get("/support/export.csv")
def ticket_export(c: Ctx, _: SupportRead, status: str | None = None) -> StreamingResponse:
    """The listed tickets as the API's CSV (``GET /v1/support/tickets/export.csv``)."""
    return support_api.export_tickets(
        c.actor, c.session, _filter(enum_value(TicketStatus, status, "status")))


@router.post("/support")
def open_ticket(c: Ctx, _: SupportWrite, form: Form) -> Response:
    """Open a ticket (the list comes back with the refused fields marked)."""
    state = FormState(values=text_values(form, FIELDS))
    values = optional(state.values, "description", "category")
    ticket = submit(c.session, state, TicketCreate,
                    {k: v for k, v in values.items() if v is not None},
                    lambda data: support_service.create_ticket(
                        c.session, c.actor, data=data, sla=support_api.sla_policy(c.request),
                        mirror=support_api.mirror(c.request)),
                    lambda s, code: _list(c, status=None, cursor=None, state=s,
                                          status_code=code))
    if isinstance(ticket, Response):
        return ticket
    return redirect(c.request, f"/app/support/{ticket.id}", flash=gettext("Your ticket is open."))


def _detail(c: Console, ticket_id: uuid.UUID, *, state: FormState | None = None,
            status_code: int = 200) -> HTMLResponse:
    ticket = support_service.get_ticket(c.session, c.actor, ticket_id)
    messages, _ = support_service.list_messages(c.session, c.actor, ticket_id,
                                                PageParams(limit=MESSAGE_LIMIT))
    staff = admin_queries.provider_staff(c.session) if c.actor.is_provider else []
    feedback = support_queries.ticket_feedback(c.session, c.tenant.id, ticket_id)
    return c.render("support/detail.html", status_code=status_code, ticket=ticket,
                    messages=messages, people=_people(c, [ticket]), staff=staff,
                    feedback=feedback, state=state or FormState(),
                    statuses=options(TicketStatus), kinds=options(FeedbackKind),
                    is_staff=c.actor.is_provider)


@router.get("/support/{ticket_id}")
def ticket_detail(c: Ctx, _: SupportRead, ticket_id: uuid.UUID) -> HTMLResponse:
    """One ticket: the conversation, the reply form, its status and SLA."""
    return _detail(c, ticket_id)


def _submit(c: Console, ticket_id: uuid.UUID, state: FormState, model: type[M],
            values: dict[str, Any], change: Callable[[M], object], flash: str) -> Response:
    """Validate ``values`` as ``model``, apply ``change`` in a savepoint, back to the ticket;
    a refusal re-renders the ticket with the fields marked (another fleet's ticket: 404)."""
    refused = submit(c.session, state, model, values, change,
                     lambda s, code: _detail(c, ticket_id, state=s, status_code=code),
                     adjust=not_found_raised)
    if isinstance(refused, Response):
        return refused
    return redirect(c.request, f"/app/support/{ticket_id}", flash=flash)


@router.post("/support/{ticket_id}/messages")
def reply(c: Ctx, _: SupportWrite, ticket_id: uuid.UUID, form: Form) -> Response:
    """Answer on the ticket (staff: or leave an internal note)."""
    state = FormState(values=text_values(form, ("body",)))
    values = {"body": state.values.get("body", ""),
              "is_internal_note": form.get("is_internal_note") == "1"}
    return _submit(c, ticket_id, state, MessageCreate, values, lambda data: (
        support_service.add_message(c.session, c.actor, ticket_id, data=data,
                                    mirror=support_api.mirror(c.request))), "Sent.")


@router.post("/support/{ticket_id}/status")
def change(c: Ctx, _: SupportWrite, ticket_id: uuid.UUID, form: Form) -> Response:
    """Move the ticket to another status (and, staff, assign it)."""
    values: dict[str, Any] = {}
    if form.get("status"):
        values["status"] = enum_value(TicketStatus, str(form.get("status")), "status")
    if c.actor.is_provider and "assignee_id" in form:
        values["assignee_id"] = str(form.get("assignee_id") or "") or None
    if_match = form_if_match(form.get("version"), "ticket")
    state = FormState(values={k: str(v or "") for k, v in values.items()})
    return _submit(c, ticket_id, state, TicketUpdate, values, lambda data: (
        support_service.update_ticket(
            c.session, c.actor, ticket_id, data=data, if_match=if_match,
            sla=support_api.sla_policy(c.request), mirror=support_api.mirror(c.request))),
        gettext("Ticket updated."))


@router.post("/support/{ticket_id}/feedback")
def rate(c: Ctx, _: SupportWrite, ticket_id: uuid.UUID, form: Form) -> Response:
    """Rate a resolved ticket (CSAT 1-5 or NPS 0-10, once each)."""
    state = FormState(values=text_values(form, ("kind", "rating", "comment")))
    values = {k: v for k, v in optional(state.values, "comment").items() if v is not None}
    return _submit(c, ticket_id, state, FeedbackCreate, values, lambda data: (
        support_service.leave_feedback(c.session, c.actor, ticket_id, data=data)),
        gettext("Thank you for your rating."))
