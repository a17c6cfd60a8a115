"""Permission dependencies of the support routes (catalogue: ``admin/permissions.py``).

Drivers reach their tickets through the portal (``portal:*``), staff and the fleet's members
through ``support:*``."""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

SupportRead = Annotated[Actor, Require("support:read")]
SupportWrite = Annotated[Actor, Require("support:write")]
StaffSupportRead = Annotated[Actor, Require("support:read", scope="any")]
"""The staff inbox: every fleet's tickets, with no fleet open (the page checks it is staff)."""
