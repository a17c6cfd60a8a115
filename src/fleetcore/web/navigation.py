"""The console's menu: sections of pages, each shown only to members holding its permission.

A new page group is one :class:`NavItem` added to :data:`SECTIONS` (and its router added in
``web/routes/__init__.py``). An empty section is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetcore.core.auth import Actor


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
    NavSection("Overview", (
        NavItem("Dashboard", "/app"),
    )),
    NavSection("Operations", (
        NavItem("Vehicles", "/app/vehicles", "vehicles:read"),
        NavItem("Live map", "/app/map", "vehicles:read"),
        NavItem("Drivers", "/app/drivers", "drivers:read"),
        NavItem("Assignments", "/app/assignments", "assignments:read"),
        NavItem("Assignment calendar", "/app/assignments/calendar", "assignments:read"),
        NavItem("Shifts", "/app/shifts", "shifts:read"),
        NavItem("Shift series", "/app/shift-series", "shifts:read"),
        NavItem("Documents", "/app/documents", "documents:read"),
        NavItem("Maintenance due", "/app/maintenance", "maintenance:read"),
        NavItem("Tasks", "/app/tasks", "tasks:read"),
    )),
    NavSection("Revenue", (
        NavItem("Trips", "/app/trips", "trips:read"),
        NavItem("Imports", "/app/imports", "imports:read"),
        NavItem("Reconciliation", "/app/reconciliations", "reconciliations:read"),
        NavItem("Settlements", "/app/settlements", "settlements:read"),
    )),
    NavSection("Finance", (
        NavItem("Payouts", "/app/payouts", "payouts:read"),
        NavItem("Invoices", "/app/invoices", "invoices:read"),
        NavItem("Tolls", "/app/tolls", "tolls:read"),
        NavItem("Fines", "/app/fines", "fines:read"),
    )),
    NavSection("Administration", (
        NavItem("Settings", "/app/settings", "tenants:read"),
        NavItem("Members", "/app/members", "members:read"),
        NavItem("Audit log", "/app/audit", "audit:read"),
        NavItem("Subscription", "/app/billing", "billing:read"),
        NavItem("Support", "/app/support", "support:read"),
    )),
    NavSection("Fleetcore", (
        NavItem("Fleets", "/app/provider", "tenants:read", staff_only=True),
        NavItem("Pipeline", "/app/provider/pipeline", "crm:read", staff_only=True),
        NavItem("Leads", "/app/provider/leads", "crm:read", staff_only=True),
        NavItem("Contracts", "/app/provider/contracts", "crm:read", staff_only=True),
        NavItem("Plans", "/app/provider/plans", "plans:read", staff_only=True),
        NavItem("Subscriptions", "/app/provider/subscriptions", "billing:read",
                staff_only=True),
        NavItem("Invoices", "/app/provider/invoices", "billing:read", staff_only=True),
        NavItem("Usage", "/app/provider/usage", "billing:read", staff_only=True),
        NavItem("Support inbox", "/app/provider/support", "support:read", staff_only=True),
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
