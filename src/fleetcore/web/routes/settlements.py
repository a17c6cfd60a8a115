"""Settlements: compute a week's drafts, the weeks with their totals, a week's settlements, one
settlement with its lines and the source of each, manual adjustments and confirmation.

The computation, the adjustment and the confirmation are
``fleetcore.trips.settlement_service``'s; the pages name the week by any of its days in the
fleet's calendar and send the version the page showed with every change (a settlement someone
changed meanwhile is refused, never overwritten).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from fastapi.responses import HTMLResponse, Response

from fleetcore.admin import queries as admin_queries
from fleetcore.core.errors import Problem
from fleetcore.core.pagination import MAX_LIMIT
from fleetcore.core.periods import Period, period_of_week
from fleetcore.drivers import queries as drivers_queries
from fleetcore.reference import queries as reference_queries
from fleetcore.revenue import queries as revenue_queries
from fleetcore.trips import queries as trips_queries
from fleetcore.trips import settlement_service as service
from fleetcore.trips.models import Settlement, SettlementLineSource, SettlementStatus
from fleetcore.trips.permissions import SettlementsConfirm, SettlementsRead, SettlementsWrite
from fleetcore.trips.settlement_schemas import (
    AdjustmentCreate,
    SettlementCompute,
    SettlementConfirm,
    SettlementFilter,
    SettlementSort,
)
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormInvalid,
    FormState,
    apply_problem,
    attempt,
    build,
    money_input,
    parse_date,
    submit,
    text_values,
)
from fleetcore.web.i18n import N_, gettext, ngettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import BadLink, enum_value, page, page_router, uuid_value
from fleetcore.web.routes.imports import period_text, platform_names, reader_platforms

router = page_router()

ADJUSTMENT_FIELDS = ("amount", "description", "service_date", "version")
CONFIRM_FIELDS = ("without_terms", "reason")
REASON_MAX = 500
SORTS = [(SettlementSort.NET_DESC.value, N_("Owed to the driver, most first")),
         (SettlementSort.NET.value, N_("Owed by the driver, most first")),
         (SettlementSort.CREATED.value, N_("Oldest first"))]
KINDS = [("platform", N_("Platform settlements")), ("driver", N_("Driver-level (rent, recharges)"))]
STATUSES = [(s.value, s.value.capitalize()) for s in SettlementStatus]
SOURCES: dict[str, str] = {
    SettlementLineSource.IMPORT_ROW.value: N_("Report row"),
    SettlementLineSource.TRIP.value: N_("Trip"),
    SettlementLineSource.EXPENSE.value: N_("Vehicle expense"),
    SettlementLineSource.TOLL.value: N_("Toll"),
    SettlementLineSource.FINE.value: N_("Traffic fine"),
    SettlementLineSource.TERM.value: N_("Cooperation terms"),
    SettlementLineSource.REQUEST.value: N_("Driver request"),
    SettlementLineSource.SETTLEMENT.value: N_("This settlement"),
    SettlementLineSource.MANUAL.value: N_("Manual adjustment"),
}
"""Where a line comes from, as people say it."""
LINES_PER_PAGE = MAX_LIMIT


def _last_week(c: Console) -> date:
    """The Monday of last week: the week usually settled next."""
    return c.today - timedelta(days=c.today.weekday() + 7)


def _week(raw: str | None) -> date | None:
    """The week a link names (any local day of it); a malformed one is a bad link."""
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise BadLink(f"{raw!r} is not a day (YYYY-MM-DD).") from exc


# --- the weeks and one week ------------------------------------------------------------------


def _overview(c: Console, state: FormState, status_code: int = 200) -> HTMLResponse:
    weeks = trips_queries.settlement_weeks(c.session, c.tenant.id, c.tenant.timezone)
    return c.render("revenue/settlements_weeks.html", status_code=status_code, weeks=weeks,
                    state=state)


def _week_page(c: Console, period: Period, *, status: str | None, kind: str | None,
               platform_id: uuid.UUID | None, sort: str | None,
               cursor: str | None, status_code: int = 200,
               bulk: FormState | None = None) -> HTMLResponse:
    if kind not in (None, "", "platform", "driver"):
        raise BadLink(f"{kind!r} is not a kind of settlement the console knows.")
    chosen = SettlementSort(enum_value(SettlementSort, sort, "sort") or SettlementSort.NET_DESC)
    spec = SettlementFilter(
        status=enum_value(SettlementStatus, status, "status"), platform_id=platform_id,
        driver_level={"platform": False, "driver": True}.get(kind or ""),
        period_from=period.first_day, period_to=period.first_day, sort=chosen)
    rows, next_cursor = service.list_settlements(c.session, c.actor, page(cursor), spec)
    totals = trips_queries.settlement_weeks(c.session, c.tenant.id, c.tenant.timezone,
                                            period_start=period.start)
    choices = reference_queries.platform_labels(c.session, codes=reader_platforms())
    names = {p.id: p.name for p in choices}
    missing = {r.platform_id for r in rows if r.platform_id} - set(names)
    if missing:
        names.update(platform_names(c, set(missing)))
    params = {"week": period.first_day.isoformat(), "status": spec.status, "kind": kind or None,
              "platform_id": platform_id, "sort": chosen.value}
    drafts = [r for r in rows if r.status == SettlementStatus.DRAFT.value]
    return c.render(
        "revenue/settlements_week.html", status_code=status_code, rows=rows, drafts=drafts,
        draft_totals=service.net_by_currency(drafts),
        drafts_needing_terms=sum(r.needs_terms for r in drafts),
        bulk=bulk or FormState(values={}), next_cursor=next_cursor, totals=totals,
        names=names, drivers=drivers_queries.driver_names(c.session, c.tenant.id,
                                                          {r.driver_id for r in rows}),
        period=period, period_label=period_text(c, period.start, period.end), params=params,
        state=FormState(values={"week": period.first_day.isoformat()}), sorts=SORTS,
        kinds=KINDS, statuses=STATUSES, platforms=[(str(p.id), p.name) for p in choices],
        previous=(period.first_day - timedelta(days=7)).isoformat(),
        following=(period.first_day + timedelta(days=7)).isoformat())


@router.get("/settlements")
def settlement_list(c: Ctx, _: SettlementsRead, week: str | None = None,
                    status: str | None = None, kind: str | None = None,
                    platform_id: str | None = None, sort: str | None = None,
                    cursor: str | None = None) -> HTMLResponse:
    """Without a week: the weeks that have settlements, each totalled, and the compute form.
    With one: that week's settlements (filtered, sorted, a page at a time) and its totals."""
    day = _week(week)
    if day is None:
        return _overview(c, FormState(values={"week": _last_week(c).isoformat()}))
    return _week_page(c, period_of_week(day, c.tenant.timezone), status=status, kind=kind,
                      platform_id=uuid_value(platform_id, "platform"), sort=sort,
                      cursor=cursor)


@router.post("/settlements/compute")
def compute_settlements(c: Ctx, _: SettlementsWrite, form: Form) -> Response:
    """(Re)build the week's drafts; confirmed settlements stay as they are."""
    state = FormState(values=text_values(form, ("week",)))
    day = parse_date(state.value("week"), name="week", state=state)
    if not state.value("week"):
        state.add("week", gettext("choose a day of the week to settle"))
    outcome = submit(c.session, state, SettlementCompute, {"week": day} if day else {},
                     lambda data: service.compute_week(c.session, c.actor, period=data.week),
                     lambda s, code: _overview(c, s, code))
    if isinstance(outcome, Response):
        return outcome
    count = len(outcome.settlements)
    notes = [ngettext("%(num)d draft settlement computed for the week of %(day)s.",
                      "%(num)d draft settlements computed for the week of %(day)s.", count,
                      day=c.fmt.date(outcome.period.first_day))]
    if outcome.unlinked_rows:
        notes.append(gettext("%(unlinked_rows)s report rows wait for their account to be linked to "
                             "a driver (on the import's page), then compute again.",
                             unlinked_rows=outcome.unlinked_rows))
    flagged = sum(s.needs_terms for s in outcome.settlements)
    if flagged:
        notes.append(ngettext(
            "%(num)d draft settlement needs terms: earnings on days without accepted cooperation "
            "terms, no fleet share taken (marked below).",
            "%(num)d draft settlements need terms: earnings on days without accepted cooperation "
            "terms, no fleet share taken (marked below).", flagged))
    if outcome.other_currency_rows:
        notes.append(gettext("%(other_currency_rows)s rows are in another currency than their "
                             "settlement and were left out.",
                             other_currency_rows=outcome.other_currency_rows))
    return redirect(c.request, f"/app/settlements?week={outcome.period.first_day.isoformat()}",
                    flash=" ".join(notes))


_BULK_REFUSALS = {412: "changed since shown", 409: "no longer confirmable", 404: "not found"}


def _bulk_items(raw: list[str]) -> list[tuple[uuid.UUID, int]]:
    """The ``id:version`` pairs of the ticked drafts (the version each row showed)."""
    items = []
    for value in raw:
        ident, _, version = value.partition(":")
        try:
            items.append((uuid.UUID(ident), int(version)))
        except ValueError as exc:
            raise BadLink(gettext("This form does not say which version of each settlement you "
                                  "saw: reload the page and try again.")) from exc
    return items


@router.post("/settlements/confirm")
def confirm_week(c: Ctx, _: SettlementsConfirm, form: Form) -> Response:
    """Confirm the ticked drafts of a week, each as its row showed it (its version), each in
    its own savepoint: a stale one is reported and left draft, the others are confirmed;
    those needing terms are left draft unless the decision and its reason are given."""
    day = _week(str(form.get("week") or "")) or _last_week(c)
    bulk = FormState(values=text_values(form, CONFIRM_FIELDS))
    items = _bulk_items([str(v) for v in form.getlist("item")])
    without_terms = bool(bulk.value("without_terms"))
    reason = bulk.value("reason")
    if not items:
        bulk.add("item", gettext("tick at least one draft settlement"))
    if without_terms and not reason:
        bulk.add("reason", gettext("say why the drivers keep these earnings whole"))
    elif without_terms and len(reason) > REASON_MAX:
        bulk.add("reason", gettext("at most %(REASON_MAX)s characters", REASON_MAX=REASON_MAX))
    if bulk.errors:
        return _week_page(c, period_of_week(day, c.tenant.timezone), status=None, kind=None,
                          platform_id=None, sort=None, cursor=None, status_code=422, bulk=bulk)
    decision = (SettlementConfirm(without_terms=True, reason=reason) if without_terms else None)
    outcome = service.confirm_many(c.session, c.actor, items, decision=decision)
    nets = ", ".join(f"{c.fmt.money(net, currency)} ({count})"
                     for currency, count, net in outcome.totals())
    notes = [f"{len(outcome.confirmed)} confirmed and posted to the ledger"
             + (f": net {nets}." if nets else ".")]
    if outcome.skipped:
        notes.append(gettext("%(len)s left draft: they need terms (confirm them without terms "
                             "giving the reason, or accept terms and recompute).",
                             len=len(outcome.skipped)))
    if outcome.refused:
        why = sorted({_BULK_REFUSALS.get(p.status, p.title) for _, p in outcome.refused})
        notes.append(gettext("%(len)s not confirmed (%(join)s): look at them again.",
                             len=len(outcome.refused), join=', '.join(why)))
    return redirect(c.request, f"/app/settlements?week={day.isoformat()}",
                    flash=" ".join(notes))


# --- one settlement --------------------------------------------------------------------------


def _detail(c: Console, settlement: Settlement, *, status_code: int = 200,
            state: FormState | None = None, refusal: str | None = None,
            cursor: str | None = None, confirm: FormState | None = None) -> HTMLResponse:
    lines, next_cursor = service.list_settlement_lines(
        c.session, c.actor, settlement.id, page(cursor, LINES_PER_PAGE))
    rows = revenue_queries.import_row_sources(c.session, c.tenant.id, {
        line.source_id for line in lines
        if line.source_type == SettlementLineSource.IMPORT_ROW.value and line.source_id})
    members = admin_queries.member_names(c.session, c.tenant.id, {
        m for m in [settlement.confirmed_by, *(line.created_by for line in lines
                                                if line.source_type == "manual")] if m})
    platform = (platform_names(c, {settlement.platform_id}).get(settlement.platform_id, "")
                if settlement.platform_id else "")
    driver = drivers_queries.driver_names(c.session, c.tenant.id, {settlement.driver_id}).get(
        settlement.driver_id, "driver")
    first_day = c.fmt.local(settlement.period_start).date()
    return c.render(
        "revenue/settlement_detail.html", status_code=status_code, s=settlement, lines=lines,
        next_cursor=next_cursor, rows=rows, members=members, platform=platform, driver=driver,
        week=first_day.isoformat(),
        period=period_text(c, settlement.period_start, settlement.period_end),
        state=state or FormState(values={"version": str(settlement.version)}),
        refusal=refusal, sources=SOURCES, confirm=confirm or FormState(values={}))


@router.get("/settlements/{settlement_id}")
def settlement_detail(c: Ctx, _: SettlementsRead, settlement_id: uuid.UUID,
                      cursor: str | None = None) -> HTMLResponse:
    """Totals, lines with their sources, the adjustment form and confirmation (drafts)."""
    return _detail(c, service.get_settlement(c.session, c.actor, settlement_id), cursor=cursor)


def _version(form: Any) -> int:
    """The version of the settlement the page showed (required with every change)."""
    raw = str(form.get("version") or "")
    if not raw.isdigit():
        raise BadLink(gettext("This form does not say which version of the settlement you saw: "
                              "reload the page and try again."))
    return int(raw)


_STALE = ("This settlement changed since you opened the page (recomputed, adjusted or "
          "confirmed): look at it again below, then redo your change.")


@router.post("/settlements/{settlement_id}/adjustments")
def add_adjustment(c: Ctx, _: SettlementsWrite, settlement_id: uuid.UUID,
                   form: Form) -> Response:
    """Add a signed manual line with its reason to a draft (it survives recomputation)."""
    settlement = service.get_settlement(c.session, c.actor, settlement_id)
    state = FormState(values=text_values(form, ADJUSTMENT_FIELDS))
    expected = _version(form)
    data: dict[str, Any] = {"description": state.value("description") or None,
                            "amount": money_input(state.value("amount"), settlement.currency)}
    if data["amount"] is None:
        state.add("amount", gettext("give the amount (negative: the driver owes it)"))
    if data["description"] is None:
        state.add("description", gettext("say why: the driver reads it on the statement"))
    day = parse_date(state.value("service_date"), name="service_date", state=state)
    if day is not None:
        data["service_date"] = day
    try:
        body = build(AdjustmentCreate, {k: v for k, v in data.items() if v is not None}, state)
        attempt(c.session, lambda: service.add_adjustment(
            c.session, c.actor, settlement_id, data=body, expected_version=expected))
    except FormInvalid:
        if state.errors.get("amount", "").startswith("String should match pattern"):
            state.errors["amount"] = gettext("an amount such as -25.00 or 12.50 (at most 4 "
                                             "decimals)")
        return _detail(c, settlement, status_code=422, state=state)
    except Problem as problem:
        if problem.status == 404:
            raise
        if problem.status == 412:
            problem.detail = _STALE
        c.session.refresh(settlement)
        if problem.status == 412:  # what is shown now is what the next try is made against
            state.values["version"] = str(settlement.version)
        return _detail(c, settlement, status_code=problem.status,
                       state=apply_problem(state, problem))
    c.session.refresh(settlement)
    return redirect(c.request, f"/app/settlements/{settlement_id}#lines",
                    flash=gettext("Adjustment added: the net is now %(money)s.",
                                  money=c.fmt.money(settlement.net, settlement.currency)))


@router.post("/settlements/{settlement_id}/confirm")
def confirm_settlement(c: Ctx, _: SettlementsConfirm, settlement_id: uuid.UUID,
                       form: Form) -> Response:
    """Confirm the draft as the page showed it: immutable afterwards, posted to the ledger."""
    settlement = service.get_settlement(c.session, c.actor, settlement_id)
    expected = _version(form)
    confirm = FormState(values=text_values(form, CONFIRM_FIELDS))
    without_terms = bool(confirm.value("without_terms"))
    reason = confirm.value("reason")
    if without_terms and not reason:
        confirm.add("reason", gettext("say why the driver keeps these earnings whole"))
    elif without_terms and len(reason) > REASON_MAX:
        confirm.add("reason", gettext("at most %(REASON_MAX)s characters", REASON_MAX=REASON_MAX))
    if confirm.errors:
        return _detail(c, settlement, status_code=422, confirm=confirm,
                       refusal=gettext("Not confirmed: %(errors)s.",
                       errors=confirm.errors['reason']))
    decision = (SettlementConfirm(without_terms=True, reason=reason)
                if without_terms else None)
    try:
        confirmed = attempt(c.session, lambda: service.confirm_settlement(
            c.session, c.actor, settlement_id, expected, decision=decision))
    except Problem as problem:
        if problem.status == 404:
            raise
        detail = _STALE if problem.status == 412 else problem.detail
        c.session.refresh(settlement)
        return _detail(c, settlement, status_code=problem.status, confirm=confirm,
                       refusal=gettext("Not confirmed: %(detail)s", detail=detail))
    return redirect(c.request, f"/app/settlements/{settlement_id}",
                    flash=gettext("Confirmed: %(money)s posted to the ledger; the settlement can "
                                  "no longer change.",
                                  money=c.fmt.money(confirmed.net, confirmed.currency)))
