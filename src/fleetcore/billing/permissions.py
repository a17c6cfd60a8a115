"""The permissions the billing routes take (catalogue: ``admin/permissions.py``): Fleetcore
staff manage plans (``plans:*``, outside any tenant); a fleet reads and changes its own
subscription and reads its invoices and usage (``billing:*``)."""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

PlansRead = Annotated[Actor, Require("plans:read", scope="any")]
PlansWrite = Annotated[Actor, Require("plans:write", scope="any")]
BillingRead = Annotated[Actor, Require("billing:read")]
BillingWrite = Annotated[Actor, Require("billing:write")]
