"""Drivers: the filtered list, a driver's page (documents, terms, requests, training,
performance, compliance, custody) and the add/edit forms."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from fleetcore.core.errors import Problem
from fleetcore.core.pagination import PageParams
from fleetcore.documents import service as documents_service
from fleetcore.documents.filters import DocumentFilter, DocumentSort
from fleetcore.drivers import api as drivers_api
from fleetcore.drivers import service as drivers_service
from fleetcore.drivers.filters import (
    DriverFilter,
    DriverSort,
    PerformanceFilter,
    RequestFilter,
    TermsFilter,
    TrainingFilter,
)
from fleetcore.drivers.models import Driver, DriverStatus, ProfessionalCardType
from fleetcore.drivers.permissions import DriversRead, DriversWrite
from fleetcore.drivers.schemas import DriverCreate, DriverUpdate
from fleetcore.fleet import service as fleet_service
from fleetcore.fleet.filters import AssignmentFilter
from fleetcore.web import queries
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormInvalid,
    FormState,
    apply_problem,
    attempt,
    build,
    optional,
    text_values,
)
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import enum_value, form_if_match, options, page, page_router

router = page_router()

FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "licence_number",
          "licence_country", "licence_issued_on", "licence_expires_on", "professional_card_type",
          "professional_card_number", "professional_card_expires_on", "status", "hired_on",
          "preferred_language", "notes", "version")
OPTIONAL = ("email", "date_of_birth", "licence_number", "licence_country", "licence_issued_on",
            "licence_expires_on", "professional_card_type", "professional_card_number",
            "professional_card_expires_on", "hired_on", "notes")
SORTS = [(DriverSort.NAME.value, "Name A→Z"), (DriverSort.NAME_DESC.value, "Name Z→A"),
         (DriverSort.NEWEST.value, "Newest first"), (DriverSort.CREATED.value, "Oldest first")]
DETAIL_ROWS = 10


def _list_filter(q: str | None, status: str | None, sort: str | None) -> DriverFilter:
    return DriverFilter(status=enum_value(DriverStatus, status, "status"),
                        q=q.strip() if q and q.strip() else None,
                        sort=DriverSort(enum_value(DriverSort, sort, "sort") or DriverSort.NAME))


@router.get("/drivers")
def driver_list(
    c: Ctx, _: DriversRead, q: Annotated[str | None, Query(max_length=100)] = None,
    status: str | None = None, sort: str | None = None, cursor: str | None = None,
) -> HTMLResponse:
    """The fleet's drivers by name, e-mail or phone, with their car and compliance."""
    spec = _list_filter(q, status, sort)
    drivers, next_cursor = drivers_service.list_drivers(c.session, c.actor, page(cursor), spec)
    ids = [d.id for d in drivers]
    now = datetime.now(UTC)
    custody = {k.driver_id: k for k in queries.current_custody(
        c.session, c.tenant.id, now, driver_ids=ids)}
    vehicles = queries.vehicle_labels(c.session, c.tenant.id,
                                      {k.vehicle_id for k in custody.values()})
    compliance = drivers_service.drivers_compliance(c.session, c.actor, ids, now) if ids else {}
    params = {"q": spec.q, "status": spec.status, "sort": spec.sort.value}
    template = "drivers/_table.html" if c.is_htmx else "drivers/list.html"
    return c.render(template, drivers=drivers, custody=custody, vehicles=vehicles,
                    compliance=compliance, params=params, next_cursor=next_cursor,
                    statuses=options(DriverStatus), sorts=SORTS)


@router.get("/drivers/export.csv")
def driver_export(
    c: Ctx, _: DriversRead, q: Annotated[str | None, Query(max_length=100)] = None,
    status: str | None = None, sort: str | None = None,
) -> StreamingResponse:
    """The filtered drivers as the API's CSV (``GET /v1/drivers/export.csv``)."""
    spec = _list_filter(q, status, sort)
    return drivers_api.export_drivers(
        c.actor, c.session, driver_status=DriverStatus(spec.status) if spec.status else None,
        q=spec.q, sort=spec.sort)


# --- add and edit --------------------------------------------------------------------------


def _form(c: Console, state: FormState, *, driver: Driver | None,
          status_code: int = 200) -> HTMLResponse:
    return c.render("drivers/form.html", status_code=status_code, state=state, driver=driver,
                    statuses=options(DriverStatus), cards=options(ProfessionalCardType))


def _initial(driver: Driver | None) -> FormState:
    if driver is None:
        return FormState(values={"status": "onboarding", "preferred_language": "en"})
    values = {name: "" if getattr(driver, name, None) is None else str(getattr(driver, name))
              for name in FIELDS if name != "version"}
    values["version"] = str(driver.version)
    return FormState(values=values)


def _data(values: dict[str, str]) -> dict[str, Any]:
    data = optional({k: v for k, v in values.items() if k != "version"}, *OPTIONAL)
    if data.get("licence_country"):
        data["licence_country"] = data["licence_country"].upper()
    return data


@router.get("/drivers/new")
def new_driver(c: Ctx, _: DriversWrite) -> HTMLResponse:
    """The add-a-driver form."""
    return _form(c, _initial(None), driver=None)


@router.post("/drivers")
def create_driver(c: Ctx, _: DriversWrite, form: Form) -> Response:
    """Add a driver (the phone is read in the fleet's country)."""
    state = FormState(values=text_values(form, FIELDS))
    try:
        data = build(DriverCreate, {k: v for k, v in _data(state.values).items()
                                    if v is not None}, state)
        driver = attempt(c.session, lambda: drivers_service.create_driver(
            c.session, c.actor, data=data))
    except FormInvalid:
        return _form(c, state, driver=None, status_code=422)
    except Problem as problem:
        return _form(c, apply_problem(state, problem), driver=None, status_code=problem.status)
    return redirect(c.request, f"/app/drivers/{driver.id}",
                    flash=f"{driver.first_name} {driver.last_name} added.")


@router.get("/drivers/{driver_id}/edit")
def edit_driver(c: Ctx, _: DriversWrite, driver_id: uuid.UUID) -> HTMLResponse:
    """The edit form of a driver."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    return _form(c, _initial(driver), driver=driver)


@router.post("/drivers/{driver_id}/edit")
def update_driver(c: Ctx, _: DriversWrite, driver_id: uuid.UUID, form: Form) -> Response:
    """Save a driver's changes (refused when someone saved another change meanwhile)."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    state = FormState(values=text_values(form, FIELDS))
    version = state.values.get("version", "")
    try:
        data = build(DriverUpdate, _data(state.values), state)
        attempt(c.session, lambda: drivers_service.update_driver(
            c.session, c.actor, driver_id, data=data,
            if_match=form_if_match(version, "driver")))
    except FormInvalid:
        return _form(c, state, driver=driver, status_code=422)
    except Problem as problem:
        if problem.status == 412:
            problem.detail = ("Someone else changed this driver while you were editing: reload "
                              "the page to see their change, then apply yours again.")
        return _form(c, apply_problem(state, problem), driver=driver, status_code=problem.status)
    return redirect(c.request, f"/app/drivers/{driver_id}", flash="Driver saved.")


# --- one driver ----------------------------------------------------------------------------


@router.get("/drivers/{driver_id}")
def driver_detail(c: Ctx, _: DriversRead, driver_id: uuid.UUID) -> HTMLResponse:
    """Everything about one driver, each section shown to those who may read it."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    now = datetime.now(UTC)
    rows = PageParams(limit=DETAIL_ROWS)
    context: dict[str, Any] = {
        "driver": driver,
        "compliance": drivers_service.driver_compliance(c.session, c.actor, driver_id, now),
        "terms": drivers_service.list_cooperation_terms(
            c.session, c.actor, rows, TermsFilter(driver_id=driver_id))[0],
        "training": drivers_service.list_training(
            c.session, c.actor, rows, TrainingFilter(driver_id=driver_id))[0],
        "performance": drivers_service.list_performances(
            c.session, c.actor, PageParams(limit=8), PerformanceFilter(driver_id=driver_id))[0],
        "requests": None, "documents": None, "requirements": {}, "assignments": None,
        "vehicle_labels": {},
        "drivers": {driver.id: f"{driver.first_name} {driver.last_name}"},
    }
    if c.can("driver_requests:read"):
        context["requests"] = drivers_service.list_driver_requests(
            c.session, c.actor, rows, RequestFilter(driver_id=driver_id))[0]
    if c.can("documents:read"):
        context["documents"], _more = documents_service.list_documents(
            c.session, c.actor, PageParams(limit=20), DocumentFilter(
                entity_type="driver", entity_id=driver_id, sort=DocumentSort.NEWEST))
        links = drivers_service.driver_documents(c.session, c.actor, driver_id)
        context["requirements"] = {doc.id: link.requirement for link, doc in links}
    if c.can("assignments:read"):
        assignments, _more = fleet_service.list_assignments(
            c.session, c.actor, rows, AssignmentFilter(driver_id=driver_id))
        context["assignments"] = assignments
        context["vehicle_labels"] = queries.vehicle_labels(
            c.session, c.tenant.id, {a.vehicle_id for a in assignments})
    return c.render("drivers/detail.html", **context)
