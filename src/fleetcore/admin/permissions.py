"""The permission catalogue, the built-in roles, and the permission matrix document.

A permission is ``resource:action``. Every ``require("...")`` in a route names one of
:data:`PERMISSIONS` (a test checks it), built-in roles are seeded per tenant from
:data:`SYSTEM_ROLES`, and ``docs/permissions.md`` is generated from both
(``python -m fleetcore.admin.permissions > docs/permissions.md``; a test keeps it in sync).

Provider permissions (``tenants:write``, ``crm:*``, ``plans:*``) are held only by Fleetcore
staff (``adm_provider_employees.permissions``, where ``*`` means all); tenant roles may not
contain them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource and the actions that exist on it."""

    name: str
    description: str
    actions: tuple[str, ...] = ("read", "write")
    provider_only: bool = False


RESOURCES: tuple[Resource, ...] = (
    Resource("tenants", "The fleet's own settings (read); provisioning and lifecycle (staff)."),
    Resource("members", "Staff and portal accounts: invite, edit, suspend, grant roles."),
    Resource("roles", "Custom roles and their permissions."),
    Resource("audit", "The audit log (written by the database, never by hand).", ("read",)),
    Resource("vehicles", "Vehicles, odometer readings and vehicle events."),
    Resource("drivers", "Drivers, cooperation terms, training, blacklist."),
    Resource("driver_requests", "Leave, shift-change and other driver requests."),
    Resource("documents", "Documents, verification and expiry."),
    Resource("reference", "Platforms, vehicle classes, country rules and the car catalogue "
             "(read); the fleet's private car makes and models (write)."),
    Resource("assignments", "Vehicle-to-driver assignments and handovers; `override`: assign "
             "despite a failed compliance check, with a recorded reason.",
             ("read", "write", "override")),
    Resource("maintenance", "Maintenance records and schedules."),
    Resource("insurances", "Vehicle insurance policies."),
    Resource("expenses", "Vehicle expenses."),
    Resource("tolls", "Toll transactions."),
    Resource("fines", "Traffic fines and driver designation."),
    Resource("shifts", "Shifts and recurring shift series."),
    Resource("tasks", "The staff to-do list."),
    Resource("goals", "Goals and their progress."),
    Resource("trips", "Trips and platform accounts."),
    Resource("imports", "Platform report imports (upload, validate, commit, roll back)."),
    Resource("reconciliations", "Reconciliation of reports against trips."),
    Resource("settlements", "Driver settlements.", ("read", "write", "confirm")),
    Resource("payouts", "Driver payment batches and payments.", ("read", "write", "approve")),
    Resource("ledger", "Ledger accounts and transactions."),
    Resource("invoices", "Client invoices to corporate customers."),
    Resource("billing", "The fleet's Fleetcore subscription, invoices and payment methods."),
    Resource("support", "Support tickets and feedback."),
    Resource("exports", "Data exports.", ("read",)),
    Resource("privacy", "A person's data on request: export it all, or erase it once the "
             "retention period allows (docs/privacy.md).", ("manage",)),
    Resource("jobs", "The fleet's background jobs: failures and retries."),
    Resource("integrations", "Integration credentials: the Traccar forwarding token (write "
             "issues a new one and revokes the old)."),
    Resource("portal", "The driver portal: own car, shifts, documents, requests, statements."),
    Resource("provider_tenants", "All tenants: provision, suspend, reactivate, cancel.",
             provider_only=True),
    Resource("crm", "Fleetcore's sales pipeline: leads, opportunities, contracts.",
             provider_only=True),
    Resource("plans", "Fleetcore's billing plans.", provider_only=True),
)

PERMISSIONS: frozenset[str] = frozenset(
    f"{r.name}:{a}" for r in RESOURCES for a in r.actions
)
"""Every permission that exists."""

PROVIDER_PERMISSIONS: frozenset[str] = frozenset(
    f"{r.name}:{a}" for r in RESOURCES if r.provider_only for a in r.actions
)
"""Permissions only Fleetcore staff hold."""

TENANT_PERMISSIONS: frozenset[str] = PERMISSIONS - PROVIDER_PERMISSIONS
"""Permissions a tenant role may contain."""


def _all(action: str, *, but: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{r.name}:{action}" for r in RESOURCES
        if not r.provider_only and action in r.actions and r.name not in but
        and r.name != "portal"
    ]


def _each(action: str, *resources: str) -> list[str]:
    return [f"{r}:{action}" for r in resources]


_OPERATIONS = (
    "vehicles", "drivers", "driver_requests", "documents", "assignments", "maintenance",
    "insurances", "expenses", "tolls", "fines", "shifts", "tasks", "goals",
)
_MONEY = ("imports", "reconciliations", "settlements", "payouts", "ledger", "invoices")


@dataclass(frozen=True, slots=True)
class SystemRole:
    """A built-in role seeded for every tenant (not deletable, permissions fixed by code)."""

    name: str
    description: str
    permissions: tuple[str, ...]


SYSTEM_ROLES: tuple[SystemRole, ...] = (
    SystemRole(
        "owner", "Everything in the fleet, including its subscription and payout approval.",
        tuple(sorted({*_all("read"), *_all("write", but=("exports",)), "settlements:confirm",
                      "payouts:approve", "exports:read", "assignments:override",
                      "privacy:manage"})),
    ),
    SystemRole(
        "admin", "Everything except the Fleetcore subscription.",
        tuple(sorted({*_all("read"), *_all("write", but=("billing", "tenants")),
                      "settlements:confirm", "payouts:approve", "assignments:override",
                      "privacy:manage"})),
    ),
    SystemRole(
        "fleet_manager", "Vehicles, drivers, documents, maintenance, schedules and tasks.",
        tuple(sorted({*_all("read", but=("billing", "audit", "ledger", "payouts")),
                      *_each("write", *_OPERATIONS, "reference")})),
    ),
    SystemRole(
        "finance", "Imports, reconciliation, settlements, payouts, ledger and invoices.",
        tuple(sorted({*_all("read", but=("audit",)),
                      *_each("write", *_MONEY, "expenses", "tolls", "fines"),
                      "settlements:confirm", "payouts:approve"})),
    ),
    SystemRole(
        "dispatcher", "Assignments, shifts, tasks and driver requests.",
        tuple(sorted({*_each("read", "tenants", "vehicles", "drivers", "driver_requests",
                             "documents", "assignments", "maintenance", "shifts", "tasks",
                             "trips", "reference"),
                      *_each("write", "assignments", "shifts", "tasks", "driver_requests")})),
    ),
    SystemRole(
        "driver", "The driver portal: own car, shifts, documents, requests and statements.",
        ("portal:read", "portal:write"),
    ),
    SystemRole(
        "viewer", "Read-only access to the fleet's operations and money.",
        tuple(sorted(_all("read", but=("audit", "billing", "exports", "jobs")))),
    ),
)

SYSTEM_ROLE_NAMES: frozenset[str] = frozenset(r.name for r in SYSTEM_ROLES)


def system_role(name: str) -> SystemRole:
    """The built-in role called ``name``."""
    for role in SYSTEM_ROLES:
        if role.name == name:
            return role
    raise KeyError(name)


def unknown_permissions(permissions: list[str] | tuple[str, ...]) -> list[str]:
    """The entries of ``permissions`` that a tenant role may not hold."""
    return sorted({p for p in permissions if p not in TENANT_PERMISSIONS})


def permission_matrix_markdown() -> str:
    """``docs/permissions.md``: the catalogue and which built-in role holds what."""
    names = [r.name for r in SYSTEM_ROLES]
    lines = [
        "# Permissions",
        "",
        "Generated from `src/fleetcore/admin/permissions.py` by",
        "`python -m fleetcore.admin.permissions > docs/permissions.md`; a test fails when this",
        "file and the code disagree.",
        "",
        "A permission is `resource:action`. Every `/v1` endpoint requires one (see the route's",
        "`require(...)`); a member holds the union of the permissions of their roles. Built-in",
        "roles are seeded for every tenant and cannot be deleted or edited; tenants add custom",
        "roles with any of the tenant permissions below. Provider permissions are held only by",
        "Fleetcore staff (`adm_provider_employees.permissions`, `*` meaning all). Roles are",
        "Fleetcore's: the Clerk organisation role only picks the initial role of a new member.",
        "",
        "## Built-in roles",
        "",
        "| role | description |",
        "| --- | --- |",
        *[f"| `{r.name}` | {r.description} |" for r in SYSTEM_ROLES],
        "",
        "## Matrix",
        "",
        "| permission | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for resource in RESOURCES:
        for action in resource.actions:
            perm = f"{resource.name}:{action}"
            if resource.provider_only:
                cells = ["staff only" if i == 0 else "" for i in range(len(names))]
            else:
                cells = ["✓" if perm in r.permissions else "" for r in SYSTEM_ROLES]
            lines.append(f"| `{perm}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Resources",
        "",
        "| resource | actions | what it covers |",
        "| --- | --- | --- |",
        *[
            f"| `{r.name}` | {', '.join(r.actions)} | {r.description}"
            + (" (staff only)" if r.provider_only else "") + " |"
            for r in RESOURCES
        ],
        "",
    ]
    return "\n".join(lines)


MembersRead = Annotated[Actor, Require("members:read")]
MembersWrite = Annotated[Actor, Require("members:write")]
RolesRead = Annotated[Actor, Require("roles:read")]
RolesWrite = Annotated[Actor, Require("roles:write")]
AuditRead = Annotated[Actor, Require("audit:read")]
TenantsRead = Annotated[Actor, Require("tenants:read", scope="any")]
SettingsRead = Annotated[Actor, Require("tenants:read")]
SettingsWrite = Annotated[Actor, Require("tenants:write")]
ProviderTenantsRead = Annotated[Actor, Require("provider_tenants:read", scope="any")]
ProviderTenantsWrite = Annotated[Actor, Require("provider_tenants:write", scope="any")]
JobsRead = Annotated[Actor, Require("jobs:read")]
JobsWrite = Annotated[Actor, Require("jobs:write")]


if __name__ == "__main__":  # pragma: no cover - documentation generator
    print(permission_matrix_markdown(), end="")
