"""A driver's writes that need the fleet and scheduling: deleting a driver (refused while an
assignment is open) and filing, changing and deciding a driver request (a vehicle change names
a live vehicle and, approved, becomes an assignment; a leave is refused over planned shifts
and assignments).

The drivers' domain sits below the fleet and scheduling (their services read drivers), so
these decisions live here, above all three (decision 0023); the requests' reads stay in
:mod:`fleetcore.drivers.service`. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor, PermissionDenied
from fleetcore.core.errors import Conflict, ValidationProblem
from fleetcore.core.resource import Rows, check_transition, patch
from fleetcore.core.schemas import MoneyIn
from fleetcore.core.versioning import check_if_match
from fleetcore.drivers.models import Driver, DriverRequest, DriverRequestStatus, DriverRequestType
from fleetcore.drivers.schemas import DriverRequestCreate, DriverRequestUpdate
from fleetcore.drivers.service import driver_for_body, get_driver_request
from fleetcore.fleet.models import Vehicle, VehicleAssignment
from fleetcore.fleet.service import assign_for_vehicle_change
from fleetcore.scheduling.models import Shift

__all__ = ["OPEN_REQUEST_STATUSES", "REQUEST_TRANSITIONS", "InvalidTransition",
           "RequestDecided", "create_driver_request", "delete_driver", "leave_conflicts",
           "transition_driver_request", "update_driver_request"]

_rows = Rows(tenant_scoped=False, refreshed=None)

_OPEN_ASSIGNMENT = ("scheduled", "active")


def _refuse_open_assignment(session: Session, driver: Driver) -> None:
    open_assignment = session.scalar(
        select(VehicleAssignment.id).where(
            VehicleAssignment.driver_id == driver.id, VehicleAssignment.deleted_at.is_(None),
            VehicleAssignment.status.in_(_OPEN_ASSIGNMENT)).limit(1))
    if open_assignment is not None:
        raise Conflict("The driver has a scheduled or active assignment: end or cancel it first.",
                       assignment_id=str(open_assignment))


delete_driver = _rows.deleter(Driver, "driver", _refuse_open_assignment)
"""Soft-delete a driver, with its reason (restorable); refused while an assignment is open."""


# --- driver requests ---------------------------------------------------------------------------

REQUEST_TRANSITIONS: dict[str, frozenset[str]] = {
    DriverRequestStatus.PENDING.value: frozenset({"under_review", "cancelled"}),
    DriverRequestStatus.UNDER_REVIEW.value: frozenset({"approved", "rejected", "cancelled"}),
    DriverRequestStatus.APPROVED.value: frozenset({"completed"}),
    DriverRequestStatus.REJECTED.value: frozenset(),
    DriverRequestStatus.CANCELLED.value: frozenset(),
    DriverRequestStatus.COMPLETED.value: frozenset(),
}
"""The driver request state machine: status → statuses it may move to."""


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "This status change is not allowed"


OPEN_REQUEST_STATUSES = frozenset({DriverRequestStatus.PENDING.value,
                                   DriverRequestStatus.UNDER_REVIEW.value})
"""A request can still be changed by its driver or staff until it is decided."""


class RequestDecided(Conflict):
    slug, title = "request-decided", "The request is already decided"


def _check_request(session: Session, request: DriverRequest, *, vehicle_changed: bool) -> None:
    """The rules of a request's content, all errors at once: leave needs its period, an advance
    a positive amount, a vehicle change a live vehicle (creation and every change)."""
    kind = request.request_type
    start, end = request.period_start, request.period_end
    errors: list[dict[str, str]] = []
    if kind == DriverRequestType.LEAVE.value:
        for name, value in (("period_start", start), ("period_end", end)):
            if value is None:
                errors.append({"field": name, "message": "required for leave"})
    if (start is None) != (end is None):
        errors.append({"field": "period_end", "message": "give both ends of the period"})
    if start is not None and end is not None and end <= start:
        errors.append({"field": "period_end", "message": "must be after period_start"})
    if kind == DriverRequestType.ADVANCE_PAYMENT.value and request.amount is None:
        errors.append({"field": "amount", "message": "required for advance_payment"})
    if request.amount is not None and request.amount <= 0:
        errors.append({"field": "amount.amount", "message": "must be greater than 0"})
    if kind == DriverRequestType.VEHICLE_CHANGE.value and request.requested_vehicle_id is None:
        errors.append({"field": "requested_vehicle_id", "message": "required for vehicle_change"})
    if vehicle_changed and request.requested_vehicle_id is not None and session.scalar(
        select(Vehicle.id).where(Vehicle.id == request.requested_vehicle_id,
                                 Vehicle.deleted_at.is_(None))
    ) is None:
        errors.append({"field": "requested_vehicle_id", "message": "no such vehicle"})
    if errors:
        fields = ", ".join(sorted({e["field"] for e in errors}))
        raise ValidationProblem(f"Invalid value for {fields}.", errors=errors)


def _set_amount(request: DriverRequest, value: MoneyIn | None) -> None:
    money = value.to_money() if value is not None else None
    request.amount = money.amount if money else None
    request.currency = money.currency if money else None


def create_driver_request(session: Session, actor: Actor, *,
                          data: DriverRequestCreate) -> DriverRequest:
    """A driver's request, pending review; leave needs a period, an advance an amount."""
    driver = driver_for_body(session, data.driver_id)
    request = DriverRequest(
        tenant_id=driver.tenant_id, driver_id=driver.id, request_type=data.request_type.value,
        status=DriverRequestStatus.PENDING.value, period_start=data.period_start,
        period_end=data.period_end, details=data.details, reason=data.reason,
        requested_vehicle_id=data.requested_vehicle_id, created_by=actor.id, updated_by=actor.id,
    )
    _set_amount(request, data.amount)
    _check_request(session, request, vehicle_changed=True)
    return _rows.add(session, request)


def update_driver_request(session: Session, actor: Actor, request_id: uuid.UUID, *,
                          data: DriverRequestUpdate,
                          if_match: str | None = None) -> DriverRequest:
    """Change an open request (pending or under review; only the fields sent). Once decided
    (approved, rejected, cancelled, completed) it is the record of that decision: 409."""
    request = get_driver_request(session, actor, request_id)
    # Locked, so a change cannot slip in while a reviewer approves the request.
    session.refresh(request, with_for_update=True)
    check_if_match(if_match, request.version)
    if request.status not in OPEN_REQUEST_STATUSES:
        raise RequestDecided(
            f"A {request.status} request cannot be changed: file a new request instead.",
            errors=[{"field": "status", "message": f"is {request.status}"}],
            request_status=request.status)
    changed = data.model_fields_set
    patch(request, data, ("period_start", "period_end", "reason", "requested_vehicle_id"))
    if "details" in changed:
        request.details = data.details or {}
    if "amount" in changed:
        _set_amount(request, data.amount)
    with session.no_autoflush:  # the rules speak before a CHECK constraint would
        _check_request(session, request, vehicle_changed="requested_vehicle_id" in changed)
    return _rows.save(session, actor, request)


def leave_conflicts(session: Session, request: DriverRequest) -> list[dict[str, str]]:
    """Shifts and assignments of the driver not cancelled that overlap the leave period."""
    start, end = request.period_start, request.period_end
    if start is None or end is None:
        return []
    conflicts: list[dict[str, str]] = []
    for shift in session.scalars(select(Shift).where(
        Shift.driver_id == request.driver_id, Shift.deleted_at.is_(None),
        Shift.status.in_(("scheduled", "in_progress")),
        Shift.starts_at < end, Shift.ends_at > start,
    ).order_by(Shift.starts_at)):
        conflicts.append({"type": "shift", "id": str(shift.id),
                          "starts_at": shift.starts_at.isoformat(),
                          "ends_at": shift.ends_at.isoformat()})
    for assignment in session.scalars(select(VehicleAssignment).where(
        VehicleAssignment.driver_id == request.driver_id,
        VehicleAssignment.deleted_at.is_(None),
        VehicleAssignment.status.in_(_OPEN_ASSIGNMENT),
        VehicleAssignment.starts_at < end,
        or_(VehicleAssignment.ends_at.is_(None), VehicleAssignment.ends_at > start),
    ).order_by(VehicleAssignment.starts_at)):
        conflicts.append({"type": "assignment", "id": str(assignment.id),
                          "starts_at": assignment.starts_at.isoformat(),
                          "ends_at": assignment.ends_at.isoformat() if assignment.ends_at
                          else "open"})
    return conflicts


def transition_driver_request(session: Session, actor: Actor, request_id: uuid.UUID,
                              target: DriverRequestStatus, *, notes: str | None = None,
                              ) -> DriverRequest:
    """Move a request along its state machine; any other move is a 409 naming from/to.

    Approving a vehicle change creates its assignment (``fleet.service``), under every
    assignment rule (compliance, blacklist, leave, no overlap): a driver still holding another
    vehicle over the period gets the fleet's 409, so the current assignment is ended (with its
    odometer in) by whoever hands the cars over, then the request is approved.
    """
    request = get_driver_request(session, actor, request_id)
    session.refresh(request, with_for_update=True)
    check_transition(request.status, target.value, REQUEST_TRANSITIONS, "request",
                     InvalidTransition)
    if target is DriverRequestStatus.APPROVED:
        if request.request_type == DriverRequestType.LEAVE.value:
            conflicts = leave_conflicts(session, request)
            if conflicts:
                raise Conflict(
                    f"The driver has {len(conflicts)} shift(s)/assignment(s) in the leave period:"
                    " cancel or move them before approving.", conflicts=conflicts)
        elif request.request_type == DriverRequestType.VEHICLE_CHANGE.value:
            if not actor.can("assignments:write"):
                raise PermissionDenied("Approving a vehicle change creates an assignment: this "
                                       "needs the permission 'assignments:write'.",
                                       permission="assignments:write")
            request.resulting_assignment_id = assign_for_vehicle_change(session, actor, request)
    if target in (DriverRequestStatus.UNDER_REVIEW, DriverRequestStatus.APPROVED,
                  DriverRequestStatus.REJECTED):
        request.reviewed_by = actor.id
        request.reviewed_at = datetime.now(UTC)
    if notes is not None:
        request.resolution_notes = notes
    request.status = target.value
    return _rows.save(session, actor, request)
