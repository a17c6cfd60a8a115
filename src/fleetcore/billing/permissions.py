"""The permissions the billing routes take (catalogue: ``admin/permissions.py``): Fleetcore
staff manage plans (``plans:*``, outside any tenant); a fleet reads and changes its own
subscription and reads its invoices and usage (``billing:*``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from fleetcore.core.auth import Actor, PermissionDenied
from fleetcore.core.deps import CurrentActor, Require

PlansWrite = Annotated[Actor, Require("plans:write", scope="any")]
PlansRead = Annotated[Actor, Require("plans:read", scope="any")]
ProviderBillingRead = Annotated[Actor, Require("billing:read", scope="any")]
"""Staff reading every fleet's subscriptions, invoices and usage (the staff console pages;
inside a fleet the same permission reads that fleet's own)."""
BillingRead = Annotated[Actor, Require("billing:read")]
BillingWrite = Annotated[Actor, Require("billing:write")]


async def _read_plans(actor: CurrentActor) -> Actor:  # async: no I/O, no thread trip
    """Staff outside a tenant need ``plans:read``; a fleet's member reads the plans on offer
    with ``billing:read`` (to choose one)."""
    needed = "plans:read" if actor.tenant_id is None else "billing:read"
    if not actor.can(needed):
        raise PermissionDenied(f"This needs the permission {needed!r}.", permission=needed)
    return actor


_read_plans.required_permission = "billing:read"  # type: ignore[attr-defined]
PlanCatalogueRead = Annotated[Actor, Depends(_read_plans, scope="function")]
