"""``/v1`` fleet endpoints: vehicles, assignments, compliance, insurances, expenses, events."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from fleetcore.core.compliance import ComplianceReport
from fleetcore.core.deps import DbSession
from fleetcore.core.export import (
    Column,
    CsvColumn,
    MoneyColumns,
    attribute_columns,
    csv_response,
    csv_responses,
)
from fleetcore.core.money import Money
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.schemas import model_response, money_out
from fleetcore.core.versioning import RequiredIfMatch, etag
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

M = TypeVar("M", bound=BaseModel)

_SAFE_TEXT = r"^[^\x00]*$"
Reason = Annotated[str | None, Query(max_length=1000, pattern=_SAFE_TEXT,
                                     description="Why the row is deleted (kept with it).")]
IncludeDeleted = Annotated[bool, Query(description="Also soft-deleted rows.")]

def _out(model: type[M], row: Any, **overrides: Any) -> M:
    data = {name: getattr(row, name) for name in model.model_fields
            if name not in overrides and hasattr(row, name)}
    data.update(overrides)
    return model.model_validate(data)


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def _created(response: Response, path: str, row_id: uuid.UUID, version: int) -> None:
    response.headers["Location"] = f"/v1/{path}/{row_id}"
    _with_etag(response, version)


def _money(amount: Any, currency: str | None) -> Money | None:
    return Money(amount, currency) if amount is not None and currency else None


# --- vehicles --------------------------------------------------------------------------------


def _vehicle_out(view: service.VehicleView) -> VehicleOut:
    v = view.vehicle
    return _out(VehicleOut, v, acquisition_cost=money_out(v.acquisition_cost, v.currency),
                current_odometer_km=view.odometer_km, odometer_read_at=view.odometer_read_at)


def _vehicle_filter(
    vehicle_status: Annotated[VehicleStatus | None, Query(alias="status")] = None,
    make_id: uuid.UUID | None = None,
    model_id: uuid.UUID | None = None,
    vehicle_class_id: uuid.UUID | None = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    fuel_type: FuelType | None = None,
    ownership_type: OwnershipType | None = None,
    q: Annotated[str | None, Query(max_length=100, pattern=_SAFE_TEXT,
                                   description="Part of a plate or VIN.")] = None,
    include_deleted: IncludeDeleted = False,
    sort: VehicleSort = VehicleSort.CREATED,
) -> VehicleFilter:
    return VehicleFilter(
        status=vehicle_status.value if vehicle_status else None, make_id=make_id,
        model_id=model_id, vehicle_class_id=vehicle_class_id, country=country,
        fuel_type=fuel_type.value if fuel_type else None,
        ownership_type=ownership_type.value if ownership_type else None, q=q,
        include_deleted=include_deleted, sort=sort,
    )


_VEHICLE_COLUMNS: list[Column] = [
    CsvColumn("id", lambda r: r[0].id),
    CsvColumn("licence_plate", lambda r: r[0].licence_plate),
    CsvColumn("vin", lambda r: r[0].vin),
    CsvColumn("country", lambda r: r[0].country),
    CsvColumn("make_id", lambda r: r[0].make_id),
    CsvColumn("model_id", lambda r: r[0].model_id),
    CsvColumn("vehicle_class_id", lambda r: r[0].vehicle_class_id),
    CsvColumn("year", lambda r: r[0].year),
    CsvColumn("first_registration_on", lambda r: r[0].first_registration_on),
    CsvColumn("colour", lambda r: r[0].colour),
    CsvColumn("seats", lambda r: r[0].seats),
    CsvColumn("fuel_type", lambda r: r[0].fuel_type),
    CsvColumn("ownership_type", lambda r: r[0].ownership_type),
    CsvColumn("status", lambda r: r[0].status),
    CsvColumn("acquired_on", lambda r: r[0].acquired_on),
    MoneyColumns("acquisition_cost", lambda r: _money(r[0].acquisition_cost, r[0].currency)),
    CsvColumn("current_odometer_km", lambda r: r[1]),
    CsvColumn("odometer_read_at", lambda r: r[2]),
    CsvColumn("notes", lambda r: r[0].notes),
    CsvColumn("deleted_at", lambda r: r[0].deleted_at),
]


@router.get("/vehicles", tags=["vehicles"], response_model=Page[VehicleOut],
            summary="List vehicles with their current odometer")
def list_vehicles(
    actor: VehiclesRead, session: DbSession, page: Pagination,
    vehicle_status: Annotated[VehicleStatus | None, Query(alias="status")] = None,
    make_id: uuid.UUID | None = None,
    model_id: uuid.UUID | None = None,
    vehicle_class_id: uuid.UUID | None = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    fuel_type: FuelType | None = None,
    ownership_type: OwnershipType | None = None,
    q: Annotated[str | None, Query(max_length=100, pattern=_SAFE_TEXT,
                                   description="Part of a plate or VIN.")] = None,
    include_deleted: IncludeDeleted = False,
    sort: VehicleSort = VehicleSort.CREATED,
) -> Response:
    filters = _vehicle_filter(vehicle_status, make_id, model_id, vehicle_class_id, country,
                              fuel_type, ownership_type, q, include_deleted, sort)
    views, cursor = service.list_vehicles(session, actor, page, filters)
    return model_response(Page(items=[_vehicle_out(v) for v in views], next_cursor=cursor))


@router.get("/vehicles/export.csv", tags=["vehicles"], response_class=StreamingResponse,
            responses=csv_responses(_VEHICLE_COLUMNS),
            summary="Export the filtered vehicles as CSV (streamed)")
def export_vehicles(
    actor: VehiclesRead, session: DbSession,
    vehicle_status: Annotated[VehicleStatus | None, Query(alias="status")] = None,
    make_id: uuid.UUID | None = None,
    model_id: uuid.UUID | None = None,
    vehicle_class_id: uuid.UUID | None = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    fuel_type: FuelType | None = None,
    ownership_type: OwnershipType | None = None,
    q: Annotated[str | None, Query(max_length=100, pattern=_SAFE_TEXT)] = None,
    include_deleted: IncludeDeleted = False,
    sort: VehicleSort = VehicleSort.CREATED,
) -> StreamingResponse:
    filters = _vehicle_filter(vehicle_status, make_id, model_id, vehicle_class_id, country,
                              fuel_type, ownership_type, q, include_deleted, sort)
    return csv_response(session, service.vehicles_export_query(actor, filters),
                        _VEHICLE_COLUMNS, filename="vehicles.csv")


@router.post("/vehicles", tags=["vehicles"], status_code=status.HTTP_201_CREATED,
             summary="Add a vehicle (VIN and plate validated per country)")
def create_vehicle(
    actor: VehiclesWrite, session: DbSession, data: VehicleCreate, response: Response
) -> VehicleOut:
    vehicle = service.create_vehicle(session, actor, data=data)
    _created(response, "vehicles", vehicle.id, vehicle.version)
    return _vehicle_out(service.get_vehicle(session, actor, vehicle.id))


@router.get("/vehicles/{vehicle_id}", tags=["vehicles"], response_model=VehicleOut,
            summary="Get a vehicle")
def get_vehicle(
    actor: VehiclesRead, session: DbSession, vehicle_id: uuid.UUID,
    include_deleted: IncludeDeleted = False,
) -> Response:
    view = service.get_vehicle(session, actor, vehicle_id, include_deleted=include_deleted)
    return model_response(_vehicle_out(view), {"ETag": etag(view.vehicle.version)})


@router.patch("/vehicles/{vehicle_id}", tags=["vehicles"], summary="Update a vehicle")
def update_vehicle(
    actor: VehiclesWrite, session: DbSession, if_match: RequiredIfMatch,
    vehicle_id: uuid.UUID, data: VehicleUpdate,
    response: Response,
) -> VehicleOut:
    vehicle = service.update_vehicle(session, actor, vehicle_id, data=data, if_match=if_match)
    _with_etag(response, vehicle.version)
    return _vehicle_out(service.get_vehicle(session, actor, vehicle.id))


@router.delete("/vehicles/{vehicle_id}", tags=["vehicles"],
               status_code=status.HTTP_204_NO_CONTENT, summary="Soft-delete a vehicle")
def delete_vehicle(
    actor: VehiclesWrite, session: DbSession, if_match: RequiredIfMatch,
    vehicle_id: uuid.UUID, reason: Reason = None,
) -> Response:
    service.delete_vehicle(session, actor, vehicle_id, reason=reason, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/vehicles/{vehicle_id}/restore", tags=["vehicles"],
             summary="Restore a soft-deleted vehicle")
def restore_vehicle(
    actor: VehiclesWrite, session: DbSession, vehicle_id: uuid.UUID, response: Response
) -> VehicleOut:
    vehicle = service.restore_vehicle(session, actor, vehicle_id)
    _with_etag(response, vehicle.version)
    return _vehicle_out(service.get_vehicle(session, actor, vehicle.id))


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
    vehicle_id: uuid.UUID | None, driver_id: uuid.UUID | None,
    assignment_status: AssignmentStatus | None, since: datetime | None, until: datetime | None,
) -> AssignmentFilter:
    return AssignmentFilter(vehicle_id=vehicle_id, driver_id=driver_id,
                            status=assignment_status.value if assignment_status else None,
                            since=since, until=until)


@router.get("/vehicle-assignments", tags=["vehicle-assignments"],
            summary="List assignments (by vehicle, by driver, over a period), newest first")
def list_assignments(
    actor: AssignmentsRead, session: DbSession, page: Pagination,
    vehicle_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    assignment_status: Annotated[AssignmentStatus | None, Query(alias="status")] = None,
    since: Annotated[datetime | None, Query(description="Still running at/after.")] = None,
    until: Annotated[datetime | None, Query(description="Started before.")] = None,
) -> Page[AssignmentOut]:
    filters = _assignment_filter(vehicle_id, driver_id, assignment_status, since, until)
    rows, cursor = service.list_assignments(session, actor, page, filters)
    return Page(items=[AssignmentOut.model_validate(a) for a in rows], next_cursor=cursor)


@router.get("/vehicle-assignments/export.csv", tags=["vehicle-assignments"],
            response_class=StreamingResponse, responses=csv_responses(_ASSIGNMENT_COLUMNS),
            summary="Export the filtered assignments as CSV (streamed)")
def export_assignments(
    actor: AssignmentsRead, session: DbSession,
    vehicle_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    assignment_status: Annotated[AssignmentStatus | None, Query(alias="status")] = None,
    since: datetime | None = None, until: datetime | None = None,
) -> StreamingResponse:
    filters = _assignment_filter(vehicle_id, driver_id, assignment_status, since, until)
    stmt = service.assignments_query(actor, filters).order_by(*_ASSIGNMENT_ORDER)
    return csv_response(session, stmt, _ASSIGNMENT_COLUMNS, filename="vehicle-assignments.csv")


@router.post("/vehicle-assignments", tags=["vehicle-assignments"],
             status_code=status.HTTP_201_CREATED,
             summary="Assign a vehicle to a driver (compliance, overlaps, handover)")
def assign_vehicle(
    actor: AssignmentsWrite, session: DbSession, data: AssignmentCreate, response: Response
) -> AssignmentOut:
    assignment = service.assign_vehicle(session, actor, data=data)
    _created(response, "vehicle-assignments", assignment.id, assignment.version)
    return AssignmentOut.model_validate(assignment)


@router.get("/vehicle-assignments/{assignment_id}", tags=["vehicle-assignments"],
            summary="Get an assignment")
def get_assignment(
    actor: AssignmentsRead, session: DbSession, assignment_id: uuid.UUID, response: Response
) -> AssignmentOut:
    assignment = service.get_assignment(session, actor, assignment_id)
    _with_etag(response, assignment.version)
    return AssignmentOut.model_validate(assignment)


@router.post("/vehicle-assignments/{assignment_id}/end", tags=["vehicle-assignments"],
             summary="End an assignment (odometer in, handover event)")
def end_assignment(
    actor: AssignmentsWrite, session: DbSession, if_match: RequiredIfMatch,
    assignment_id: uuid.UUID, response: Response,
    data: AssignmentEnd | None = None,
) -> AssignmentOut:
    assignment = service.end_assignment(session, actor, assignment_id,
                                        data=data or AssignmentEnd(), if_match=if_match)
    _with_etag(response, assignment.version)
    return AssignmentOut.model_validate(assignment)


@router.post("/vehicle-assignments/{assignment_id}/cancel", tags=["vehicle-assignments"],
             summary="Cancel an assignment that has not started")
def cancel_assignment(
    actor: AssignmentsWrite, session: DbSession, if_match: RequiredIfMatch,
    assignment_id: uuid.UUID, response: Response,
    data: AssignmentCancel | None = None,
) -> AssignmentOut:
    assignment = service.cancel_assignment(session, actor, assignment_id,
                                           data=data or AssignmentCancel(), if_match=if_match)
    _with_etag(response, assignment.version)
    return AssignmentOut.model_validate(assignment)


# --- insurances ------------------------------------------------------------------------------


def _insurance_out(p: Any) -> InsuranceOut:
    return _out(InsuranceOut, p, deductible=money_out(p.deductible, p.currency),
                premium=money_out(p.premium, p.currency))


_INSURANCE_COLUMNS: list[Column] = [
    *attribute_columns("id", "vehicle_id", "provider", "policy_number", "coverage_type",
                   "starts_on", "ends_on", "active"),
    MoneyColumns("premium", lambda r: _money(r.premium, r.currency)),
    CsvColumn("premium_frequency", lambda r: r.premium_frequency),
    MoneyColumns("deductible", lambda r: _money(r.deductible, r.currency)),
    CsvColumn("notes", lambda r: r.notes),
]


@router.get("/vehicle-insurances", tags=["vehicle-insurances"], summary="List insurance policies")
def list_insurances(
    actor: InsurancesRead, session: DbSession, page: Pagination,
    vehicle_id: uuid.UUID | None = None, active: bool | None = None,
    covering: Annotated[date | None, Query(description="Policies covering this day.")] = None,
    include_deleted: IncludeDeleted = False,
) -> Page[InsuranceOut]:
    rows, cursor = service.list_insurances(session, actor, page, InsuranceFilter(
        vehicle_id=vehicle_id, active=active, covering=covering, include_deleted=include_deleted))
    return Page(items=[_insurance_out(p) for p in rows], next_cursor=cursor)


@router.get("/vehicle-insurances/export.csv", tags=["vehicle-insurances"],
            response_class=StreamingResponse, responses=csv_responses(_INSURANCE_COLUMNS),
            summary="Export the filtered insurance policies as CSV (streamed)")
def export_insurances(
    actor: InsurancesRead, session: DbSession, vehicle_id: uuid.UUID | None = None,
    active: bool | None = None, covering: date | None = None,
    include_deleted: IncludeDeleted = False,
) -> StreamingResponse:
    stmt = service.insurances_query(actor, InsuranceFilter(
        vehicle_id=vehicle_id, active=active, covering=covering,
        include_deleted=include_deleted)).order_by(VehicleInsurance.id)
    return csv_response(session, stmt, _INSURANCE_COLUMNS, filename="vehicle-insurances.csv")


@router.post("/vehicle-insurances", tags=["vehicle-insurances"],
             status_code=status.HTTP_201_CREATED,
             summary="Add an insurance policy (no overlap with another active policy)")
def create_insurance(
    actor: InsurancesWrite, session: DbSession, data: InsuranceCreate, response: Response
) -> InsuranceOut:
    policy = service.create_insurance(session, actor, data=data)
    _created(response, "vehicle-insurances", policy.id, policy.version)
    return _insurance_out(policy)


@router.get("/vehicle-insurances/{insurance_id}", tags=["vehicle-insurances"],
            summary="Get an insurance policy")
def get_insurance(
    actor: InsurancesRead, session: DbSession, insurance_id: uuid.UUID, response: Response,
    include_deleted: IncludeDeleted = False,
) -> InsuranceOut:
    policy = service.get_insurance(session, actor, insurance_id, include_deleted=include_deleted)
    _with_etag(response, policy.version)
    return _insurance_out(policy)


@router.patch("/vehicle-insurances/{insurance_id}", tags=["vehicle-insurances"],
              summary="Update an insurance policy")
def update_insurance(
    actor: InsurancesWrite, session: DbSession, if_match: RequiredIfMatch,
    insurance_id: uuid.UUID, data: InsuranceUpdate,
    response: Response,
) -> InsuranceOut:
    policy = service.update_insurance(session, actor, insurance_id, data=data, if_match=if_match)
    _with_etag(response, policy.version)
    return _insurance_out(policy)


@router.delete("/vehicle-insurances/{insurance_id}", tags=["vehicle-insurances"],
               status_code=status.HTTP_204_NO_CONTENT, summary="Soft-delete an insurance policy")
def delete_insurance(
    actor: InsurancesWrite, session: DbSession, if_match: RequiredIfMatch,
    insurance_id: uuid.UUID, reason: Reason = None,
) -> Response:
    service.delete_insurance(session, actor, insurance_id, reason=reason, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/vehicle-insurances/{insurance_id}/restore", tags=["vehicle-insurances"],
             summary="Restore a soft-deleted insurance policy")
def restore_insurance(
    actor: InsurancesWrite, session: DbSession, insurance_id: uuid.UUID, response: Response
) -> InsuranceOut:
    policy = service.restore_insurance(session, actor, insurance_id)
    _with_etag(response, policy.version)
    return _insurance_out(policy)


# --- expenses --------------------------------------------------------------------------------


def _expense_out(e: Any) -> ExpenseOut:
    amount = money_out(e.amount, e.currency)
    return _out(ExpenseOut, e, amount=amount, tax_amount=money_out(e.tax_amount, e.currency),
                unit_price=money_out(e.unit_price, e.currency))


_EXPENSE_COLUMNS: list[Column] = [
    *attribute_columns("id", "vehicle_id", "driver_id", "category", "payment_method",
                   "incurred_on", "incurred_at"),
    MoneyColumns("amount", lambda r: _money(r.amount, r.currency)),
    MoneyColumns("tax_amount", lambda r: _money(r.tax_amount, r.currency)),
    *attribute_columns("quantity", "quantity_unit", "odometer_km", "vendor", "description",
                   "is_reimbursable", "is_rechargeable"),
]


def _expense_filter(
    vehicle_id: uuid.UUID | None, driver_id: uuid.UUID | None,
    category: ExpenseCategory | None, payment_method: ExpensePaymentMethod | None,
    since: date | None, until: date | None, include_deleted: bool,
) -> ExpenseFilter:
    return ExpenseFilter(vehicle_id=vehicle_id, driver_id=driver_id,
                         category=category.value if category else None,
                         payment_method=payment_method.value if payment_method else None,
                         since=since, until=until, include_deleted=include_deleted)


@router.get("/vehicle-expenses", tags=["vehicle-expenses"], summary="List vehicle expenses")
def list_expenses(
    actor: ExpensesRead, session: DbSession, page: Pagination,
    vehicle_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    category: ExpenseCategory | None = None, payment_method: ExpensePaymentMethod | None = None,
    since: date | None = None, until: date | None = None,
    include_deleted: IncludeDeleted = False,
) -> Page[ExpenseOut]:
    rows, cursor = service.list_expenses(session, actor, page, _expense_filter(
        vehicle_id, driver_id, category, payment_method, since, until, include_deleted))
    return Page(items=[_expense_out(e) for e in rows], next_cursor=cursor)


@router.get("/vehicle-expenses/export.csv", tags=["vehicle-expenses"],
            response_class=StreamingResponse, responses=csv_responses(_EXPENSE_COLUMNS),
            summary="Export the filtered expenses as CSV (streamed)")
def export_expenses(
    actor: ExpensesRead, session: DbSession,
    vehicle_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    category: ExpenseCategory | None = None, payment_method: ExpensePaymentMethod | None = None,
    since: date | None = None, until: date | None = None,
    include_deleted: IncludeDeleted = False,
) -> StreamingResponse:
    stmt = service.expenses_query(actor, _expense_filter(
        vehicle_id, driver_id, category, payment_method, since, until, include_deleted,
    )).order_by(VehicleExpense.incurred_on.desc(), VehicleExpense.id.desc())
    return csv_response(session, stmt, _EXPENSE_COLUMNS, filename="vehicle-expenses.csv")


@router.post("/vehicle-expenses", tags=["vehicle-expenses"], status_code=status.HTTP_201_CREATED,
             response_model=ExpenseOut, summary="Record a vehicle expense")
def create_expense(actor: ExpensesWrite, session: DbSession, data: ExpenseCreate) -> Response:
    expense = service.create_expense(session, actor, data=data)
    return model_response(_expense_out(expense), {
        "Location": f"/v1/vehicle-expenses/{expense.id}", "ETag": etag(expense.version),
    }, status_code=status.HTTP_201_CREATED)


@router.get("/vehicle-expenses/{expense_id}", tags=["vehicle-expenses"],
            summary="Get a vehicle expense")
def get_expense(
    actor: ExpensesRead, session: DbSession, expense_id: uuid.UUID, response: Response,
    include_deleted: IncludeDeleted = False,
) -> ExpenseOut:
    expense = service.get_expense(session, actor, expense_id, include_deleted=include_deleted)
    _with_etag(response, expense.version)
    return _expense_out(expense)


@router.patch("/vehicle-expenses/{expense_id}", tags=["vehicle-expenses"],
              summary="Update a vehicle expense")
def update_expense(
    actor: ExpensesWrite, session: DbSession, if_match: RequiredIfMatch,
    expense_id: uuid.UUID, data: ExpenseUpdate,
    response: Response,
) -> ExpenseOut:
    expense = service.update_expense(session, actor, expense_id, data=data, if_match=if_match)
    _with_etag(response, expense.version)
    return _expense_out(expense)


@router.delete("/vehicle-expenses/{expense_id}", tags=["vehicle-expenses"],
               status_code=status.HTTP_204_NO_CONTENT, summary="Soft-delete a vehicle expense")
def delete_expense(
    actor: ExpensesWrite, session: DbSession, if_match: RequiredIfMatch,
    expense_id: uuid.UUID, reason: Reason = None,
) -> Response:
    service.delete_expense(session, actor, expense_id, reason=reason, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/vehicle-expenses/{expense_id}/restore", tags=["vehicle-expenses"],
             summary="Restore a soft-deleted vehicle expense")
def restore_expense(
    actor: ExpensesWrite, session: DbSession, expense_id: uuid.UUID, response: Response
) -> ExpenseOut:
    expense = service.restore_expense(session, actor, expense_id)
    _with_etag(response, expense.version)
    return _expense_out(expense)


# --- vehicle events --------------------------------------------------------------------------


def _event_out(e: Any) -> EventOut:
    return _out(EventOut, e, cost=money_out(e.cost, e.currency))


_EVENT_COLUMNS: list[Column] = [
    *attribute_columns("id", "vehicle_id", "driver_id", "assignment_id", "event_type", "severity",
                   "occurred_at", "odometer_km", "description", "source"),
    MoneyColumns("cost", lambda r: _money(r.cost, r.currency)),
    CsvColumn("follow_up_due_on", lambda r: r.follow_up_due_on),
    CsvColumn("resolved_at", lambda r: r.resolved_at),
]


def _event_filter(
    vehicle_id: uuid.UUID | None, driver_id: uuid.UUID | None,
    event_type: VehicleEventType | None, severity: EventSeverity | None,
    unresolved: bool | None, since: datetime | None, until: datetime | None,
    include_deleted: bool,
) -> EventFilter:
    return EventFilter(vehicle_id=vehicle_id, driver_id=driver_id,
                       event_type=event_type.value if event_type else None,
                       severity=severity.value if severity else None, unresolved=unresolved,
                       since=since, until=until, include_deleted=include_deleted)


@router.get("/vehicle-events", tags=["vehicle-events"], summary="List vehicle events, newest first")
def list_events(
    actor: VehiclesRead, session: DbSession, page: Pagination,
    vehicle_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    event_type: VehicleEventType | None = None, severity: EventSeverity | None = None,
    unresolved: bool | None = None, since: datetime | None = None,
    until: datetime | None = None, include_deleted: IncludeDeleted = False,
) -> Page[EventOut]:
    rows, cursor = service.list_events(session, actor, page, _event_filter(
        vehicle_id, driver_id, event_type, severity, unresolved, since, until, include_deleted))
    return Page(items=[_event_out(e) for e in rows], next_cursor=cursor)


@router.get("/vehicle-events/export.csv", tags=["vehicle-events"],
            response_class=StreamingResponse, responses=csv_responses(_EVENT_COLUMNS),
            summary="Export the filtered vehicle events as CSV (streamed)")
def export_events(
    actor: VehiclesRead, session: DbSession,
    vehicle_id: uuid.UUID | None = None, driver_id: uuid.UUID | None = None,
    event_type: VehicleEventType | None = None, severity: EventSeverity | None = None,
    unresolved: bool | None = None, since: datetime | None = None,
    until: datetime | None = None, include_deleted: IncludeDeleted = False,
) -> StreamingResponse:
    stmt = service.events_query(actor, _event_filter(
        vehicle_id, driver_id, event_type, severity, unresolved, since, until, include_deleted,
    )).order_by(VehicleEvent.occurred_at.desc(), VehicleEvent.id.desc())
    return csv_response(session, stmt, _EVENT_COLUMNS, filename="vehicle-events.csv")


@router.post("/vehicle-events", tags=["vehicle-events"], status_code=status.HTTP_201_CREATED,
             summary="Record a vehicle event (accident, inspection…)")
def create_event(
    actor: VehiclesWrite, session: DbSession, data: EventCreate, response: Response
) -> EventOut:
    event = service.create_event(session, actor, data=data)
    _created(response, "vehicle-events", event.id, event.version)
    return _event_out(event)


@router.get("/vehicle-events/{event_id}", tags=["vehicle-events"], summary="Get a vehicle event")
def get_event(
    actor: VehiclesRead, session: DbSession, event_id: uuid.UUID, response: Response,
    include_deleted: IncludeDeleted = False,
) -> EventOut:
    event = service.get_event(session, actor, event_id, include_deleted=include_deleted)
    _with_etag(response, event.version)
    return _event_out(event)


@router.patch("/vehicle-events/{event_id}", tags=["vehicle-events"],
              summary="Update a vehicle event (severity, follow-up, resolution)")
def update_event(
    actor: VehiclesWrite, session: DbSession, if_match: RequiredIfMatch,
    event_id: uuid.UUID, data: EventUpdate,
    response: Response,
) -> EventOut:
    event = service.update_event(session, actor, event_id, data=data, if_match=if_match)
    _with_etag(response, event.version)
    return _event_out(event)


@router.delete("/vehicle-events/{event_id}", tags=["vehicle-events"],
               status_code=status.HTTP_204_NO_CONTENT, summary="Soft-delete a vehicle event")
def delete_event(
    actor: VehiclesWrite, session: DbSession, if_match: RequiredIfMatch,
    event_id: uuid.UUID, reason: Reason = None,
) -> Response:
    service.delete_event(session, actor, event_id, reason=reason, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/vehicle-events/{event_id}/restore", tags=["vehicle-events"],
             summary="Restore a soft-deleted vehicle event")
def restore_event(
    actor: VehiclesWrite, session: DbSession, event_id: uuid.UUID, response: Response
) -> EventOut:
    event = service.restore_event(session, actor, event_id)
    _with_etag(response, event.version)
    return _event_out(event)
