"""Permission dependencies of the reference data routes (``reference:read|write``)."""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

ReferenceRead = Annotated[Actor, Require("reference:read")]
ReferenceWrite = Annotated[Actor, Require("reference:write")]
