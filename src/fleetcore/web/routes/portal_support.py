"""The driver portal's help pages (``/driver/support``): a driver asks the fleet's support,
reads the answers, answers back and rates a resolved question. The support service files each
ticket as the driver's own; the database shows a driver only the tickets they raised and never
an internal note (migration 0023), whatever these pages do."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi.responses import HTMLResponse, Response

from fleetcore.core.errors import Problem
from fleetcore.core.pagination import PageParams
from fleetcore.support import api as support_api
from fleetcore.support import service as support_service
from fleetcore.support.models import FeedbackKind
from fleetcore.support.schemas import FeedbackCreate, MessageCreate, TicketCreate
from fleetcore.web.deps import Form
from fleetcore.web.rendering import redirect
from fleetcore.web.routes.portal import Me, PortalWrite, message_of
from fleetcore.web.security import PORTAL_PATH

LIMIT = 50


def _tickets(me: Me) -> list[object]:
    tickets, _ = support_service.list_tickets(
        me.console.session, me.console.actor, PageParams(limit=LIMIT),
        support_service.TicketFilter())
    return list(tickets)


def support(me: Me) -> HTMLResponse:
    """My questions to the fleet, and the form of a new one."""
    return me.render("portal/support.html", tickets=_tickets(me), values={}, error=None)


def new_ticket(me: Me, _: PortalWrite, form: Form) -> Response:
    """Ask a question (a ticket raised by me)."""
    c = me.console
    values = {k: str(form.get(k) or "").strip() for k in ("subject", "description")}
    try:
        data = TicketCreate.model_validate(
            {"subject": values["subject"], "description": values["description"] or None})
        ticket = support_service.create_ticket(
            c.session, c.actor, data=data, sla=support_api.sla_policy(c.request),
            mirror=support_api.mirror(c.request))
    except (Problem, ValueError) as exc:
        return me.render("portal/support.html", tickets=_tickets(me), values=values,
                         error=message_of(exc))
    return redirect(c.request, f"{PORTAL_PATH}/support/{ticket.id}?lang={me.lang}",
                    flash=me.t["ticket_sent"])


def _ticket_page(me: Me, ticket_id: uuid.UUID, error: str | None = None) -> HTMLResponse:
    c = me.console
    ticket = support_service.get_ticket(c.session, c.actor, ticket_id)
    messages, _ = support_service.list_messages(c.session, c.actor, ticket_id,
                                                PageParams(limit=500))
    return me.render("portal/ticket.html", ticket=ticket, messages=messages, error=error)


def ticket(me: Me, ticket_id: uuid.UUID) -> HTMLResponse:
    """One question and its answers."""
    return _ticket_page(me, ticket_id)


def _on_ticket(me: Me, ticket_id: uuid.UUID, act: Callable[[], object], flash: str
               ) -> Response:
    """Do ``act`` on my ticket, back to it (a refusal is shown on the ticket; not mine: 404)."""
    try:
        act()
    except (Problem, ValueError) as exc:
        if isinstance(exc, Problem) and exc.status == 404:
            raise
        return _ticket_page(me, ticket_id, error=message_of(exc))
    return redirect(me.console.request, f"{PORTAL_PATH}/support/{ticket_id}?lang={me.lang}",
                    flash=flash)


def answer(me: Me, _: PortalWrite, ticket_id: uuid.UUID, form: Form) -> Response:
    """Answer on my question."""
    c = me.console
    return _on_ticket(me, ticket_id, lambda: support_service.add_message(
        c.session, c.actor, ticket_id,
        data=MessageCreate.model_validate({"body": str(form.get("body") or "")}),
        mirror=support_api.mirror(c.request)), me.t["reply_sent"])


def rate(me: Me, _: PortalWrite, ticket_id: uuid.UUID, form: Form) -> Response:
    """Rate a resolved question (CSAT, 1 to 5)."""
    c = me.console
    return _on_ticket(me, ticket_id, lambda: support_service.leave_feedback(
        c.session, c.actor, ticket_id, data=FeedbackCreate.model_validate(
            {"kind": FeedbackKind.CSAT, "rating": str(form.get("rating") or "")})),
        me.t["thanks"])


ROUTES: tuple[tuple[str, Callable[..., Response], list[str]], ...] = (
    ("/support", support, ["GET"]), ("/support", new_ticket, ["POST"]),
    ("/support/{ticket_id}", ticket, ["GET"]), ("/support/{ticket_id}", answer, ["POST"]),
    ("/support/{ticket_id}/feedback", rate, ["POST"]),
)
"""The pages, added to the portal's router by ``portal.portal_router``."""
