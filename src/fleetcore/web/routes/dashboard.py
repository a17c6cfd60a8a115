"""The dashboard: the week at a glance, each panel shown to those who may read its data."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.responses import RedirectResponse, Response

from fleetcore.core.pagination import PageParams
from fleetcore.core.periods import period_of_week, week_starts
from fleetcore.documents import service as documents_service
from fleetcore.documents.filters import DocumentFilter
from fleetcore.drivers import queries as drivers_queries
from fleetcore.fleet import maintenance_service
from fleetcore.fleet import queries as fleet_queries
from fleetcore.fleet import service as fleet_service
from fleetcore.fleet.schemas import ComplianceSummaryOut
from fleetcore.revenue import queries as revenue_queries
from fleetcore.scheduling import service as scheduling_service
from fleetcore.scheduling.filters import TaskFilter
from fleetcore.web import charts
from fleetcore.web.deps import Ctx
from fleetcore.web.i18n import gettext
from fleetcore.web.rendering import Console, svg
from fleetcore.web.routes.base import page_router
from fleetcore.web.routes.documents import entity_labels
from fleetcore.web.security import PORTAL_PATH

router = page_router()

REVENUE_WEEKS = 8
UTILISATION_DAYS = 28
EXPIRY_WINDOW_DAYS = 30
PANEL_ROWS = 6


@router.get("/")
def dashboard(c: Ctx) -> Response:
    """Fleet, revenue, compliance, expiring documents, maintenance due and open tasks; a
    driver (who signs in like staff) is sent to the driver portal."""
    if c.actor.has_linked_driver:
        return RedirectResponse(PORTAL_PATH, status_code=303)
    tenant = c.tenant.id
    now = datetime.now(UTC)
    context: dict[str, Any] = {"counts": None, "revenue": None, "utilisation": None,
                                  "compliance": None, "documents": None, "maintenance": None,
                                  "tasks": None, "labels": {}}
    labels: dict[uuid.UUID, str] = {}
    if c.can("vehicles:read"):
        context["counts"] = fleet_queries.fleet_counts(c.session, tenant, now)
        summary = fleet_service.compliance_summary(c.session, c.actor, now)
        context["compliance"] = _compliance(summary)
        labels.update(fleet_queries.vehicle_labels(
            c.session, tenant, {r.subject_id for r in summary.vehicles.non_compliant_reports}))
        if summary.drivers is not None:
            labels.update(drivers_queries.driver_names(
                c.session, tenant, {r.subject_id for r in summary.drivers.non_compliant_reports}))
        context["utilisation"] = _utilisation(c)
    if c.can("trips:read"):
        context["revenue"] = _revenue(c)
    if c.can("documents:read"):
        docs, _ = documents_service.list_documents(
            c.session, c.actor, PageParams(limit=PANEL_ROWS),
            DocumentFilter(expiring_within_days=EXPIRY_WINDOW_DAYS, rejected=False))
        pending, _ = documents_service.list_documents(
            c.session, c.actor, PageParams(limit=PANEL_ROWS),
            DocumentFilter(verified=False, rejected=False))
        context["documents"] = {"expiring": docs, "pending": pending}
        labels.update(entity_labels(c, [*docs, *pending]))
    if c.can("maintenance:read"):
        due, more = maintenance_service.maintenance_due(c.session, c.actor,
                                                        PageParams(limit=PANEL_ROWS))
        context["maintenance"] = {"rows": due, "more": more is not None}
        labels.update(fleet_queries.vehicle_labels(c.session, tenant,
                                                   {v.schedule.vehicle_id for v in due}))
    if c.can("tasks:read"):
        tasks, more = scheduling_service.list_tasks(c.session, c.actor,
                                                    PageParams(limit=PANEL_ROWS),
                                                    TaskFilter(status="open"))
        context["tasks"] = {"rows": tasks, "more": more is not None}
    context["labels"] = labels
    monday = week_starts(c.today, 1)[-1]
    context["week"] = (monday, monday + timedelta(days=6))
    context["now"] = now
    return c.render("dashboard.html", **context)


def _compliance(summary: ComplianceSummaryOut) -> dict[str, object]:
    rows = []
    for subject, part in (("vehicle", summary.vehicles), ("driver", summary.drivers)):
        if part is None:
            continue
        for rule in part.rules:
            rows.append((f"{subject}: {rule.rule.replace('_', ' ')}",
                         {"pass": rule.passed, "warning": rule.warnings, "fail": rule.failed,
                          "not_applicable": rule.not_applicable}))
    rows.sort(key=lambda r: (-r[1]["fail"], -r[1]["warning"], r[0]))
    return {
        "vehicles": summary.vehicles, "drivers": summary.drivers, "rows": rows,
        "chart": svg(charts.status_bars(gettext("Compliance by rule"), rows)) if rows else None,
    }


def _revenue(c: Console) -> dict[str, object]:
    mondays = week_starts(c.today, REVENUE_WEEKS)
    since = period_of_week(mondays[0], c.tenant.timezone).start
    until = period_of_week(mondays[-1], c.tenant.timezone).end
    rows = revenue_queries.weekly_revenue(c.session, c.tenant.id, c.tenant.timezone, since, until)
    currencies = sorted({r.currency for r in rows}) or [c.tenant.currency]
    # One chart in the fleet's currency (other currencies, if any, are listed in the table).
    currency = c.tenant.currency if c.tenant.currency in currencies else currencies[0]
    platforms = sorted({r.platform for r in rows if r.currency == currency})
    cells: dict[tuple[str, object], Decimal] = defaultdict(Decimal)
    for r in rows:
        if r.currency == currency:
            cells[(r.platform, r.week)] += r.gross
    series = [charts.Series(p, [cells[(p, m)] for m in mondays]) for p in platforms]
    # Reports arrive after their week: the table shows the latest week one covers (this week
    # once its reports are in), not an empty current week.
    shown = max((r.week for r in rows), default=mondays[-1])
    this_week = [r for r in rows if r.week == shown]
    total = sum((r.gross for r in this_week if r.currency == currency), Decimal(0))
    chart = svg(charts.stacked_bars(
        gettext("Gross fares per week by platform (%(currency)s)", currency=currency),
        [c.fmt.day_month_name(m) for m in mondays], series)) if series else None
    return {"chart": chart, "this_week": this_week, "total": total, "currency": currency,
            "week_start": shown, "rows": rows}


def _utilisation(c: Console) -> dict[str, object]:
    first = c.today - timedelta(days=UTILISATION_DAYS - 1)
    days = fleet_queries.daily_utilisation(c.session, c.tenant.id, c.tenant.timezone, first,
                                           c.today)
    values = [d.percent for d in days]
    chart = svg(charts.line(gettext("Fleet utilisation (share of the fleet assigned, per day)"),
                            [c.fmt.day_month_name(d.day) for d in days], values))
    return {"chart": chart, "today": days[-1] if days else None,
            "average": sum(values) / len(values) if values else 0.0}
