"""Vehicles: the filtered list, a vehicle's page (custody, documents, maintenance, insurance,
expenses, events, compliance), and the add/edit forms."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from dateutil.relativedelta import relativedelta
from fastapi import Query
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from fleetcore.core.errors import Problem
from fleetcore.core.pagination import PageParams
from fleetcore.documents import service as documents_service
from fleetcore.documents.filters import DocumentFilter, DocumentSort
from fleetcore.drivers import queries as drivers_queries
from fleetcore.fleet import api as fleet_api
from fleetcore.fleet import maintenance_service
from fleetcore.fleet import queries as fleet_queries
from fleetcore.fleet import service as fleet_service
from fleetcore.fleet.filters import (
    AssignmentFilter,
    EventFilter,
    ExpenseFilter,
    InsuranceFilter,
    VehicleFilter,
    VehicleSort,
)
from fleetcore.fleet.models import (
    FuelType,
    OwnershipType,
    PremiumFrequency,
    Vehicle,
    VehicleStatus,
)
from fleetcore.fleet.permissions import InsurancesWrite, VehiclesRead, VehiclesWrite
from fleetcore.fleet.schemas import InsuranceCreate, VehicleCreate, VehicleUpdate
from fleetcore.reference import queries as reference_queries
from fleetcore.reference import service as reference_service
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormInvalid,
    FormState,
    apply_problem,
    attempt,
    build,
    changed_meanwhile,
    money_input,
    optional,
    submit,
    text_values,
)
from fleetcore.web.i18n import N_, gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import enum_value, form_if_match, options, page, page_router

router = page_router()

FIELDS = ("make_id", "model_id", "vehicle_class_id", "licence_plate", "vin", "country", "year",
          "first_registration_on", "colour", "seats", "fuel_type", "ownership_type",
          "acquired_on", "acquisition_cost", "status", "traccar_device_id", "notes", "version")
OPTIONAL = ("model_id", "vehicle_class_id", "vin", "first_registration_on", "colour", "seats",
            "acquired_on", "traccar_device_id", "notes")
SORTS = [(s.value, label) for s, label in (
    (VehicleSort.CREATED_DESC, N_("Newest first")), (VehicleSort.CREATED, N_("Oldest first")),
    (VehicleSort.PLATE, N_("Plate A→Z")), (VehicleSort.PLATE_DESC, N_("Plate Z→A")),
    (VehicleSort.YEAR_DESC, N_("Newest model year")), (VehicleSort.YEAR, N_("Oldest model year")))]
DETAIL_ROWS = 10


def _list_filter(q: str | None, status: str | None, fuel_type: str | None,
                 ownership_type: str | None, sort: str | None) -> VehicleFilter:
    return VehicleFilter(
        status=enum_value(VehicleStatus, status, "status"),
        fuel_type=enum_value(FuelType, fuel_type, "fuel type"),
        ownership_type=enum_value(OwnershipType, ownership_type, "ownership"),
        q=q.strip() if q and q.strip() else None,
        sort=VehicleSort(enum_value(VehicleSort, sort, "sort") or VehicleSort.CREATED_DESC),
    )


@router.get("/vehicles")
def vehicle_list(
    c: Ctx, _: VehiclesRead,
    q: Annotated[str | None, Query(max_length=100)] = None,
    status: str | None = None, fuel_type: str | None = None,
    ownership_type: str | None = None, sort: str | None = None, cursor: str | None = None,
) -> HTMLResponse:
    """The fleet's vehicles with plate/VIN search and filters (HTMX swaps the table)."""
    filters = _list_filter(q, status, fuel_type, ownership_type, sort)
    views, next_cursor = fleet_service.list_vehicles(c.session, c.actor, page(cursor), filters)
    ids = [v.vehicle.id for v in views]
    now = datetime.now(UTC)
    names = reference_queries.catalogue_names(
        c.session, {v.vehicle.make_id for v in views},
        {v.vehicle.model_id for v in views if v.vehicle.model_id})
    custody = {k.vehicle_id: k for k in fleet_queries.current_custody(
        c.session, c.tenant.id, now, vehicle_ids=ids)}
    drivers = drivers_queries.driver_names(c.session, c.tenant.id,
                                           {k.driver_id for k in custody.values()})
    compliance = fleet_service.vehicles_compliance(c.session, c.actor, ids, now) if ids else {}
    params = {"q": filters.q, "status": filters.status, "fuel_type": filters.fuel_type,
              "ownership_type": filters.ownership_type, "sort": filters.sort.value}
    context: dict[str, Any] = {
        "views": views, "names": names, "custody": custody, "drivers": drivers,
        "compliance": compliance, "params": params, "next_cursor": next_cursor,
        "statuses": options(VehicleStatus), "fuels": options(FuelType),
        "ownerships": options(OwnershipType), "sorts": SORTS}
    template = "vehicles/_table.html" if c.is_htmx else "vehicles/list.html"
    return c.render(template, **context)


@router.get("/vehicles/export.csv")
def vehicle_export(
    c: Ctx, _: VehiclesRead,
    q: Annotated[str | None, Query(max_length=100)] = None,
    status: str | None = None, fuel_type: str | None = None,
    ownership_type: str | None = None, sort: str | None = None,
) -> StreamingResponse:
    """The filtered vehicles as the API's CSV (``GET /v1/vehicles/export.csv``)."""
    f = _list_filter(q, status, fuel_type, ownership_type, sort)
    return fleet_api.export_vehicles(c.actor, c.session, f)


# --- add and edit --------------------------------------------------------------------------


def _choices(c: Console, make_id: str | None, country: str) -> dict[str, Any]:
    """The selects of the vehicle form: makes, the chosen make's models, the country's classes."""
    big = PageParams(limit=500)
    makes, _ = reference_service.list_car_makes(c.session, c.actor, big,
                                                reference_service.CatalogueFilter())
    models: list[Any] = []
    if make_id:
        try:
            models, _ = reference_service.list_car_models(
                c.session, c.actor, big, reference_service.CatalogueFilter(
                    make_id=uuid.UUID(make_id)))
        except ValueError:
            models = []
    classes, _ = reference_service.list_vehicle_classes(
        c.session, c.actor, big, reference_service.VehicleClassFilter(country=country))
    return {
        "makes": [(str(m.id), m.name) for m in makes],
        "models": [(str(m.id), m.name) for m in models],
        "classes": [(str(k.id), f"{k.name} ({k.code})") for k in classes],
        "fuels": options(FuelType), "ownerships": options(OwnershipType),
        "statuses": options(VehicleStatus),
    }


def _form(c: Console, state: FormState, *, vehicle: Vehicle | None, status_code: int = 200
          ) -> HTMLResponse:
    country = state.value("country") or (vehicle.country if vehicle else c.tenant.country)
    make = state.value("make_id") or (str(vehicle.make_id) if vehicle else "")
    return c.render("vehicles/form.html", status_code=status_code, state=state,
                    vehicle=vehicle, **_choices(c, make, country))


def _initial(vehicle: Vehicle | None, c: Console) -> FormState:
    if vehicle is None:
        return FormState(values={"country": c.tenant.country, "status": "active",
                                 "year": str(c.today.year)})
    values = {name: "" if getattr(vehicle, name, None) is None else str(getattr(vehicle, name))
              for name in FIELDS if name not in ("acquisition_cost", "version")}
    if vehicle.acquisition_cost is not None:
        values["acquisition_cost"] = format(vehicle.acquisition_cost.normalize(), "f")
    values["version"] = str(vehicle.version)
    return FormState(values=values)


def _data(c: Console, values: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = optional({k: v for k, v in values.items() if k != "version"},
                                    *OPTIONAL)
    data["acquisition_cost"] = money_input(values.get("acquisition_cost"), c.tenant.currency)
    if data.get("licence_plate") is not None:
        data["licence_plate"] = data["licence_plate"].upper()
    return data


@router.get("/vehicles/new")
def new_vehicle(c: Ctx, _: VehiclesWrite) -> HTMLResponse:
    """The add-a-vehicle form."""
    return _form(c, _initial(None, c), vehicle=None)


@router.get("/vehicles/models")
def model_options(c: Ctx, _: VehiclesWrite, make_id: str | None = None) -> HTMLResponse:
    """The ``<option>``s of the model select for a make (HTMX, when the make changes)."""
    choices = _choices(c, make_id, c.tenant.country)
    return c.render("vehicles/_model_options.html", models=choices["models"], selected="")


@router.post("/vehicles")
def create_vehicle(c: Ctx, _: VehiclesWrite, form: Form) -> Response:
    """Add a vehicle; the form comes back with the refused fields marked."""
    state = FormState(values=text_values(form, FIELDS))
    vehicle = submit(c.session, state, VehicleCreate,
                     {k: v for k, v in _data(c, state.values).items() if v is not None},
                     lambda data: fleet_service.create_vehicle(c.session, c.actor, data=data),
                     lambda s, code: _form(c, s, vehicle=None, status_code=code))
    if isinstance(vehicle, Response):
        return vehicle
    return redirect(c.request, f"/app/vehicles/{vehicle.id}",
                    flash=gettext("Vehicle %(licence_plate)s added.",
                                  licence_plate=vehicle.licence_plate))


@router.get("/vehicles/{vehicle_id}/edit")
def edit_vehicle(c: Ctx, _: VehiclesWrite, vehicle_id: uuid.UUID) -> HTMLResponse:
    """The edit form of a vehicle."""
    view = fleet_service.get_vehicle(c.session, c.actor, vehicle_id)
    return _form(c, _initial(view.vehicle, c), vehicle=view.vehicle)


@router.post("/vehicles/{vehicle_id}/edit")
def update_vehicle(c: Ctx, _: VehiclesWrite, vehicle_id: uuid.UUID, form: Form) -> Response:
    """Save a vehicle's changes (refused when someone saved another change meanwhile)."""
    view = fleet_service.get_vehicle(c.session, c.actor, vehicle_id)
    state = FormState(values=text_values(form, FIELDS))
    version = state.values.get("version", "")
    refused = submit(c.session, state, VehicleUpdate, _data(c, state.values),
                     lambda data: fleet_service.update_vehicle(
                         c.session, c.actor, vehicle_id, data=data,
                         if_match=form_if_match(version, "vehicle")),
                     lambda s, code: _form(c, s, vehicle=view.vehicle, status_code=code),
                     adjust=changed_meanwhile(gettext(
                         "Someone else changed this vehicle while you were editing: reload the "
                         "page to see their change, then apply yours again.")))
    if isinstance(refused, Response):
        return refused
    return redirect(c.request, f"/app/vehicles/{vehicle_id}", flash=gettext("Vehicle saved."))


# --- one vehicle ---------------------------------------------------------------------------


@router.get("/vehicles/{vehicle_id}")
def vehicle_detail(c: Ctx, _: VehiclesRead, vehicle_id: uuid.UUID) -> HTMLResponse:
    """Everything about one vehicle, each section shown to those who may read it."""
    view = fleet_service.get_vehicle(c.session, c.actor, vehicle_id)
    vehicle = view.vehicle
    now = datetime.now(UTC)
    rows = PageParams(limit=DETAIL_ROWS)
    tenant = c.tenant.id
    context: dict[str, Any] = {
        "view": view, "vehicle": vehicle,
        "names": reference_queries.catalogue_names(
            c.session, {vehicle.make_id}, {vehicle.model_id} if vehicle.model_id else set()),
        "compliance": fleet_service.vehicle_compliance(c.session, c.actor, vehicle_id, now),
        "assignments": None, "documents": None, "schedules": None, "records": None,
        "insurances": None, "expenses": None, "events": None, "custody": None, "drivers": {},
    }
    driver_ids: set[uuid.UUID] = set()
    if c.can("assignments:read"):
        assignments, _more = fleet_service.list_assignments(
            c.session, c.actor, rows, AssignmentFilter(vehicle_id=vehicle_id))
        context["assignments"] = assignments
        custody = fleet_queries.current_custody(c.session, tenant, now, vehicle_ids=[vehicle_id])
        context["custody"] = custody[0] if custody else None
        driver_ids |= {a.driver_id for a in assignments}
    if c.can("documents:read"):
        context["documents"], _more = documents_service.list_documents(
            c.session, c.actor, PageParams(limit=20), DocumentFilter(
                entity_type="vehicle", entity_id=vehicle_id, sort=DocumentSort.NEWEST))
    if c.can("maintenance:read"):
        context["schedules"], _more = maintenance_service.list_schedules(
            c.session, c.actor, rows, vehicle_id=vehicle_id)
        context["records"], _more = maintenance_service.list_maintenance(
            c.session, c.actor, rows, vehicle_id=vehicle_id)
    if c.can("insurances:read"):
        context["insurances"], _more = fleet_service.list_insurances(
            c.session, c.actor, rows, InsuranceFilter(vehicle_id=vehicle_id))
    if c.can("expenses:read"):
        context["expenses"], _more = fleet_service.list_expenses(
            c.session, c.actor, rows, ExpenseFilter(vehicle_id=vehicle_id))
    events, _more = fleet_service.list_events(c.session, c.actor, rows,
                                              EventFilter(vehicle_id=vehicle_id))
    context["events"] = events
    driver_ids |= {e.driver_id for e in events if e.driver_id}
    context["drivers"] = drivers_queries.driver_names(c.session, tenant, driver_ids)
    return c.render("vehicles/detail.html", **context)


# --- insurance policies --------------------------------------------------------------------

INSURANCE_FIELDS = ("provider", "policy_number", "coverage_type", "starts_on", "ends_on",
                    "deductible", "premium", "premium_frequency", "notes")


def _insurance_form(c: Console, vehicle: Vehicle, state: FormState,
                    status_code: int = 200) -> HTMLResponse:
    return c.render("vehicles/insurance_form.html", status_code=status_code, state=state,
                    vehicle=vehicle, frequencies=options(PremiumFrequency))


@router.get("/vehicles/{vehicle_id}/insurances/new")
def new_insurance(c: Ctx, _: InsurancesWrite, vehicle_id: uuid.UUID) -> HTMLResponse:
    """The add-a-policy form of a vehicle (a new car cannot be assigned uninsured)."""
    vehicle = fleet_service.get_vehicle(c.session, c.actor, vehicle_id).vehicle
    start = c.today
    end = start + relativedelta(years=1) - timedelta(days=1)  # a year's cover, both days in
    return _insurance_form(c, vehicle, FormState(values={
        "starts_on": start.isoformat(), "ends_on": end.isoformat(),
        "coverage_type": "comprehensive"}))


@router.post("/vehicles/{vehicle_id}/insurances")
def create_insurance(c: Ctx, _: InsurancesWrite, vehicle_id: uuid.UUID, form: Form) -> Response:
    """Record a policy; an overlap with another active policy is refused on its dates."""
    vehicle = fleet_service.get_vehicle(c.session, c.actor, vehicle_id).vehicle
    state = FormState(values=text_values(form, INSURANCE_FIELDS))
    values: dict[str, Any] = optional(state.values, "notes", "premium_frequency")
    values["deductible"] = money_input(values.get("deductible"), c.tenant.currency)
    values["premium"] = money_input(values.get("premium"), c.tenant.currency)
    values.update(vehicle_id=str(vehicle_id), currency=c.tenant.currency)
    try:
        data = build(InsuranceCreate, {k: v for k, v in values.items() if v is not None}, state)
        policy = attempt(c.session, lambda: fleet_service.create_insurance(
            c.session, c.actor, data=data))
    except FormInvalid:
        return _insurance_form(c, vehicle, state, 422)
    except Problem as problem:
        if problem.slug == "insurance-overlap":
            state.add("starts_on", gettext("overlaps another active policy of this vehicle"))
        return _insurance_form(c, vehicle, apply_problem(state, problem), problem.status)
    return redirect(c.request, f"/app/vehicles/{vehicle_id}#insurances",
                    flash=gettext("Policy %(policy_number)s recorded for %(licence_plate)s.",
                                  policy_number=policy.policy_number,
                                  licence_plate=vehicle.licence_plate))
