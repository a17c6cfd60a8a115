"""Tasks: the staff to-do list (system tasks such as "verify this document" included), a quick
add form, and moving a task along its states."""

from __future__ import annotations

import uuid

from fastapi.responses import HTMLResponse, Response, StreamingResponse

from fleetcore.admin import queries as admin_queries
from fleetcore.core.errors import Problem
from fleetcore.scheduling import api as scheduling_api
from fleetcore.scheduling import service as scheduling_service
from fleetcore.scheduling.filters import TaskFilter
from fleetcore.scheduling.permissions import TasksRead, TasksWrite
from fleetcore.scheduling.schemas import TaskCreate, TaskUpdate
from fleetcore.tasks.models import Task, TaskPriority, TaskStatus, TaskType
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormState,
    attempt,
    local_datetime,
    optional,
    submit,
    text_values,
)
from fleetcore.web.i18n import N_, gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import BadLink, enum_value, form_if_match, options, page, page_router

router = page_router()

FIELDS = ("title", "description", "task_type", "priority", "due_at", "assignee_id")
ACTIONS: dict[str, list[tuple[str, str]]] = {
    # What a person does next from each state (the service decides what is allowed).
    TaskStatus.OPEN.value: [("in_progress", N_("Start")), ("cancelled", N_("Cancel"))],
    TaskStatus.IN_PROGRESS.value: [("done", N_("Done")), ("blocked", N_("Blocked")),
                                   ("cancelled", N_("Cancel"))],
    TaskStatus.BLOCKED.value: [("in_progress", N_("Resume")), ("cancelled", N_("Cancel"))],
}
TASK_LINKS: dict[str, tuple[str, str]] = {
    # Where a task about an entity opens: its page (``{id}`` filled in) and the link's words.
    "vehicle": ("/vehicles/{id}", N_("Open the vehicle")),
    "driver": ("/drivers/{id}", N_("Open the driver")),
    "document": ("/documents?status=pending", N_("Documents to verify")),
    "revenue_import": ("/imports/{id}", N_("Open the import")),
    "reconciliation": ("/reconciliations/{id}", N_("Open the reconciliation")),
    "settlement": ("/settlements/{id}", N_("Open the settlement")),
}
OPEN_STATES = (TaskStatus.OPEN.value, TaskStatus.IN_PROGRESS.value, TaskStatus.BLOCKED.value)


def _list_filter(c: Console, *, status: str | None, priority: str | None,
                 mine: bool) -> TaskFilter:
    return TaskFilter(status=status, priority=priority,
                      assignee_id=c.actor.id if mine else None, sort="due")


def _page(c: Console, *, status: str | None, priority: str | None, mine: bool,
          cursor: str | None, state: FormState, status_code: int = 200) -> HTMLResponse:
    filters = _list_filter(c, status=status, priority=priority, mine=mine)
    tasks, next_cursor = scheduling_service.list_tasks(c.session, c.actor, page(cursor), filters)
    members = admin_queries.member_choices(c.session, c.tenant.id) if c.can("tasks:write") else []
    assignees = admin_queries.member_names(c.session, c.tenant.id,
                                           {t.assignee_id for t in tasks if t.assignee_id})
    params = {"status": status, "priority": priority, "mine": "1" if mine else None}
    return c.render("tasks/list.html", status_code=status_code, tasks=tasks,
                    next_cursor=next_cursor, params=params, state=state, members=members,
                    assignees=assignees, actions=ACTIONS, links=TASK_LINKS,
                    statuses=options(TaskStatus), priorities=options(TaskPriority),
                    types=options(TaskType))


@router.get("/tasks")
def task_list(c: Ctx, _: TasksRead, status: str | None = "open", priority: str | None = None,
              mine: bool = False, cursor: str | None = None) -> HTMLResponse:
    """Open tasks by default; filter by state, priority or those assigned to me."""
    return _page(c, status=enum_value(TaskStatus, status, "status"),
                 priority=enum_value(TaskPriority, priority, "priority"), mine=mine,
                 cursor=cursor, state=FormState(values={"priority": "normal",
                                                        "task_type": "other"}))


@router.get("/tasks/export.csv")
def task_export(c: Ctx, _: TasksRead, status: str | None = "open", priority: str | None = None,
                mine: bool = False) -> StreamingResponse:
    """The listed tasks as the API's CSV (``GET /v1/tasks/export.csv``)."""
    filters = _list_filter(c, status=enum_value(TaskStatus, status, "status"),
                           priority=enum_value(TaskPriority, priority, "priority"), mine=mine)
    return scheduling_api.export_tasks(c.actor, c.session, filters)


@router.post("/tasks")
def create_task(c: Ctx, _: TasksWrite, form: Form) -> Response:
    """Add a task (the list comes back with the refused fields marked)."""
    state = FormState(values=text_values(form, FIELDS))
    values = optional(state.values, "description", "due_at", "assignee_id")
    values["due_at"] = local_datetime(values.get("due_at"), c.tenant.zone, name="due_at",
                                      state=state)
    task = submit(c.session, state, TaskCreate, {k: v for k, v in values.items() if v is not None},
                  lambda data: scheduling_service.create_task(c.session, c.actor, data=data),
                  lambda s, code: _page(c, status="open", priority=None, mine=False,
                                        cursor=None, state=s, status_code=code))
    if isinstance(task, Response):
        return task
    return redirect(c.request, "/app/tasks", flash=gettext("Task “%(title)s” added.",
                                                           title=task.title))


@router.post("/tasks/{task_id}/status")
def move_task(c: Ctx, _: TasksWrite, task_id: uuid.UUID, form: Form) -> Response:
    """Move a task to another state (HTMX swaps the row; without JS, back to the list)."""
    target = str(form.get("status") or "")
    try:
        new_status = TaskStatus(target)
    except ValueError as exc:
        raise BadLink(f"{target!r} is not a task status.") from exc
    error = None
    task: Task
    try:
        task = attempt(c.session, lambda: scheduling_service.update_task(
            c.session, c.actor, task_id, data=TaskUpdate(status=new_status),
            if_match=form_if_match(form.get("version"), "task")))
    except Problem as problem:
        if problem.status == 404:
            raise
        task = scheduling_service.get_task(c.session, c.actor, task_id)
        error = problem.detail
    if c.is_htmx:
        assignees = admin_queries.member_names(c.session, c.tenant.id,
                                               {task.assignee_id} if task.assignee_id else set())
        return c.render("tasks/_row.html", t=task, assignees=assignees, actions=ACTIONS,
                        links=TASK_LINKS, row_error=error)
    return redirect(c.request, "/app/tasks",
                    flash=error or gettext("“%(title)s” is now %(replace)s.", title=task.title,
                    replace=task.status.replace('_', ' ')))
