"""The console's menu: sections of pages, each shown only to members holding its permission.

Labels are English msgids marked with ``N_`` and translated where the layout shows them.

A new page group is one :class:`NavItem` added to :data:`SECTIONS` (and its router added in
``web/routes/__init__.py``). An empty section is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetcore.core.auth import Actor
from fleetcore.web.i18n import N_


@dataclass(frozen=True, slots=True)
class NavItem:
    """One menu entry: its label, path and the permission that shows it (None: everyone)."""

    label: str
    path: str
    permission: str | None = None
    staff_only: bool = False
    """Fleetcore staff pages (``/app/provider``): shown to staff only, with or without a fleet
    open."""


@dataclass(frozen=True, slots=True)
class NavSection:
    """A titled group of menu entries."""

    title: str
    items: tuple[NavItem, ...]


SECTIONS: list[NavSection] = [
    NavSection(N_("Overview"), (
        NavItem(N_("Dashboard"), "/app"),
    )),
    NavSection(N_("Operations"), (
        NavItem(N_("Vehicles"), "/app/vehicles", "vehicles:read"),
        NavItem(N_("Live map"), "/app/map", "vehicles:read"),
        NavItem(N_("Drivers"), "/app/drivers", "drivers:read"),
        NavItem(N_("Assignments"), "/app/assignments", "assignments:read"),
        NavItem(N_("Assignment calendar"), "/app/assignments/calendar", "assignments:read"),
        NavItem(N_("Shifts"), "/app/shifts", "shifts:read"),
        NavItem(N_("Shift series"), "/app/shift-series", "shifts:read"),
        NavItem(N_("Documents"), "/app/documents", "documents:read"),
        NavItem(N_("Maintenance due"), "/app/maintenance", "maintenance:read"),
        NavItem(N_("Tasks"), "/app/tasks", "tasks:read"),
    )),
    NavSection(N_("Revenue"), (
        NavItem(N_("Trips"), "/app/trips", "trips:read"),
        NavItem(N_("Imports"), "/app/imports", "imports:read"),
        NavItem(N_("Reconciliation"), "/app/reconciliations", "reconciliations:read"),
        NavItem(N_("Settlements"), "/app/settlements", "settlements:read"),
    )),
    NavSection(N_("Finance"), (
        NavItem(N_("Payouts"), "/app/payouts", "payouts:read"),
        NavItem(N_("Invoices"), "/app/invoices", "invoices:read"),
        NavItem(N_("Tolls"), "/app/tolls", "tolls:read"),
        NavItem(N_("Fines"), "/app/fines", "fines:read"),
    )),
    NavSection(N_("Administration"), (
        NavItem(N_("Settings"), "/app/settings", "tenants:read"),
        NavItem(N_("Members"), "/app/members", "members:read"),
        NavItem(N_("Audit log"), "/app/audit", "audit:read"),
        NavItem(N_("Subscription"), "/app/billing", "billing:read"),
        NavItem(N_("Support"), "/app/support", "support:read"),
    )),
    NavSection(N_("Fleetcore"), (
        NavItem(N_("Fleets"), "/app/provider", "tenants:read", staff_only=True),
        NavItem(N_("Pipeline"), "/app/provider/pipeline", "crm:read", staff_only=True),
        NavItem(N_("Leads"), "/app/provider/leads", "crm:read", staff_only=True),
        NavItem(N_("Contracts"), "/app/provider/contracts", "crm:read", staff_only=True),
        NavItem(N_("Plans"), "/app/provider/plans", "plans:read", staff_only=True),
        NavItem(N_("Subscriptions"), "/app/provider/subscriptions", "billing:read",
                staff_only=True),
        NavItem(N_("Invoices"), "/app/provider/invoices", "billing:read", staff_only=True),
        NavItem(N_("Usage"), "/app/provider/usage", "billing:read", staff_only=True),
        NavItem(N_("Support inbox"), "/app/provider/support", "support:read", staff_only=True),
    )),
]


def navigation_for(actor: Actor, *, staff: bool = False) -> list[NavSection]:
    """The sections and entries ``actor`` may open (empty sections left out); on a staff page
    (``staff``: no fleet open) only the staff entries."""
    visible = []
    for section in SECTIONS:
        items = tuple(
            i for i in section.items
            if (not i.staff_only or actor.is_provider) and (i.staff_only or not staff)
            and (i.permission is None or actor.can(i.permission)))
        if items:
            visible.append(NavSection(section.title, items))
    return visible


def active_path(sections: list[NavSection], path: str) -> str | None:
    """The menu entry of the page at ``path``: the longest entry path it is or lies under (so
    ``/app/assignments/calendar`` is the calendar's page, not the assignments')."""
    matches = [item.path for section in sections for item in section.items
               if path == item.path or (item.path != "/app" and path.startswith(item.path + "/"))]
    return max(matches, key=len, default=None)
