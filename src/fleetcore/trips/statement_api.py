"""``/v1/drivers/{id}/statements``: one driver's week — every platform and charge together,
grouped, each group with its sources — as JSON or PDF, and e-mailing it to the driver."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from fleetcore.core.auth import tenant_of
from fleetcore.core.deps import DbSession
from fleetcore.core.errors import ValidationProblem
from fleetcore.core.jobs import defer_in_transaction
from fleetcore.core.orm import new_id
from fleetcore.trips.permissions import SettlementsRead, SettlementsWrite
from fleetcore.trips.settlement_schemas import Week
from fleetcore.trips.statement_jobs import send_statement
from fleetcore.trips.statement_render import LABELS, render_statement_pdf, statement_filename
from fleetcore.trips.statement_schemas import StatementLanguage, StatementOut, StatementSendOut
from fleetcore.trips.statement_service import build_statement, driver_email

router = APIRouter(prefix="/v1")

TAGS: list[str | Enum] = ["statements"]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such driver in this tenant."},
    422: {"description": "A bad week, language or currency."},
}
WeekQuery = Annotated[Week | None, Query(
    description="Any local day of the week (YYYY-MM-DD); default: last week.")]


def _week(week: date | None) -> date:
    """The week asked for, or last week (the latest a driver usually asks about)."""
    return week if week is not None else date.today() - timedelta(days=7)
Language = Annotated[StatementLanguage | None, Query(
    description="The statement's language; default: the driver's preferred language.")]
Currency = Annotated[str | None, Query(
    pattern="^[A-Z]{3}$", description="Only when the driver was settled in several currencies "
                                      "this week.")]


@router.get("/drivers/{driver_id}/statements", tags=TAGS, responses=_PROBLEMS,
            summary="A driver's statement of one week (all platforms and charges)")
def get_statement(
    actor: SettlementsRead, session: DbSession, driver_id: uuid.UUID, week: WeekQuery = None,
    lang: Language = None, currency: Currency = None,
) -> StatementOut:
    """Groups sum to ``total``, the sum of the week's settlements' nets; ``ledger`` is the
    driver's balance movement posted for them (equal to ``total`` once confirmed)."""
    statement = build_statement(session, actor, driver_id, _week(week),
                                language=lang.value if lang else None, currency=currency)
    return StatementOut.of(statement, LABELS[statement.language])


@router.get("/drivers/{driver_id}/statements.pdf", tags=TAGS,
            summary="A driver's statement of one week as PDF",
            response_class=Response,
            responses={**_PROBLEMS, 200: {
                "description": "The statement (PDF).",
                "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"},
                                                "example": "%PDF-1.7 …"}}}})
def get_statement_pdf(
    actor: SettlementsRead, session: DbSession, driver_id: uuid.UUID, week: WeekQuery = None,
    lang: Language = None, currency: Currency = None,
) -> Response:
    statement = build_statement(session, actor, driver_id, _week(week),
                                language=lang.value if lang else None, currency=currency)
    return Response(
        render_statement_pdf(statement), media_type="application/pdf",
        headers={"Content-Disposition":
                 f'attachment; filename="{statement_filename(statement)}"'})


@router.post("/drivers/{driver_id}/statements/send", tags=TAGS,
             status_code=status.HTTP_202_ACCEPTED,
             summary="E-mail a driver their statement of one week (PDF attached)",
             responses={**_PROBLEMS, 422: {"description": "The driver has no e-mail address, "
                                                         "or a bad week."}})
def send_statement_email(
    actor: SettlementsWrite, session: DbSession, driver_id: uuid.UUID, week: WeekQuery = None,
) -> StatementSendOut:
    """Queues the e-mail in this request's transaction; the job renders and sends it."""
    statement = build_statement(session, actor, driver_id, _week(week))
    address = driver_email(session, tenant_of(actor), driver_id)
    if address is None:
        message = "The driver has no e-mail address."
        raise ValidationProblem(message, errors=[{"field": "driver_id", "message": message}])
    first_day: date = statement.period.first_day
    job = defer_in_transaction(session, send_statement, tenant_id=actor.tenant_id,
                               driver_id=driver_id, week=first_day.isoformat(),
                               request_key=str(new_id()))
    return StatementSendOut(driver_id=driver_id, week=first_day, email=address, job=str(job))
