"""A driver's statement of one week: every platform and charge together, grouped, each group
opening onto its sources — the same HTML as the PDF the driver receives — with the PDF to
download and a button that e-mails it to the driver.

The statement is ``fleetcore.trips.statement_service``'s; its HTML is rendered by
``fleetcore.trips.statement_render`` in the driver's language (the console embeds it as is).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from fastapi.responses import HTMLResponse, Response

from fleetcore.core.jobs import defer_in_transaction
from fleetcore.core.orm import new_id
from fleetcore.trips.permissions import SettlementsRead, SettlementsWrite
from fleetcore.trips.settlement_schemas import EARLIEST_WEEK, LATEST_WEEK
from fleetcore.trips.statement_jobs import send_statement
from fleetcore.trips.statement_render import (
    render_statement_html,
    render_statement_pdf,
    statement_filename,
)
from fleetcore.trips.statement_service import build_statement, driver_email
from fleetcore.web.deps import Ctx
from fleetcore.web.i18n import N_, gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import BadLink, page_router

router = page_router()

LANGUAGES = [("", N_("The driver's language")), ("en", "English"), ("fr", "Français")]


def _week(c: Console, raw: str | None) -> date:
    """The week a link names (any local day of it); last week when none."""
    if not raw:
        return c.today - timedelta(days=c.today.weekday() + 7)
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise BadLink(f"{raw!r} is not a day (YYYY-MM-DD).") from exc
    if not EARLIEST_WEEK <= day <= LATEST_WEEK:
        raise BadLink(gettext("%(raw)s is outside the weeks the console settles.", raw=raw))
    return day


def _language(raw: str | None) -> str | None:
    if raw in (None, ""):
        return None
    if raw not in ("en", "fr"):
        raise BadLink(f"{raw!r} is not a language statements are written in.")
    return raw


@router.get("/drivers/{driver_id}/statements")
def statement_page(c: Ctx, _: SettlementsRead, driver_id: uuid.UUID, week: str | None = None,
                   lang: str | None = None) -> HTMLResponse:
    """The driver's statement of the week, the PDF link and the e-mail button."""
    statement = build_statement(c.session, c.actor, driver_id, _week(c, week),
                                language=_language(lang))
    first = statement.period.first_day
    return c.render(
        "statements/statement.html", statement=statement, body=render_statement_html(statement),
        week=first.isoformat(), lang=lang or "", languages=LANGUAGES,
        previous=(first - timedelta(days=7)).isoformat(),
        following=(first + timedelta(days=7)).isoformat(),
        email=driver_email(c.session, c.tenant.id, driver_id))


@router.get("/drivers/{driver_id}/statements.pdf")
def statement_pdf(c: Ctx, _: SettlementsRead, driver_id: uuid.UUID, week: str | None = None,
                  lang: str | None = None) -> Response:
    """The same statement as PDF (a download)."""
    statement = build_statement(c.session, c.actor, driver_id, _week(c, week),
                                language=_language(lang))
    return Response(render_statement_pdf(statement), media_type="application/pdf",
                    headers={"Content-Disposition":
                             f'attachment; filename="{statement_filename(statement)}"'})


@router.post("/drivers/{driver_id}/statements/send")
def send_statement_page(c: Ctx, _: SettlementsWrite, driver_id: uuid.UUID,
                        week: str | None = None) -> Response:
    """Queue the e-mail (PDF attached) in this request's transaction."""
    statement = build_statement(c.session, c.actor, driver_id, _week(c, week))
    first = statement.period.first_day
    address = driver_email(c.session, c.tenant.id, driver_id)
    url = f"/app/drivers/{driver_id}/statements?week={first.isoformat()}"
    if address is None:
        return redirect(c.request, url,
        flash=gettext("Not sent: the driver has no e-mail address."))
    defer_in_transaction(c.session, send_statement, tenant_id=c.tenant.id, driver_id=driver_id,
                         week=first.isoformat(), request_key=str(new_id()))
    return redirect(c.request, url, flash=gettext("The statement is on its way to %(address)s.",
                                                  address=address))
