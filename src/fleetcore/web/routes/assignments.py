"""Assignments: custody history, assigning a vehicle to a driver (with every rule's refusal
explained), ending and cancelling."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi.responses import HTMLResponse, Response, StreamingResponse

from fleetcore.core.errors import NotFound, Problem
from fleetcore.drivers import queries as drivers_queries
from fleetcore.fleet import api as fleet_api
from fleetcore.fleet import queries as fleet_queries
from fleetcore.fleet import service as fleet_service
from fleetcore.fleet.filters import AssignmentFilter
from fleetcore.fleet.models import AssignmentStatus, AssignmentType, VehicleAssignment
from fleetcore.fleet.permissions import AssignmentsRead, AssignmentsWrite
from fleetcore.fleet.schemas import AssignmentCancel, AssignmentCreate, AssignmentEnd
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormInvalid,
    FormState,
    apply_problem,
    attempt,
    build,
    local_datetime,
    optional,
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

FIELDS = ("vehicle_id", "driver_id", "starts_at", "ends_at", "assignment_type",
          "odometer_out_km", "notes", "override_reason")
END_FIELDS = ("ends_at", "odometer_in_km", "notes", "version")


def assignment_labels(c: Console, assignments: list[VehicleAssignment]) -> dict[str, Any]:
    """Plates and driver names of a page of assignments (two queries whatever its length)."""
    return {
        "vehicle_labels": fleet_queries.vehicle_labels(c.session, c.tenant.id,
                                                       {a.vehicle_id for a in assignments}),
        "drivers": drivers_queries.driver_names(c.session, c.tenant.id,
                                                {a.driver_id for a in assignments}),
    }


def _list_filter(status: str | None, vehicle_id: str | None,
                 driver_id: str | None) -> AssignmentFilter:
    return AssignmentFilter(vehicle_id=uuid_value(vehicle_id, "vehicle"),
                            driver_id=uuid_value(driver_id, "driver"),
                            status=enum_value(AssignmentStatus, status, "status"))


@router.get("/assignments")
def assignment_list(
    c: Ctx, _: AssignmentsRead, status: str | None = None, vehicle_id: str | None = None,
    driver_id: str | None = None, cursor: str | None = None,
) -> HTMLResponse:
    """Custody history, newest start first, by vehicle, driver or status."""
    filters = _list_filter(status, vehicle_id, driver_id)
    rows, next_cursor = fleet_service.list_assignments(c.session, c.actor, page(cursor), filters)
    params = {"status": filters.status, "vehicle_id": filters.vehicle_id,
              "driver_id": filters.driver_id}
    return c.render(
        "assignments/list.html", assignments=rows, next_cursor=next_cursor, params=params,
        statuses=options(AssignmentStatus),
        vehicle_choices=fleet_queries.vehicle_choices(c.session, c.tenant.id, status=None),
        driver_choices=drivers_queries.driver_choices(c.session, c.tenant.id, status=None),
        **assignment_labels(c, rows))


@router.get("/assignments/export.csv")
def assignment_export(
    c: Ctx, _: AssignmentsRead, status: str | None = None, vehicle_id: str | None = None,
    driver_id: str | None = None,
) -> StreamingResponse:
    """The filtered custody history as the API's CSV (``GET /v1/vehicle-assignments/
    export.csv``)."""
    filters = _list_filter(status, vehicle_id, driver_id)
    return fleet_api.export_assignments(c.actor, c.session, filters)


# --- assign --------------------------------------------------------------------------------


def _form(c: Console, state: FormState, status_code: int = 200) -> HTMLResponse:
    return c.render(
        "assignments/form.html", status_code=status_code, state=state,
        vehicle_choices=fleet_queries.vehicle_choices(c.session, c.tenant.id),
        driver_choices=drivers_queries.driver_choices(c.session, c.tenant.id),
        types=options(AssignmentType), can_override=c.can("assignments:override"))


@router.get("/assignments/new")
def new_assignment(c: Ctx, _: AssignmentsWrite, vehicle_id: str | None = None,
                   driver_id: str | None = None) -> HTMLResponse:
    """The assign-a-vehicle form (vehicle or driver preselected from their pages)."""
    start = datetime.now(c.tenant.zone).replace(second=0, microsecond=0)
    return _form(c, FormState(values={
        "vehicle_id": vehicle_id or "", "driver_id": driver_id or "",
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"), "assignment_type": "permanent"}))


def _overlap_message(c: Console, problem: Problem) -> None:
    """Say who holds the vehicle (or which car the driver has) and when, in the fleet's time."""
    other_id = problem.extensions.get("conflicting_assignment_id")
    if not other_id:
        return
    try:
        other = fleet_service.get_assignment(c.session, c.actor, uuid.UUID(str(other_id)))
    except (NotFound, ValueError):
        return
    vehicle = fleet_queries.vehicle_labels(c.session, c.tenant.id, {other.vehicle_id})
    driver = drivers_queries.driver_names(c.session, c.tenant.id, {other.driver_id})
    until = (gettext("until %(dt)s", dt=c.fmt.dt(other.ends_at)) if other.ends_at
             else gettext("with no end date"))
    who = (gettext("%(get)s is already assigned to %(get2)s", get=vehicle.get(other.vehicle_id,
    'The vehicle'), get2=driver.get(other.driver_id, 'another driver'))
           if problem.extensions.get("conflict") == "vehicle" else
           gettext("%(get)s already has %(get2)s", get=driver.get(other.driver_id, 'The driver'),
           get2=vehicle.get(other.vehicle_id, 'another vehicle')))
    problem.detail = (gettext("Refused: %(who)s from %(dt)s %(until)s. End that assignment first, "
                              "or choose another period.",
                              who=who, dt=c.fmt.dt(other.starts_at), until=until))


@router.post("/assignments")
def create_assignment(c: Ctx, _: AssignmentsWrite, form: Form) -> Response:
    """Assign a vehicle; overlaps, unavailability and failed compliance are explained."""
    state = FormState(values=text_values(form, FIELDS))
    values = optional(state.values, "ends_at", "odometer_out_km", "notes", "override_reason")
    values["starts_at"] = local_datetime(values.get("starts_at"), c.tenant.zone,
                                         name="starts_at", state=state)
    values["ends_at"] = local_datetime(values.get("ends_at"), c.tenant.zone, name="ends_at",
                                       state=state)
    if not state.values.get("starts_at"):
        state.add("starts_at", "required")
    if not c.can("assignments:override"):
        values.pop("override_reason", None)
    try:
        data = build(AssignmentCreate, {k: v for k, v in values.items() if v is not None}, state)
        assignment = attempt(c.session, lambda: fleet_service.assign_vehicle(
            c.session, c.actor, data=data))
    except FormInvalid:
        return _form(c, state, 422)
    except Problem as problem:
        if problem.slug == "assignment-overlap":
            _overlap_message(c, problem)
        if problem.slug == "not-compliant" and c.can("assignments:override"):
            state.details.append(gettext("To assign anyway, give an override reason (it is "
                                         "recorded)."))
        return _form(c, apply_problem(state, problem), problem.status)
    labels = assignment_labels(c, [assignment])
    return redirect(c.request, f"/app/vehicles/{assignment.vehicle_id}",
                    flash=gettext("%(vehicle)s assigned to %(driver)s.",
                                  vehicle=labels['vehicle_labels'].get(assignment.vehicle_id,
                                                                      gettext('Vehicle')),
                                  driver=labels['drivers'].get(assignment.driver_id,
                                                                gettext('driver'))))


# --- end and cancel ------------------------------------------------------------------------


def _end_form(c: Console, assignment: VehicleAssignment, state: FormState,
              status_code: int = 200) -> HTMLResponse:
    return c.render("assignments/end.html", status_code=status_code, state=state,
                    assignment=assignment, **assignment_labels(c, [assignment]))


@router.get("/assignments/{assignment_id}/end")
def end_assignment_form(c: Ctx, _: AssignmentsWrite, assignment_id: uuid.UUID) -> HTMLResponse:
    """The hand-back form: when, the odometer in, notes."""
    assignment = fleet_service.get_assignment(c.session, c.actor, assignment_id)
    now = datetime.now(c.tenant.zone).replace(second=0, microsecond=0)
    return _end_form(c, assignment, FormState(values={
        "ends_at": now.strftime("%Y-%m-%dT%H:%M"), "version": str(assignment.version)}))


@router.post("/assignments/{assignment_id}/end")
def end_assignment(c: Ctx, _: AssignmentsWrite, assignment_id: uuid.UUID,
                   form: Form) -> Response:
    """End a running assignment (odometer in and a handover event, by the service)."""
    assignment = fleet_service.get_assignment(c.session, c.actor, assignment_id)
    state = FormState(values=text_values(form, END_FIELDS))
    values = optional({k: v for k, v in state.values.items() if k != "version"},
                      "odometer_in_km", "notes", "ends_at")
    values["ends_at"] = local_datetime(values.get("ends_at"), c.tenant.zone, name="ends_at",
                                       state=state)
    version = state.values.get("version", "")
    refused = submit(c.session, state, AssignmentEnd,
                     {k: v for k, v in values.items() if v is not None},
                     lambda data: fleet_service.end_assignment(
                         c.session, c.actor, assignment_id, data=data,
                         if_match=form_if_match(version, "assignment")),
                     lambda s, code: _end_form(c, assignment, s, code))
    if isinstance(refused, Response):
        return refused
    return redirect(c.request, f"/app/vehicles/{assignment.vehicle_id}",
                    flash=gettext("Assignment ended: the vehicle is back."))


@router.post("/assignments/{assignment_id}/cancel")
def cancel_assignment(c: Ctx, _: AssignmentsWrite, assignment_id: uuid.UUID,
                      form: Form) -> Response:
    """Cancel an assignment that has not started."""
    assignment = fleet_service.get_assignment(c.session, c.actor, assignment_id)
    reason = str(form.get("reason") or "").strip() or None
    try:
        attempt(c.session, lambda: fleet_service.cancel_assignment(
            c.session, c.actor, assignment_id, data=AssignmentCancel(reason=reason),
            if_match=form_if_match(form.get("version"), "assignment")))
    except Problem as problem:
        return redirect(c.request, f"/app/vehicles/{assignment.vehicle_id}",
                        flash=gettext("Not cancelled: %(detail)s", detail=problem.detail))
    return redirect(c.request, f"/app/vehicles/{assignment.vehicle_id}",
                    flash=gettext("Assignment cancelled."))
