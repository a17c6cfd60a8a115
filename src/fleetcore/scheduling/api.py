"""``/v1`` scheduling endpoints: shifts, shift series, tasks and goals."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from fleetcore.core.export import attribute_columns
from fleetcore.core.resource import ResourceRoutes
from fleetcore.core.schemas import money_out
from fleetcore.scheduling import service
from fleetcore.scheduling.filters import GoalFilter, SeriesFilter, ShiftFilter, TaskFilter
from fleetcore.scheduling.models import (
    Goal,
    GoalMetric,
    GoalScope,
    GoalStatus,
    Shift,
    ShiftSeries,
    ShiftStatus,
)
from fleetcore.scheduling.permissions import (
    GoalsRead,
    GoalsWrite,
    ShiftsRead,
    ShiftsWrite,
    TasksRead,
    TasksWrite,
)
from fleetcore.scheduling.schemas import (
    GoalCreate,
    GoalOut,
    GoalUpdate,
    SeriesCancelled,
    ShiftCreate,
    ShiftOut,
    ShiftSeriesCreate,
    ShiftSeriesCreated,
    ShiftSeriesOut,
    ShiftUpdate,
    TaskCreate,
    TaskOut,
    TaskUpdate,
)
from fleetcore.tasks.models import Task, TaskPriority, TaskSource, TaskStatus, TaskType

router = APIRouter(prefix="/v1")

T = TypeVar("T")

def _fresh(session: Session, row: T) -> T:
    session.refresh(row)
    return row


# --- shifts --------------------------------------------------------------------------------


def _shift_filter(
    driver_id: uuid.UUID | None = None, vehicle_id: uuid.UUID | None = None,
    series_id: uuid.UUID | None = None,
    shift_status: Annotated[ShiftStatus | None, Query(alias="status")] = None,
    starts_from: Annotated[datetime | None, Query(
        alias="from", description="Shifts still running at or after this instant.")] = None,
    starts_to: Annotated[datetime | None, Query(
        alias="to", description="Shifts starting before this instant.")] = None,
    include_deleted: bool = False,
) -> ShiftFilter:
    return ShiftFilter(driver_id=driver_id, vehicle_id=vehicle_id, series_id=series_id,
                       status=shift_status.value if shift_status else None,
                       starts_from=starts_from, starts_to=starts_to,
                       include_deleted=include_deleted)


ShiftFilterQuery = Annotated[ShiftFilter, Depends(_shift_filter)]

_SHIFT_CSV = attribute_columns(
    "id", "driver_id", "vehicle_id", "series_id", "starts_at", "ends_at", "status", "notes",
    "deleted_at")


_shifts = ResourceRoutes(router, "shifts", "shift_id", "shift", ["shifts"], ShiftOut,
                         ShiftOut.model_validate, ShiftsRead, ShiftsWrite)
_shifts.listing("List shifts by start time", ShiftFilterQuery, service.list_shifts,
                page_first=True)
export_shifts = _shifts.export(
    "Shifts as CSV (same filters)", ShiftFilterQuery, service.shifts_query, _SHIFT_CSV,
    "shifts.csv", order_by=(Shift.starts_at, Shift.id))
_shifts.create("Create a shift (no overlap, not during leave or blacklist)", ShiftCreate,
               lambda s, a, data: _fresh(s, service.create_shift(s, a, data=data)))
_shifts.get("Get a shift", service.get_shift, include_deleted=False)
_shifts.update("Update a shift", ShiftUpdate, service.update_shift)
_shifts.action("cancel", "Cancel a shift", None, service.cancel_shift)
_shifts.delete("Delete a shift", service.delete_shift)
_shifts.restore("Restore a deleted shift", service.restore_shift)


# --- shift series --------------------------------------------------------------------------


def _series_filter(driver_id: uuid.UUID | None = None,
                   active: bool | None = None) -> SeriesFilter:
    return SeriesFilter(driver_id=driver_id, active=active)


SeriesFilterQuery = Annotated[SeriesFilter, Depends(_series_filter)]


_SERIES_CSV = attribute_columns(
    "id", "driver_id", "vehicle_id", "rrule", "dtstart", "duration_s", "timezone", "until",
    "active", "notes", "created_at")
_series = ResourceRoutes(router, "shift-series", "series_id", "series", ["shifts"],
                         ShiftSeriesOut, ShiftSeriesOut.model_validate, ShiftsRead, ShiftsWrite,
                         plural="series")
_series.listing("List recurring shift series", SeriesFilterQuery, service.list_series,
                page_first=True)
export_series = _series.export(
    "Recurring shift series as CSV (same filters)", SeriesFilterQuery, service.series_query,
    _SERIES_CSV, "shift-series.csv", order_by=(ShiftSeries.id,))


_created = replace(_series, model=ShiftSeriesCreated, row_of=lambda found: found[0],
                   out=lambda found: ShiftSeriesCreated(
                       series=ShiftSeriesOut.model_validate(found[0]),
                       shifts=[ShiftOut.model_validate(s) for s in found[1]],
                       horizon_end=found[2]))
_created.create("Create a recurring shift from an RRULE (all occurrences or none)",
                ShiftSeriesCreate, service.create_series)
_series.get("Get a shift series", service.get_series, include_deleted=False)


_cancelled = replace(_series, model=SeriesCancelled, row_of=lambda found: found[0],
                     out=lambda found: SeriesCancelled(
                         series=ShiftSeriesOut.model_validate(found[0]),
                         cancelled_shift_ids=found[1]))
_cancelled.action("cancel", "Stop a series: cancel its future occurrences", None,
                  service.cancel_series)


# --- tasks ---------------------------------------------------------------------------------

_TASK_CSV = attribute_columns(
    "id", "title", "task_type", "status", "priority", "assignee_id", "due_at", "completed_at",
    "source", "related_entity_type", "related_entity_id", "deleted_at")

EntityTypeQuery = Annotated[str | None, Query(max_length=63, pattern=r"^[a-z_]+$")]


def _task_filter(
    task_status: Annotated[TaskStatus | None, Query(alias="status")] = None,
    assignee_id: uuid.UUID | None = None, priority: TaskPriority | None = None,
    task_type: TaskType | None = None, source: TaskSource | None = None,
    related_entity_type: EntityTypeQuery = None, related_entity_id: uuid.UUID | None = None,
    due_before: datetime | None = None, include_deleted: bool = False,
    sort: Annotated[Literal["created", "due"], Query(
        description="`created` (creation order) or `due` (soonest due first, undated last)",
    )] = "created",
) -> TaskFilter:
    return TaskFilter(
        status=task_status.value if task_status else None, assignee_id=assignee_id,
        priority=priority.value if priority else None,
        task_type=task_type.value if task_type else None,
        source=source.value if source else None, related_entity_type=related_entity_type,
        related_entity_id=related_entity_id, due_before=due_before,
        include_deleted=include_deleted, sort=sort)


TaskFilterQuery = Annotated[TaskFilter, Depends(_task_filter)]


_tasks = ResourceRoutes(router, "tasks", "task_id", "task", ["tasks"], TaskOut,
                        TaskOut.model_validate, TasksRead, TasksWrite)
_tasks.listing("List tasks", TaskFilterQuery, service.list_tasks, page_first=True)
export_tasks = _tasks.export(
    "Tasks as CSV (same filters)", TaskFilterQuery, service.tasks_query, _TASK_CSV,
    "tasks.csv", order_by=(Task.id,))
_tasks.create("Create a task", TaskCreate,
              lambda s, a, data: _fresh(s, service.create_task(s, a, data=data)))
_tasks.get("Get a task", service.get_task, include_deleted=False)
_tasks.update("Update, assign or move a task along its states", TaskUpdate, service.update_task)
_tasks.delete("Delete a task", service.delete_task)
_tasks.restore("Restore a deleted task", service.restore_task)


# --- goals ---------------------------------------------------------------------------------


def _goal_out(goal: Goal) -> GoalOut:
    out = GoalOut.model_validate(goal)
    if goal.metric == GoalMetric.REVENUE:
        out.target_money = money_out(goal.target, goal.currency)
    if goal.current_value is not None and goal.target:
        out.progress_pct = (Decimal(100) * goal.current_value / goal.target).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP)
    return out


_GOAL_CSV = attribute_columns(
    "id", "name", "scope", "scope_id", "metric", "target", "currency", "period_start",
    "period_end", "current_value", "computed_at", "status")


def _goal_filter(
    scope: GoalScope | None = None, scope_id: uuid.UUID | None = None,
    metric: GoalMetric | None = None,
    goal_status: Annotated[GoalStatus | None, Query(alias="status")] = None,
    active_at: Annotated[datetime | None, Query(
        description="Goals whose period contains this instant.")] = None,
) -> GoalFilter:
    return GoalFilter(scope=scope.value if scope else None, scope_id=scope_id,
                      metric=metric.value if metric else None,
                      status=goal_status.value if goal_status else None, active_at=active_at)


GoalFilterQuery = Annotated[GoalFilter, Depends(_goal_filter)]


_goals = ResourceRoutes(router, "goals", "goal_id", "goal", ["goals"], GoalOut, _goal_out,
                        GoalsRead, GoalsWrite)
_goals.listing("List goals with their progress", GoalFilterQuery, service.list_goals,
               page_first=True)
_goals.export("Goals as CSV (stored progress, same filters)", GoalFilterQuery,
              service.goals_query, _GOAL_CSV, "goals.csv", order_by=(Goal.id,))
_goals.create("Create a goal", GoalCreate, lambda s, a, data: service.get_goal(
    s, a, _fresh(s, service.create_goal(s, a, data=data)).id))
_goals.get("Get a goal with its progress", service.get_goal, include_deleted=False)
_goals.update("Update a goal", GoalUpdate, service.update_goal)
_goals.delete("Delete a goal", service.delete_goal, reason=None)
