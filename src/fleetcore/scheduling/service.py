"""Shifts and recurring series, tasks and goals: the business rules of scheduling.

Shifts (workflows.md, "Vehicles…" 7)
    A driver has no two live (not cancelled, not deleted) shifts that overlap: the exclusion
    constraint ``ex_sch_shifts_driver`` guarantees it, and the service names the conflicting
    shifts (409) before the database has to. A shift is refused during the driver's approved
    leave or active blacklist (``drivers.service.availability_conflicts``). Commands lock the
    driver row first, so two concurrent commands cannot both pass.

Series
    The RRULE is expanded with python-dateutil from the *local* ``dtstart`` in the series' time
    zone, and each occurrence gets that zone's offset of its own day: an 08:00 Europe/Paris
    shift stays 08:00 local across a DST change (07:00 UTC in winter, 06:00 UTC in summer).
    Occurrences are materialised up to the first of ``until``, the RRULE's own UNTIL/COUNT end,
    and :data:`SERIES_HORIZON` after the later of now and ``dtstart`` (at most
    :data:`MAX_OCCURRENCES`). **A series is all or nothing:** when any occurrence overlaps an
    existing shift or falls in leave/blacklist, the whole series is refused with 409 and
    ``conflicts[]`` listing every conflicting occurrence (its start, the shift ids it overlaps,
    the availability reasons), so the dispatcher fixes the plan once instead of discovering a
    half-created series. Occurrences that overlap each other (duration longer than the
    recurrence) are a 422. Every night :func:`extend_series` (the job in
    ``scheduling.jobs``) tops every active series up to the horizon again with the same rules,
    set-based per tenant; there a conflicting occurrence does not stop the others: it is
    written as a cancelled exception row whose note says why.

Tasks
    open → in_progress | cancelled; in_progress → done | blocked | cancelled | open;
    blocked → in_progress | cancelled; done and cancelled are final. ``completed_at`` is set on
    done. The system creates tasks through :func:`fleetcore.tasks.system.ensure_task`,
    idempotent on ``dedup_key``.

Goals
    Progress is computed on read for a whole page in one query: revenue = sum of
    ``trp_trips.net_earnings`` in the goal's currency, trips = count of completed trips,
    distance = sum of completed trips' ``distance_km`` (trips by ``started_at`` in
    ``[period_start, period_end)``, for the tenant, the driver or the vehicle); utilisation =
    percentage of the period so far (up to now) that the vehicle was assigned (driver: had a
    vehicle; tenant: assigned vehicle-hours over live vehicles x hours); rating = average of
    ``rid_driver_performances.average_rating`` over performance periods overlapping the goal's
    (not defined for a vehicle: null). ``current_value``/``computed_at`` are stored when the
    value changed (so reading does not bump every goal's version).
"""

from __future__ import annotations

import itertools
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil.rrule import rrule, rrulestr
from sqlalchemy import Select, and_, column, exists, or_, select, table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from fleetcore.admin.models import Member, Tenant
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import (
    Conflict,
    ConstraintProblem,
    NotFound,
    ValidationProblem,
)
from fleetcore.core.orm import new_id
from fleetcore.core.pagination import PageParams, equal_filters, keyset_page
from fleetcore.core.resource import Rows, check_transition, pager, patch
from fleetcore.core.versioning import lock_and_check_if_match, refresh_version
from fleetcore.drivers.models import Driver
from fleetcore.drivers.service import (
    Slot,
    availability_conflicts,
    availability_conflicts_many,
    driver_slots,
    lock_driver,
)
from fleetcore.fleet.models import Vehicle
from fleetcore.scheduling.filters import GoalFilter, SeriesFilter, ShiftFilter, TaskFilter
from fleetcore.scheduling.models import Goal, GoalMetric, GoalScope, Shift, ShiftSeries, ShiftStatus
from fleetcore.scheduling.schemas import (
    GoalCreate,
    GoalUpdate,
    ShiftCreate,
    ShiftSeriesCreate,
    ShiftUpdate,
    TaskCreate,
    TaskUpdate,
)
from fleetcore.tasks.models import TASK_ENTITY_TABLES, Task, TaskEntityType, TaskSource, TaskStatus

SERIES_HORIZON = timedelta(weeks=12)
"""How far ahead a series without an earlier end is materialised."""
MAX_OCCURRENCES = 500
"""Upper bound of occurrences materialised for one series."""
MAX_SHIFT = timedelta(hours=24)
"""The longest single shift."""
_ALLOWED_FREQ = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}

# --- helpers -------------------------------------------------------------------------------


def _invalid(field_name: str, message: str, **extensions: Any) -> ValidationProblem:
    return ValidationProblem(message, errors=[{"field": field_name, "message": message}],
                             **extensions)


_SHIFT_CONSTRAINTS = {"ex_sch_shifts_driver": ConstraintProblem(
    "starts_at", "The driver already has a shift in that period.")}
"""A race past the overlap check (the exclusion constraint decides)."""
_SERIES_CONSTRAINTS = {"ex_sch_shifts_driver": ConstraintProblem(
    "rrule", "An occurrence overlaps a shift of the driver.")}
_TASK_CONSTRAINTS = {"dedup_key": ConstraintProblem(
    "dedup_key", "A live task already has this dedup_key.")}


_rows = Rows()
_flush = _rows.flush


def _live_vehicle(session: Session, tenant_id: uuid.UUID, vehicle_id: uuid.UUID) -> None:
    found = session.scalar(select(Vehicle.id).where(
        Vehicle.tenant_id == tenant_id, Vehicle.id == vehicle_id, Vehicle.deleted_at.is_(None)))
    if found is None:
        raise _invalid("vehicle_id", "No such vehicle in this fleet.")


def _lock_driver(session: Session, driver_id: uuid.UUID) -> None:
    try:
        lock_driver(session, driver_id)
    except NotFound as exc:
        raise _invalid("driver_id", "No such driver in this fleet.") from exc


# --- shifts --------------------------------------------------------------------------------


def _overlapping_shifts(
    session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID, starts_at: datetime,
    ends_at: datetime, *, exclude: uuid.UUID | None = None,
) -> list[Shift]:
    stmt = select(Shift).where(
        Shift.tenant_id == tenant_id, Shift.driver_id == driver_id,
        Shift.status != ShiftStatus.CANCELLED.value, Shift.deleted_at.is_(None),
        Shift.starts_at < ends_at, Shift.ends_at > starts_at,
    ).order_by(Shift.starts_at, Shift.id)
    if exclude is not None:
        stmt = stmt.where(Shift.id != exclude)
    return list(session.scalars(stmt))


def _check_shift_slot(
    session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID, starts_at: datetime,
    ends_at: datetime, *, exclude: uuid.UUID | None = None,
) -> None:
    """409 when the slot overlaps a live shift of the driver or their leave/blacklist."""
    overlapping = _overlapping_shifts(session, tenant_id, driver_id, starts_at, ends_at,
                                      exclude=exclude)
    if overlapping:
        spans = "; ".join(f"{s.id} ({s.starts_at.isoformat()} - {s.ends_at.isoformat()})"
                          for s in overlapping)
        raise Conflict(f"The driver already has a shift in that period: {spans}.",
                       errors=[{"field": "starts_at", "message": "overlaps another shift"}],
                       conflicting_shift_ids=[str(s.id) for s in overlapping])
    reasons = availability_conflicts(session, driver_id, starts_at, ends_at)
    if reasons:
        raise Conflict(" ".join(reasons),
                       errors=[{"field": "driver_id", "message": r} for r in reasons])


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise _invalid("ends_at", "A shift ends after it starts.")
    if ends_at - starts_at > MAX_SHIFT:
        raise _invalid("ends_at", "A shift lasts at most 24 hours.")


def create_shift(session: Session, actor: Actor, *, data: ShiftCreate) -> Shift:
    """A single shift, refused when it overlaps the driver's shifts, leave or blacklist."""
    tenant = tenant_of(actor)
    _check_times(data.starts_at, data.ends_at)
    _lock_driver(session, data.driver_id)
    if data.vehicle_id is not None:
        _live_vehicle(session, tenant, data.vehicle_id)
    _check_shift_slot(session, tenant, data.driver_id, data.starts_at, data.ends_at)
    shift = _rows.new(actor, Shift, data, status=ShiftStatus.SCHEDULED.value)
    session.add(shift)
    _flush(session, _SHIFT_CONSTRAINTS)
    return shift


get_shift = _rows.getter(Shift, "shift")


_SHIFT_TRANSITIONS: dict[str, set[str]] = {
    ShiftStatus.SCHEDULED.value: {ShiftStatus.IN_PROGRESS.value, ShiftStatus.MISSED.value},
    ShiftStatus.IN_PROGRESS.value: {ShiftStatus.COMPLETED.value},
    ShiftStatus.COMPLETED.value: set(),
    ShiftStatus.MISSED.value: set(),
    ShiftStatus.CANCELLED.value: set(),
}


def update_shift(
    session: Session, actor: Actor, shift_id: uuid.UUID, *, data: ShiftUpdate,
    if_match: str | None = None,
) -> Shift:
    """Move, re-vehicle, annotate or progress a shift (overlap and availability re-checked)."""
    tenant = tenant_of(actor)
    shift = get_shift(session, actor, shift_id, if_match=if_match)
    fields = data.model_fields_set
    if data.status is not None and data.status.value != shift.status:
        if data.status is ShiftStatus.CANCELLED:
            raise Conflict("Cancel a shift with POST /v1/shifts/{id}/cancel.",
                           errors=[{"field": "status", "message": "use the cancel action"}])
        check_transition(shift.status, data.status.value, _SHIFT_TRANSITIONS, "shift")
        shift.status = data.status.value
    times = {"starts_at": shift.starts_at, "ends_at": shift.ends_at}
    for name in times:
        if name in fields:
            value = getattr(data, name)
            if value is None:
                raise _invalid(name, f"{name} cannot be null.")
            times[name] = value
    if (times["starts_at"], times["ends_at"]) != (shift.starts_at, shift.ends_at):
        if shift.status != ShiftStatus.SCHEDULED.value:
            raise Conflict("Only a scheduled shift can be moved.",
                           errors=[{"field": "starts_at", "message": f"shift is {shift.status}"}])
        _check_times(times["starts_at"], times["ends_at"])
        _lock_driver(session, shift.driver_id)
        _check_shift_slot(session, tenant, shift.driver_id, times["starts_at"], times["ends_at"],
                          exclude=shift.id)
        shift.starts_at, shift.ends_at = times["starts_at"], times["ends_at"]
    if "vehicle_id" in fields:
        if data.vehicle_id is not None:
            _live_vehicle(session, tenant, data.vehicle_id)
        shift.vehicle_id = data.vehicle_id
    if "notes" in fields:
        shift.notes = data.notes
    return _rows.save(session, actor, shift, _SHIFT_CONSTRAINTS)


def cancel_shift(
    session: Session, actor: Actor, shift_id: uuid.UUID, *, if_match: str | None = None
) -> Shift:
    """Cancel a scheduled shift (its slot becomes free; a series keeps it as an exception)."""
    shift = get_shift(session, actor, shift_id, if_match=if_match)
    if shift.status == ShiftStatus.CANCELLED.value:
        return shift
    if shift.status != ShiftStatus.SCHEDULED.value:
        raise Conflict(f"A {shift.status} shift cannot be cancelled.",
                       errors=[{"field": "status", "message": f"is {shift.status}"}])
    shift.status = ShiftStatus.CANCELLED.value
    return _rows.save(session, actor, shift)


delete_shift = _rows.deleter(Shift, "shift")
"""Soft-delete a shift (entered by mistake)."""


def restore_shift(session: Session, actor: Actor, shift_id: uuid.UUID) -> Shift:
    """Bring back a soft-deleted shift, if its slot is still free."""
    tenant = tenant_of(actor)
    shift = get_shift(session, actor, shift_id, include_deleted=True)
    if shift.deleted_at is None:
        return shift
    if shift.status != ShiftStatus.CANCELLED.value:
        _lock_driver(session, shift.driver_id)
        _check_shift_slot(session, tenant, shift.driver_id, shift.starts_at, shift.ends_at,
                          exclude=shift.id)
    shift.mark_restored(actor.id)
    return _rows.refresh(session, shift, _SHIFT_CONSTRAINTS)


def shifts_query(actor: Actor, filters: ShiftFilter) -> Select[Any]:
    """The filtered shifts (unpaged; for list and CSV export)."""
    s = Shift
    stmt = equal_filters(select(s).where(s.tenant_id == tenant_of(actor)), {
        s.driver_id: filters.driver_id, s.vehicle_id: filters.vehicle_id,
        s.series_id: filters.series_id, s.status: filters.status})
    if filters.starts_from is not None:
        stmt = stmt.where(s.ends_at > filters.starts_from)
    if filters.starts_to is not None:
        stmt = stmt.where(s.starts_at < filters.starts_to)
    if not filters.include_deleted:
        stmt = stmt.where(s.deleted_at.is_(None))
    return stmt


list_shifts = pager(shifts_query, Shift.starts_at, Shift.id,
                    doc="Shifts by start time (those overlapping ``[from, to)`` when given).")


# --- series --------------------------------------------------------------------------------


def _parse_rrule(value: str, dtstart_local: datetime) -> rrule:
    rule = value.strip()
    if rule.upper().startswith("RRULE:"):
        rule = rule[6:]
    parts = dict(p.split("=", 1) for p in rule.upper().split(";") if "=" in p)
    if "DTSTART" in rule.upper() or "\n" in rule:
        raise _invalid("rrule", "Give one RRULE value without DTSTART (use the dtstart field).")
    if parts.get("FREQ") not in _ALLOWED_FREQ:
        raise _invalid("rrule", "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY.")
    try:
        parsed = rrulestr(rule, dtstart=dtstart_local)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise _invalid("rrule", f"Not a valid RFC 5545 RRULE: {exc}.") from exc
    if not isinstance(parsed, rrule):
        raise _invalid("rrule", "Give a single RRULE.")
    return parsed


def expand_series(
    rule: str, dtstart: datetime, zone_name: str, duration: timedelta, *,
    until: datetime | None = None, now: datetime | None = None, since: datetime | None = None,
) -> tuple[list[tuple[datetime, datetime]], datetime]:
    """The occurrences ``(starts_at, ends_at)`` of an RRULE and the horizon they stop at.

    ``dtstart`` is wall-clock time in ``zone_name`` (an aware value is converted to it first);
    every occurrence keeps that wall-clock time, with its own day's UTC offset (DST-correct).
    ``since`` skips the occurrences starting before it (the series extension materialises only
    what is ahead); the rule is still counted from ``dtstart`` (COUNT, BYSETPOS).
    """
    zone = zoneinfo.ZoneInfo(zone_name)
    local = dtstart.astimezone(zone).replace(tzinfo=None) if dtstart.tzinfo else dtstart
    parsed = _parse_rrule(rule, local)
    start_aware = local.replace(tzinfo=zone)
    now = now or datetime.now(UTC)
    # The 12-week horizon is exclusive; ``until`` inclusive (RFC 5545 UNTIL semantics).
    window_end = max(now, start_aware) + SERIES_HORIZON
    horizon = window_end if until is None else min(window_end, until)
    occurrences: list[tuple[datetime, datetime]] = []
    for occurrence in parsed:
        starts = occurrence.replace(tzinfo=zone)
        if (starts >= window_end or (until is not None and starts > until)
                or len(occurrences) >= MAX_OCCURRENCES):
            break
        if since is not None and starts < since:
            continue
        # Duration is elapsed time: a night shift over the DST change lasts what it says.
        utc_start = starts.astimezone(UTC)
        occurrences.append((utc_start, utc_start + duration))
    return occurrences, horizon


@dataclass
class _OccurrenceConflict:
    starts_at: datetime
    conflicting_shift_ids: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"occurrence_starts_at": self.starts_at.isoformat(),
                "conflicting_shift_ids": self.conflicting_shift_ids, "reasons": self.reasons}

    def note(self) -> str:
        """Why the occurrence was not scheduled (the note of its cancelled exception row)."""
        why = list(self.reasons)
        if self.conflicting_shift_ids:
            why.insert(0, "It overlaps the driver's shift(s) "
                          f"{', '.join(self.conflicting_shift_ids)}.")
        return "Not scheduled by the series: " + " ".join(why)


def _occurrence_conflicts(
    session: Session, tenant_id: uuid.UUID, slots: list[Slot],
) -> list[_OccurrenceConflict | None]:
    """For each ``(driver, starts_at, ends_at)`` slot: the live shifts it overlaps and the
    driver's leave/blacklist in it, or None when it is free. Three queries for any number of
    slots and drivers (a new series, or every series of a tenant being extended)."""
    overlaps: dict[int, list[str]] = {}
    if slots:
        c = driver_slots(slots)
        rows = session.execute(
            select(c.c.n, Shift.id)
            .join(Shift, and_(
                Shift.tenant_id == tenant_id, Shift.driver_id == c.c.driver_id,
                Shift.status != ShiftStatus.CANCELLED.value, Shift.deleted_at.is_(None),
                Shift.starts_at < c.c.ends_at, Shift.ends_at > c.c.starts_at))
            .order_by(c.c.n, Shift.starts_at, Shift.id))
        for n, shift_id in rows:
            overlaps.setdefault(n - 1, []).append(str(shift_id))
    availability = availability_conflicts_many(session, slots)
    return [
        _OccurrenceConflict(starts, overlaps.get(i, []), availability[i])
        if i in overlaps or availability[i] else None
        for i, (_, starts, _) in enumerate(slots)
    ]


def _series_conflicts(
    session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID,
    occurrences: list[tuple[datetime, datetime]],
) -> list[_OccurrenceConflict]:
    """Every occurrence that overlaps a live shift or the driver's leave/blacklist."""
    found = _occurrence_conflicts(session, tenant_id,
                                  [(driver_id, starts, ends) for starts, ends in occurrences])
    return [c for c in found if c is not None]


def create_series(
    session: Session, actor: Actor, *, data: ShiftSeriesCreate, now: datetime | None = None
) -> tuple[ShiftSeries, list[Shift], datetime]:
    """A recurring shift and its materialised occurrences — all of them, or none (409)."""
    tenant = tenant_of(actor)
    duration = timedelta(minutes=data.duration_minutes)
    zone = zoneinfo.ZoneInfo(data.timezone)
    local_start = (data.dtstart.astimezone(zone).replace(tzinfo=None) if data.dtstart.tzinfo
                   else data.dtstart)
    start_aware = local_start.replace(tzinfo=zone)
    if data.until is not None and data.until <= start_aware:
        raise _invalid("until", "until must be after dtstart.")
    occurrences, horizon = expand_series(data.rrule, local_start, data.timezone, duration,
                                         until=data.until, now=now)
    if not occurrences:
        raise _invalid("rrule", "The rule produces no occurrence before its end.")
    for (s1, e1), (s2, _) in itertools.pairwise(occurrences):
        if s2 < e1:
            raise _invalid("duration_minutes",
                           f"Occurrences overlap each other ({s1.isoformat()} lasts until "
                           f"{e1.isoformat()}, the next starts {s2.isoformat()}).")
    _lock_driver(session, data.driver_id)
    if data.vehicle_id is not None:
        _live_vehicle(session, tenant, data.vehicle_id)
    conflicts = _series_conflicts(session, tenant, data.driver_id, occurrences)
    if conflicts:
        raise Conflict(
            f"{len(conflicts)} of {len(occurrences)} occurrences conflict with the driver's "
            "shifts, leave or blacklist; nothing was created.",
            errors=[{"field": "rrule", "message": f"occurrence {c.starts_at.isoformat()} "
                     "conflicts"} for c in conflicts],
            conflicts=[c.as_dict() for c in conflicts])
    rule = data.rrule.strip()
    if rule.upper().startswith("RRULE:"):
        rule = rule[6:]
    series = ShiftSeries(
        tenant_id=tenant, driver_id=data.driver_id, vehicle_id=data.vehicle_id,
        rrule=rule.upper(), dtstart=start_aware, duration_s=int(duration.total_seconds()),
        timezone=data.timezone, until=data.until, notes=data.notes,
        created_by=actor.id, updated_by=actor.id)
    session.add(series)
    _flush(session)
    shifts = [Shift(tenant_id=tenant, driver_id=data.driver_id, vehicle_id=data.vehicle_id,
                    series_id=series.id, starts_at=s, ends_at=e, notes=data.notes,
                    status=ShiftStatus.SCHEDULED.value, created_by=actor.id,
                    updated_by=actor.id)
              for s, e in occurrences]
    session.add_all(shifts)
    _flush(session, _SERIES_CONSTRAINTS)
    return series, shifts, horizon


get_series = _rows.getter(ShiftSeries, "shift series")


def series_query(actor: Actor, filters: SeriesFilter) -> Select[Any]:
    """The live shift series, filtered (list and CSV export)."""
    return equal_filters(_rows.select(actor, ShiftSeries), {
        ShiftSeries.driver_id: filters.driver_id, ShiftSeries.active: filters.active})


list_series = pager(series_query, ShiftSeries.id, doc="Shift series, by id.")


def cancel_series(
    session: Session, actor: Actor, series_id: uuid.UUID, *, now: datetime | None = None,
    if_match: str | None = None,
) -> tuple[ShiftSeries, list[uuid.UUID]]:
    """Stop a series: its scheduled occurrences that have not started yet are cancelled. With
    ``if_match`` (the API and the console), the series is locked and its version checked first."""
    tenant = tenant_of(actor)
    if if_match is not None:
        lock_and_check_if_match(session, ShiftSeries, if_match,
                                ShiftSeries.tenant_id == tenant, ShiftSeries.id == series_id)
    series = get_series(session, actor, series_id)
    now = now or datetime.now(UTC)
    future = list(session.scalars(select(Shift).where(
        Shift.tenant_id == tenant, Shift.series_id == series.id,
        Shift.status == ShiftStatus.SCHEDULED.value, Shift.deleted_at.is_(None),
        Shift.starts_at > now).with_for_update()))
    for shift in future:
        shift.status = ShiftStatus.CANCELLED.value
        shift.updated_by = actor.id
    if series.active:
        series.active = False
        series.updated_by = actor.id
    refresh_version(session, series)
    return series, [s.id for s in future]


# --- series extension (nightly job) ---------------------------------------------------------

INSERT_BATCH = 1000
"""Rows per INSERT statement when materialising occurrences (well under the bind limit)."""
LIVE_TENANT_STATUSES = ("trialing", "active", "past_due")
"""Tenants whose series are extended (a suspended or cancelled fleet plans nothing new)."""


@dataclass(frozen=True, slots=True)
class SeriesExtension:
    """What one extension of a tenant's series did."""

    series: int
    """Active series looked at."""
    created: int
    """Occurrences scheduled."""
    skipped: list[dict[str, Any]]
    """Occurrences recorded as cancelled exceptions, with why (as creation's ``conflicts[]``,
    plus ``series_id``)."""


def tenants_with_active_series(session: Session, *, now: datetime | None = None
                               ) -> list[uuid.UUID]:
    """Live tenants with a series that may still have occurrences ahead (provider context)."""
    now = now or datetime.now(UTC)
    rows = session.scalars(
        select(ShiftSeries.tenant_id).distinct()
        .join(Tenant, Tenant.id == ShiftSeries.tenant_id)
        .where(ShiftSeries.active.is_(True), ShiftSeries.deleted_at.is_(None),
               or_(ShiftSeries.until.is_(None), ShiftSeries.until > now),
               Tenant.deleted_at.is_(None), Tenant.status.in_(LIVE_TENANT_STATUSES))
        .order_by(ShiftSeries.tenant_id))
    return list(rows)


def extend_series(
    session: Session, tenant_id: uuid.UUID, *, now: datetime | None = None
) -> SeriesExtension:
    """Materialise every active series of the tenant up to :data:`SERIES_HORIZON` ahead.

    The rules of creation hold, set-based for the whole tenant: each new occurrence is checked
    against the driver's live shifts, approved leave and active blacklist (three queries for
    all of them), and against the other series' new occurrences of the same driver (the older
    series wins). Unlike creation, one conflict does not stop the rest: a conflicting
    occurrence is written as a *cancelled* exception row whose note says why, so the plan shows
    the gap, the dispatcher sees the reason, and re-expanding the RRULE never brings it back.

    Idempotent: occurrences already materialised (in any state, deleted ones included) are
    never written again, and the insert does nothing on ``(tenant_id, series_id, starts_at)``
    if a concurrent run got there first. The drivers are locked like shift commands lock them,
    so a shift created meanwhile cannot overlap an occurrence.
    """
    now = now or datetime.now(UTC)
    series_rows = list(session.scalars(
        select(ShiftSeries)
        .join(Driver, and_(Driver.tenant_id == ShiftSeries.tenant_id,
                           Driver.id == ShiftSeries.driver_id))
        .where(ShiftSeries.tenant_id == tenant_id, ShiftSeries.active.is_(True),
               ShiftSeries.deleted_at.is_(None), Driver.deleted_at.is_(None),
               or_(ShiftSeries.until.is_(None), ShiftSeries.until > now))
        .order_by(ShiftSeries.id)))
    if not series_rows:
        return SeriesExtension(0, 0, [])
    session.execute(
        select(Driver.id)
        .where(Driver.tenant_id == tenant_id,
               Driver.id.in_(sorted({s.driver_id for s in series_rows})))
        .order_by(Driver.id).with_for_update())
    existing = set(session.execute(
        select(Shift.series_id, Shift.starts_at)
        .where(Shift.tenant_id == tenant_id,
               Shift.series_id.in_([s.id for s in series_rows]), Shift.starts_at >= now)))
    candidates: list[tuple[ShiftSeries, datetime, datetime]] = []
    for series in series_rows:
        occurrences, _ = expand_series(
            series.rrule, series.dtstart, series.timezone, timedelta(seconds=series.duration_s),
            until=series.until, now=now, since=now)
        candidates += [(series, starts, ends) for starts, ends in occurrences
                       if (series.id, starts) not in existing]
    conflicts = _occurrence_conflicts(
        session, tenant_id, [(series.driver_id, start, end) for series, start, end in candidates])

    planned: dict[uuid.UUID, list[tuple[datetime, datetime, uuid.UUID]]] = {}
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for (series, starts, ends), conflict in zip(candidates, conflicts, strict=True):
        mine = planned.setdefault(series.driver_id, [])
        if conflict is None:
            clash = next((other for s, e, other in mine if s < ends and e > starts), None)
            if clash is not None:
                conflict = _OccurrenceConflict(starts, reasons=[
                    f"It overlaps an occurrence of the driver's series {clash}."])
        if conflict is None:
            mine.append((starts, ends, series.id))
        else:
            skipped.append({**conflict.as_dict(), "series_id": str(series.id)})
        rows.append({
            "tenant_id": tenant_id, "id": new_id(), "driver_id": series.driver_id,
            "vehicle_id": series.vehicle_id, "series_id": series.id, "starts_at": starts,
            "ends_at": ends,
            "status": (ShiftStatus.SCHEDULED if conflict is None
                       else ShiftStatus.CANCELLED).value,
            "notes": series.notes if conflict is None else conflict.note(),
        })
    for first in range(0, len(rows), INSERT_BATCH):
        session.execute(
            pg_insert(Shift).values(rows[first:first + INSERT_BATCH])
            .on_conflict_do_nothing(index_elements=["tenant_id", "series_id", "starts_at"]))
    return SeriesExtension(len(series_rows), len(rows) - len(skipped), skipped)


# --- tasks ---------------------------------------------------------------------------------

_TASK_TRANSITIONS: dict[str, set[str]] = {
    TaskStatus.OPEN.value: {TaskStatus.IN_PROGRESS.value, TaskStatus.CANCELLED.value},
    TaskStatus.IN_PROGRESS.value: {TaskStatus.DONE.value, TaskStatus.BLOCKED.value,
                                   TaskStatus.CANCELLED.value, TaskStatus.OPEN.value},
    TaskStatus.BLOCKED.value: {TaskStatus.IN_PROGRESS.value, TaskStatus.CANCELLED.value},
    TaskStatus.DONE.value: set(),
    TaskStatus.CANCELLED.value: set(),
}


def _check_assignee(session: Session, tenant_id: uuid.UUID, member_id: uuid.UUID) -> None:
    found = session.scalar(select(Member.id).where(
        Member.tenant_id == tenant_id, Member.id == member_id, Member.deleted_at.is_(None)))
    if found is None:
        raise _invalid("assignee_id", "No such member in this fleet.")


def _check_related_entity(
    session: Session, tenant_id: uuid.UUID, entity_type: TaskEntityType, entity_id: uuid.UUID
) -> None:
    """404 unless ``entity_id`` is a live ``entity_type`` of the tenant (RLS hides the others)."""
    name, soft_deleted = TASK_ENTITY_TABLES[entity_type]
    target = table(name, column("tenant_id"), column("id"), column("deleted_at"))
    condition = and_(target.c.tenant_id == tenant_id, target.c.id == entity_id)
    if soft_deleted:
        condition = and_(condition, target.c.deleted_at.is_(None))
    if not session.scalar(select(exists().where(condition))):
        raise NotFound(f"No {entity_type.value} {entity_id} in this fleet.", errors=[
            {"field": "related_entity_id", "message": f"no such {entity_type.value}"}])


get_task = _rows.getter(Task, "task")


def create_task(session: Session, actor: Actor, *, data: TaskCreate) -> Task:
    """A to-do item made by a member."""
    tenant = tenant_of(actor)
    if (data.related_entity_type is None) != (data.related_entity_id is None):
        raise _invalid("related_entity_id",
                       "Give related_entity_type and related_entity_id together.")
    if data.related_entity_type is not None and data.related_entity_id is not None:
        _check_related_entity(session, tenant, data.related_entity_type, data.related_entity_id)
    if data.assignee_id is not None:
        _check_assignee(session, tenant, data.assignee_id)
    task = _rows.new(actor, Task, data, status=TaskStatus.OPEN.value,
                     source=TaskSource.MANUAL.value)
    session.add(task)
    _flush(session)
    return task


def update_task(
    session: Session, actor: Actor, task_id: uuid.UUID, *, data: TaskUpdate,
    if_match: str | None = None,
) -> Task:
    """Edit a task, (re)assign it or move it along its state machine."""
    tenant = tenant_of(actor)
    task = get_task(session, actor, task_id, if_match=if_match)
    fields = data.model_fields_set
    if data.status is not None and data.status.value != task.status:
        check_transition(task.status, data.status.value, _TASK_TRANSITIONS, "task")
        task.status = data.status.value
        task.completed_at = datetime.now(UTC) if data.status is TaskStatus.DONE else None
    elif "status" in fields and data.status is None:
        raise _invalid("status", "status cannot be null.")
    if "assignee_id" in fields:
        if data.assignee_id is not None:
            _check_assignee(session, tenant, data.assignee_id)
        task.assignee_id = data.assignee_id
    patch(task, data, ("title", "task_type", "priority", "description", "due_at"),
          required=("title", "task_type", "priority"))
    return _rows.save(session, actor, task)


delete_task = _rows.deleter(Task, "task")
"""Soft-delete a task."""


def restore_task(session: Session, actor: Actor, task_id: uuid.UUID) -> Task:
    """Bring back a soft-deleted task (409 if a live task took its dedup key meanwhile)."""
    task = get_task(session, actor, task_id, include_deleted=True)
    if not task.mark_restored(actor.id):
        return task
    _flush(session, _TASK_CONSTRAINTS)
    return _rows.refresh(session, task)


def tasks_query(actor: Actor, filters: TaskFilter) -> Select[Any]:
    """The filtered tasks (unpaged; for list and CSV export)."""
    t = Task
    stmt = equal_filters(select(t).where(t.tenant_id == tenant_of(actor)), {
        t.status: filters.status, t.assignee_id: filters.assignee_id,
        t.priority: filters.priority, t.task_type: filters.task_type, t.source: filters.source,
        t.related_entity_type: filters.related_entity_type,
        t.related_entity_id: filters.related_entity_id})
    if filters.due_before is not None:
        stmt = stmt.where(t.due_at < filters.due_before)
    if not filters.include_deleted:
        stmt = stmt.where(t.deleted_at.is_(None))
    return stmt


def list_tasks(
    session: Session, actor: Actor, params: PageParams, filters: TaskFilter
) -> tuple[list[Task], str | None]:
    """Tasks, filtered, by id (creation order) or, with ``sort="due"``, soonest due first."""
    keys = [Task.due_order, Task.id] if filters.sort == "due" else [Task.id]
    return keyset_page(session, tasks_query(actor, filters), keys, params)


# --- goals ---------------------------------------------------------------------------------

_TRIP_SCOPE = {
    "tenant": "TRUE",
    "driver": "t.driver_id = g.scope_id",
    "vehicle": "t.vehicle_id = g.scope_id",
}
_TRIPS_IN_PERIOD = ("t.tenant_id = g.tenant_id AND t.deleted_at IS NULL"
                    " AND t.started_at >= g.period_start AND t.started_at < g.period_end")
_WINDOW_END = "LEAST(g.period_end, CAST(:now AS timestamptz))"


def _metric_sql(metric: str, scope: str) -> str:
    """A scalar subquery computing ``metric`` for a goal row ``g`` of ``scope``."""
    trips = f"FROM trp_trips t WHERE {_TRIPS_IN_PERIOD} AND {_TRIP_SCOPE[scope]}"
    if metric == GoalMetric.REVENUE:
        return f"(SELECT COALESCE(SUM(t.net_earnings), 0) {trips} AND t.currency = g.currency)"
    if metric == GoalMetric.TRIPS:
        return f"(SELECT COUNT(*) {trips} AND t.status = 'completed')"
    if metric == GoalMetric.DISTANCE:
        return f"(SELECT COALESCE(SUM(t.distance_km), 0) {trips} AND t.status = 'completed')"
    if metric == GoalMetric.RATING:
        if scope == GoalScope.VEHICLE:
            return "CAST(NULL AS numeric)"
        who = "p.driver_id = g.scope_id" if scope == GoalScope.DRIVER else "TRUE"
        return ("(SELECT ROUND(AVG(p.average_rating), 2) FROM rid_driver_performances p"
                " WHERE p.tenant_id = g.tenant_id AND p.period_start < g.period_end"
                f" AND p.period_end > g.period_start AND p.average_rating IS NOT NULL AND {who})")
    # utilisation: assigned hours within [period_start, min(period_end, now)) over its hours
    who = {"vehicle": "a.vehicle_id = g.scope_id", "driver": "a.driver_id = g.scope_id",
           "tenant": "TRUE"}[scope]
    units = ("(SELECT COUNT(*) FROM flt_vehicles v WHERE v.tenant_id = g.tenant_id"
             " AND v.deleted_at IS NULL)" if scope == GoalScope.TENANT else "1")
    assigned = (
        "(SELECT COALESCE(SUM(EXTRACT(EPOCH FROM"
        f" LEAST(COALESCE(a.ends_at, {_WINDOW_END}), {_WINDOW_END})"
        " - GREATEST(a.starts_at, g.period_start))), 0)"
        " FROM flt_vehicle_assignments a WHERE a.tenant_id = g.tenant_id"
        " AND a.status <> 'cancelled' AND a.deleted_at IS NULL"
        f" AND a.starts_at < {_WINDOW_END} AND (a.ends_at IS NULL OR a.ends_at > g.period_start)"
        f" AND {who})")
    window = f"EXTRACT(EPOCH FROM {_WINDOW_END} - g.period_start)"
    return (f"(CASE WHEN {window} <= 0 OR {units} = 0 THEN 0"
            f" ELSE ROUND(100 * {assigned} / ({window} * {units}), 2) END)")


def _progress_sql() -> str:
    branches = " ".join(
        f"WHEN g.metric = '{m.value}' AND g.scope = '{s.value}'"
        f" THEN {_metric_sql(m.value, s.value)}"
        for m in GoalMetric for s in GoalScope)
    return (f"SELECT g.id, CASE {branches} END AS value FROM sch_goals g"
            " WHERE g.tenant_id = :tenant_id AND g.id = ANY(CAST(:ids AS uuid[]))")


_PROGRESS_SQL = text(_progress_sql())
_STORE_SQL = text(
    "UPDATE sch_goals g SET current_value = v.value, computed_at = :now"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:vals AS numeric[])) AS v(id, value)"
    " WHERE g.tenant_id = :tenant_id AND g.id = v.id"
    " AND g.current_value IS DISTINCT FROM v.value"
    " RETURNING g.id, g.current_value, g.computed_at, g.version, g.updated_at"
)


def compute_progress(
    session: Session, tenant_id: uuid.UUID, goals: list[Goal], *, now: datetime | None = None
) -> None:
    """Compute every goal's current value in one query and store the changed ones."""
    if not goals:
        return
    now = now or datetime.now(UTC)
    ids = [g.id for g in goals]
    rows = session.execute(_PROGRESS_SQL, {"tenant_id": tenant_id, "ids": ids, "now": now})
    values: dict[uuid.UUID, Any] = dict(rows.all())
    by_id = {g.id: g for g in goals}
    stored = session.execute(_STORE_SQL, {
        "tenant_id": tenant_id, "now": now, "ids": ids,
        "vals": [values.get(i) for i in ids]}).all()
    for goal_id, value, computed_at, version, updated_at in stored:
        goal = by_id[goal_id]
        set_committed_value(goal, "current_value", value)
        set_committed_value(goal, "computed_at", computed_at)
        set_committed_value(goal, "version", version)
        set_committed_value(goal, "updated_at", updated_at)
    for goal in goals:
        value = values.get(goal.id)
        if goal.current_value != value:  # NULL both ways needs no store
            set_committed_value(goal, "current_value", value)
        set_committed_value(goal, "computed_at", now)


_goal = _rows.getter(Goal, "goal")


def get_goal(
    session: Session, actor: Actor, goal_id: uuid.UUID, *, now: datetime | None = None
) -> Goal:
    """One goal with its progress computed now."""
    tenant = tenant_of(actor)
    goal = _goal(session, actor, goal_id)
    compute_progress(session, tenant, [goal], now=now)
    return goal


def _check_scope(session: Session, tenant_id: uuid.UUID, scope: str,
                 scope_id: uuid.UUID | None) -> None:
    if scope == GoalScope.TENANT:
        if scope_id is not None:
            raise _invalid("scope_id", "A tenant goal has no scope_id.")
        return
    if scope_id is None:
        raise _invalid("scope_id", f"A {scope} goal names its {scope} in scope_id.")
    model: Any = Driver if scope == GoalScope.DRIVER else Vehicle
    found = session.scalar(select(model.id).where(
        model.tenant_id == tenant_id, model.id == scope_id, model.deleted_at.is_(None)))
    if found is None:
        raise _invalid("scope_id", f"No such {scope} in this fleet.")


def create_goal(session: Session, actor: Actor, *, data: GoalCreate) -> Goal:
    """A target for the tenant, a driver or a vehicle over a period."""
    tenant = tenant_of(actor)
    _check_scope(session, tenant, data.scope.value, data.scope_id)
    if (data.metric is GoalMetric.REVENUE) != (data.currency is not None):
        raise _invalid("currency", "A revenue goal has a currency; other metrics have none.")
    if data.period_end <= data.period_start:
        raise _invalid("period_end", "The period ends after it starts.")
    if data.metric is GoalMetric.UTILISATION and data.target > 100:
        raise _invalid("target", "Utilisation is a percentage (0-100).")
    if data.metric is GoalMetric.RATING and data.target > 5:
        raise _invalid("target", "A rating target is between 0 and 5.")
    goal = _rows.new(actor, Goal, data)
    session.add(goal)
    _flush(session)
    return goal


def update_goal(
    session: Session, actor: Actor, goal_id: uuid.UUID, *, data: GoalUpdate,
    if_match: str | None = None,
) -> Goal:
    """Change a goal's name, target, period or status."""
    tenant = tenant_of(actor)
    goal = _goal(session, actor, goal_id, if_match=if_match)
    patch(goal, data, ("name", "target", "period_start", "period_end", "status"),
          required=("target", "period_start", "period_end", "status"))
    if goal.period_end <= goal.period_start:
        raise _invalid("period_end", "The period ends after it starts.")
    _rows.save(session, actor, goal)
    compute_progress(session, tenant, [goal])
    return goal


def delete_goal(
    session: Session, actor: Actor, goal_id: uuid.UUID, *, if_match: str | None = None
) -> None:
    """Delete a goal (goals have no history worth keeping; cancel one to keep it visible)."""
    goal = _goal(session, actor, goal_id, if_match=if_match)
    session.delete(goal)
    session.flush()


def goals_query(actor: Actor, filters: GoalFilter) -> Select[Any]:
    """The filtered goals (unpaged)."""
    g = Goal
    stmt = equal_filters(select(g).where(g.tenant_id == tenant_of(actor)), {
        g.scope: filters.scope, g.scope_id: filters.scope_id, g.metric: filters.metric,
        g.status: filters.status})
    if filters.active_at is not None:
        stmt = stmt.where(and_(g.period_start <= filters.active_at,
                               g.period_end > filters.active_at))
    return stmt


def list_goals(
    session: Session, actor: Actor, params: PageParams, filters: GoalFilter, *,
    now: datetime | None = None,
) -> tuple[list[Goal], str | None]:
    """Goals with progress computed for the whole page in one query."""
    goals, cursor = keyset_page(session, goals_query(actor, filters), [Goal.id], params)
    compute_progress(session, tenant_of(actor), goals, now=now)
    return goals, cursor

