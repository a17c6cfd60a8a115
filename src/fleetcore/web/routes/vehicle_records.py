"""What a manager records about one vehicle from its page: expenses, odometer readings,
maintenance schedules and maintenance jobs.

Each form is declared once (:class:`RecordForm`: its fields, the API model it builds, the
service call) and served by the same two routes, ``GET …/{kind}/new`` and ``POST …/{kind}``,
rendered by one template. Values go through the API's own request models, so the console
refuses what the API refuses, with the message next to the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from fleetcore.core.auth import PermissionDenied
from fleetcore.core.errors import NotFound
from fleetcore.fleet import maintenance_service
from fleetcore.fleet import service as fleet_service
from fleetcore.fleet.maintenance_schemas import (
    MaintenanceCreate,
    OdometerReadingCreate,
    ScheduleCreate,
)
from fleetcore.fleet.models import (
    EnergyUnit,
    ExpenseCategory,
    ExpensePaymentMethod,
    MaintenanceType,
    Vehicle,
)
from fleetcore.fleet.permissions import VehiclesRead
from fleetcore.fleet.schemas import ExpenseCreate
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormState,
    local_datetime,
    money_input,
    submit,
    text_values,
)
from fleetcore.web.i18n import N_, gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import options, page_router

router = page_router()


@dataclass(frozen=True, slots=True)
class Field:
    """One input: ``kind`` is text, number, date, datetime-local, money, select, textarea or
    checkbox; ``choices`` names a select's options."""

    name: str
    label: str
    kind: str = "text"
    required: bool = False
    hint: str | None = None
    choices: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RecordForm:
    """A record of a vehicle the console can add: its fields, model, service and permission."""

    title: str
    permission: str
    model: type[BaseModel]
    fields: tuple[Field, ...]
    save: Callable[[Console, Vehicle, Any], object]
    anchor: str
    done: str
    defaults: Callable[[Console], dict[str, str]] = lambda c: {}
    takes_vehicle_id: bool = True


def _expense(c: Console, vehicle: Vehicle, data: Any) -> object:
    return fleet_service.create_expense(c.session, c.actor, data=data)


def _reading(c: Console, vehicle: Vehicle, data: Any) -> object:
    return maintenance_service.record_odometer_reading(c.session, c.actor,
                                                       vehicle_id=vehicle.id, data=data)


def _schedule(c: Console, vehicle: Vehicle, data: Any) -> object:
    return maintenance_service.create_schedule(c.session, c.actor, data=data)


def _job(c: Console, vehicle: Vehicle, data: Any) -> object:
    return maintenance_service.create_maintenance(c.session, c.actor, data=data)


def _today(c: Console) -> dict[str, str]:
    return {"incurred_on": c.today.isoformat(), "scheduled_on": c.today.isoformat()}


FORMS: dict[str, RecordForm] = {
    "expenses": RecordForm(
        N_("Add an expense"), "expenses:write", ExpenseCreate, (
            Field("category", N_("Category"), "select", True, None, options(ExpenseCategory)),
            Field("payment_method", N_("Paid with"), "select", True,
                  N_("Driver paid: the fleet owes it back"), options(ExpensePaymentMethod)),
            Field("amount", N_("Amount (incl. tax)"), "money", True),
            Field("tax_amount", N_("Of which tax"), "money"),
            Field("incurred_on", N_("Date"), "date", True),
            Field("vendor", N_("Vendor")),
            Field("odometer_km", N_("Odometer (km)"), "number"),
            Field("quantity", N_("Quantity"), "number", hint=N_("Fuel or energy")),
            Field("quantity_unit", N_("Unit"), "select", choices=options(EnergyUnit)),
            Field("description", N_("Description"), "textarea"),
        ), _expense, "expenses", N_("Expense recorded."), _today),
    "odometer": RecordForm(
        N_("Record the odometer"), "vehicles:write", OdometerReadingCreate, (
            Field("odometer_km", N_("Odometer (km)"), "number", True),
            Field("read_at", N_("Read at"), "datetime-local", hint=N_("Empty: now")),
        ), _reading, "maintenance", N_("Odometer reading recorded."), takes_vehicle_id=False),
    "maintenance-schedules": RecordForm(
        N_("Plan recurring maintenance"), "maintenance:write", ScheduleCreate, (
            Field("maintenance_type", N_("Maintenance"), "select", True, None,
                  options(MaintenanceType)),
            Field("interval_km", N_("Every (km)"), "number"),
            Field("interval_days", N_("Every (days)"), "number"),
            Field("last_done_km", N_("Last done at (km)"), "number"),
            Field("last_done_on", N_("Last done on"), "date"),
            Field("description", N_("Description"), "textarea"),
        ), _schedule, "maintenance", N_("Maintenance plan saved.")),
    "maintenance": RecordForm(
        N_("Book a maintenance job"), "maintenance:write", MaintenanceCreate, (
            Field("maintenance_type", N_("Maintenance"), "select", True, None,
                  options(MaintenanceType)),
            Field("scheduled_on", N_("On"), "date", True),
            Field("provider", N_("Garage")),
            Field("cost", N_("Expected cost"), "money"),
            Field("description", N_("Description"), "textarea"),
        ), _job, "maintenance", N_("Maintenance job booked."), _today),
}


def _form_of(c: Console, kind: str) -> RecordForm:
    form = FORMS.get(kind)
    if form is None:
        raise NotFound(gettext("There is no such page in the console."))
    if not c.can(form.permission):
        raise PermissionDenied(gettext("This needs the '%(permission)s' permission.",
        permission=form.permission),
                               permission=form.permission)
    return form


def _render(c: Console, vehicle: Vehicle, kind: str, form: RecordForm, state: FormState,
            status_code: int = 200) -> HTMLResponse:
    return c.render("vehicles/record_form.html", status_code=status_code, state=state,
                    vehicle=vehicle, kind=kind, form=form)


def _values(c: Console, form: RecordForm, state: FormState) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in form.fields:
        raw = state.values.get(f.name, "")
        if f.kind == "checkbox":
            values[f.name] = bool(raw)
        elif raw == "":
            if f.kind == "select" and f.required:
                values[f.name] = ""  # refused as "Choose a …", not "Fill in …"
            continue
        elif f.kind == "money":
            values[f.name] = money_input(raw, c.tenant.currency)
        elif f.kind == "datetime-local":
            values[f.name] = local_datetime(raw, c.tenant.zone, name=f.name, state=state)
        else:
            values[f.name] = raw
    return values


@router.get("/vehicles/{vehicle_id}/{kind}/new")
def new_record(c: Ctx, _: VehiclesRead, vehicle_id: uuid.UUID, kind: str) -> HTMLResponse:
    """The form adding a ``kind`` record to a vehicle."""
    form = _form_of(c, kind)
    vehicle = fleet_service.get_vehicle(c.session, c.actor, vehicle_id).vehicle
    return _render(c, vehicle, kind, form, FormState(values=form.defaults(c)))


@router.post("/vehicles/{vehicle_id}/{kind}")
def create_record(c: Ctx, _: VehiclesRead, vehicle_id: uuid.UUID, kind: str,
                  form_data: Form) -> Response:
    """Save the record; the form comes back with the refused fields marked."""
    form = _form_of(c, kind)
    vehicle = fleet_service.get_vehicle(c.session, c.actor, vehicle_id).vehicle
    state = FormState(values=text_values(form_data, [f.name for f in form.fields]))
    values = _values(c, form, state)
    if form.takes_vehicle_id:
        values["vehicle_id"] = str(vehicle_id)
    refused = submit(c.session, state, form.model, values,
                     lambda data: form.save(c, vehicle, data),
                     lambda s, code: _render(c, vehicle, kind, form, s, code))
    if isinstance(refused, Response):
        return refused
    return redirect(c.request, f"/app/vehicles/{vehicle_id}#{form.anchor}", flash=form.done)


__all__ = ["FORMS", "router"]
