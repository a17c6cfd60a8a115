"""Permission dependencies of the scheduling routes (catalogue: ``admin/permissions.py``)."""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

ShiftsRead = Annotated[Actor, Require("shifts:read")]
ShiftsWrite = Annotated[Actor, Require("shifts:write")]
TasksRead = Annotated[Actor, Require("tasks:read")]
TasksWrite = Annotated[Actor, Require("tasks:write")]
GoalsRead = Annotated[Actor, Require("goals:read")]
GoalsWrite = Annotated[Actor, Require("goals:write")]
