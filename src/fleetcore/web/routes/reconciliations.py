"""Reconciliation: run one (a platform's per-trip report against the trips of a week), the runs,
and a run's discrepancies, filtered by kind, page by page or as CSV.

The run and its rules are ``fleetcore.revenue.reconciliation_service.reconcile_period``; the
page turns a week of the fleet's calendar into the period it compares and the tolerance into
money in the fleet's currency.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi.responses import HTMLResponse, Response, StreamingResponse

from fleetcore.admin import queries as admin_queries
from fleetcore.core.errors import Problem
from fleetcore.core.export import (
    Column,
    DerivedColumns,
    MoneyColumns,
    attribute_columns,
    csv_response,
)
from fleetcore.core.money import Money
from fleetcore.core.periods import period_of_week
from fleetcore.drivers import queries as drivers_queries
from fleetcore.reference import queries as reference_queries
from fleetcore.revenue import queries as revenue_queries
from fleetcore.revenue import reconciliation_service as service
from fleetcore.revenue.models import (
    ReconciliationItemKind,
    ReconciliationStatus,
)
from fleetcore.revenue.permissions import ReconciliationsRead, ReconciliationsWrite
from fleetcore.revenue.reconciliation_schemas import (
    ReconciliationCreate,
    item_out,
    reconciliation_out,
)
from fleetcore.trips.settlement_schemas import EARLIEST_WEEK, LATEST_WEEK
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormInvalid,
    FormState,
    apply_problem,
    attempt,
    build,
    money_input,
    parse_date,
    text_values,
)
from fleetcore.web.i18n import N_, gettext, ngettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import enum_value, page, page_router, uuid_value
from fleetcore.web.routes.imports import period_text, platform_names, reader_platforms

router = page_router()

FIELDS = ("platform_id", "week", "tolerance")
DEFAULT_TOLERANCE = "0.05"
KINDS: dict[str, str] = {
    ReconciliationItemKind.MISSING_INTERNAL.value: N_("In the report, not in the trips"),
    ReconciliationItemKind.MISSING_PLATFORM.value: N_("In the trips, not in the report"),
    ReconciliationItemKind.FARE_MISMATCH.value: N_("Fare differs"),
    ReconciliationItemKind.COMMISSION_MISMATCH.value: N_("Commission differs"),
    ReconciliationItemKind.CASH_MISMATCH.value: N_("Cash differs"),
    ReconciliationItemKind.TRIP_NOT_MOVING.value: N_("Car not moving during the trip (GPS)"),
    ReconciliationItemKind.PICKUP_FAR.value: N_("Car far from the pickup (GPS)"),
    ReconciliationItemKind.DROPOFF_FAR.value: N_("Car far from the drop-off (GPS)"),
    ReconciliationItemKind.USE_OUTSIDE_SHIFT.value: N_("Car used outside shifts (GPS)"),
}
"""Each kind of discrepancy as people say it."""
STATUSES = [(s.value, s.value.capitalize()) for s in ReconciliationStatus]


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return Money(amount, currency) if amount is not None else None


ITEM_CSV: list[Column] = [
    *attribute_columns("kind", "external_trip_id", "trip_id", "import_row_id"),
    MoneyColumns("report_amount", lambda i: _money(i.report_amount, i.currency)),
    MoneyColumns("internal_amount", lambda i: _money(i.internal_amount, i.currency)),
    MoneyColumns("difference", lambda i: _money(i.difference, i.currency)),
    DerivedColumns(("driver_id", "report_rows", "trip_at", "trip_outside_period"), item_out),
]
"""The discrepancies as a spreadsheet: what the page's table shows, one row per item."""


def _last_week(c: Console) -> date:
    """The Monday of last week: the week whose reports have usually arrived."""
    return c.today - timedelta(days=c.today.weekday() + 7)


def _page(c: Console, state: FormState, *, status_code: int = 200,
          platform_id: uuid.UUID | None = None, status: str | None = None,
          cursor: str | None = None) -> HTMLResponse:
    choices = reference_queries.platform_labels(c.session, codes=reader_platforms())
    runs, next_cursor = service.list_reconciliations(
        c.session, c.actor, page(cursor),
        service.ReconciliationFilter(platform_id=platform_id, status=status))
    names = {p.id: p.name for p in choices}
    missing = {r.platform_id for r in runs} - set(names)
    if missing:
        names.update(platform_names(c, set(missing)))
    members = admin_queries.member_names(c.session, c.tenant.id,
                                         {r.run_by for r in runs if r.run_by})
    params = {"platform_id": platform_id, "status": status}
    return c.render("revenue/reconciliations_list.html", status_code=status_code, runs=runs,
                    next_cursor=next_cursor, names=names, members=members, params=params,
                    state=state, platforms=[(str(p.id), p.name) for p in choices],
                    statuses=STATUSES, period=lambda s, e: period_text(c, s, e))


@router.get("/reconciliations")
def reconciliation_list(c: Ctx, _: ReconciliationsRead, platform_id: str | None = None,
                        status: str | None = None, week: str | None = None,
                        cursor: str | None = None) -> HTMLResponse:
    """Runs, newest first, and the form to run one (prefilled from an import's page)."""
    chosen = uuid_value(platform_id, "platform")
    prefill = FormState(values={
        "platform_id": str(chosen) if chosen else "",
        "week": week if week and parse_date(week, name="week", state=FormState())
        else _last_week(c).isoformat(),
        "tolerance": DEFAULT_TOLERANCE})
    return _page(c, prefill, platform_id=chosen,
                 status=enum_value(ReconciliationStatus, status, "status"), cursor=cursor)


def _tolerance(state: FormState, currency: str) -> dict[str, str] | None:
    """The tolerance as the API's money (refused here when it is no amount or negative)."""
    money = money_input(state.value("tolerance"), currency)
    if money is None:
        state.add("tolerance", gettext("give the tolerance (0 to match to the cent)"))
        return None
    try:
        amount = Decimal(money["amount"])
    except InvalidOperation:
        state.add("tolerance", gettext("not an amount (e.g. 0.05)"))
        return None
    if amount < 0:
        state.add("tolerance", gettext("cannot be negative"))
    return money


@router.post("/reconciliations")
def run_reconciliation(c: Ctx, _: ReconciliationsWrite, form: Form) -> Response:
    """Reconcile the platform's report with the trips of the chosen week, then show the run."""
    state = FormState(values=text_values(form, FIELDS))
    week = parse_date(state.value("week"), name="week", state=state)
    if not state.value("week"):
        state.add("week", gettext("choose a day of the week to reconcile"))
    elif week is not None and not EARLIEST_WEEK <= week <= LATEST_WEEK:
        state.add("week", gettext("choose a week between %(year)s and %(year2)s",
        year=EARLIEST_WEEK.year, year2=LATEST_WEEK.year))
        week = None
    if not state.value("platform_id"):
        state.add("platform_id", gettext("choose the platform"))
    period = period_of_week(week or c.today, c.tenant.timezone)
    data: dict[str, Any] = {"platform_id": state.value("platform_id") or None,
                            "period_start": period.start, "period_end": period.end,
                            "tolerance": _tolerance(state, c.tenant.currency)}
    try:
        body = build(ReconciliationCreate, data, state)
        run = attempt(c.session, lambda: service.reconcile_period(
            c.session, c.actor, platform_id=body.platform_id, period_start=body.period_start,
            period_end=body.period_end, tolerance=body.tolerance.to_money(),
            import_id=body.import_id))
    except FormInvalid:
        if state.errors.get("tolerance", "").startswith("String should match pattern"):
            state.errors["tolerance"] = gettext("an amount with at most 4 decimals (e.g. 0.05)")
        return _page(c, state, status_code=422)
    except Problem as problem:
        for error in problem.errors:  # the week is the period the service was given
            if error.get("field") in ("period_start", "period_end"):
                error["field"] = "week"
        return _page(c, apply_problem(state, problem), status_code=problem.status)
    if run.status == ReconciliationStatus.FAILED.value:
        flash = gettext("The run failed: %(error)s", error=run.error)
    else:
        found = (run.missing_internal_count + run.missing_platform_count
                 + run.fare_mismatch_count + run.commission_mismatch_count
                 + run.cash_mismatch_count + run.gps_mismatch_count)
        flash = ngettext("Reconciled: %(matched_count)s trips match, %(num)d discrepancy.",
                         "Reconciled: %(matched_count)s trips match, %(num)d discrepancies.",
                         found, matched_count=run.matched_count)
        if run.outside_shift_count:
            flash += " " + ngettext(
                "%(num)d use of a vehicle outside shifts in the period (vehicle events).",
                "%(num)d uses of a vehicle outside shifts in the period (vehicle events).",
                run.outside_shift_count)
    return redirect(c.request, f"/app/reconciliations/{run.id}", flash=flash)


@router.get("/reconciliations/{reconciliation_id}")
def reconciliation_detail(c: Ctx, _: ReconciliationsRead, reconciliation_id: uuid.UUID,
                          kind: str | None = None, cursor: str | None = None) -> HTMLResponse:
    """A run's counts and drift, and its discrepancies by kind (a page at a time)."""
    run = service.get_reconciliation(c.session, c.actor, reconciliation_id)
    spec = service.ItemFilter(kind=enum_value(ReconciliationItemKind, kind, "kind"))
    items, next_cursor = service.list_items(c.session, c.actor, run.id, page(cursor), spec)
    rows = [item_out(i) for i in items]
    drivers = drivers_queries.driver_names(c.session, c.tenant.id,
                                           {r.driver_id for r in rows if r.driver_id})
    members = admin_queries.member_names(c.session, c.tenant.id,
                                         {run.run_by} if run.run_by else set())
    return c.render("revenue/reconciliation_detail.html", run=run,
                    out=reconciliation_out(run), items=rows, next_cursor=next_cursor,
                    drivers=drivers, members=members, kinds=KINDS, params={"kind": spec.kind},
                    platform=platform_names(c, {run.platform_id}).get(run.platform_id, ""),
                    period=period_text(c, run.period_start, run.period_end))


@router.get("/reconciliations/{reconciliation_id}/items.csv")
def reconciliation_items_csv(c: Ctx, _: ReconciliationsRead, reconciliation_id: uuid.UUID,
                             kind: str | None = None) -> StreamingResponse:
    """The run's discrepancies (of one kind, or all) as CSV."""
    run = service.get_reconciliation(c.session, c.actor, reconciliation_id)
    spec = service.ItemFilter(kind=enum_value(ReconciliationItemKind, kind, "kind"))
    statement = revenue_queries.reconciliation_items_export(c.actor, run.id, spec)
    return csv_response(c.session, statement, ITEM_CSV,
                        filename=f"reconciliation-{run.id}-items.csv")
