"""The permissions the CRM routes take (catalogue: ``admin/permissions.py``): Fleetcore staff
read (``crm:read``, also with a fleet open) and change (``crm:write``, outside any tenant: signing
provisions a new tenant) the sales pipeline.

A tenant role may not hold ``crm:*`` (provider-only), so a fleet's member is refused (403) on
every CRM list and creation, and answered 404 for any CRM id: row-level security shows a tenant
no lead or opportunity, and no contract but its own (then 403 before anything is shown).
"""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor, PermissionDenied, TenantRequired
from fleetcore.core.deps import Require

CrmRead = Annotated[Actor, Require("crm:read", scope="any")]
CrmWrite = Annotated[Actor, Require("crm:write", scope="any")]


def check_staff(actor: Actor, permission: str) -> None:
    """``permission`` (``crm:read``/``crm:write``; a write outside any tenant), for routes that
    found the row first: an unknown or hidden id is a 404 for everyone, before this 403."""
    if not actor.can(permission):
        raise PermissionDenied(f"This needs the permission {permission!r}.",
                               permission=permission)
    if permission == "crm:write":
        outside_tenant(actor)


def outside_tenant(actor: Actor) -> None:
    """The pipeline is Fleetcore's, not a fleet's: no ``X-Fleetcore-Tenant`` open."""
    if actor.tenant_id is not None:
        raise TenantRequired("The CRM works outside any tenant (no X-Fleetcore-Tenant header).")
