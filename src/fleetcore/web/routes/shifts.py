"""Shifts: the week's planned shifts (filtered by driver, vehicle, series and status), a form
for one shift, a form for a weekly series of shifts, cancelling a shift, and the series
themselves (listed by driver and state, stopped: their future shifts cancelled).

Values go through the API's own request models (``ShiftCreate``, ``ShiftSeriesCreate``), so
the console refuses what the API refuses, with the message next to the field. The series form
asks in a person's words (the days of the week, the first day, a start time and a length in
hours) and builds the RRULE the API takes; the API's field names are mapped back onto the
form's fields when it refuses one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi.responses import HTMLResponse, Response, StreamingResponse

from fleetcore.core.errors import Problem
from fleetcore.drivers import queries as drivers_queries
from fleetcore.fleet import queries as fleet_queries
from fleetcore.scheduling import api as scheduling_api
from fleetcore.scheduling import service as scheduling_service
from fleetcore.scheduling.filters import SeriesFilter, ShiftFilter
from fleetcore.scheduling.models import ShiftStatus
from fleetcore.scheduling.permissions import ShiftsRead, ShiftsWrite
from fleetcore.scheduling.schemas import ShiftCreate, ShiftSeriesCreate
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormState,
    attempt,
    local_datetime,
    optional,
    parse_date,
    submit,
    text_values,
)
from fleetcore.web.i18n import N_, gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import (
    BadLink,
    day_start,
    day_value,
    enum_value,
    form_if_match,
    options,
    page,
    page_router,
    uuid_value,
)

router = page_router()

SHIFT_FIELDS = ("driver_id", "vehicle_id", "starts_at", "ends_at", "notes")
SERIES_FIELDS = ("driver_id", "vehicle_id", "first_day", "start_time", "hours", "until",
                 "notes")
DAYS = (("MO", N_("Monday")), ("TU", N_("Tuesday")), ("WE", N_("Wednesday")),
        ("TH", N_("Thursday")),
        ("FR", N_("Friday")), ("SA", N_("Saturday")), ("SU", N_("Sunday")))
SERIES_ERRORS = {"rrule": "days", "dtstart": "first_day", "duration_minutes": "hours",
                 "timezone": "first_day"}
"""The API's field of a refused series → the form's field that shows it."""


# --- the list ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShiftQuery:
    """What the list was asked for: the filter and the link parameters that carry it."""

    spec: ShiftFilter
    params: dict[str, Any]


def shift_query(c: Console, *, week: str | None, driver_id: str | None,
                vehicle_id: str | None, series_id: str | None,
                status: str | None) -> ShiftQuery:
    """The shifts of the week holding ``week`` (a local day; this week when absent)."""
    day = day_value(week, "Week") or c.today
    monday = day - timedelta(days=day.weekday())
    spec = ShiftFilter(
        driver_id=uuid_value(driver_id, "driver"), vehicle_id=uuid_value(vehicle_id, "vehicle"),
        series_id=uuid_value(series_id, "series"),
        status=enum_value(ShiftStatus, status, "shift status"),
        starts_from=day_start(monday, c.tenant.zone),
        starts_to=day_start(monday + timedelta(days=7), c.tenant.zone))
    params = {"week": monday.isoformat(), "driver_id": spec.driver_id,
              "vehicle_id": spec.vehicle_id, "series_id": spec.series_id, "status": spec.status}
    return ShiftQuery(spec, params)


@router.get("/shifts")
def shift_list(c: Ctx, _: ShiftsRead, week: str | None = None, driver_id: str | None = None,
               vehicle_id: str | None = None, series_id: str | None = None,
               status: str | None = None, cursor: str | None = None) -> HTMLResponse:
    """The shifts of a week by start time, with their drivers and cars."""
    asked = shift_query(c, week=week, driver_id=driver_id, vehicle_id=vehicle_id,
                        series_id=series_id, status=status)
    shifts, next_cursor = scheduling_service.list_shifts(c.session, c.actor, page(cursor),
                                                         asked.spec)
    monday = datetime.fromisoformat(asked.params["week"]).date()
    return c.render(
        "shifts/list.html", shifts=shifts, next_cursor=next_cursor, params=asked.params,
        previous=(monday - timedelta(days=7)).isoformat(),
        following=(monday + timedelta(days=7)).isoformat(),
        first_day=monday, last_day=monday + timedelta(days=6),
        drivers=drivers_queries.driver_names(c.session, c.tenant.id, {s.driver_id for s in shifts}),
        vehicles=fleet_queries.vehicle_labels(c.session, c.tenant.id,
                                              {s.vehicle_id for s in shifts if s.vehicle_id}),
        statuses=options(ShiftStatus), **_choices(c, status=None))


@router.get("/shifts/export.csv")
def shift_export(c: Ctx, _: ShiftsRead, week: str | None = None, driver_id: str | None = None,
                 vehicle_id: str | None = None, series_id: str | None = None,
                 status: str | None = None) -> StreamingResponse:
    """The listed shifts as the API's CSV (``GET /v1/shifts/export.csv``)."""
    spec = shift_query(c, week=week, driver_id=driver_id, vehicle_id=vehicle_id,
                       series_id=series_id, status=status).spec
    return scheduling_api.export_shifts(c.actor, c.session, spec)


def _choices(c: Console, *, status: str | None = "active") -> dict[str, Any]:
    return {
        "driver_choices": [(str(ch.value), ch.label) for ch in
                           drivers_queries.driver_choices(c.session, c.tenant.id, status=status)],
        "vehicle_choices": [(str(ch.value), ch.label) for ch in
                            fleet_queries.vehicle_choices(c.session, c.tenant.id, status=status)],
    }


# --- one shift -----------------------------------------------------------------------------


def _shift_form(c: Console, state: FormState, status_code: int = 200) -> HTMLResponse:
    return c.render("shifts/form.html", status_code=status_code, state=state, **_choices(c))


@router.get("/shifts/new")
def new_shift(c: Ctx, _: ShiftsWrite, driver_id: str | None = None,
              vehicle_id: str | None = None) -> HTMLResponse:
    """Plan one shift (tomorrow 08:00 to 16:00 by default)."""
    tomorrow = c.today + timedelta(days=1)
    driver, vehicle = uuid_value(driver_id, "driver"), uuid_value(vehicle_id, "vehicle")
    return _shift_form(c, FormState(values={
        "driver_id": str(driver or ""), "vehicle_id": str(vehicle or ""),
        "starts_at": f"{tomorrow.isoformat()}T08:00", "ends_at": f"{tomorrow.isoformat()}T16:00"}))


@router.post("/shifts")
def create_shift(c: Ctx, _: ShiftsWrite, form: Form) -> Response:
    """Save the shift (refused when it overlaps another of the driver's, or their leave)."""
    state = FormState(values=text_values(form, SHIFT_FIELDS))
    values: dict[str, Any] = optional(state.values, "vehicle_id", "notes")
    for name in ("starts_at", "ends_at"):
        values[name] = local_datetime(values.get(name), c.tenant.zone, name=name, state=state)
    shift = submit(c.session, state, ShiftCreate,
                   {k: v for k, v in values.items() if v is not None},
                   lambda data: scheduling_service.create_shift(c.session, c.actor, data=data),
                   lambda s, code: _shift_form(c, s, code))
    if isinstance(shift, Response):
        return shift
    name = drivers_queries.driver_names(c.session, c.tenant.id, {shift.driver_id}).get(
        shift.driver_id, "the driver")
    when = c.fmt.dt(shift.starts_at)
    return redirect(c.request, f"/app/shifts?week={when[:10]}",
                    flash=gettext("Shift of %(name)s planned on %(when)s.", name=name, when=when))


@router.post("/shifts/{shift_id}/cancel")
def cancel_shift(c: Ctx, _: ShiftsWrite, shift_id: uuid.UUID, form: Form) -> Response:
    """Cancel a planned shift (refused when someone changed it since the page was shown)."""
    if_match = form_if_match(form.get("version"), "shift")
    week = str(form.get("week") or "")
    back = f"/app/shifts?week={week}" if day_value(week, "Week") else "/app/shifts"
    try:
        shift = attempt(c.session, lambda: scheduling_service.cancel_shift(
            c.session, c.actor, shift_id, if_match=if_match))
    except Problem as problem:
        if problem.status == 404:
            raise
        if problem.status == 412:
            problem.detail = gettext("The shift changed meanwhile: reload the page and try again.")
        return redirect(c.request, back, flash=problem.detail)
    return redirect(c.request, back, flash=gettext("Shift of %(dt)s cancelled.",
                                                   dt=c.fmt.dt(shift.starts_at)))


# --- a weekly series -----------------------------------------------------------------------


def _series_form(c: Console, state: FormState, status_code: int = 200) -> HTMLResponse:
    return c.render("shifts/series_form.html", status_code=status_code, state=state,
                    days=DAYS, **_choices(c))


@router.get("/shift-series/new")
def new_series(c: Ctx, _: ShiftsWrite, driver_id: str | None = None) -> HTMLResponse:
    """Plan the same shift every chosen weekday (from next Monday, 8 hours from 08:00)."""
    monday = c.today + timedelta(days=7 - c.today.weekday())
    driver = uuid_value(driver_id, "driver")
    state = FormState(values={"driver_id": str(driver or ""), "first_day": monday.isoformat(),
                              "start_time": "08:00", "hours": "8"})
    for code, _name in DAYS[:5]:
        state.values[f"day_{code}"] = "on"
    return _series_form(c, state)


def _minutes(raw: str, state: FormState) -> int | None:
    """A length in hours (``8``, ``7.5``, ``7,5`` or ``7:30``) as minutes."""
    if not raw:
        state.add("hours", gettext("Fill in the length"))
        return None
    clock = re.fullmatch(r"(\d{1,2}):([0-5]\d)", raw)
    if clock:
        return int(clock.group(1)) * 60 + int(clock.group(2))
    try:
        hours = Decimal(raw.replace(",", "."))
    except InvalidOperation:
        state.add("hours", gettext("Enter hours, e.g. 8, 7.5 or 7:30"))
        return None
    if not hours.is_finite():
        state.add("hours", gettext("Enter hours, e.g. 8, 7.5 or 7:30"))
        return None
    return int((hours * 60).to_integral_value())


def _series_values(c: Console, form: Form, state: FormState) -> dict[str, Any]:
    days = [code for code, _name in DAYS if form.get(f"day_{code}")]
    for code in days:
        state.values[f"day_{code}"] = "on"
    if not days:
        state.add("days", gettext("Tick at least one day"))
    first = parse_date(state.values.get("first_day"), name="first_day", state=state)
    if first is None and "first_day" not in state.errors:
        state.add("first_day", gettext("Fill in the first day"))
    try:
        start = time.fromisoformat(state.values.get("start_time", ""))
    except ValueError:
        state.add("start_time", gettext("Enter a time (HH:MM)"))
        start = None
    until = parse_date(state.values.get("until"), name="until", state=state)
    values: dict[str, Any] = {
        "driver_id": state.values.get("driver_id", ""),
        "vehicle_id": state.values.get("vehicle_id") or None,
        "rrule": f"FREQ=WEEKLY;BYDAY={','.join(days or ['MO'])}",
        "dtstart": datetime.combine(first, start) if first and start else None,
        "duration_minutes": _minutes(state.values.get("hours", ""), state),
        "timezone": c.tenant.timezone,
        # The last day is included: no occurrence starts after its end.
        "until": (day_start(until + timedelta(days=1), c.tenant.zone) - timedelta(seconds=1)
                  if until else None),
        "notes": state.values.get("notes") or None,
    }
    return {k: v for k, v in values.items() if v is not None}


def _on_form(state: FormState) -> FormState:
    """Errors the API names by its fields, moved onto the form's."""
    for api_name, form_name in SERIES_ERRORS.items():
        if api_name in state.errors:
            state.add(form_name, state.errors.pop(api_name))
    return state


@router.post("/shift-series")
def create_series(c: Ctx, _: ShiftsWrite, form: Form) -> Response:
    """Save the series and its shifts up to the planning horizon (all of them or none)."""
    state = FormState(values=text_values(form, SERIES_FIELDS))
    values = _series_values(c, form, state)
    made = submit(c.session, state, ShiftSeriesCreate, values,
                  lambda data: scheduling_service.create_series(c.session, c.actor, data=data),
                  lambda s, code: _series_form(c, _on_form(s), code))
    if isinstance(made, Response):
        return made
    series, shifts, horizon = made
    first = state.values.get("first_day", "")
    return redirect(c.request, f"/app/shifts?series_id={series.id}&week={first}",
                    flash=gettext("%(len)s shifts planned up to %(date)s; later ones are added as "
                                  "the weeks come.", len=len(shifts), date=c.fmt.date(horizon)))


# --- the series ----------------------------------------------------------------------------

SERIES_STATES = [("active", N_("Running")), ("stopped", N_("Stopped"))]


def _series_filter(driver_id: str | None, state: str | None) -> SeriesFilter:
    if state not in (None, "", "active", "stopped"):
        raise BadLink(f"{state!r} is not a series state the console knows.")
    return SeriesFilter(
        driver_id=uuid_value(driver_id, "driver"),
        active=None if not state else state == "active")


def _series_params(spec: SeriesFilter) -> dict[str, Any]:
    state = None if spec.active is None else ("active" if spec.active else "stopped")
    return {"driver_id": spec.driver_id, "state": state}


def _days_of(rule: str) -> str:
    """The weekdays of a weekly RRULE in words ("Monday, Friday"); the rule itself otherwise."""
    found = re.search(r"BYDAY=([A-Z,]+)", rule)
    if not found or "FREQ=WEEKLY" not in rule:
        return rule
    names = dict(DAYS)
    return ", ".join(names.get(day, day) for day in found.group(1).split(","))


@router.get("/shift-series")
def series_list(c: Ctx, _: ShiftsRead, driver_id: str | None = None, state: str | None = None,
                cursor: str | None = None) -> HTMLResponse:
    """The fleet's recurring shifts: who, which days, from when, until when, running or not."""
    spec = _series_filter(driver_id, state)
    rows, next_cursor = scheduling_service.list_series(c.session, c.actor, page(cursor), spec)
    return c.render(
        "shifts/series_list.html", series=rows, next_cursor=next_cursor,
        params=_series_params(spec), states=SERIES_STATES,
        days={r.id: _days_of(r.rrule) for r in rows},
        drivers=drivers_queries.driver_names(c.session, c.tenant.id, {r.driver_id for r in rows}),
        vehicles=fleet_queries.vehicle_labels(c.session, c.tenant.id,
                                              {r.vehicle_id for r in rows if r.vehicle_id}),
        **_choices(c, status=None))


@router.get("/shift-series/export.csv")
def series_export(c: Ctx, _: ShiftsRead, driver_id: str | None = None,
                  state: str | None = None) -> StreamingResponse:
    """The listed series as the API's CSV (``GET /v1/shift-series/export.csv``)."""
    return scheduling_api.export_series(c.actor, c.session, _series_filter(driver_id, state))


@router.post("/shift-series/{series_id}/stop")
def stop_series(c: Ctx, _: ShiftsWrite, series_id: uuid.UUID, form: Form) -> Response:
    """Stop a series: its shifts not started yet are cancelled, those done are kept."""
    if_match = form_if_match(form.get("version"), "series")
    try:
        stopped, cancelled = attempt(c.session, lambda: scheduling_service.cancel_series(
            c.session, c.actor, series_id, if_match=if_match))
    except Problem as problem:
        if problem.status == 404:
            raise
        if problem.status == 412:
            problem.detail = gettext("The series changed meanwhile: reload the page and try again.")
        return redirect(c.request, "/app/shift-series", flash=problem.detail)
    who = drivers_queries.driver_names(c.session, c.tenant.id, {stopped.driver_id}).get(
        stopped.driver_id, "the driver")
    return redirect(c.request, "/app/shift-series",
                    flash=gettext("Series of %(who)s stopped: %(len)s planned shift(s) cancelled.",
                                  who=who, len=len(cancelled)))


__all__ = ["router"]
