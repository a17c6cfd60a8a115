"""``/v1`` scheduling endpoints: shifts, shift series, tasks and goals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import StreamingResponse

from fleetcore.core.deps import DbSession
from fleetcore.core.export import attribute_columns, csv_response, csv_responses
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.schemas import money_out
from fleetcore.core.versioning import RequiredIfMatch, etag
from fleetcore.scheduling import service
from fleetcore.scheduling.filters import GoalFilter, ShiftFilter, TaskFilter
from fleetcore.scheduling.models import (
    Goal,
    GoalMetric,
    GoalScope,
    GoalStatus,
    Shift,
    ShiftSeries,
    ShiftStatus,
    Task,
    TaskPriority,
    TaskSource,
    TaskStatus,
    TaskType,
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

router = APIRouter(prefix="/v1")

Reason = Annotated[str | None, Query(max_length=1000, description="Why it is deleted.")]


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


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


@router.get("/shifts", tags=["shifts"], summary="List shifts by start time")
def list_shifts(
    actor: ShiftsRead, session: DbSession, page: Pagination, filters: ShiftFilterQuery,
) -> Page[ShiftOut]:
    shifts, cursor = service.list_shifts(session, actor, page, filters)
    return Page(items=[ShiftOut.model_validate(s) for s in shifts], next_cursor=cursor)


@router.get("/shifts/export.csv", tags=["shifts"], summary="Shifts as CSV (same filters)",
            response_class=StreamingResponse, responses=csv_responses(_SHIFT_CSV))
def export_shifts(
    actor: ShiftsRead, session: DbSession, filters: ShiftFilterQuery,
) -> StreamingResponse:
    stmt = service.shifts_query(actor, filters).order_by(Shift.starts_at, Shift.id)
    return csv_response(session, stmt, _SHIFT_CSV, filename="shifts.csv")


@router.post("/shifts", tags=["shifts"], status_code=status.HTTP_201_CREATED,
             summary="Create a shift (no overlap, not during leave or blacklist)")
def create_shift(
    actor: ShiftsWrite, session: DbSession, data: ShiftCreate, response: Response
) -> ShiftOut:
    shift = service.create_shift(session, actor, data=data)
    session.refresh(shift)
    _with_etag(response, shift.version)
    response.headers["Location"] = f"/v1/shifts/{shift.id}"
    return ShiftOut.model_validate(shift)


@router.get("/shifts/{shift_id}", tags=["shifts"], summary="Get a shift")
def get_shift(
    actor: ShiftsRead, session: DbSession, shift_id: uuid.UUID, response: Response
) -> ShiftOut:
    shift = service.get_shift(session, actor, shift_id)
    _with_etag(response, shift.version)
    return ShiftOut.model_validate(shift)


@router.patch("/shifts/{shift_id}", tags=["shifts"], summary="Update a shift")
def update_shift(
    actor: ShiftsWrite, session: DbSession, if_match: RequiredIfMatch,
    shift_id: uuid.UUID, data: ShiftUpdate,
    response: Response,
) -> ShiftOut:
    shift = service.update_shift(session, actor, shift_id, data=data, if_match=if_match)
    _with_etag(response, shift.version)
    return ShiftOut.model_validate(shift)


@router.post("/shifts/{shift_id}/cancel", tags=["shifts"], summary="Cancel a shift")
def cancel_shift(
    actor: ShiftsWrite, session: DbSession, if_match: RequiredIfMatch,
    shift_id: uuid.UUID, response: Response,
) -> ShiftOut:
    shift = service.cancel_shift(session, actor, shift_id, if_match=if_match)
    _with_etag(response, shift.version)
    return ShiftOut.model_validate(shift)


@router.delete("/shifts/{shift_id}", tags=["shifts"], status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a shift")
def delete_shift(
    actor: ShiftsWrite, session: DbSession, if_match: RequiredIfMatch,
    shift_id: uuid.UUID, reason: Reason = None,
) -> Response:
    service.delete_shift(session, actor, shift_id, reason=reason, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/shifts/{shift_id}/restore", tags=["shifts"], summary="Restore a deleted shift")
def restore_shift(
    actor: ShiftsWrite, session: DbSession, shift_id: uuid.UUID, response: Response
) -> ShiftOut:
    shift = service.restore_shift(session, actor, shift_id)
    _with_etag(response, shift.version)
    return ShiftOut.model_validate(shift)


# --- shift series --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesFilter:
    driver_id: uuid.UUID | None = None
    active: bool | None = None


def _series_filter(driver_id: uuid.UUID | None = None,
                   active: bool | None = None) -> SeriesFilter:
    return SeriesFilter(driver_id=driver_id, active=active)


SeriesFilterQuery = Annotated[SeriesFilter, Depends(_series_filter)]


@router.get("/shift-series", tags=["shifts"], summary="List recurring shift series")
def list_series(
    actor: ShiftsRead, session: DbSession, page: Pagination, filters: SeriesFilterQuery,
) -> Page[ShiftSeriesOut]:
    rows, cursor = service.list_series(session, actor, page, driver_id=filters.driver_id,
                                       active=filters.active)
    return Page(items=[ShiftSeriesOut.model_validate(s) for s in rows], next_cursor=cursor)


_SERIES_CSV = attribute_columns(
    "id", "driver_id", "vehicle_id", "rrule", "dtstart", "duration_s", "timezone", "until",
    "active", "notes", "created_at")


@router.get("/shift-series/export.csv", tags=["shifts"],
            summary="Recurring shift series as CSV (same filters)",
            response_class=StreamingResponse, responses=csv_responses(_SERIES_CSV))
def export_series(
    actor: ShiftsRead, session: DbSession, filters: SeriesFilterQuery,
) -> StreamingResponse:
    stmt = service.series_query(actor, driver_id=filters.driver_id, active=filters.active)
    return csv_response(session, stmt.order_by(ShiftSeries.id), _SERIES_CSV,
                        filename="shift-series.csv")


@router.post("/shift-series", tags=["shifts"], status_code=status.HTTP_201_CREATED,
             summary="Create a recurring shift from an RRULE (all occurrences or none)")
def create_series(
    actor: ShiftsWrite, session: DbSession, data: ShiftSeriesCreate, response: Response
) -> ShiftSeriesCreated:
    series, shifts, horizon = service.create_series(session, actor, data=data)
    session.refresh(series)
    _with_etag(response, series.version)
    response.headers["Location"] = f"/v1/shift-series/{series.id}"
    return ShiftSeriesCreated(series=ShiftSeriesOut.model_validate(series),
                              shifts=[ShiftOut.model_validate(s) for s in shifts],
                              horizon_end=horizon)


@router.get("/shift-series/{series_id}", tags=["shifts"], summary="Get a shift series")
def get_series(
    actor: ShiftsRead, session: DbSession, series_id: uuid.UUID, response: Response
) -> ShiftSeriesOut:
    series = service.get_series(session, actor, series_id)
    _with_etag(response, series.version)
    return ShiftSeriesOut.model_validate(series)


@router.post("/shift-series/{series_id}/cancel", tags=["shifts"],
             summary="Stop a series: cancel its future occurrences")
def cancel_series(
    actor: ShiftsWrite, session: DbSession, if_match: RequiredIfMatch, series_id: uuid.UUID,
    response: Response,
) -> SeriesCancelled:
    series, cancelled = service.cancel_series(session, actor, series_id, if_match=if_match)
    _with_etag(response, series.version)
    return SeriesCancelled(series=ShiftSeriesOut.model_validate(series),
                           cancelled_shift_ids=cancelled)


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


@router.get("/tasks", tags=["tasks"], summary="List tasks")
def list_tasks(
    actor: TasksRead, session: DbSession, page: Pagination, filters: TaskFilterQuery,
) -> Page[TaskOut]:
    tasks, cursor = service.list_tasks(session, actor, page, filters)
    return Page(items=[TaskOut.model_validate(t) for t in tasks], next_cursor=cursor)


@router.get("/tasks/export.csv", tags=["tasks"], summary="Tasks as CSV (same filters)",
            response_class=StreamingResponse, responses=csv_responses(_TASK_CSV))
def export_tasks(
    actor: TasksRead, session: DbSession, filters: TaskFilterQuery,
) -> StreamingResponse:
    stmt = service.tasks_query(actor, filters).order_by(Task.id)
    return csv_response(session, stmt, _TASK_CSV, filename="tasks.csv")


@router.post("/tasks", tags=["tasks"], status_code=status.HTTP_201_CREATED,
             summary="Create a task")
def create_task(
    actor: TasksWrite, session: DbSession, data: TaskCreate, response: Response
) -> TaskOut:
    task = service.create_task(session, actor, data=data)
    session.refresh(task)
    _with_etag(response, task.version)
    response.headers["Location"] = f"/v1/tasks/{task.id}"
    return TaskOut.model_validate(task)


@router.get("/tasks/{task_id}", tags=["tasks"], summary="Get a task")
def get_task(
    actor: TasksRead, session: DbSession, task_id: uuid.UUID, response: Response
) -> TaskOut:
    task = service.get_task(session, actor, task_id)
    _with_etag(response, task.version)
    return TaskOut.model_validate(task)


@router.patch("/tasks/{task_id}", tags=["tasks"],
              summary="Update, assign or move a task along its states")
def update_task(
    actor: TasksWrite, session: DbSession, if_match: RequiredIfMatch,
    task_id: uuid.UUID, data: TaskUpdate,
    response: Response,
) -> TaskOut:
    task = service.update_task(session, actor, task_id, data=data, if_match=if_match)
    _with_etag(response, task.version)
    return TaskOut.model_validate(task)


@router.delete("/tasks/{task_id}", tags=["tasks"], status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a task")
def delete_task(
    actor: TasksWrite, session: DbSession, if_match: RequiredIfMatch,
    task_id: uuid.UUID, reason: Reason = None,
) -> Response:
    service.delete_task(session, actor, task_id, reason=reason, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/tasks/{task_id}/restore", tags=["tasks"], summary="Restore a deleted task")
def restore_task(
    actor: TasksWrite, session: DbSession, task_id: uuid.UUID, response: Response
) -> TaskOut:
    task = service.restore_task(session, actor, task_id)
    _with_etag(response, task.version)
    return TaskOut.model_validate(task)


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


@router.get("/goals", tags=["goals"], summary="List goals with their progress")
def list_goals(
    actor: GoalsRead, session: DbSession, page: Pagination, filters: GoalFilterQuery,
) -> Page[GoalOut]:
    goals, cursor = service.list_goals(session, actor, page, filters)
    return Page(items=[_goal_out(g) for g in goals], next_cursor=cursor)


@router.get("/goals/export.csv", tags=["goals"],
            summary="Goals as CSV (stored progress, same filters)",
            response_class=StreamingResponse, responses=csv_responses(_GOAL_CSV))
def export_goals(
    actor: GoalsRead, session: DbSession, filters: GoalFilterQuery,
) -> StreamingResponse:
    stmt = service.goals_query(actor, filters).order_by(Goal.id)
    return csv_response(session, stmt, _GOAL_CSV, filename="goals.csv")


@router.post("/goals", tags=["goals"], status_code=status.HTTP_201_CREATED,
             summary="Create a goal")
def create_goal(
    actor: GoalsWrite, session: DbSession, data: GoalCreate, response: Response
) -> GoalOut:
    goal = service.create_goal(session, actor, data=data)
    session.refresh(goal)
    goal = service.get_goal(session, actor, goal.id)
    _with_etag(response, goal.version)
    response.headers["Location"] = f"/v1/goals/{goal.id}"
    return _goal_out(goal)


@router.get("/goals/{goal_id}", tags=["goals"], summary="Get a goal with its progress")
def get_goal(
    actor: GoalsRead, session: DbSession, goal_id: uuid.UUID, response: Response
) -> GoalOut:
    goal = service.get_goal(session, actor, goal_id)
    _with_etag(response, goal.version)
    return _goal_out(goal)


@router.patch("/goals/{goal_id}", tags=["goals"], summary="Update a goal")
def update_goal(
    actor: GoalsWrite, session: DbSession, if_match: RequiredIfMatch,
    goal_id: uuid.UUID, data: GoalUpdate,
    response: Response,
) -> GoalOut:
    goal = service.update_goal(session, actor, goal_id, data=data, if_match=if_match)
    _with_etag(response, goal.version)
    return _goal_out(goal)


@router.delete("/goals/{goal_id}", tags=["goals"], status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a goal")
def delete_goal(
    actor: GoalsWrite, session: DbSession, if_match: RequiredIfMatch, goal_id: uuid.UUID
) -> Response:
    service.delete_goal(session, actor, goal_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
