"""The permissions the drivers routes take, as typed ``Annotated`` aliases.

Drivers, their document links, cooperation terms, training, blacklist and performance figures
are ``drivers``; driver requests are ``driver_requests``. A CSV export needs the same read
permission as the list it exports. Approving a vehicle-change request also needs
``assignments:write`` (checked in the service, since it creates an assignment).
"""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

DriversRead = Annotated[Actor, Require("drivers:read")]
DriversWrite = Annotated[Actor, Require("drivers:write")]
DriverRequestsRead = Annotated[Actor, Require("driver_requests:read")]
DriverRequestsWrite = Annotated[Actor, Require("driver_requests:write")]
