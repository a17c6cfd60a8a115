"""The audit log: who changed what and when, by record kind, record, member, action and period,
each change shown as its fields' before → after, and the same selection as the API's CSV.

The rows are written by the database's triggers (``fc_audit_row``: the changed fields with
their ``before``/``after``; ``fc_audit_bulk``: one row per bulk statement with its row count);
the page reads them with ``admin.service.list_audit_logs`` and the API's :class:`AuditFilter`,
and the download is the API's own export (``admin.api.export_audit_logs``).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.responses import HTMLResponse, StreamingResponse

from fleetcore.admin import api as admin_api
from fleetcore.admin import queries as admin_queries
from fleetcore.admin import service as admin_service
from fleetcore.admin.models import ActorType, AuditLog
from fleetcore.admin.permissions import AuditRead
from fleetcore.drivers import queries as drivers_queries
from fleetcore.fleet import queries as fleet_queries
from fleetcore.web.deps import Ctx
from fleetcore.web.i18n import N_, gettext
from fleetcore.web.rendering import Console
from fleetcore.web.routes.base import (
    BadLink,
    day_start,
    day_value,
    page,
    page_router,
    uuid_value,
)

router = page_router()

ENTITIES: dict[str, tuple[str, str | None]] = {
    # table → (what people call a row of it, the console page of one row or None)
    "flt_vehicles": (N_("Vehicle"), "/vehicles/{id}"),
    "rid_drivers": (N_("Driver"), "/drivers/{id}"),
    "flt_vehicle_assignments": (N_("Assignment"), None),
    "doc_documents": (N_("Document"), None),
    "flt_vehicle_insurances": (N_("Insurance"), None),
    "flt_vehicle_expenses": (N_("Expense"), None),
    "flt_vehicle_events": (N_("Vehicle event"), None),
    "flt_vehicle_maintenance": (N_("Maintenance record"), None),
    "sch_maintenance_schedules": (N_("Maintenance schedule"), None),
    "sch_tasks": (N_("Task"), None),
    "rid_driver_cooperation_terms": (N_("Cooperation terms"), None),
    "rid_driver_requests": (N_("Driver request"), None),
    "trp_platform_accounts": (N_("Platform account"), None),
    "trp_trips": (N_("Trips"), None),
    "rev_revenue_imports": (N_("Report import"), "/imports/{id}"),
    "rev_reconciliations": (N_("Reconciliation"), "/reconciliations/{id}"),
    "trp_settlements": (N_("Settlement"), "/settlements/{id}"),
    "adm_members": (N_("Member"), None),
    "adm_roles": (N_("Role"), None),
    "adm_member_roles": (N_("Role grant"), None),
    "adm_tenants": (N_("Fleet settings"), None),
}
ACTIONS = [("create", N_("Created")), ("update", N_("Changed")), ("delete", N_("Deleted")),
           ("restore", N_("Restored")), ("bulk_insert", N_("Many rows added")),
           ("bulk_update", N_("Many rows changed")), ("bulk_delete", N_("Many rows removed"))]
_SNAKE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CHANGES_SHOWN = 8
"""Fields of one change listed on the page (the rest are counted; the CSV has them all)."""
VALUE_CHARS = 80


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of an audit row: its name and its value before and after (as text)."""

    field: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """What the page was asked for: the filter and the link parameters that carry it."""

    spec: admin_service.AuditFilter
    params: dict[str, Any]


def _snake(raw: str | None, name: str) -> str | None:
    if not raw:
        return None
    if not _SNAKE.fullmatch(raw):
        raise BadLink(f"{raw!r} is not {name} the audit log records.")
    return raw


def audit_query(c: Console, *, entity_type: str | None, entity_id: str | None,
                actor_id: str | None, action: str | None, since: str | None,
                until: str | None) -> AuditQuery:
    """The :class:`AuditFilter` of the query string (``since``/``until``: local days, both
    included)."""
    first, last = day_value(since, "From"), day_value(until, "To")
    if first and last and last < first:
        raise BadLink(gettext("The period ends before it starts."))
    spec = admin_service.AuditFilter(
        entity_type=_snake(entity_type, gettext("a kind of record")),
        entity_id=uuid_value(entity_id, "record"),
        actor_id=uuid_value(actor_id, "member"),
        action=_snake(action, gettext("an action")),
        since=day_start(first, c.tenant.zone) if first else None,
        until=day_start(last + timedelta(days=1), c.tenant.zone) if last else None)
    params = {"entity_type": spec.entity_type, "entity_id": spec.entity_id,
              "actor_id": spec.actor_id, "action": spec.action,
              "since": first.isoformat() if first else None,
              "until": last.isoformat() if last else None}
    return AuditQuery(spec, params)


def _text(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 1] + "…"


def field_changes(row: AuditLog) -> list[FieldChange]:
    """The changed fields of ``row`` (``{"field": {"before": …, "after": …}}``; the model's
    older ``old``/``new`` spelling is read too), by field name."""
    changes = []
    for name, change in sorted((row.changes or {}).items()):
        if isinstance(change, dict) and ({"before", "after"} & change.keys()
                                         or {"old", "new"} & change.keys()):
            before = change.get("before", change.get("old"))
            after = change.get("after", change.get("new"))
            # A new row has no "before": its fields are listed with their first value.
            changes.append(FieldChange(name, "" if row.action == "create" else _text(before),
                                       _text(after)))
        else:  # a bulk statement's {"rows": n}
            changes.append(FieldChange(name, "", _text(change)))
    return changes


def _who(row: AuditLog, members: dict[uuid.UUID, str]) -> str:
    if row.actor_type == ActorType.MEMBER.value and row.actor_id is not None:
        return members.get(row.actor_id, "A former member")
    return {ActorType.PROVIDER_EMPLOYEE.value: "Fleetcore staff",
            ActorType.SYSTEM.value: "Fleetcore (automatic)",
            ActorType.INTEGRATION.value: "An integration"}.get(row.actor_type, row.actor_type)


def _entity_link(row: AuditLog) -> str | None:
    page_path = ENTITIES.get(row.entity_type, ("", None))[1]
    if page_path is None or row.entity_id is None or row.action == "delete":
        return None
    return "/app" + page_path.format(id=row.entity_id)


@router.get("/audit")
def audit_list(
    c: Ctx, _: AuditRead, entity_type: str | None = None, entity_id: str | None = None,
    actor_id: str | None = None, action: str | None = None, since: str | None = None,
    until: str | None = None, cursor: str | None = None,
) -> HTMLResponse:
    """The fleet's audit log, newest first."""
    asked = audit_query(c, entity_type=entity_type, entity_id=entity_id, actor_id=actor_id,
                        action=action, since=since, until=until)
    rows, next_cursor = admin_service.list_audit_logs(c.session, c.actor, page(cursor),
                                                      asked.spec)
    members = admin_queries.member_names(c.session, c.tenant.id, {
        r.actor_id for r in rows if r.actor_id and r.actor_type == ActorType.MEMBER.value})
    vehicles = fleet_queries.vehicle_labels(c.session, c.tenant.id, {
        r.entity_id for r in rows if r.entity_id and r.entity_type == "flt_vehicles"})
    drivers = drivers_queries.driver_names(c.session, c.tenant.id, {
        r.entity_id for r in rows if r.entity_id and r.entity_type == "rid_drivers"})
    entries = [{
        "row": r, "who": _who(r, members), "changes": field_changes(r),
        "what": ENTITIES.get(r.entity_type, (r.entity_type, None))[0],
        "name": vehicles.get(r.entity_id) or drivers.get(r.entity_id) if r.entity_id else None,
        "link": _entity_link(r),
    } for r in rows]
    entity_choices = sorted(((k, v[0]) for k, v in ENTITIES.items()), key=lambda kv: kv[1])
    if asked.spec.entity_type and asked.spec.entity_type not in ENTITIES:
        entity_choices.append((asked.spec.entity_type, asked.spec.entity_type))
    context: dict[str, Any] = {
        "entries": entries, "next_cursor": next_cursor, "params": asked.params,
        "entities": entity_choices, "actions": ACTIONS, "shown": CHANGES_SHOWN,
        "members": [(str(m.value), m.label)
                    for m in admin_queries.member_choices(c.session, c.tenant.id)],
    }
    template = "audit/_table.html" if c.is_htmx else "audit/list.html"
    return c.render(template, **context)


@router.get("/audit/export.csv")
def audit_export(
    c: Ctx, _: AuditRead, entity_type: str | None = None, entity_id: str | None = None,
    actor_id: str | None = None, action: str | None = None, since: str | None = None,
    until: str | None = None,
) -> StreamingResponse:
    """The filtered audit log as the API's CSV (``GET /v1/audit-logs/export.csv``)."""
    spec = audit_query(c, entity_type=entity_type, entity_id=entity_id, actor_id=actor_id,
                       action=action, since=since, until=until).spec
    return admin_api.export_audit_logs(c.actor, c.session, spec)
