"""Tolls: the charges (filters by status, plate, driver), a charge entered by hand, the import
of a toll-operator statement, resolving unassigned charges again, and disputing one.

A refused statement comes back with every refused line listed (row, column, reason): nothing
of it was stored.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from fleetcore.core.choices import Choice
from fleetcore.core.errors import Problem
from fleetcore.drivers import queries as drivers_queries
from fleetcore.finance import charges_service as finance_service
from fleetcore.finance.charges_schemas import TollCreate, TollDispute
from fleetcore.finance.models import TollStatus, TollTransaction
from fleetcore.finance.permissions import TollsRead, TollsWrite
from fleetcore.finance.toll_statements import formats
from fleetcore.fleet import queries as fleet_queries
from fleetcore.revenue.service import read_upload
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormState,
    apply_problem,
    attempt,
    drop_empty,
    local_datetime,
    money_input,
    not_found_raised,
    submit,
    text_values,
)
from fleetcore.web.i18n import gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import (
    enum_value,
    form_if_match,
    options,
    page,
    page_router,
    uuid_value,
)

router = page_router()

FIELDS = ("vehicle_id", "plate", "occurred_at", "amount", "operator", "gate",
          "external_reference")
IMPORT_FIELDS = ("format", "currency")


def choices(rows: list[Choice]) -> list[tuple[str, str]]:
    """``(id, label)`` options of a select."""
    return [(str(r.value), r.label) for r in rows]


def row_errors(problem: Problem) -> list[str]:
    """A refused statement's lines, one sentence each (``Row 5, Montant TTC: …``)."""
    return [f"Row {e['row']}, {e.get('column') or e.get('field')}"
            + (f" ({e['value']!r})" if e.get("value") else "") + f": {e.get('message')}"
            for e in problem.errors if e.get("row")]


def _page(c: Console, *, params: dict[str, Any], cursor: str | None, state: FormState,
          upload: FormState, status_code: int = 200) -> HTMLResponse:
    params = {"status": None, "plate": None, "driver_id": None, "vehicle_id": None, **params}
    filters = finance_service.TollFilter(
        status=params.get("status"), driver_id=params.get("driver_id"),
        vehicle_id=params.get("vehicle_id"), plate=params.get("plate"))
    tolls, next_cursor = finance_service.list_tolls(c.session, c.actor, page(cursor), filters)
    tasks = finance_service.open_tasks(c.session, c.tenant.id, [t.id for t in tolls],
                                       fines=False)
    return c.render(
        "tolls/list.html", status_code=status_code, tolls=tolls, next_cursor=next_cursor,
        params=params, state=state, upload=upload, tasks=tasks, statuses=options(TollStatus),
        drivers=drivers_queries.driver_names(c.session, c.tenant.id,
                                             {t.driver_id for t in tolls if t.driver_id}),
        vehicles=choices(fleet_queries.vehicle_choices(c.session, c.tenant.id, status=None)),
        driver_options=choices(drivers_queries.driver_choices(c.session, c.tenant.id, status=None)),
        formats=[(f.name, f.label) for f in formats().values()])


def _defaults(c: Console) -> tuple[FormState, FormState]:
    return FormState(values={}), FormState(values={"currency": c.tenant.currency})


@router.get("/tolls")
def toll_list(c: Ctx, _: TollsRead, status: str | None = None, plate: str | None = None,
              driver_id: str | None = None, vehicle_id: str | None = None,
              cursor: str | None = None) -> HTMLResponse:
    """Toll charges, latest first; what nobody could be found for is ``unassigned``."""
    params = {"status": enum_value(TollStatus, status, "status"),
              "plate": (plate or "").strip()[:20] or None,
              "driver_id": uuid_value(driver_id, "driver"),
              "vehicle_id": uuid_value(vehicle_id, "vehicle")}
    state, upload = _defaults(c)
    return _page(c, params=params, cursor=cursor, state=state, upload=upload)


@router.post("/tolls")
def create_toll(c: Ctx, _: TollsWrite, form: Form) -> Response:
    """Record a charge by hand (resolved to the driver who had the vehicle then)."""
    state = FormState(values=text_values(form, FIELDS))
    values: dict[str, Any] = drop_empty(dict(state.values))
    values["occurred_at"] = local_datetime(values.get("occurred_at"), c.tenant.zone,
                                           name="occurred_at", state=state)
    values["amount"] = money_input(values.get("amount"), c.tenant.currency)
    _state, upload = _defaults(c)
    toll = submit(c.session, state, TollCreate, drop_empty(values),
                  lambda data: finance_service.create_toll(c.session, c.actor, data=data),
                  lambda s, code: _page(c, params={}, cursor=None, state=s, upload=upload,
                                        status_code=code))
    if isinstance(toll, Response):
        return toll
    who = gettext("resolved to its driver") if toll.driver_id else gettext("unassigned: a task "
                                                                           "asks who had it")
    return redirect(c.request, "/app/tolls", flash=gettext("Toll charge recorded, %(who)s.",
                                                           who=who))


@router.post("/tolls/import")
def import_statement(c: Ctx, _: TollsWrite, form: Form) -> Response:
    """Import an operator statement: every charge once, resolved to drivers; all or nothing."""
    upload = FormState(values=text_values(form, IMPORT_FIELDS))
    file = form.get("file")
    state, _upload = _defaults(c)
    if not isinstance(file, UploadFile) or not file.filename:
        upload.add("file", gettext("choose the statement file (CSV)"))
        return _page(c, params={}, cursor=None, state=state, upload=upload, status_code=422)
    chosen = upload.value("format") or None
    currency = (upload.value("currency") or "").upper() or None
    try:
        result = attempt(c.session, lambda: finance_service.import_statement(
            c.session, c.actor, data=read_upload(file.file), file_name=file.filename or "",
            format_name=chosen, currency=currency))
    except Problem as problem:
        apply_problem(upload, problem)
        upload.details.extend(row_errors(problem))
        if any(e.get("row") for e in problem.errors):
            upload.errors = {"file": gettext("refused: see the lines listed above")}
        return _page(c, params={}, cursor=None, state=state, upload=upload,
                     status_code=problem.status)
    unassigned = len(result.resolution.unassigned)
    message = (gettext("%(filename)s: %(len)s charge(s) stored, %(already_imported)s already "
                       "imported, %(len2)s resolved to their driver",
                       filename=file.filename, len=len(result.created),
                       already_imported=result.already_imported,
                       len2=len(result.resolution.assigned)))
    if unassigned:
        message += gettext(", %(unassigned)s unassigned (a task each)", unassigned=unassigned)
    return redirect(c.request, "/app/tolls", flash=message + ".")


@router.post("/tolls/resolve")
def resolve(c: Ctx, _: TollsWrite) -> Response:
    """Try the unassigned charges again (after adding a vehicle or an assignment)."""
    result = finance_service.resolve_unassigned(c.session, c.actor)
    return redirect(c.request, "/app/tolls?status=unassigned",
                    flash=gettext("%(len)s charge(s) resolved, %(len2)s still unassigned.",
                                  len=len(result.assigned), len2=len(result.unassigned)))


def _detail(c: Console, toll: TollTransaction, state: FormState,
            status_code: int = 200) -> HTMLResponse:
    tasks = finance_service.open_tasks(c.session, c.tenant.id, [toll.id], fines=False)
    return c.render(
        "tolls/detail.html", status_code=status_code, t=toll, state=state,
        task_id=tasks.get(toll.id),
        driver=drivers_queries.driver_names(c.session, c.tenant.id,
                                            {toll.driver_id} if toll.driver_id else set()),
        vehicle=fleet_queries.vehicle_labels(c.session, c.tenant.id,
                                             {toll.vehicle_id} if toll.vehicle_id else set()))


@router.get("/tolls/{toll_id}")
def toll_detail(c: Ctx, _: TollsRead, toll_id: uuid.UUID) -> HTMLResponse:
    """One charge: where it comes from (statement line), who it was resolved to, dispute."""
    toll = finance_service.get_toll(c.session, c.actor, toll_id)
    return _detail(c, toll, FormState(values={}))


@router.post("/tolls/{toll_id}/dispute")
def dispute(c: Ctx, _: TollsWrite, toll_id: uuid.UUID, form: Form) -> Response:
    """Set the charge aside: it is never recharged."""
    state = FormState(values=text_values(form, ("reason",)))
    refused = submit(c.session, state, TollDispute, {"reason": state.value("reason")},
                     lambda data: finance_service.dispute_toll(
                         c.session, c.actor, toll_id, reason=data.reason,
                         if_match=form_if_match(form.get("version"), gettext("toll charge"))),
                     lambda s, code: _detail(
                         c, finance_service.get_toll(c.session, c.actor, toll_id), s, code),
                     adjust=not_found_raised)
    if isinstance(refused, Response):
        return refused
    return redirect(c.request, f"/app/tolls/{toll_id}", flash=gettext("Charge disputed."))
