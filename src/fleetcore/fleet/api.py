"""``/v1`` fleet endpoints: vehicles, assignments, compliance, insurances, expenses, events."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from fleetcore.core.compliance import ComplianceReport
from fleetcore.core.deps import DbSession
from fleetcore.core.export import (
    Column,
    CsvColumn,
    MoneyColumns,
    attribute_columns,
    csv_response,
    csv_responses,
    money_columns,
)
from fleetcore.core.money import Money
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.resource import (
    SAFE_TEXT,
    IncludeDeleted,
    ResourceRoutes,
    value_of,
)
from fleetcore.core.schemas import from_row, money_out
from fleetcore.fleet import service
from fleetcore.fleet.filters import (
    AssignmentFilter,
    EventFilter,
    ExpenseFilter,
    InsuranceFilter,
    VehicleFilter,
    VehicleSort,
)
from fleetcore.fleet.models import (
    AssignmentStatus,
    EventSeverity,
    ExpenseCategory,
    ExpensePaymentMethod,
    FuelType,
    OwnershipType,
    VehicleAssignment,
    VehicleEvent,
    VehicleEventType,
    VehicleExpense,
    VehicleInsurance,
    VehicleStatus,
)
from fleetcore.fleet.permissions import (
    AssignmentsRead,
    AssignmentsWrite,
    ExpensesRead,
    ExpensesWrite,
    InsurancesRead,
    InsurancesWrite,
    VehiclesRead,
    VehiclesWrite,
)
from fleetcore.fleet.schemas import (
    VEHICLE_COMPLIANCE_EXAMPLE,
    AssignmentCancel,
    AssignmentCreate,
    AssignmentEnd,
    AssignmentOut,
    ComplianceSummaryOut,
    CustodianOut,
    EventCreate,
    EventOut,
    EventUpdate,
    ExpenseCreate,
    ExpenseOut,
    ExpenseUpdate,
    InsuranceCreate,
    InsuranceOut,
    InsuranceUpdate,
    VehicleCreate,
    VehicleOut,
    VehicleUpdate,
)

router = APIRouter(prefix="/v1")

# --- vehicles --------------------------------------------------------------------------------


def _vehicle_out(view: service.VehicleView) -> VehicleOut:
    v = view.vehicle
    return from_row(VehicleOut, v, acquisition_cost=money_out(v.acquisition_cost, v.currency),
                    current_odometer_km=view.odometer_km, odometer_read_at=view.odometer_read_at)


def _vehicle_filter(
    vehicle_status: Annotated[VehicleStatus | None, Query(alias="status")] = None,
    make_id: uuid.UUID | None = None,
    model_id: uuid.UUID | None = None,
    vehicle_class_id: uuid.UUID | None = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    fuel_type: FuelType | None = None,
    ownership_type: OwnershipType | None = None,
    q: Annotated[str | None, Query(max_length=100, pattern=SAFE_TEXT,
                                   description="Part of a plate or VIN.")] = None,
    include_deleted: IncludeDeleted = False,
    sort: VehicleSort = VehicleSort.CREATED,
) -> VehicleFilter:
    return VehicleFilter(
        status=value_of(vehicle_status), make_id=make_id, model_id=model_id,
        vehicle_class_id=vehicle_class_id, country=country, fuel_type=value_of(fuel_type),
        ownership_type=value_of(ownership_type), q=q, include_deleted=include_deleted, sort=sort,
    )


VehicleFilterQuery = Annotated[VehicleFilter, Depends(_vehicle_filter)]

def _of_vehicle(name: str) -> Any:
    return lambda row: getattr(row[0], name)


_VEHICLE_COLUMNS: list[Column] = [
    *(CsvColumn(name, _of_vehicle(name)) for name in (
        "id", "licence_plate", "vin", "country", "make_id", "model_id", "vehicle_class_id",
        "year", "first_registration_on", "colour", "seats", "fuel_type", "ownership_type",
        "status", "acquired_on")),
    MoneyColumns("acquisition_cost", lambda r: Money(r[0].acquisition_cost, r[0].currency)
                 if r[0].acquisition_cost is not None and r[0].currency else None),
    CsvColumn("current_odometer_km", lambda r: r[1]),
    CsvColumn("odometer_read_at", lambda r: r[2]),
    CsvColumn("notes", lambda r: r[0].notes),
    CsvColumn("deleted_at", lambda r: r[0].deleted_at),
]


_vehicles = ResourceRoutes(router, "vehicles", "vehicle_id", "vehicle", ["vehicles"], VehicleOut,
                           _vehicle_out, VehiclesRead, VehiclesWrite,
                           row_of=lambda view: view.vehicle)
_vehicles.listing("List vehicles with their current odometer", VehicleFilterQuery,
                  service.list_vehicles)
export_vehicles = _vehicles.export(
    "Export the filtered vehicles as CSV (streamed)", VehicleFilterQuery,
    service.vehicles_export_query, _VEHICLE_COLUMNS, "vehicles.csv")


def _vehicle_view(session: Any, actor: Any, vehicle: Any) -> service.VehicleView:
    return service.get_vehicle(session, actor, vehicle.id)


_vehicles.create("Add a vehicle (VIN and plate validated per country)", VehicleCreate,
                 lambda s, a, data: _vehicle_view(s, a, service.create_vehicle(s, a, data=data)))
_vehicles.get("Get a vehicle", service.get_vehicle)
_vehicles.update("Update a vehicle", VehicleUpdate, lambda s, a, i, **change: _vehicle_view(
    s, a, service.update_vehicle(s, a, i, **change)))
_vehicles.delete("Soft-delete a vehicle", service.delete_vehicle)
_vehicles.restore("Restore a soft-deleted vehicle",
                  lambda s, a, i: _vehicle_view(s, a, service.restore_vehicle(s, a, i)))


@router.get("/vehicles/{vehicle_id}/compliance", tags=["compliance"],
            summary="Every compliance rule of a vehicle, with reasons",
            responses={200: {"content": {"application/json": {
                "example": VEHICLE_COMPLIANCE_EXAMPLE}}}})
def vehicle_compliance(
    actor: VehiclesRead, session: DbSession, vehicle_id: uuid.UUID,
    at: Annotated[datetime | None, Query(description="Defaults to now.")] = None,
) -> ComplianceReport:
    return service.vehicle_compliance(session, actor, vehicle_id, at or datetime.now(UTC))


@router.get("/compliance/summary", tags=["compliance"],
            summary="Fleet compliance: counts per rule, non-compliant vehicles and drivers")
def compliance_summary(actor: VehiclesRead, session: DbSession) -> ComplianceSummaryOut:
    return service.compliance_summary(session, actor, datetime.now(UTC))


@router.get("/vehicles/{vehicle_id}/custodian", tags=["vehicle-assignments"],
            summary="Who had the vehicle at an instant (404 no-custodian when nobody)")
def vehicle_custodian(
    actor: AssignmentsRead, session: DbSession, vehicle_id: uuid.UUID,
    at: Annotated[datetime | None, Query(description="Defaults to now.")] = None,
) -> CustodianOut:
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    found = service.custodian(session, actor, vehicle_id, when)
    return CustodianOut(vehicle_id=vehicle_id, at=when, driver_id=found.driver_id,
                        assignment=AssignmentOut.model_validate(found))


@router.get("/vehicles/{vehicle_id}/assignments", tags=["vehicle-assignments"],
            summary="Custody history of a vehicle, newest first")
def vehicle_assignments(
    actor: AssignmentsRead, session: DbSession, vehicle_id: uuid.UUID, page: Pagination,
) -> Page[AssignmentOut]:
    service.get_vehicle(session, actor, vehicle_id, include_deleted=True)
    rows, cursor = service.list_assignments(session, actor, page,
                                            AssignmentFilter(vehicle_id=vehicle_id))
    return Page(items=[AssignmentOut.model_validate(a) for a in rows], next_cursor=cursor)


_ASSIGNMENT_COLUMNS = attribute_columns(
    "id", "vehicle_id", "driver_id", "starts_at", "ends_at", "assignment_type", "status",
    "odometer_out_km", "odometer_in_km", "override_reason", "notes",
)
_ASSIGNMENT_ORDER = (VehicleAssignment.starts_at.desc(), VehicleAssignment.id.desc())


@router.get("/vehicles/{vehicle_id}/assignments/export.csv", tags=["vehicle-assignments"],
            response_class=StreamingResponse, responses=csv_responses(_ASSIGNMENT_COLUMNS),
            summary="Export a vehicle's custody history as CSV, newest first")
def export_vehicle_assignments(
    actor: AssignmentsRead, session: DbSession, vehicle_id: uuid.UUID,
) -> StreamingResponse:
    service.get_vehicle(session, actor, vehicle_id, include_deleted=True)
    stmt = service.assignments_query(actor, AssignmentFilter(vehicle_id=vehicle_id))
    return csv_response(session, stmt.order_by(*_ASSIGNMENT_ORDER), _ASSIGNMENT_COLUMNS,
                        filename="vehicle-assignments.csv")


# --- assignments -----------------------------------------------------------------------------


def _assignment_filter(
    vehicle_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    assignment_status: Annotated[AssignmentStatus | None, Query(alias="status")] = None,
    since: Annotated[datetime | None, Query(description="Still running at/after.")] = None,
    until: Annotated[datetime | None, Query(description="Started before.")] = None,
) -> AssignmentFilter:
    return AssignmentFilter(vehicle_id=vehicle_id, driver_id=driver_id,
                            status=value_of(assignment_status), since=since, until=until)


AssignmentFilterQuery = Annotated[AssignmentFilter, Depends(_assignment_filter)]


_assignments = ResourceRoutes(
    router, "vehicle-assignments", "assignment_id", "assignment", ["vehicle-assignments"],
    AssignmentOut, AssignmentOut.model_validate, AssignmentsRead, AssignmentsWrite)
_assignments.listing("List assignments (by vehicle, by driver, over a period), newest first",
                     AssignmentFilterQuery, service.list_assignments)
export_assignments = _assignments.export(
    "Export the filtered assignments as CSV (streamed)", AssignmentFilterQuery,
    service.assignments_query, _ASSIGNMENT_COLUMNS, "vehicle-assignments.csv",
    order_by=_ASSIGNMENT_ORDER)
_assignments.create("Assign a vehicle to a driver (compliance, overlaps, handover)",
                    AssignmentCreate, service.assign_vehicle, name="assign_vehicle")
_assignments.get("Get an assignment", service.get_assignment, include_deleted=False)


_assignments.action("end", "End an assignment (odometer in, handover event)", AssignmentEnd,
                    lambda s, a, i, data, if_match: service.end_assignment(
                        s, a, i, data=data or AssignmentEnd(), if_match=if_match),
                    optional=True)
_assignments.action("cancel", "Cancel an assignment that has not started", AssignmentCancel,
                    lambda s, a, i, data, if_match: service.cancel_assignment(
                        s, a, i, data=data or AssignmentCancel(), if_match=if_match),
                    optional=True)


# --- insurances ------------------------------------------------------------------------------


def _insurance_out(p: Any) -> InsuranceOut:
    return from_row(InsuranceOut, p, deductible=money_out(p.deductible, p.currency),
                    premium=money_out(p.premium, p.currency))


_INSURANCE_COLUMNS: list[Column] = [
    *attribute_columns("id", "vehicle_id", "provider", "policy_number", "coverage_type",
                       "starts_on", "ends_on", "active"),
    money_columns("premium"),
    CsvColumn("premium_frequency", lambda r: r.premium_frequency),
    money_columns("deductible"),
    CsvColumn("notes", lambda r: r.notes),
]


def _insurance_filter(
    vehicle_id: uuid.UUID | None = None, active: bool | None = None,
    covering: Annotated[date | None, Query(description="Policies covering this day.")] = None,
    include_deleted: IncludeDeleted = False,
) -> InsuranceFilter:
    return InsuranceFilter(vehicle_id=vehicle_id, active=active, covering=covering,
                           include_deleted=include_deleted)


InsuranceFilterQuery = Annotated[InsuranceFilter, Depends(_insurance_filter)]


_insurances = ResourceRoutes(
    router, "vehicle-insurances", "insurance_id", "insurance", ["vehicle-insurances"],
    InsuranceOut, _insurance_out, InsurancesRead, InsurancesWrite)
_insurances.listing("List insurance policies", InsuranceFilterQuery, service.list_insurances)
_insurances.export("Export the filtered insurance policies as CSV (streamed)",
                   InsuranceFilterQuery, service.insurances_query, _INSURANCE_COLUMNS,
                   "vehicle-insurances.csv", order_by=(VehicleInsurance.id,))
_insurances.create("Add an insurance policy (no overlap with another active policy)",
                   InsuranceCreate, service.create_insurance)
_insurances.get("Get an insurance policy", service.get_insurance)
_insurances.update("Update an insurance policy", InsuranceUpdate, service.update_insurance)
_insurances.delete("Soft-delete an insurance policy", service.delete_insurance)
_insurances.restore("Restore a soft-deleted insurance policy", service.restore_insurance)


# --- expenses --------------------------------------------------------------------------------


def _expense_out(e: Any) -> ExpenseOut:
    return from_row(ExpenseOut, e, amount=money_out(e.amount, e.currency),
                    tax_amount=money_out(e.tax_amount, e.currency),
                    unit_price=money_out(e.unit_price, e.currency))


_EXPENSE_COLUMNS: list[Column] = [
    *attribute_columns("id", "vehicle_id", "driver_id", "category", "payment_method",
                       "incurred_on", "incurred_at"),
    money_columns("amount"),
    money_columns("tax_amount"),
    *attribute_columns("quantity", "quantity_unit", "odometer_km", "vendor", "description",
                       "is_reimbursable", "is_rechargeable"),
]


def _expense_filter(
    vehicle_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    category: ExpenseCategory | None = None, payment_method: ExpensePaymentMethod | None = None,
    since: date | None = None, until: date | None = None,
    include_deleted: IncludeDeleted = False,
) -> ExpenseFilter:
    return ExpenseFilter(vehicle_id=vehicle_id, driver_id=driver_id, category=value_of(category),
                         payment_method=value_of(payment_method), since=since, until=until,
                         include_deleted=include_deleted)


ExpenseFilterQuery = Annotated[ExpenseFilter, Depends(_expense_filter)]


_expenses = ResourceRoutes(
    router, "vehicle-expenses", "expense_id", "expense", ["vehicle-expenses"], ExpenseOut,
    _expense_out, ExpensesRead, ExpensesWrite)
_expenses.listing("List vehicle expenses", ExpenseFilterQuery, service.list_expenses)
_expenses.export("Export the filtered expenses as CSV (streamed)", ExpenseFilterQuery,
                 service.expenses_query, _EXPENSE_COLUMNS, "vehicle-expenses.csv",
                 order_by=(VehicleExpense.incurred_on.desc(), VehicleExpense.id.desc()))
_expenses.create("Record a vehicle expense", ExpenseCreate, service.create_expense)
_expenses.get("Get a vehicle expense", service.get_expense)
_expenses.update("Update a vehicle expense", ExpenseUpdate, service.update_expense)
_expenses.delete("Soft-delete a vehicle expense", service.delete_expense)
_expenses.restore("Restore a soft-deleted vehicle expense", service.restore_expense)


# --- vehicle events --------------------------------------------------------------------------


def _event_out(e: Any) -> EventOut:
    return from_row(EventOut, e, cost=money_out(e.cost, e.currency))


_EVENT_COLUMNS: list[Column] = [
    *attribute_columns("id", "vehicle_id", "driver_id", "assignment_id", "event_type",
                       "severity", "occurred_at", "odometer_km", "description", "source"),
    money_columns("cost"),
    *attribute_columns("follow_up_due_on", "resolved_at"),
]


def _event_filter(
    vehicle_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    event_type: VehicleEventType | None = None, severity: EventSeverity | None = None,
    unresolved: bool | None = None, since: datetime | None = None,
    until: datetime | None = None, include_deleted: IncludeDeleted = False,
) -> EventFilter:
    return EventFilter(vehicle_id=vehicle_id, driver_id=driver_id,
                       event_type=value_of(event_type), severity=value_of(severity),
                       unresolved=unresolved, since=since, until=until,
                       include_deleted=include_deleted)


EventFilterQuery = Annotated[EventFilter, Depends(_event_filter)]


_events = ResourceRoutes(router, "vehicle-events", "event_id", "event", ["vehicle-events"],
                         EventOut, _event_out, VehiclesRead, VehiclesWrite)
_events.listing("List vehicle events, newest first", EventFilterQuery, service.list_events)
_events.export("Export the filtered vehicle events as CSV (streamed)", EventFilterQuery,
               service.events_query, _EVENT_COLUMNS, "vehicle-events.csv",
               order_by=(VehicleEvent.occurred_at.desc(), VehicleEvent.id.desc()))
_events.create("Record a vehicle event (accident, inspection…)", EventCreate, service.create_event)
_events.get("Get a vehicle event", service.get_event)
_events.update("Update a vehicle event (severity, follow-up, resolution)", EventUpdate,
               service.update_event)
_events.delete("Soft-delete a vehicle event", service.delete_event)
_events.restore("Restore a soft-deleted vehicle event", service.restore_event)
