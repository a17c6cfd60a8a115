"""Permission dependencies of the finance routes (catalogue: ``admin/permissions.py``)."""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

TollsRead = Annotated[Actor, Require("tolls:read")]
TollsWrite = Annotated[Actor, Require("tolls:write")]
FinesRead = Annotated[Actor, Require("fines:read")]
FinesWrite = Annotated[Actor, Require("fines:write")]
