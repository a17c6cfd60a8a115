"""The system's tasks: created once per ``dedup_key`` and closed when the system sees the work
done (e.g. a document verified or rejected). Used by the domains below scheduling (documents),
so it imports only the tasks' table and core.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetcore.core.errors import UNIQUE_VIOLATION
from fleetcore.tasks.models import Task, TaskSource, TaskStatus


def ensure_task(
    session: Session, *, tenant_id: uuid.UUID, dedup_key: str, title: str,
    task_type: str = "other", description: str | None = None,
    related_entity_type: str | None = None, related_entity_id: uuid.UUID | None = None,
    priority: str = "normal", due_at: datetime | None = None,
    assignee_id: uuid.UUID | None = None,
) -> tuple[Task, bool]:
    """The live system task with ``dedup_key``, created if missing; ``(task, created)``.

    Idempotent (also under concurrency: the live-unique index decides). A done or cancelled
    task still holds its key: put the occurrence in the key (e.g.
    ``maintenance_overdue:<schedule id>:<due date>``) when the same condition can recur.
    """
    existing = session.scalar(select(Task).where(
        Task.tenant_id == tenant_id, Task.dedup_key == dedup_key, Task.deleted_at.is_(None)))
    if existing is not None:
        return existing, False
    task = Task(tenant_id=tenant_id, title=title, description=description,
                task_type=task_type, related_entity_type=related_entity_type,
                related_entity_id=related_entity_id, assignee_id=assignee_id,
                priority=priority, due_at=due_at, status=TaskStatus.OPEN.value,
                source=TaskSource.SYSTEM.value, dedup_key=dedup_key)
    try:
        with session.begin_nested():
            session.add(task)
            session.flush()
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        session.expunge(task) if task in session else None
        winner = session.scalar(select(Task).where(
            Task.tenant_id == tenant_id, Task.dedup_key == dedup_key,
            Task.deleted_at.is_(None)))
        if winner is None:
            raise
        return winner, False
    return task, True


def close_system_task(session: Session, *, tenant_id: uuid.UUID, dedup_key: str) -> Task | None:
    """Mark the open system task with ``dedup_key`` done, when the system sees its work done
    (e.g. a document verified or rejected); idempotent, None when there is none open."""
    task = session.scalar(select(Task).where(
        Task.tenant_id == tenant_id, Task.dedup_key == dedup_key, Task.deleted_at.is_(None),
        Task.status.in_((TaskStatus.OPEN.value, TaskStatus.IN_PROGRESS.value,
                         TaskStatus.BLOCKED.value))))
    if task is None:
        return None
    task.status = TaskStatus.DONE.value
    task.completed_at = datetime.now(UTC)
    session.flush()
    return task
