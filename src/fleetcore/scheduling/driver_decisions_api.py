"""``/v1`` routes of the drivers' resources that need the fleet and scheduling: deleting a
driver, and filing, changing and deciding a driver request
(:mod:`fleetcore.scheduling.driver_decisions_service`). Declared here, above the three domains,
instead of in ``drivers.api`` (decision 0023): same paths, operation names, schemas and
permissions; the lists, exports and reads stay in ``drivers.api``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from fastapi import APIRouter

from fleetcore.core.resource import ResourceRoutes
from fleetcore.drivers.models import DriverRequest, DriverRequestStatus
from fleetcore.drivers.permissions import (
    DriverRequestsRead,
    DriverRequestsWrite,
    DriversRead,
    DriversWrite,
)
from fleetcore.drivers.schemas import (
    DriverOut,
    DriverRequestCreate,
    DriverRequestOut,
    DriverRequestUpdate,
    RequestDecision,
    driver_request_out,
)
from fleetcore.scheduling import driver_decisions_service as service

router = APIRouter(prefix="/v1")
DRIVERS: list[str | Enum] = ["drivers"]
REQUESTS: list[str | Enum] = ["driver requests"]

_drivers = ResourceRoutes(router, "drivers", "driver_id", "driver", DRIVERS, DriverOut,
                          DriverOut.model_validate, DriversRead, DriversWrite)
_drivers.delete("Delete a driver (soft, with a reason; restorable)", service.delete_driver,
                reason="body")

_requests = ResourceRoutes(router, "driver-requests", "request_id", "request", REQUESTS,
                           DriverRequestOut, driver_request_out, DriverRequestsRead,
                           DriverRequestsWrite)
_requests.create("File a driver request", DriverRequestCreate, service.create_driver_request)
_requests.update(
    "Change an open request (pending or under review)", DriverRequestUpdate,
    service.update_driver_request,
    description="Only the fields sent change. A decided request (approved, rejected, "
                "cancelled, completed) is refused with 409 `request-decided`; a stale "
                "`If-Match` with 412.")


def _transition(target: DriverRequestStatus) -> Callable[..., Any]:
    return lambda s, a, i, data: service.transition_driver_request(
        s, a, i, target, notes=data.notes if data else None)


for _verb, _target, _summary in (
    ("review", DriverRequestStatus.UNDER_REVIEW, "Start reviewing a pending request"),
    ("approve", DriverRequestStatus.APPROVED, "Approve a request under review (a leave is "
     "refused over planned work; a vehicle change creates the assignment)"),
    ("reject", DriverRequestStatus.REJECTED, "Reject a request under review"),
    ("cancel", DriverRequestStatus.CANCELLED, "Cancel a pending or under-review request"),
    ("complete", DriverRequestStatus.COMPLETED, "Mark an approved request completed"),
):
    _requests.action(_verb, _summary, RequestDecision, _transition(_target), optional=True,
                     lock=DriverRequest)

__all__ = ["router"]
