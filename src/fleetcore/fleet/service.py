"""Fleet: vehicles, assignments (custody), compliance, insurances, expenses and vehicle events.

Every function runs inside the caller's transaction (it may flush, never commits) with the
database context bound; queries also name the tenant, so isolation holds twice. Foreign ids in
request bodies are looked up under RLS first: an unknown or another tenant's id is a 422 naming
the field, never a raw foreign-key error. Database constraint violations that can still happen
(races) are turned into 409/422 problems naming the field.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true, tuple_
from sqlalchemy.orm import Session, aliased

from fleetcore.core.auth import Actor, PermissionDenied, tenant_of
from fleetcore.core.compliance import ComplianceReport, RuleResult, RuleStatus
from fleetcore.core.errors import (
    Conflict,
    ConstraintProblem,
    NotFound,
    ValidationProblem,
)
from fleetcore.core.identifiers import InvalidIdentifier, normalise_plate, validate_vin
from fleetcore.core.orm import new_id
from fleetcore.core.pagination import (
    PageParams,
    decode_cursor,
    encode_cursor,
    equal_filters,
    range_filter,
)
from fleetcore.core.resource import Rows, invalid, pager, patch
from fleetcore.core.schemas import MoneyIn
from fleetcore.documents.models import Document, DocumentEntityType, DocumentType
from fleetcore.drivers import service as drivers_service
from fleetcore.drivers.models import Driver, DriverRequest, DriverStatus
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
    ExpenseCategory,
    FuelType,
    MaintenanceSchedule,
    OdometerReading,
    OdometerSource,
    Vehicle,
    VehicleAssignment,
    VehicleEvent,
    VehicleEventSource,
    VehicleEventType,
    VehicleExpense,
    VehicleInsurance,
    VehicleStatus,
)
from fleetcore.fleet.schemas import (
    AssignmentCancel,
    AssignmentCreate,
    AssignmentEnd,
    ComplianceSummaryOut,
    EventCreate,
    EventUpdate,
    ExpenseCreate,
    ExpenseUpdate,
    InsuranceCreate,
    InsuranceUpdate,
    RuleCount,
    SubjectSummary,
    VehicleCreate,
    VehicleUpdate,
)
from fleetcore.reference.models import CarMake, CarModel, CountryRegulation, VehicleClass

WARNING_DAYS = 30
"""Anything that lapses within this many days is a warning, not yet a failure."""

AGE_EXEMPT_FUELS: dict[str, frozenset[str]] = {
    # dir_country_regulations FR notes: "hybrid and electric vehicles remain exempt from the
    # age, size and power criteria, which max_vehicle_age_years cannot express: compliance
    # must exempt them." The class's own maximum age (a platform rule) still applies.
    "FR": frozenset({FuelType.HYBRID, FuelType.PLUG_IN_HYBRID, FuelType.ELECTRIC}),
}
"""Fuel types a country exempts from its regulatory vehicle age limit."""

PERMIT_MARKER = "permit"
"""How an operating-permit document is recognised (model gap: there is no document type for
it). A vehicle document of type ``other`` whose file name or notes contain ``permit``
(case-insensitive), e.g. ``vignette-vtc-permit.pdf`` or notes "Operating permit: PHV licence"."""

T = TypeVar("T")


# --- helpers ---------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


_CONSTRAINTS: dict[str, ConstraintProblem] = {
    "uq_flt_vehicles_tenant_id_vin_live": ConstraintProblem(
        "vin", "Another live vehicle already has this vin."),
    "uq_flt_vehicles_tenant_id_licence_plate_live": ConstraintProblem(
        "licence_plate", "Another live vehicle already has this licence_plate."),
    "uq_flt_vehicles_tenant_id_traccar_device_id_live": ConstraintProblem(
        "traccar_device_id", "Another live vehicle already has this traccar_device_id."),
    # Trips belong to a domain above this one: the database checks an expense's trip (the
    # composite key also refuses another tenant's), not a read of the trips' model.
    "fk_flt_vehicle_expenses_tenant_id_trip_id": ConstraintProblem(
        "trip_id", "no such trip", ValidationProblem),
}
"""How the fleet tables' constraints are reported (others: the default of their kind)."""

_rows = Rows(_CONSTRAINTS)
_flush, _get, _require_row = _rows.flush, _rows.get, _rows.require


def _money(value: MoneyIn | None, currency: str | None, field: str) -> Decimal | None:
    if value is None:
        return None
    if currency is not None and value.currency != currency:
        raise invalid(field, f"must be in {currency}")
    return value.to_money().amount


# --- odometer ----------------------------------------------------------------------------------


@functools.cache
def _trusted_readings() -> tuple[Any, ColumnElement[bool]]:
    """An alias of the readings and the predicate of a trusted, uncorrected reading.

    Built once: SQL constructs are immutable, and building this one (aliases, EXISTS) cost
    more than the rest of a ``GET /v1/vehicles/{id}`` route."""
    r = aliased(OdometerReading)
    c = aliased(OdometerReading)
    trusted = and_(
        or_(r.is_anomaly.is_(False), r.confirmed_at.is_not(None)),
        ~exists().where(c.tenant_id == r.tenant_id, c.corrects_reading_id == r.id),
    )
    return r, trusted


@functools.cache
def _latest_odometer_lateral() -> Any:
    """LATERAL subquery: the vehicle's latest trusted reading (one index probe per vehicle).
    Built once, like :func:`_trusted_readings`."""
    r, trusted = _trusted_readings()
    return (
        select(r.odometer_km.label("odometer_km"), r.read_at.label("read_at"))
        .where(r.tenant_id == Vehicle.tenant_id, r.vehicle_id == Vehicle.id, trusted)
        .order_by(r.read_at.desc())
        .limit(1)
        .lateral("current_odometer")
    )


def odometer_at(session: Session, vehicle: Vehicle, at: datetime) -> Decimal | None:
    """The latest trusted reading of ``vehicle`` at or before ``at``."""
    r, trusted = _trusted_readings()
    return session.scalar(
        select(r.odometer_km)
        .where(r.tenant_id == vehicle.tenant_id, r.vehicle_id == vehicle.id, r.read_at <= at,
               trusted)
        .order_by(r.read_at.desc()).limit(1)
    )


def _record_reading(session: Session, actor: Actor, vehicle: Vehicle, at: datetime,
                    km: Decimal, field: str) -> None:
    before = odometer_at(session, vehicle, at)
    if before is not None and km < before:
        raise invalid(field, f"{km} km is below the reading of {before} km before it: "
                              "odometers never go backwards (record a correction instead)")
    session.add(OdometerReading(
        tenant_id=vehicle.tenant_id, vehicle_id=vehicle.id, read_at=at, odometer_km=km,
        source=OdometerSource.HANDOVER.value, recorded_by=actor.id, created_by=actor.id,
        updated_by=actor.id,
    ))


# --- vehicles ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VehicleView:
    """A vehicle with its derived current odometer."""

    vehicle: Vehicle
    odometer_km: Decimal | None
    odometer_read_at: datetime | None


_VEHICLE_SORT_COLUMNS = {
    VehicleSort.CREATED: None, VehicleSort.CREATED_DESC: None,
    VehicleSort.PLATE: Vehicle.licence_plate, VehicleSort.PLATE_DESC: Vehicle.licence_plate,
    VehicleSort.YEAR: Vehicle.year, VehicleSort.YEAR_DESC: Vehicle.year,
}


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def vehicles_query(actor: Actor, filters: VehicleFilter) -> Select[Any]:
    """The filtered vehicles with their current odometer (one statement; list and export)."""
    odo = _latest_odometer_lateral()
    stmt = (
        select(Vehicle, odo.c.odometer_km, odo.c.read_at)
        .outerjoin(odo, true())
        .where(Vehicle.tenant_id == tenant_of(actor))
    )
    if not filters.include_deleted:
        stmt = stmt.where(Vehicle.deleted_at.is_(None))
    for column, value in (
        (Vehicle.status, filters.status), (Vehicle.make_id, filters.make_id),
        (Vehicle.model_id, filters.model_id), (Vehicle.vehicle_class_id, filters.vehicle_class_id),
        (Vehicle.country, filters.country), (Vehicle.fuel_type, filters.fuel_type),
        (Vehicle.ownership_type, filters.ownership_type),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.q:
        term = filters.q.strip()
        compact = "".join(ch for ch in term if ch.isalnum())
        clauses = [Vehicle.licence_plate.ilike(_like(term)), Vehicle.vin.ilike(_like(term))]
        if compact:
            clauses.append(func.regexp_replace(Vehicle.licence_plate, "[^[:alnum:]]", "", "g")
                           .ilike(_like(compact)))
        stmt = stmt.where(or_(*clauses))
    return stmt


def _sort_keys(sort: VehicleSort) -> list[Any]:
    column = _VEHICLE_SORT_COLUMNS[sort]
    return [Vehicle.id] if column is None else [column, Vehicle.id]


def vehicles_export_query(actor: Actor, filters: VehicleFilter) -> Select[Any]:
    """The list query in its sort order, unpaged (CSV export)."""
    keys = _sort_keys(filters.sort)
    order = [k.desc() for k in keys] if filters.sort.descending else keys
    return vehicles_query(actor, filters).order_by(*order)


def list_vehicles(
    session: Session, actor: Actor, params: PageParams, filters: VehicleFilter
) -> tuple[list[VehicleView], str | None]:
    """A page of the tenant's vehicles with their current odometer, in one query."""
    keys = _sort_keys(filters.sort)
    stmt = vehicles_query(actor, filters)
    descending = filters.sort.descending
    if params.cursor:
        values = decode_cursor(params.cursor, len(keys))
        row_key, after = tuple_(*keys), tuple_(*values)
        stmt = stmt.where(row_key < after if descending else row_key > after)
    order = [k.desc() for k in keys] if descending else list(keys)
    rows = session.execute(stmt.order_by(*order).limit(params.limit + 1)).all()
    cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1][0]
        cursor = encode_cursor([getattr(last, k.key) for k in keys])
    return [VehicleView(v, km, at) for v, km, at in rows], cursor


def get_vehicle(session: Session, actor: Actor, vehicle_id: uuid.UUID, *,
                include_deleted: bool = False) -> VehicleView:
    """One vehicle of the tenant with its current odometer, or 404."""
    stmt = vehicles_query(actor, VehicleFilter(include_deleted=include_deleted)).where(
        Vehicle.id == vehicle_id)
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound("No such vehicle.")
    return VehicleView(*row)


def _check_catalogue(session: Session, actor: Actor, vehicle: Vehicle) -> None:
    """Make, model and class must exist and be visible: global or the tenant's own rows."""
    tenant_id = tenant_of(actor)
    visible = or_(CarMake.tenant_id.is_(None), CarMake.tenant_id == tenant_id)
    if session.scalar(select(CarMake.id).where(CarMake.id == vehicle.make_id, visible)) is None:
        raise invalid("make_id", "no such car make")
    if vehicle.model_id is not None:
        model = session.scalar(select(CarModel).where(
            CarModel.id == vehicle.model_id,
            or_(CarModel.tenant_id.is_(None), CarModel.tenant_id == tenant_id)))
        if model is None:
            raise invalid("model_id", "no such car model")
        if model.make_id != vehicle.make_id:
            raise invalid("model_id", "this model belongs to another make")
    if vehicle.vehicle_class_id is not None:
        cls = session.scalar(
            select(VehicleClass).where(VehicleClass.id == vehicle.vehicle_class_id))
        if cls is None:
            raise invalid("vehicle_class_id", "no such vehicle class")
        if cls.country != vehicle.country:
            raise invalid("vehicle_class_id",
                           f"this class is for {cls.country}, the vehicle is in {vehicle.country}")


def _check_vehicle(session: Session, actor: Actor, vehicle: Vehicle) -> None:
    """Identifiers (normalised in place), dates and catalogue references of ``vehicle``."""
    with session.no_autoflush:  # checks read; the change is flushed once, by _flush
        _check_vehicle_values(session, actor, vehicle)


def _check_vehicle_values(session: Session, actor: Actor, vehicle: Vehicle) -> None:
    try:
        vehicle.licence_plate = normalise_plate(vehicle.licence_plate, vehicle.country)
    except InvalidIdentifier as exc:
        raise invalid("licence_plate", str(exc)) from exc
    if vehicle.vin is not None:
        try:
            vehicle.vin = validate_vin(vehicle.vin, country=vehicle.country)
        except InvalidIdentifier as exc:
            raise invalid("vin", str(exc)) from exc
    today = _now().date()
    if vehicle.year > today.year + 1:
        raise invalid("year", f"model years run to {today.year + 1} at most")
    for field in ("first_registration_on", "acquired_on"):
        value = getattr(vehicle, field)
        if value is not None and value > today:
            raise invalid(field, "cannot be in the future")
    if vehicle.first_registration_on and vehicle.first_registration_on.year < vehicle.year - 1:
        raise invalid("first_registration_on", "is before the model year")
    _check_catalogue(session, actor, vehicle)


def create_vehicle(session: Session, actor: Actor, *, data: VehicleCreate) -> Vehicle:
    """A vehicle with a validated VIN and plate, unique among the tenant's live vehicles."""
    cost = data.acquisition_cost
    vehicle = _rows.new(actor, Vehicle, data,
                        acquisition_cost=cost.to_money().amount if cost else None,
                        currency=cost.currency if cost else None)
    _check_vehicle(session, actor, vehicle)
    return _rows.add(session, vehicle)


_REQUIRED_VEHICLE_FIELDS = frozenset({
    "make_id", "licence_plate", "country", "year", "fuel_type", "ownership_type", "status"})


def update_vehicle(session: Session, actor: Actor, vehicle_id: uuid.UUID, *,
                   data: VehicleUpdate, if_match: str | None = None) -> Vehicle:
    """Change a vehicle (If-Match); identifiers and references are checked again."""
    vehicle = _get(session, actor, Vehicle, vehicle_id, "vehicle", lock=True, if_match=if_match)
    patch(vehicle, data, data.model_fields_set - {"acquisition_cost"},
          required=_REQUIRED_VEHICLE_FIELDS)
    if "acquisition_cost" in data.model_fields_set:
        cost = data.acquisition_cost
        vehicle.acquisition_cost = cost.to_money().amount if cost else None
        vehicle.currency = cost.currency if cost else None
    _check_vehicle(session, actor, vehicle)
    return _rows.save(session, actor, vehicle)


def _open_assignment(session: Session, vehicle: Vehicle) -> VehicleAssignment | None:
    now = _now()
    return session.scalar(
        select(VehicleAssignment).where(
            VehicleAssignment.tenant_id == vehicle.tenant_id,
            VehicleAssignment.vehicle_id == vehicle.id,
            VehicleAssignment.deleted_at.is_(None),
            VehicleAssignment.status.in_([AssignmentStatus.SCHEDULED.value,
                                          AssignmentStatus.ACTIVE.value]),
            or_(VehicleAssignment.ends_at.is_(None), VehicleAssignment.ends_at > now),
        ).limit(1)
    )


def _refuse_open_assignment(session: Session, vehicle: Vehicle) -> None:
    current = _open_assignment(session, vehicle)
    if current is not None:
        raise Conflict("The vehicle has a current or scheduled assignment: end or cancel it first.",
                       assignment_id=str(current.id))


delete_vehicle = _rows.deleter(Vehicle, "vehicle", _refuse_open_assignment)
"""Soft-delete a vehicle nobody has or is scheduled to have."""


restore_vehicle = _rows.restorer(Vehicle, "vehicle")
"""Bring a soft-deleted vehicle back (409 if its plate or VIN was reused meanwhile)."""


# --- assignments -------------------------------------------------------------------------------


class AssignmentOverlap(Conflict):
    slug, title = "assignment-overlap", "The assignment overlaps another one"


_ASSIGNMENT_CONSTRAINTS: dict[str, ConstraintProblem] = {
    **_CONSTRAINTS,
    **{f"ex_flt_vehicle_assignments_{which}": ConstraintProblem(
        f"{which}_id", f"The {which} is already assigned in this period.", AssignmentOverlap,
        {"conflict": which}) for which in ("vehicle", "driver")},
}


class DriverUnavailable(Conflict):
    slug, title = "driver-unavailable", "The driver cannot work in this period"


class NotCompliant(Conflict):
    slug, title = "not-compliant", "Compliance rules fail"


class NoCustodian(NotFound):
    slug, title = "no-custodian", "Nobody had the vehicle then"


_LIVE_ASSIGNMENT = and_(VehicleAssignment.deleted_at.is_(None),
                        VehicleAssignment.status != AssignmentStatus.CANCELLED.value)


def _overlap_clause(starts_at: datetime, ends_at: datetime | None) -> ColumnElement[bool]:
    clause = or_(VehicleAssignment.ends_at.is_(None), VehicleAssignment.ends_at > starts_at)
    if ends_at is not None:
        clause = and_(clause, VehicleAssignment.starts_at < ends_at)
    return and_(_LIVE_ASSIGNMENT, clause)


def _check_overlaps(session: Session, tenant_id: uuid.UUID, vehicle_id: uuid.UUID,
                    driver_id: uuid.UUID, starts_at: datetime, ends_at: datetime | None,
                    exclude: uuid.UUID | None = None) -> None:
    for which, column, value in (("vehicle", VehicleAssignment.vehicle_id, vehicle_id),
                                 ("driver", VehicleAssignment.driver_id, driver_id)):
        stmt = select(VehicleAssignment).where(
            VehicleAssignment.tenant_id == tenant_id, column == value,
            _overlap_clause(starts_at, ends_at))
        if exclude is not None:
            stmt = stmt.where(VehicleAssignment.id != exclude)
        other = session.scalars(stmt.order_by(VehicleAssignment.starts_at).limit(1)).first()
        if other is not None:
            end = other.ends_at.isoformat() if other.ends_at else "open-ended"
            raise AssignmentOverlap(
                f"The {which} is already assigned from {other.starts_at.isoformat()} to {end}.",
                errors=[{"field": f"{which}_id", "message": "already assigned in this period"}],
                conflict=which, conflicting_assignment_id=str(other.id),
            )


def _flush_assignment(session: Session, assignment: VehicleAssignment) -> None:
    """Flush; the exclusion constraints (a race past the checks) become ``assignment-overlap``."""
    try:
        _flush(session, _ASSIGNMENT_CONSTRAINTS)
    except AssignmentOverlap:
        # A concurrent writer won the race: name its assignment when it is visible.
        _check_overlaps(session, assignment.tenant_id, assignment.vehicle_id,
                        assignment.driver_id, assignment.starts_at, assignment.ends_at)
        raise


def _lock_vehicle(session: Session, actor: Actor, vehicle_id: uuid.UUID) -> Vehicle:
    vehicle = session.scalar(select(Vehicle).where(
        Vehicle.tenant_id == tenant_of(actor), Vehicle.id == vehicle_id,
        Vehicle.deleted_at.is_(None)).with_for_update())
    if vehicle is None:
        raise invalid("vehicle_id", "no such vehicle")
    return vehicle


def _lock_driver(session: Session, driver_id: uuid.UUID) -> Driver:
    try:
        return drivers_service.lock_driver(session, driver_id)
    except NotFound as exc:
        raise invalid("driver_id", "no such driver") from exc


def assign_for_vehicle_change(session: Session, actor: Actor, request: DriverRequest
                              ) -> uuid.UUID:
    """The assignment an approved vehicle change request asks for (its id): the vehicle wanted,
    over the request's period, under every rule of :func:`assign_vehicle`. Passed to
    ``scheduling.driver_decisions_service.transition_driver_request``."""
    if request.requested_vehicle_id is None:
        raise invalid("requested_vehicle_id", "a vehicle change names the vehicle wanted")
    data = AssignmentCreate(
        vehicle_id=request.requested_vehicle_id, driver_id=request.driver_id,
        starts_at=request.period_start or _now(), ends_at=request.period_end,
        notes=f"Vehicle change request {request.id}",
    )
    return assign_vehicle(session, actor, data=data).id


def assign_vehicle(session: Session, actor: Actor, *, data: AssignmentCreate) -> VehicleAssignment:
    """Give a vehicle to a driver over a period, with every custody and compliance rule.

    Locks the driver then the vehicle row, so two concurrent assignments of either serialise;
    refuses a blacklisted or on-leave driver, overlaps, and non-compliance unless overridden.
    """
    tenant_id = tenant_of(actor)
    driver = _lock_driver(session, data.driver_id)
    vehicle = _lock_vehicle(session, actor, data.vehicle_id)
    now = _now()
    if vehicle.status != VehicleStatus.ACTIVE.value:
        raise Conflict(f"The vehicle is {vehicle.status}: only active vehicles are assigned.",
                       errors=[{"field": "vehicle_id", "message": f"vehicle is {vehicle.status}"}])
    if driver.status != DriverStatus.ACTIVE.value:
        raise Conflict(f"The driver is {driver.status}: only active drivers are assigned.",
                       errors=[{"field": "driver_id", "message": f"driver is {driver.status}"}])
    if data.odometer_out_km is not None and data.starts_at > now:
        raise invalid("odometer_out_km", "record the handover odometer when the car is handed "
                                          "over, not for a future start")
    reasons = drivers_service.availability_conflicts(
        session, driver.id, data.starts_at, data.ends_at)
    if reasons:
        raise DriverUnavailable(" ".join(reasons), reasons=reasons)
    _check_overlaps(session, tenant_id, vehicle.id, driver.id, data.starts_at, data.ends_at)

    at = max(now, data.starts_at)
    failures = [
        {"subject": "vehicle", "rule": r.rule, "reason": r.reason}
        for r in vehicle_compliance(session, actor, vehicle.id, at).failures
    ] + [
        {"subject": "driver", "rule": r.rule, "reason": r.reason}
        for r in drivers_service.driver_compliance(session, actor, driver.id, at).failures
    ]
    override_reason = None
    if failures:
        if data.override_reason is None:
            raise NotCompliant(
                "Assignment refused: " + "; ".join(
                    f"{f['subject']} — {f['rule'].replace('_', ' ')}: {f['reason']}"
                    for f in failures),
                failures=failures,
            )
        if not actor.can("assignments:override"):
            raise PermissionDenied("Overriding compliance needs 'assignments:override'.",
                                   permission="assignments:override")
        override_reason = data.override_reason

    if data.ends_at is not None and data.ends_at <= now:
        status = AssignmentStatus.ENDED
    elif data.starts_at <= now:
        status = AssignmentStatus.ACTIVE
    else:
        status = AssignmentStatus.SCHEDULED
    assignment = VehicleAssignment(
        tenant_id=tenant_id, vehicle_id=vehicle.id, driver_id=driver.id,
        starts_at=data.starts_at, ends_at=data.ends_at,
        assignment_type=data.assignment_type.value, status=status.value,
        odometer_out_km=data.odometer_out_km, notes=data.notes,
        override_reason=override_reason, overridden_by=actor.id if override_reason else None,
        created_by=actor.id, updated_by=actor.id,
    )
    session.add(assignment)
    _flush_assignment(session, assignment)
    if data.odometer_out_km is not None:
        _record_reading(session, actor, vehicle, data.starts_at, data.odometer_out_km,
                        "odometer_out_km")
    session.add(VehicleEvent(
        tenant_id=tenant_id, vehicle_id=vehicle.id, driver_id=driver.id,
        assignment_id=assignment.id, event_type=VehicleEventType.HANDOVER.value,
        occurred_at=data.starts_at, odometer_km=data.odometer_out_km,
        description=f"Handed over to {driver.first_name} {driver.last_name}"
        + (f" (compliance overridden: {override_reason})" if override_reason else ""),
        source=VehicleEventSource.SYSTEM.value, created_by=actor.id, updated_by=actor.id,
    ))
    return _rows.refresh(session, assignment)


get_assignment = _rows.getter(VehicleAssignment, "assignment")


def end_assignment(session: Session, actor: Actor, assignment_id: uuid.UUID, *,
                   data: AssignmentEnd, if_match: str | None = None) -> VehicleAssignment:
    """End a running assignment: its end, the odometer in (a reading) and a handover event."""
    assignment = get_assignment(session, actor, assignment_id, lock=True, if_match=if_match)
    now = _now()
    if assignment.status in (AssignmentStatus.ENDED.value, AssignmentStatus.CANCELLED.value):
        raise Conflict(f"The assignment is already {assignment.status}.")
    if assignment.starts_at > now:
        raise Conflict("The assignment has not started: cancel it instead.")
    ends_at = data.ends_at or now
    if ends_at <= assignment.starts_at:
        raise invalid("ends_at", "must be after the assignment's start")
    if ends_at > now + timedelta(minutes=5):
        raise invalid("ends_at", "cannot end in the future")
    if assignment.ends_at is not None and ends_at > assignment.ends_at:
        _check_overlaps(session, assignment.tenant_id, assignment.vehicle_id,
                        assignment.driver_id, assignment.starts_at, ends_at,
                        exclude=assignment.id)
    if data.odometer_in_km is not None and assignment.odometer_out_km is not None \
            and data.odometer_in_km < assignment.odometer_out_km:
        raise invalid("odometer_in_km", f"is below the odometer out "
                                         f"({assignment.odometer_out_km} km)")
    vehicle = _get(session, actor, Vehicle, assignment.vehicle_id, "vehicle",
                   include_deleted=True)
    if data.odometer_in_km is not None:
        _record_reading(session, actor, vehicle, ends_at, data.odometer_in_km, "odometer_in_km")
    assignment.ends_at = ends_at
    assignment.status = AssignmentStatus.ENDED.value
    assignment.odometer_in_km = data.odometer_in_km
    if data.notes:
        assignment.notes = f"{assignment.notes}\n{data.notes}" if assignment.notes else data.notes
    assignment.updated_by = actor.id
    session.add(VehicleEvent(
        tenant_id=assignment.tenant_id, vehicle_id=assignment.vehicle_id,
        driver_id=assignment.driver_id, assignment_id=assignment.id,
        event_type=VehicleEventType.HANDOVER.value, occurred_at=ends_at,
        odometer_km=data.odometer_in_km, description="Returned by the driver",
        source=VehicleEventSource.SYSTEM.value, created_by=actor.id, updated_by=actor.id,
    ))
    _flush_assignment(session, assignment)
    return _rows.refresh(session, assignment)


def cancel_assignment(session: Session, actor: Actor, assignment_id: uuid.UUID, *,
                      data: AssignmentCancel, if_match: str | None = None) -> VehicleAssignment:
    """Cancel an assignment that has not started (a started one is ended, not cancelled)."""
    assignment = get_assignment(session, actor, assignment_id, lock=True, if_match=if_match)
    if assignment.status != AssignmentStatus.SCHEDULED.value or assignment.starts_at <= _now():
        raise Conflict("Only an assignment that has not started can be cancelled; end it instead.")
    assignment.status = AssignmentStatus.CANCELLED.value
    if data.reason:
        line = f"Cancelled: {data.reason}"
        assignment.notes = f"{assignment.notes}\n{line}" if assignment.notes else line
    assignment.updated_by = actor.id
    for event in session.scalars(select(VehicleEvent).where(
            VehicleEvent.tenant_id == assignment.tenant_id,
            VehicleEvent.assignment_id == assignment.id, VehicleEvent.deleted_at.is_(None))):
        event.mark_deleted(actor.id, "assignment cancelled")
    return _rows.refresh(session, assignment)


def assignments_query(actor: Actor, filters: AssignmentFilter) -> Select[Any]:
    """The filtered live assignments of the tenant (list and export)."""
    a = VehicleAssignment
    stmt = equal_filters(_rows.select(actor, a), {
        a.vehicle_id: filters.vehicle_id, a.driver_id: filters.driver_id, a.status: filters.status})
    if filters.since is not None:
        stmt = stmt.where(or_(a.ends_at.is_(None), a.ends_at > filters.since))
    return range_filter(stmt, a.starts_at, until=filters.until)


list_assignments = pager(assignments_query, VehicleAssignment.starts_at, VehicleAssignment.id,
                         descending=True, doc="Assignments (custody history), newest start first.")


def custodian(session: Session, actor: Actor, vehicle_id: uuid.UUID,
              at: datetime) -> VehicleAssignment:
    """The assignment covering ``at`` for the vehicle (exactly one, by the exclusion rule)."""
    get_vehicle(session, actor, vehicle_id, include_deleted=True)
    found = session.scalar(select(VehicleAssignment).where(
        VehicleAssignment.tenant_id == tenant_of(actor),
        VehicleAssignment.vehicle_id == vehicle_id, _LIVE_ASSIGNMENT,
        VehicleAssignment.starts_at <= at,
        or_(VehicleAssignment.ends_at.is_(None), VehicleAssignment.ends_at > at),
    ))
    if found is None:
        raise NoCustodian(f"Nobody had the vehicle at {at.isoformat()}.")
    return found


# --- compliance --------------------------------------------------------------------------------


SUBJECT = "vehicle"


def _age_years(vehicle: Vehicle, today: date) -> tuple[int, date]:
    """Whole years since first registration (1 January of the model year when unknown)."""
    born = vehicle.first_registration_on or date(vehicle.year, 1, 1)
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years, born


def _limit_date(born: date, years: int) -> date:
    try:
        return born.replace(year=born.year + years)
    except ValueError:  # 29 February
        return born.replace(year=born.year + years, day=28)


def _age_rule(rule: str, vehicle: Vehicle, limit: int | None, today: date, source: str,
              exempt: str | None = None) -> RuleResult:
    if exempt:
        return RuleResult(rule=rule, status=RuleStatus.NOT_APPLICABLE, reason=exempt)
    if limit is None:
        return RuleResult(rule=rule, status=RuleStatus.NOT_APPLICABLE,
                          reason=f"{source} sets no maximum age.")
    age, born = _age_years(vehicle, today)
    until = _limit_date(born, limit)
    if today >= until:
        return RuleResult(rule=rule, status=RuleStatus.FAIL,
                          reason=f"{age} years old; {source} allows {limit} (reached {until}).")
    if (until - today).days <= WARNING_DAYS:
        return RuleResult(rule=rule, status=RuleStatus.WARNING,
                          reason=f"Reaches the {limit}-year limit of {source} on {until}.")
    return RuleResult(rule=rule, status=RuleStatus.PASS,
                      reason=f"{age} years old; {source} allows {limit} (until {until}).")


def _certificate_rule(certificates: Sequence[Document], today: date) -> RuleResult:
    """Cover proven by a verified insurance certificate alone (no policy recorded): it counts
    until the end date printed on it; one without an end date proves nothing about today."""
    dated = [d for d in certificates if d.verified and d.rejected_at is None
             and d.expires_on is not None and d.expires_on >= today]
    if not dated:
        pending = [d for d in certificates if not d.verified and d.rejected_at is None]
        reason = ("No active insurance policy covers today; the insurance certificate on file "
                  "is not verified yet." if pending else
                  "No active insurance policy covers today (add the policy, or upload and "
                  "verify the insurance certificate with its end date).")
        return RuleResult(rule="insurance_active", status=RuleStatus.FAIL, reason=reason,
                          related_id=pending[0].id if pending else None)
    best = max(dated, key=lambda d: d.expires_on or date.min)
    end = best.expires_on or today
    status = RuleStatus.WARNING if (end - today).days < WARNING_DAYS else RuleStatus.PASS
    return RuleResult(rule="insurance_active", status=status,
                      reason=f"Verified insurance certificate until {end} (no policy recorded).",
                      related_id=best.id)


def _insurance_rule(policies: Sequence[VehicleInsurance], today: date,
                    certificates: Sequence[Document] = ()) -> RuleResult:
    covering = [p for p in policies if p.starts_on <= today <= p.ends_on]
    if not covering:
        return _certificate_rule(certificates, today)
    policy = max(covering, key=lambda p: p.ends_on)
    # A renewal that starts the day after counts as continuous cover.
    end = policy.ends_on
    for p in sorted(policies, key=lambda p: p.starts_on):
        if p.starts_on <= end + timedelta(days=1) and p.ends_on > end:
            end = p.ends_on
    if (end - today).days < WARNING_DAYS:
        return RuleResult(rule="insurance_active", status=RuleStatus.WARNING,
                          reason=f"Policy {policy.policy_number} ends on {end} with no renewal.",
                          related_id=policy.id)
    return RuleResult(rule="insurance_active", status=RuleStatus.PASS,
                      reason=f"Policy {policy.policy_number} ({policy.provider}) until {end}.",
                      related_id=policy.id)


def _document_rule(rule: str, label: str, docs: Sequence[Document], today: date) -> RuleResult:
    if not docs:
        return RuleResult(rule=rule, status=RuleStatus.FAIL, reason=f"No {label} on file.")
    usable = [d for d in docs if d.rejected_at is None
              and (d.expires_on is None or d.expires_on >= today)]
    verified = [d for d in usable if d.verified]
    if verified:
        best = max(verified, key=lambda d: d.expires_on or date.max)
        if best.expires_on is not None and (best.expires_on - today).days <= WARNING_DAYS:
            return RuleResult(rule=rule, status=RuleStatus.WARNING,
                              reason=f"The {label} expires on {best.expires_on}.",
                              related_id=best.id)
        until = f" until {best.expires_on}" if best.expires_on else ""
        return RuleResult(rule=rule, status=RuleStatus.PASS,
                          reason=f"Verified {label}{until}.", related_id=best.id)
    if usable:
        return RuleResult(rule=rule, status=RuleStatus.FAIL,
                          reason=f"The {label} is not verified yet.", related_id=usable[0].id)
    latest = max(docs, key=lambda d: d.expires_on or date.min)
    if latest.rejected_at is not None:
        return RuleResult(rule=rule, status=RuleStatus.FAIL,
                          reason=f"The {label} was rejected: {latest.rejection_reason}.",
                          related_id=latest.id)
    return RuleResult(rule=rule, status=RuleStatus.FAIL,
                      reason=f"The {label} expired on {latest.expires_on}.", related_id=latest.id)


def _permit_rule(regulation: CountryRegulation | None, docs: Sequence[Document],
                 today: date) -> RuleResult:
    if regulation is None or not regulation.vehicle_permit_required:
        return RuleResult(rule="operating_permit", status=RuleStatus.NOT_APPLICABLE,
                          reason="The country requires no vehicle operating permit.")
    name = regulation.vehicle_permit_name or "operating permit"
    if not docs:
        # Model gap: doc_documents has no document type for the permit, so its absence may
        # only mean it was never filed as "other … permit". Warn (it shows in the summary and
        # does not block assignments); a filed permit that is expired, rejected or unverified
        # fails like any other document.
        return RuleResult(rule="operating_permit", status=RuleStatus.WARNING,
                          reason=f"No {name} on file (file it as a vehicle document of type "
                                 f"'other' whose file name or notes mention '{PERMIT_MARKER}').")
    return _document_rule("operating_permit", name, docs, today)


def _maintenance_rule(schedules: Sequence[MaintenanceSchedule], km: Decimal | None,
                      today: date) -> RuleResult:
    overdue = []
    for s in schedules:
        if s.next_due_on is not None and s.next_due_on < today:
            overdue.append(f"{s.maintenance_type} was due on {s.next_due_on}")
        elif s.next_due_km is not None and km is not None and s.next_due_km <= km:
            overdue.append(f"{s.maintenance_type} was due at {s.next_due_km} km (now {km} km)")
    if overdue:
        return RuleResult(rule="maintenance_not_overdue", status=RuleStatus.FAIL,
                          reason="Overdue: " + "; ".join(overdue) + ".")
    return RuleResult(rule="maintenance_not_overdue", status=RuleStatus.PASS,
                      reason=f"{len(schedules)} maintenance schedule(s), none overdue.")


def vehicles_compliance(
    session: Session, actor: Actor, vehicle_ids: Iterable[uuid.UUID] | None, at: datetime
) -> dict[uuid.UUID, ComplianceReport]:
    """Compliance of many vehicles (all live ones when ``vehicle_ids`` is None) in four queries.

    Set-based: one query for the vehicles with their regulation, class and odometer, one each
    for insurances, documents and maintenance schedules of all of them.
    """
    tenant_id = tenant_of(actor)
    today = at.date()
    ids = None if vehicle_ids is None else list(vehicle_ids)
    if ids is not None and not ids:
        return {}
    regulation_on = and_(
        CountryRegulation.country == Vehicle.country,
        CountryRegulation.effective_from <= today,
        or_(CountryRegulation.effective_to.is_(None), CountryRegulation.effective_to > today),
    )
    odo = _latest_odometer_lateral()
    stmt = (
        select(Vehicle, CountryRegulation, VehicleClass, odo.c.odometer_km)
        .outerjoin(CountryRegulation, regulation_on)
        .outerjoin(VehicleClass, VehicleClass.id == Vehicle.vehicle_class_id)
        .outerjoin(odo, true())
        .where(Vehicle.tenant_id == tenant_id, Vehicle.deleted_at.is_(None))
        .order_by(Vehicle.id)
    )
    if ids is not None:
        stmt = stmt.where(Vehicle.id.in_(ids))
    rows = session.execute(stmt).all()
    if not rows:
        return {}
    found = [v.id for v, *_ in rows]
    in_scope: ColumnElement[bool] = true() if ids is None else false()

    insurances: dict[uuid.UUID, list[VehicleInsurance]] = defaultdict(list)
    for p in session.scalars(select(VehicleInsurance).where(
            VehicleInsurance.tenant_id == tenant_id,
            or_(in_scope, VehicleInsurance.vehicle_id.in_(found)),
            VehicleInsurance.active.is_(True), VehicleInsurance.deleted_at.is_(None),
            VehicleInsurance.ends_on >= today)):
        insurances[p.vehicle_id].append(p)

    docs: dict[tuple[uuid.UUID, str], list[Document]] = defaultdict(list)
    for d in session.scalars(select(Document).where(
            Document.tenant_id == tenant_id,
            Document.entity_type == DocumentEntityType.VEHICLE.value,
            or_(in_scope, Document.entity_id.in_(found)),
            Document.deleted_at.is_(None),
            or_(Document.document_type.in_([DocumentType.REGISTRATION.value,
                                            DocumentType.INSPECTION_REPORT.value,
                                            DocumentType.INSURANCE_CERTIFICATE.value]),
                and_(Document.document_type == DocumentType.OTHER.value,
                     or_(Document.file_name.ilike(f"%{PERMIT_MARKER}%"),
                         Document.notes.ilike(f"%{PERMIT_MARKER}%")))))):
        docs[(d.entity_id, d.document_type)].append(d)

    schedules: dict[uuid.UUID, list[MaintenanceSchedule]] = defaultdict(list)
    for s in session.scalars(select(MaintenanceSchedule).where(
            MaintenanceSchedule.tenant_id == tenant_id,
            or_(in_scope, MaintenanceSchedule.vehicle_id.in_(found)),
            MaintenanceSchedule.active.is_(True), MaintenanceSchedule.deleted_at.is_(None))):
        schedules[s.vehicle_id].append(s)

    reports = {}
    for vehicle, regulation, vehicle_class, km in rows:
        exempt_fuels = AGE_EXEMPT_FUELS.get(vehicle.country, frozenset())
        exempt = (f"{vehicle.fuel_type} vehicles are exempt from the {vehicle.country} age limit."
                  if vehicle.fuel_type in exempt_fuels else None)
        rules = [
            _age_rule("vehicle_age_regulation", vehicle,
                      regulation.max_vehicle_age_years if regulation else None, today,
                      f"the {vehicle.country} regulation", exempt),
            _age_rule("vehicle_age_class", vehicle,
                      vehicle_class.max_age_years if vehicle_class else None, today,
                      f"the {vehicle_class.name} class" if vehicle_class else "No class"),
            _insurance_rule(insurances[vehicle.id], today,
                            docs[(vehicle.id, DocumentType.INSURANCE_CERTIFICATE.value)]),
            _document_rule("registration_document", "registration certificate",
                           docs[(vehicle.id, DocumentType.REGISTRATION.value)], today),
            _document_rule("inspection_document", "inspection report",
                           docs[(vehicle.id, DocumentType.INSPECTION_REPORT.value)], today),
            _permit_rule(regulation, docs[(vehicle.id, DocumentType.OTHER.value)], today),
            _maintenance_rule(schedules[vehicle.id], km, today),
        ]
        reports[vehicle.id] = ComplianceReport.of(SUBJECT, vehicle.id, at, rules)
    return reports


def vehicle_compliance(
    session: Session, actor: Actor, vehicle_id: uuid.UUID, at: datetime
) -> ComplianceReport:
    """Every compliance rule of one vehicle at ``at``; NotFound when invisible."""
    report = vehicles_compliance(session, actor, [vehicle_id], at).get(vehicle_id)
    if report is None:
        raise NotFound("No such vehicle.")
    return report


def _summarise(reports: Iterable[ComplianceReport]) -> SubjectSummary:
    counts: dict[str, RuleCount] = {}
    total = compliant = 0
    failing = []
    for report in reports:
        total += 1
        if report.compliant:
            compliant += 1
        else:
            failing.append(report)
        for rule in report.rules:
            counts.setdefault(rule.rule, RuleCount(rule=rule.rule)).add(rule.status)
    return SubjectSummary(subjects=total, compliant=compliant, non_compliant=total - compliant,
                          rules=list(counts.values()), non_compliant_reports=failing)


def compliance_summary(session: Session, actor: Actor, at: datetime) -> ComplianceSummaryOut:
    """The fleet's compliance: counts per rule and the failing vehicles (and drivers).

    Drivers are included when the actor may read them (``drivers:read``); both parts are
    computed set-based (a handful of queries whatever the fleet size).
    """
    vehicles = _summarise(vehicles_compliance(session, actor, None, at).values())
    drivers = None
    if actor.can("drivers:read"):
        drivers = _summarise(
            drivers_service.drivers_compliance(session, actor, None, at).values())
    return ComplianceSummaryOut(evaluated_at=at, vehicles=vehicles, drivers=drivers)


# --- insurances --------------------------------------------------------------------------------


class InsuranceOverlap(Conflict):
    slug, title = "insurance-overlap", "The policy overlaps another active policy"


def _check_insurance_overlap(session: Session, policy: VehicleInsurance) -> None:
    if not policy.active:
        return
    with session.no_autoflush:  # the pending change is checked here, not flushed into a raw error
        other = _overlapping_policy(session, policy)
    if other is not None:
        raise InsuranceOverlap(
            f"Policy {other.policy_number} already covers {other.starts_on} to {other.ends_on}.",
            errors=[{"field": "starts_on", "message": "overlaps another active policy"}],
            conflicting_insurance_id=str(other.id),
        )


def _overlapping_policy(session: Session, policy: VehicleInsurance) -> VehicleInsurance | None:
    return session.scalar(select(VehicleInsurance).where(
        VehicleInsurance.tenant_id == policy.tenant_id,
        VehicleInsurance.vehicle_id == policy.vehicle_id,
        VehicleInsurance.id != policy.id, VehicleInsurance.active.is_(True),
        VehicleInsurance.deleted_at.is_(None),
        VehicleInsurance.starts_on <= policy.ends_on,
        VehicleInsurance.ends_on >= policy.starts_on,
    ).limit(1))


_INSURANCE_CONSTRAINTS: dict[str, ConstraintProblem] = {
    **_CONSTRAINTS,
    "ex_flt_vehicle_insurances_active": ConstraintProblem(
        "starts_on", "The policy overlaps another active policy.", InsuranceOverlap),
}


def insurances_query(actor: Actor, filters: InsuranceFilter) -> Select[Any]:
    """The filtered insurance policies (list and export)."""
    i = VehicleInsurance
    stmt = equal_filters(_rows.select(actor, i, filters.include_deleted),
                         {i.vehicle_id: filters.vehicle_id})
    if filters.active is not None:
        stmt = stmt.where(i.active.is_(filters.active))
    if filters.covering is not None:
        stmt = stmt.where(i.starts_on <= filters.covering, i.ends_on >= filters.covering)
    return stmt


list_insurances = pager(insurances_query, VehicleInsurance.id,
                        doc="The tenant's insurance policies, by id.")


get_insurance = _rows.getter(VehicleInsurance, "insurance")


def create_insurance(session: Session, actor: Actor, *, data: InsuranceCreate) -> VehicleInsurance:
    """A policy of a live vehicle; refused when it overlaps another active policy."""
    _require_row(session, actor, Vehicle, data.vehicle_id, "vehicle_id", "vehicle")
    policy = _rows.new(actor, VehicleInsurance, data, id=new_id(),
                       deductible=_money(data.deductible, data.currency, "deductible"),
                       premium=_money(data.premium, data.currency, "premium"))
    _check_insurance_overlap(session, policy)
    return _rows.add(session, policy, _INSURANCE_CONSTRAINTS)


def update_insurance(session: Session, actor: Actor, insurance_id: uuid.UUID, *,
                     data: InsuranceUpdate, if_match: str | None = None) -> VehicleInsurance:
    """Change a policy (If-Match); dates and activity are re-checked for overlaps."""
    policy = get_insurance(session, actor, insurance_id, lock=True, if_match=if_match)
    money = {"deductible", "premium"} & data.model_fields_set
    patch(policy, data, data.model_fields_set - money, required={
        "provider", "policy_number", "coverage_type", "starts_on", "ends_on", "active"})
    for field in money:
        setattr(policy, field, _money(getattr(data, field), policy.currency, field))
    if policy.ends_on < policy.starts_on:
        raise invalid("ends_on", "must not be before starts_on")
    if policy.premium is not None and policy.premium_frequency is None:
        raise invalid("premium_frequency", "a premium needs its frequency")
    _check_insurance_overlap(session, policy)
    return _rows.save(session, actor, policy, _INSURANCE_CONSTRAINTS)


delete_insurance = _rows.deleter(VehicleInsurance, "insurance")


restore_insurance = _rows.restorer(VehicleInsurance, "insurance", _check_insurance_overlap)
"""Bring a deleted policy back (409 when it would now overlap)."""


# --- expenses ----------------------------------------------------------------------------------


def _check_expense_refs(session: Session, actor: Actor, expense: VehicleExpense) -> None:
    with session.no_autoflush:
        _check_expense_values(session, actor, expense)


def _check_expense_values(session: Session, actor: Actor, expense: VehicleExpense) -> None:
    _require_row(session, actor, Vehicle, expense.vehicle_id, "vehicle_id", "vehicle")
    _require_row(session, actor, Driver, expense.driver_id, "driver_id", "driver")
    _require_row(session, actor, Document, expense.receipt_document_id, "receipt_document_id",
                 "document")
    if expense.category in (ExpenseCategory.TOLL.value, ExpenseCategory.FINE.value):
        raise invalid("category", "tolls and fines are recorded with POST "
                                   "/v1/toll-transactions (or a statement import) and POST "
                                   "/v1/traffic-fines, never as expenses (one source of truth)")
    if (expense.is_reimbursable or expense.is_rechargeable) and expense.driver_id is None:
        raise invalid("driver_id", "a reimbursable or rechargeable expense names its driver")
    if expense.tax_amount is not None and expense.tax_amount > expense.amount:
        raise invalid("tax_amount", "cannot exceed amount")
    if expense.incurred_on > _now().date() + timedelta(days=1):
        raise invalid("incurred_on", "cannot be in the future")


def expenses_query(actor: Actor, filters: ExpenseFilter) -> Select[Any]:
    """The filtered expenses (list and export)."""
    e = VehicleExpense
    stmt = equal_filters(_rows.select(actor, e, filters.include_deleted), {
        e.vehicle_id: filters.vehicle_id, e.driver_id: filters.driver_id,
        e.category: filters.category, e.payment_method: filters.payment_method})
    return range_filter(stmt, e.incurred_on, since=filters.since, until=filters.until)


list_expenses = pager(expenses_query, VehicleExpense.incurred_on, VehicleExpense.id,
                      descending=True, doc="The tenant's vehicle expenses, newest first.")


get_expense = _rows.getter(VehicleExpense, "expense")


def create_expense(session: Session, actor: Actor, *, data: ExpenseCreate) -> VehicleExpense:
    """An expense of a live vehicle; its driver, trip and receipt must exist for the tenant."""
    currency = data.amount.currency
    expense = VehicleExpense(
        tenant_id=tenant_of(actor), vehicle_id=data.vehicle_id, driver_id=data.driver_id,
        category=data.category.value, payment_method=data.payment_method.value,
        amount=data.amount.to_money().amount, currency=currency,
        tax_amount=_money(data.tax_amount, currency, "tax_amount"),
        incurred_on=data.incurred_on, incurred_at=data.incurred_at,
        odometer_km=data.odometer_km, vendor=data.vendor, description=data.description,
        quantity=data.quantity,
        quantity_unit=data.quantity_unit.value if data.quantity_unit else None,
        unit_price=_money(data.unit_price, currency, "unit_price"), trip_id=data.trip_id,
        receipt_document_id=data.receipt_document_id, is_reimbursable=data.is_reimbursable,
        is_rechargeable=data.is_rechargeable, created_by=actor.id, updated_by=actor.id,
    )
    _check_expense_refs(session, actor, expense)
    return _rows.add(session, expense)


_POSTED_FIELDS = frozenset({"amount", "driver_id", "category", "payment_method", "incurred_on",
                            "is_reimbursable", "is_rechargeable"})
"""What a settlement posted of an expense (its cost and recharge): frozen once posted."""


def update_expense(session: Session, actor: Actor, expense_id: uuid.UUID, *,
                   data: ExpenseUpdate, if_match: str | None = None) -> VehicleExpense:
    """Change an expense (If-Match); references and amounts are re-checked."""
    expense = get_expense(session, actor, expense_id, lock=True, if_match=if_match)
    posted = data.model_fields_set & _POSTED_FIELDS
    if expense.transaction_id is not None and posted:
        raise Conflict(f"The expense is posted to the ledger: {', '.join(sorted(posted))} can "
                       "no longer change (reverse the entries instead).")
    patch(expense, data, data.model_fields_set - {"amount", "tax_amount"}, required={
        "category", "payment_method", "amount", "incurred_on", "is_reimbursable",
        "is_rechargeable"})
    if data.amount is not None:
        expense.currency, expense.amount = data.amount.currency, data.amount.to_money().amount
    elif "amount" in data.model_fields_set:
        raise invalid("amount", "cannot be null")
    if "tax_amount" in data.model_fields_set:
        expense.tax_amount = _money(data.tax_amount, expense.currency, "tax_amount")
    _check_expense_refs(session, actor, expense)
    return _rows.save(session, actor, expense)


def _refuse_posted(session: Session, expense: VehicleExpense) -> None:
    if expense.transaction_id is not None:
        raise Conflict("The expense is posted to the ledger: reverse the transaction instead.")


delete_expense = _rows.deleter(VehicleExpense, "expense", _refuse_posted)
"""Soft-delete an expense (refused once posted to the ledger)."""


restore_expense = _rows.restorer(VehicleExpense, "expense")


# --- vehicle events ----------------------------------------------------------------------------


def events_query(actor: Actor, filters: EventFilter) -> Select[Any]:
    """The filtered vehicle events (list and export)."""
    e = VehicleEvent
    stmt = equal_filters(_rows.select(actor, e, filters.include_deleted), {
        e.vehicle_id: filters.vehicle_id, e.driver_id: filters.driver_id,
        e.event_type: filters.event_type, e.severity: filters.severity})
    if filters.unresolved is not None:
        stmt = stmt.where(e.resolved_at.is_(None) if filters.unresolved
                          else e.resolved_at.is_not(None))
    return range_filter(stmt, e.occurred_at, since=filters.since, until=filters.until)


list_events = pager(events_query, VehicleEvent.occurred_at, VehicleEvent.id, descending=True,
                    doc="The tenant's vehicle events, newest first.")


get_event = _rows.getter(VehicleEvent, "vehicle event")


def create_event(session: Session, actor: Actor, *, data: EventCreate) -> VehicleEvent:
    """A manual vehicle event (handovers are written by assignments)."""
    _require_row(session, actor, Vehicle, data.vehicle_id, "vehicle_id", "vehicle")
    _require_row(session, actor, Driver, data.driver_id, "driver_id", "driver")
    if data.occurred_at > _now() + timedelta(minutes=5):
        raise invalid("occurred_at", "cannot be in the future")
    if data.resolved_at is not None and data.resolved_at < data.occurred_at:
        raise invalid("resolved_at", "cannot be before occurred_at")
    event = _rows.new(actor, VehicleEvent, data,
                      cost=data.cost.to_money().amount if data.cost else None,
                      currency=data.cost.currency if data.cost else None,
                      source=VehicleEventSource.MANUAL.value)
    return _rows.add(session, event)


def update_event(session: Session, actor: Actor, event_id: uuid.UUID, *, data: EventUpdate,
                 if_match: str | None = None) -> VehicleEvent:
    """Change an event's severity, description, cost, follow-up or resolution (If-Match)."""
    event = get_event(session, actor, event_id, lock=True, if_match=if_match)
    patch(event, data, data.model_fields_set - {"cost"}, required={"severity"})
    if "cost" in data.model_fields_set:
        event.cost = data.cost.to_money().amount if data.cost else None
        event.currency = data.cost.currency if data.cost else None
    if event.resolved_at is not None and event.resolved_at < event.occurred_at:
        raise invalid("resolved_at", "cannot be before occurred_at")
    return _rows.save(session, actor, event)


def _refuse_handover(session: Session, event: VehicleEvent) -> None:
    if event.event_type == VehicleEventType.HANDOVER.value and event.assignment_id is not None:
        raise Conflict("A handover event belongs to its assignment: cancel the assignment.")


delete_event = _rows.deleter(VehicleEvent, "vehicle event", _refuse_handover)
"""Soft-delete a vehicle event (handover events belong to their assignment)."""


restore_event = _rows.restorer(VehicleEvent, "vehicle event")
