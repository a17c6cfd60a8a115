"""Traffic fines: the list (by status, by designation deadline), a notice recorded with the scan
of the paper, and each fine's page with its scan and its next steps (designate the driver, pay,
contest, cancel, recharge)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from fleetcore.core.errors import Problem
from fleetcore.documents import service as documents_service
from fleetcore.documents.api import document_storage
from fleetcore.documents.models import DocumentEntityType, DocumentType
from fleetcore.documents.schemas import DocumentUpload
from fleetcore.drivers import queries as drivers_queries
from fleetcore.finance import charges_service as finance_service
from fleetcore.finance.charges_schemas import FineAction, FineCreate
from fleetcore.finance.models import TrafficFine, TrafficFineStatus
from fleetcore.finance.permissions import FinesRead, FinesWrite
from fleetcore.fleet import queries as fleet_queries
from fleetcore.settings import Settings
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormInvalid,
    FormState,
    apply_problem,
    attempt,
    build,
    drop_empty,
    local_datetime,
    money_input,
    text_values,
)
from fleetcore.web.i18n import N_, gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import (
    BadLink,
    enum_value,
    form_if_match,
    options,
    page,
    page_router,
    uuid_value,
)
from fleetcore.web.routes.tolls import choices

router = page_router()

FIELDS = ("fine_reference", "issuing_authority", "offence_type", "offence_at", "offence_place",
          "vehicle_id", "plate", "amount", "due_on", "designation_deadline_on")
ACTIONS: dict[str, list[tuple[str, str]]] = {
    # What a person does next from each state (the service decides what is allowed).
    TrafficFineStatus.RECEIVED.value: [("designate", N_("Designate the driver")),
                                       ("pay", N_("Paid by the fleet")), ("contest", N_("Contest")),
                                       ("cancel", N_("Cancel"))],
    TrafficFineStatus.DRIVER_DESIGNATED.value: [("contest", N_("Contest")),
                                                ("cancel", N_("Cancel"))],
    TrafficFineStatus.CONTESTED.value: [("pay", N_("Paid by the fleet")), ("cancel", N_("Cancel"))],
    TrafficFineStatus.PAID.value: [("recharge", N_("Recharge to the driver"))],
}


def _page(c: Console, *, status: str | None, driver_id: uuid.UUID | None, cursor: str | None,
          state: FormState, status_code: int = 200) -> HTMLResponse:
    fines, next_cursor = finance_service.list_fines(
        c.session, c.actor, page(cursor),
        finance_service.FineFilter(status=status, driver_id=driver_id))
    return c.render(
        "fines/list.html", status_code=status_code, fines=fines, next_cursor=next_cursor,
        params={"status": status, "driver_id": driver_id}, state=state,
        statuses=options(TrafficFineStatus),
        drivers=drivers_queries.driver_names(c.session, c.tenant.id,
                                             {f.driver_id for f in fines if f.driver_id}),
        driver_options=choices(drivers_queries.driver_choices(c.session, c.tenant.id, status=None)),
        vehicles=choices(fleet_queries.vehicle_choices(c.session, c.tenant.id, status=None)))


@router.get("/fines")
def fine_list(c: Ctx, _: FinesRead, status: str | None = None, driver_id: str | None = None,
              cursor: str | None = None) -> HTMLResponse:
    """Fines, latest offence first, with their designation deadline."""
    return _page(c, status=enum_value(TrafficFineStatus, status, "status"),
                 driver_id=uuid_value(driver_id, "driver"), cursor=cursor,
                 state=FormState(values={}))


def _settings(c: Console) -> Settings:
    settings: Settings = c.request.app.state.settings
    return settings


def _record(c: Console, data: FineCreate, scan: UploadFile | None) -> TrafficFine:
    fine = finance_service.create_fine(c.session, c.actor, data=data)
    if scan is not None:
        document = documents_service.upload_document(
            c.session, c.actor, document_storage(c.request), data=DocumentUpload(
                entity_type=DocumentEntityType.FINE, entity_id=fine.id,
                document_type=DocumentType.OTHER, document_number=data.fine_reference[:100],
                notes=gettext("Scan of the notice")),
            file=scan.file, file_name=scan.filename, declared_type=scan.content_type,
            max_bytes=_settings(c).document_max_bytes)
        fine = finance_service.attach_scan(c.session, c.actor, fine.id, document.id)
    return fine


@router.post("/fines")
def create_fine(c: Ctx, _: FinesWrite, form: Form) -> Response:
    """Record a notice (and store its scan): resolved to the driver who had the vehicle."""
    state = FormState(values=text_values(form, FIELDS))
    values: dict[str, Any] = drop_empty(dict(state.values))
    values["offence_at"] = local_datetime(values.get("offence_at"), c.tenant.zone,
                                          name="offence_at", state=state)
    values["amount"] = money_input(values.get("amount"), c.tenant.currency)
    upload = form.get("scan")
    scan = upload if isinstance(upload, UploadFile) and upload.filename else None
    try:
        data = build(FineCreate, drop_empty(values), state)
        fine = attempt(c.session, lambda: _record(c, data, scan))
    except FormInvalid:
        return _page(c, status=None, driver_id=None, cursor=None, state=state, status_code=422)
    except Problem as problem:
        if problem.errors and problem.errors[0].get("field") in ("file", "entity_id"):
            problem.errors = [{"field": "scan", "message": problem.errors[0]["message"]}]
        return _page(c, status=None, driver_id=None, cursor=None,
                     state=apply_problem(state, problem), status_code=problem.status)
    who = (gettext("resolved to the driver who had the vehicle") if fine.driver_id
           else gettext("nobody had the vehicle as far as the assignments say: a task asks who"))
    return redirect(c.request, f"/app/fines/{fine.id}",
                    flash=gettext("Fine %(fine_reference)s recorded, %(who)s.",
                                  fine_reference=fine.fine_reference, who=who))


def _detail(c: Console, fine: TrafficFine, *, error: str | None = None,
            status_code: int = 200) -> HTMLResponse:
    tasks = finance_service.open_tasks(c.session, c.tenant.id, [fine.id], fines=True)
    return c.render(
        "fines/detail.html", status_code=status_code, f=fine, error=error,
        task_id=tasks.get(fine.id), actions=ACTIONS.get(fine.status, []),
        driver=drivers_queries.driver_names(c.session, c.tenant.id,
                                            {fine.driver_id} if fine.driver_id else set()),
        vehicle=fleet_queries.vehicle_labels(c.session, c.tenant.id,
                                             {fine.vehicle_id} if fine.vehicle_id else set()),
        driver_options=choices(drivers_queries.driver_choices(c.session, c.tenant.id, status=None)))


@router.get("/fines/{fine_id}")
def fine_detail(c: Ctx, _: FinesRead, fine_id: uuid.UUID) -> HTMLResponse:
    """One fine: the notice, its scan, who had the car, the deadline and the next steps."""
    return _detail(c, finance_service.get_fine(c.session, c.actor, fine_id))


@router.post("/fines/{fine_id}/{action}")
def move_fine(c: Ctx, _: FinesWrite, fine_id: uuid.UUID, action: str, form: Form) -> Response:
    """A step of the fine (the version the page showed is the If-Match)."""
    try:
        step = FineAction(action)
    except ValueError as exc:
        raise BadLink(f"{action!r} is not a step of a fine.") from exc
    driver_id = uuid_value(str(form.get("driver_id") or "") or None, "driver")
    try:
        fine = attempt(c.session, lambda: finance_service.transition_fine(
            c.session, c.actor, fine_id, action=step, driver_id=driver_id,
            if_match=form_if_match(form.get("version"), "fine")))
    except Problem as problem:
        if problem.status == 404:
            raise
        return _detail(c, finance_service.get_fine(c.session, c.actor, fine_id),
                       error=problem.detail, status_code=problem.status)
    return redirect(c.request, f"/app/fines/{fine.id}",
                    flash=gettext("Fine %(fine_reference)s is now %(replace)s.",
                                  fine_reference=fine.fine_reference,
                                  replace=fine.status.replace('_', ' ')))
