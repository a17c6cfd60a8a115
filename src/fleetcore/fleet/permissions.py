"""Typed permission dependencies of the fleet routes (catalogue: ``admin/permissions.py``).

Vehicle events and compliance read as ``vehicles``; the compliance override of an assignment
is checked in the service (``assignments:override``), since the route itself needs only
``assignments:write``.
"""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

VehiclesRead = Annotated[Actor, Require("vehicles:read")]
VehiclesWrite = Annotated[Actor, Require("vehicles:write")]
AssignmentsRead = Annotated[Actor, Require("assignments:read")]
AssignmentsWrite = Annotated[Actor, Require("assignments:write")]
InsurancesRead = Annotated[Actor, Require("insurances:read")]
InsurancesWrite = Annotated[Actor, Require("insurances:write")]
ExpensesRead = Annotated[Actor, Require("expenses:read")]
ExpensesWrite = Annotated[Actor, Require("expenses:write")]
IntegrationsRead = Annotated[Actor, Require("integrations:read")]
IntegrationsWrite = Annotated[Actor, Require("integrations:write")]
# Maintenance schedules and records (the fleet's since decision 0023).
MaintenanceRead = Annotated[Actor, Require("maintenance:read")]
MaintenanceWrite = Annotated[Actor, Require("maintenance:write")]
# Odometer readings belong to the vehicle ("vehicles: vehicles, odometer readings and events").
OdometerRead = Annotated[Actor, Require("vehicles:read")]
OdometerWrite = Annotated[Actor, Require("vehicles:write")]
