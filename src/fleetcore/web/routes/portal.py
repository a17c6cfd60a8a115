"""The driver portal under ``/driver``: a driver's own car, shifts, documents, requests,
weekly statements, payments, tolls and fines, on a phone, in the driver's language.

A driver signs in as a member holding only the built-in ``driver`` role (``portal:*``); the
member is the driver whose ``rid_drivers.member_id`` it is. The routes filter on that driver,
and the database enforces it regardless: such a session's transactions carry
``app.driver_id`` and the ``driver_scope`` policies (migration 0020) hide every other driver's
rows, so another driver's id is a 404 here whatever a route does.

The portal reuses the console's machinery (sign-in by the ``__session`` cookie, CSRF, the
request's transaction, problem pages) with its own small mobile-first layout.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require
from fleetcore.core.errors import Forbidden, Problem, ValidationProblem
from fleetcore.documents import queries as documents_queries
from fleetcore.documents import service as documents_service
from fleetcore.documents.api import document_storage, link_signer
from fleetcore.documents.models import DocumentEntityType, DocumentType
from fleetcore.documents.schemas import DocumentUpload
from fleetcore.drivers import queries as drivers_queries
from fleetcore.drivers.models import DocumentRequirement, DriverRequestType
from fleetcore.drivers.schemas import DriverDocumentAttach, DriverRequestCreate
from fleetcore.drivers.service import attach_document
from fleetcore.finance import queries as finance_queries
from fleetcore.fleet import queries as fleet_queries
from fleetcore.scheduling import queries as scheduling_queries
from fleetcore.scheduling.driver_decisions_service import create_driver_request
from fleetcore.trips.statement_render import (
    render_statement_html,
    render_statement_pdf,
    statement_filename,
)
from fleetcore.trips.statement_service import build_statement
from fleetcore.web.deps import Ctx, Form, csrf_protect
from fleetcore.web.errors import ConsoleRoute
from fleetcore.web.forms import attempt
from fleetcore.web.portal_words import PORTAL_LANGUAGES, WORDS, portal_language
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes import auth
from fleetcore.web.routes.base import BadLink, day_start
from fleetcore.web.security import PORTAL_PATH

PortalRead = Annotated[Actor, Require("portal:read")]
PortalWrite = Annotated[Actor, Require("portal:write")]

REQUEST_KINDS = (DriverRequestType.LEAVE, DriverRequestType.VEHICLE_CHANGE,
                 DriverRequestType.ADVANCE_PAYMENT, DriverRequestType.OTHER)
DOCUMENT_TYPES = (DocumentType.DRIVER_LICENCE, DocumentType.PROFESSIONAL_CARD,
                  DocumentType.ID_CARD, DocumentType.OTHER)
"""What a driver files about themself (the fleet's documents are the staff's)."""
STATEMENT_LANGUAGES = ("en", "fr")
"""Statements are written in English and French (``fleetcore.trips.statement_render``)."""
ALERT_DAYS = 30


class NotADriver(Forbidden):
    slug, title = "not-a-driver", "Drivers only"


@dataclass
class Portal:
    """One portal request: the console machinery, the driver and the language."""

    console: Console
    driver_id: uuid.UUID
    driver_name: str
    lang: str

    @property
    def t(self) -> dict[str, str]:
        """The portal's words in the request's language."""
        return WORDS[self.lang]

    def render(self, template: str, **context: Any) -> HTMLResponse:
        return self.console.render(template, portal=self, t=self.t, lang=self.lang,
                                   languages=PORTAL_LANGUAGES, PORTAL=PORTAL_PATH, **context)


def portal_driver(c: Ctx, actor: PortalRead, lang: str | None = None) -> Portal:
    """The signed-in driver (a member acting as a driver, linked to a live driver)."""
    driver_id = actor.portal_driver_id
    if not actor.has_linked_driver or driver_id is None:
        raise NotADriver(WORDS[portal_language(lang, None)]["not_a_driver"])
    row = drivers_queries.portal_driver(c.session, c.tenant.id, driver_id)
    if row is None:
        raise NotADriver(WORDS[portal_language(lang, None)]["not_a_driver"])
    return Portal(c, row.id, f"{row.first_name} {row.last_name}".strip(),
                  portal_language(lang, row.preferred_language))


Me = Annotated[Portal, Depends(portal_driver)]


def portal_router() -> APIRouter:
    """The portal's pages under ``/driver`` (same CSRF and sign-in rules as the console)."""
    router = APIRouter(prefix=PORTAL_PATH, route_class=ConsoleRoute, include_in_schema=False,
                       dependencies=[Depends(csrf_protect)])
    for path, endpoint, methods in (
        ("", home, ["GET"]), ("/documents", documents, ["GET"]),
        ("/documents", upload, ["POST"]),
        ("/documents/{document_id}/download", download, ["GET"]),
        ("/requests", requests, ["GET"]), ("/requests", new_request, ["POST"]),
        ("/statements", statements, ["GET"]), ("/statements.pdf", statement_pdf, ["GET"]),
        ("/payments", payments, ["GET"]), ("/charges", charges, ["GET"]),
        # The portal's forms carry the portal's CSRF token (its nonce cookie is scoped to
        # /driver): signing out is the console's handler under the portal's path.
        ("/sign-out", auth.sign_out, ["POST"]),
    ):
        router.add_api_route(path, endpoint, methods=methods)
    # Help pages (support tickets) live in their own module, which imports this one.
    from fleetcore.web.routes import portal_support

    for help_path, help_page, help_methods in portal_support.ROUTES:
        router.add_api_route(help_path, help_page, methods=help_methods)
    return router


def home(me: Me) -> HTMLResponse:
    """My car now and its handover, this week's shifts, documents to renew."""
    c = me.console
    car = fleet_queries.driver_current_cars(c.session, c.tenant.id, me.driver_id)
    monday = c.today - timedelta(days=c.today.weekday())
    start = day_start(monday, c.tenant.zone)
    shifts = scheduling_queries.driver_shifts_between(c.session, c.tenant.id, me.driver_id,
                                                      start, start + timedelta(days=7))
    alerts = documents_queries.expiring_driver_documents(
        c.session, c.tenant.id, me.driver_id, c.today + timedelta(days=ALERT_DAYS))
    return me.render("portal/home.html", car=car[0] if car else None, shifts=shifts,
                     alerts=alerts)


def _documents(me: Me) -> list[Any]:
    return documents_queries.driver_documents(me.console.session, me.console.tenant.id,
                                              me.driver_id)


def documents(me: Me) -> HTMLResponse:
    """My documents: status and expiry, and the form to file a new one."""
    return me.render("portal/documents.html", documents=_documents(me), types=DOCUMENT_TYPES,
                     error=None)


def upload(me: Me, _: PortalWrite, form: Form) -> Response:
    """File a document about myself through the documents service (it waits for review)."""
    c = me.console
    file = form.get("file")
    settings = c.request.app.state.settings

    def store() -> None:
        if not isinstance(file, UploadFile) or not file.filename:
            raise ValidationProblem("Choose a file.", errors=[
                {"field": "file", "message": "choose a file (PDF, JPEG, PNG, WebP or HEIC)"}])
        data = DocumentUpload.model_validate({
            "entity_type": DocumentEntityType.DRIVER, "entity_id": me.driver_id,
            "document_type": str(form.get("document_type") or ""),
            "expires_on": str(form.get("expires_on") or "") or None})
        document = documents_service.upload_document(
            c.session, c.actor, document_storage(c.request), data=data, file=file.file,
            file_name=file.filename, declared_type=file.content_type,
            max_bytes=settings.document_max_bytes)
        attach_document(c.session, c.actor, me.driver_id, data=DriverDocumentAttach(
            document_id=document.id, requirement=DocumentRequirement.REQUIRED))

    try:
        attempt(c.session, store)
    except (Problem, ValueError) as exc:
        return me.render("portal/documents.html", documents=_documents(me),
                         types=DOCUMENT_TYPES, error=_message(exc))
    return redirect(c.request, f"{PORTAL_PATH}/documents?lang={me.lang}",
                    flash=me.t["document_sent"])


def _message(exc: Exception) -> str:
    """What went wrong with a form, field by field."""
    if isinstance(exc, Problem):
        errors = getattr(exc, "errors", None) or []
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors)
        return fields or exc.detail
    errors_of = getattr(exc, "errors", None)
    if callable(errors_of):
        return "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}"
                         for e in errors_of())
    return str(exc)


message_of = _message
"""What went wrong with a portal form (for the portal's other page modules)."""


def download(me: Me, document_id: uuid.UUID) -> Response:
    """One of my documents (or a fine's scan of mine) through a short-lived signed link."""
    c = me.console
    settings = c.request.app.state.settings
    link = documents_service.create_download_link(
        c.session, c.actor, document_storage(c.request), link_signer(c.request), document_id,
        ttl_seconds=settings.document_link_ttl_seconds)
    return RedirectResponse(link.url, status_code=303)


def _requests(me: Me) -> list[Any]:
    return drivers_queries.driver_requests(me.console.session, me.console.tenant.id,
                                           me.driver_id)


def _vehicles(me: Me) -> list[Any]:
    """The cars a vehicle change may ask for (plates only): the fleet's cars in service, not
    the one I drive now. Retired, sold, idle cars and cars in the garage are not offered."""
    return fleet_queries.vehicles_to_change_to(me.console.session, me.console.tenant.id,
                                               me.driver_id)


def requests(me: Me) -> HTMLResponse:
    """My requests and the form of a new one."""
    return me.render("portal/requests.html", requests=_requests(me), kinds=REQUEST_KINDS,
                     vehicles=_vehicles(me), values={}, error=None)


def _instant(me: Me, raw: str, end: bool) -> datetime | None:
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError as exc:
        raise BadLink(f"{raw!r} is not a day (YYYY-MM-DD).") from exc
    local = datetime.combine(day + timedelta(days=1) if end else day, time(0),
                             tzinfo=me.console.tenant.zone)
    return local.astimezone(UTC)


def new_request(me: Me, _: PortalWrite, form: Form) -> Response:
    """File a request for myself (leave, vehicle change, advance); pending review."""
    values = {k: str(form.get(k) or "").strip() for k in
              ("request_type", "period_start", "period_end", "amount", "reason",
               "requested_vehicle_id")}
    try:
        amount = values["amount"].replace(",", ".")
        data = DriverRequestCreate.model_validate({
            "driver_id": me.driver_id, "request_type": values["request_type"],
            "period_start": _instant(me, values["period_start"], False),
            "period_end": _instant(me, values["period_end"], True),
            "reason": values["reason"] or None,
            "requested_vehicle_id": values["requested_vehicle_id"] or None,
            "amount": {"amount": amount, "currency": me.console.tenant.currency}
            if amount else None,
        })
        create_driver_request(me.console.session, me.console.actor, data=data)
    except (Problem, ValueError) as exc:
        return me.render("portal/requests.html", requests=_requests(me), kinds=REQUEST_KINDS,
                         vehicles=_vehicles(me), values=values, error=_message(exc))
    return redirect(me.console.request, f"{PORTAL_PATH}/requests?lang={me.lang}",
                    flash=me.t["request_sent"])


def _week(me: Me, raw: str | None) -> Any:
    today = me.console.today
    if not raw:
        return today - timedelta(days=today.weekday() + 7)
    try:
        return datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError as exc:
        raise BadLink(f"{raw!r} is not a day (YYYY-MM-DD).") from exc


def _statement(me: Me, week: str | None) -> Any:
    language = me.lang if me.lang in STATEMENT_LANGUAGES else None
    return build_statement(me.console.session, me.console.actor, me.driver_id, _week(me, week),
                           language=language)


def statements(me: Me, week: str | None = None) -> HTMLResponse:
    """My statement of a week (last week by default), as the PDF shows it."""
    statement = _statement(me, week)
    first = statement.period.first_day
    return me.render("portal/statements.html", statement=statement,
                     body=render_statement_html(statement), week=first.isoformat(),
                     previous=(first - timedelta(days=7)).isoformat(),
                     following=(first + timedelta(days=7)).isoformat())


def statement_pdf(me: Me, week: str | None = None) -> Response:
    """The same statement as a PDF download."""
    statement = _statement(me, week)
    return Response(render_statement_pdf(statement), media_type="application/pdf",
                    headers={"Content-Disposition":
                             f'attachment; filename="{statement_filename(statement)}"'})


def payments(me: Me) -> HTMLResponse:
    """My payments (payout batches' lines)."""
    rows = finance_queries.driver_payments(me.console.session, me.console.tenant.id,
                                           me.driver_id)
    return me.render("portal/payments.html", payments=rows)


def charges(me: Me) -> HTMLResponse:
    """My tolls and fines, with the fine's scan as evidence."""
    session, tenant = me.console.session, me.console.tenant.id
    tolls = finance_queries.driver_tolls(session, tenant, me.driver_id)
    fines = finance_queries.driver_fines(session, tenant, me.driver_id)
    return me.render("portal/charges.html", tolls=tolls, fines=fines)


__all__ = ["portal_router"]
